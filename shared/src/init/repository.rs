//! Where providers' releases come from, and which version `latest` is. A local repository
//! (`--repository DIR`, laid out as `DIR/<provider-label>/<version>/<file>`) comes first, then
//! the config file's `providers:` entries (local paths, `file://` or GitHub release URLs);
//! clusterctl's overrides folder replaces single files of any of them.
//!
//! `latest` is resolved as clusterctl does, from the versions a local repository holds: the
//! newest stable release whose release series (in its `metadata.yaml`) has the wanted contract:
//! for the core provider, the newest contract this tool supports; for the others, one
//! compatible with the core provider's. A GitHub repository cannot be listed without GitHub's
//! API, so it needs an explicit version.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::InitConfig;
use super::provider::{ProviderType, Wanted};
pub use crate::upgrade::providers::compatible;
use crate::upgrade::providers::{SUPPORTED_CONTRACTS, Series, read_metadata, repo_versions};
use crate::version::Semver;
use crate::{Error, Result};

/// The metadata file of a release.
pub const METADATA: &str = "metadata.yaml";
/// cert-manager's folder in a local repository, its file, and its component name for `images:`.
pub const CERT_MANAGER: &str = "cert-manager";
const CERT_MANAGER_FILE: &str = "cert-manager.yaml";

/// Where one provider's releases are.
#[derive(Debug, Clone, PartialEq)]
enum Place {
    /// `provider_dir/<version>/<file>`.
    Local { provider_dir: PathBuf },
    /// `base/<version>/<file>` (`base` = `https://github.com/O/R/releases`; `download` is added).
    Github { base: String },
}

/// A release chosen for install.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// The manifest label (`cluster-api`, `infrastructure-docker`, `cert-manager`).
    pub label: String,
    /// The version (`v1.14.0`).
    pub version: String,
    /// Its release series (empty for cert-manager, which has no metadata.yaml).
    pub series: Vec<Series>,
    /// Its components file name.
    pub file: String,
    place: Place,
}

impl Release {
    /// The contract of this release's own series.
    pub fn contract(&self) -> Option<&str> {
        let v = Semver::parse(&self.version)?;
        self.series
            .iter()
            .find(|s| s.major == v.major && s.minor == v.minor)
            .map(|s| s.contract.as_str())
    }
}

/// The repositories of one run.
#[derive(Debug, Clone, Default)]
pub struct Repositories {
    /// `--repository DIR`.
    pub local: Option<PathBuf>,
    /// The config file's sections.
    pub config: InitConfig,
    /// The overrides folder (config `overridesFolder`, else clusterctl's default).
    pub overrides: Option<PathBuf>,
}

fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(p) = url.strip_prefix("file://") {
        return Some(PathBuf::from(p));
    }
    (!url.contains("://")).then(|| PathBuf::from(expand_home(url)))
}

fn expand_home(s: &str) -> String {
    let home = crate::kubeconfig::file::home_dir()
        .map(|h| h.display().to_string())
        .unwrap_or_default();
    s.replace("${HOME}", &home)
        .replacen('~', &home, usize::from(s.starts_with("~/")))
}

/// `https://github.com/O/R/releases/{latest|TAG|download/TAG}/FILE` → the releases base.
fn github_base(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://github.com/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    (parts.len() >= 5 && parts[2] == "releases")
        .then(|| format!("https://github.com/{}/{}/releases", parts[0], parts[1]))
}

impl Repositories {
    /// The repositories `--repository` and the config file name; the overrides folder from the
    /// config file or clusterctl's default.
    pub fn new(local: Option<PathBuf>, config: InitConfig) -> Repositories {
        let overrides = config
            .overrides_folder
            .clone()
            .or_else(crate::upgrade::providers::default_repository);
        Repositories {
            local,
            config,
            overrides,
        }
    }

    fn place(&self, label: &str, entry: Option<&str>) -> Result<Place> {
        if let Some(dir) = &self.local
            && dir.join(label).is_dir()
        {
            return Ok(Place::Local {
                provider_dir: dir.join(label),
            });
        }
        if let Some(url) = entry {
            if let Some(p) = local_path(url) {
                // .../<label>/<version>/<file>: the provider folder is two levels up.
                if let Some(dir) = p.parent().and_then(Path::parent) {
                    return Ok(Place::Local {
                        provider_dir: dir.to_path_buf(),
                    });
                }
            }
            if let Some(base) = github_base(url) {
                return Ok(Place::Github { base });
            }
            return Err(Error::Config(format!(
                "{label}: the url {url:?} is neither a local path, a file:// URL nor a GitHub release URL (https://github.com/OWNER/REPO/releases/latest/FILE)"
            )));
        }
        let looked = match &self.local {
            Some(d) => format!("{} has no folder {label}", d.display()),
            None => "no --repository was given".into(),
        };
        Err(Error::NotFound(format!(
            "unknown provider {label}: {looked}, and the config file's providers list has no entry for it; give --repository DIR holding DIR/{label}/<version>/, or add {{name, url, type}} to the providers list of {}",
            self.config
                .path
                .as_ref()
                .map_or("the clusterctl config file".to_string(), |p| p
                    .display()
                    .to_string())
        )))
    }

    /// The release of a wanted provider: its version (resolving `latest`) and metadata.
    /// `core_contract` is the core provider's contract, for the other providers' `latest`.
    pub async fn release(&self, w: &Wanted, core_contract: Option<&str>) -> Result<Release> {
        let label = w.label();
        let entry = self
            .config
            .providers
            .iter()
            .find(|e| e.name == w.name && e.provider_type == w.ty.type_name());
        let place = self.place(&label, entry.map(|e| e.url.as_str()))?;
        let file = w.ty.components_file();
        let version = match (&w.version, &place) {
            (Some(v), _) => v.clone(),
            (None, Place::Local { provider_dir }) => {
                self.latest(&label, provider_dir, w.ty, core_contract)?
            }
            (None, Place::Github { base }) => {
                return Err(Error::Usage(format!(
                    "{label} comes from {base}, whose versions cannot be listed offline: give {} {}:vX.Y.Z",
                    w.ty.flag(),
                    w.name
                )));
            }
        };
        let mut rel = Release {
            label,
            version,
            series: vec![],
            file,
            place,
        };
        let text = self.read(&rel, METADATA).await.map_err(|e| match e {
            Error::NotFound(m) => Error::NotFound(format!("{m} (every release needs its metadata.yaml)")),
            e => e,
        })?;
        rel.series = crate::upgrade::providers::parse_metadata(
            &text,
            &format!("{}/{}/{METADATA}", rel.label, rel.version),
        )?;
        Ok(rel)
    }

    fn latest(
        &self,
        label: &str,
        dir: &Path,
        ty: ProviderType,
        core_contract: Option<&str>,
    ) -> Result<String> {
        let base = dir.parent().unwrap_or(dir);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| label.into());
        let versions = repo_versions(base, &name)?;
        let stable: Vec<&(Semver, String)> = versions.iter().filter(|(v, _)| v.pre.is_none()).collect();
        let Some((_, newest)) = stable.first() else {
            return Err(Error::NotFound(format!(
                "{} has no stable release (folders named vX.Y.Z); give a version",
                dir.display()
            )));
        };
        let meta = self
            .overridden(label, newest, METADATA)
            .unwrap_or_else(|| dir.join(newest).join(METADATA));
        let series = read_metadata(&meta)?;
        let contract_of = |v: &Semver| {
            series
                .iter()
                .find(|s| s.major == v.major && s.minor == v.minor)
                .map(|s| s.contract.clone())
        };
        // The newest supported contract for the core; one the core accepts for the others.
        let wanted: Vec<&str> = match (ty, core_contract) {
            (ProviderType::Core, _) | (_, None) => SUPPORTED_CONTRACTS.iter().rev().copied().collect(),
            (_, Some(c)) => vec![c],
        };
        for want in wanted {
            if let Some((_, dir_name)) = stable.iter().find(|(v, _)| {
                contract_of(v).is_some_and(|c| {
                    if ty == ProviderType::Core {
                        c == want
                    } else {
                        compatible(want, &c)
                    }
                })
            }) {
                return Ok(dir_name.clone());
            }
        }
        Err(Error::NotFound(format!(
            "{}: no stable release for the contract {} (per {}); give a version",
            dir.display(),
            core_contract.unwrap_or(SUPPORTED_CONTRACTS.join(" or ").as_str()),
            meta.display()
        )))
    }

    fn overridden(&self, label: &str, version: &str, file: &str) -> Option<PathBuf> {
        let p = self.overrides.as_ref()?.join(label).join(version).join(file);
        p.is_file().then_some(p)
    }

    /// One file of a release, from the overrides folder if it has it.
    pub async fn read(&self, rel: &Release, file: &str) -> Result<String> {
        if let Some(p) = self.overridden(&rel.label, &rel.version, file) {
            return std::fs::read_to_string(&p).map_err(Error::io("reading", p));
        }
        match &rel.place {
            Place::Local { provider_dir } => {
                let p = provider_dir.join(&rel.version).join(file);
                match std::fs::read_to_string(&p) {
                    Ok(t) => Ok(t),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound(format!(
                        "{} is missing: the repository has no {file} for {} {}",
                        p.display(),
                        rel.label,
                        rel.version
                    ))),
                    Err(e) => Err(Error::io("reading", p)(e)),
                }
            }
            Place::Github { base } => {
                let url = format!("{base}/download/{}/{file}", rel.version);
                crate::client::http_get::get_text(&url, Duration::from_secs(60)).await
            }
        }
    }

    /// The cert-manager release to install: the config file's url/version, else the newest
    /// `DIR/cert-manager/<version>/cert-manager.yaml`. `None` when there is none.
    pub fn cert_manager(&self) -> Result<Option<Release>> {
        let cm = &self.config.cert_manager;
        let place = match (&cm.url, &self.local) {
            (Some(url), _) => match (local_path(url), github_base(url)) {
                (Some(p), _) => {
                    let version = cm.version.clone().or_else(|| {
                        p.parent()
                            .and_then(Path::file_name)
                            .map(|v| v.to_string_lossy().to_string())
                    });
                    let file = p
                        .file_name()
                        .map(|f| f.to_string_lossy().to_string())
                        .unwrap_or_default();
                    let dir = p
                        .parent()
                        .and_then(Path::parent)
                        .map(Path::to_path_buf)
                        .unwrap_or_default();
                    return Ok(version.map(|version| Release {
                        label: CERT_MANAGER.into(),
                        version,
                        series: vec![],
                        file,
                        place: Place::Local { provider_dir: dir },
                    }));
                }
                (None, Some(base)) => Place::Github { base },
                (None, None) => {
                    return Err(Error::Config(format!(
                        "cert-manager.url {url:?} is neither a path nor a GitHub release URL"
                    )));
                }
            },
            (None, Some(dir)) if dir.join(CERT_MANAGER).is_dir() => Place::Local {
                provider_dir: dir.join(CERT_MANAGER),
            },
            _ => return Ok(None),
        };
        let version = match (&cm.version, &place) {
            (Some(v), _) => v.clone(),
            (None, Place::Local { provider_dir }) => {
                match repo_versions(provider_dir.parent().unwrap_or(provider_dir), CERT_MANAGER)?
                    .into_iter()
                    .find(|(v, _)| v.pre.is_none())
                {
                    Some((_, v)) => v,
                    None => return Ok(None),
                }
            }
            (None, Place::Github { .. }) => {
                return Err(Error::Config(
                    "cert-manager.url is a GitHub release: set cert-manager.version too".into(),
                ));
            }
        };
        Ok(Some(Release {
            label: CERT_MANAGER.into(),
            version,
            series: vec![],
            file: CERT_MANAGER_FILE.into(),
            place,
        }))
    }
}
