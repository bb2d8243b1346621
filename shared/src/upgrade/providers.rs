//! `upgrade providers plan`: the installed providers (clusterctl's inventory, objects of
//! `providers.clusterctl.cluster.x-k8s.io`) against the versions a provider repository offers,
//! with contracts from each provider's `metadata.yaml`, following clusterctl's algorithm: the
//! core provider's current release series names the current contract; every newer contract the
//! core provider's metadata lists gets a plan of its own, where each provider's next version is
//! its newest stable release in a series of a compatible contract (v1beta2 accepts v1beta1
//! providers). A plan for another contract is dropped when some provider has nothing for it.
//!
//! The repository is a local directory in clusterctl's layout (`{provider-label}/{version}/
//! metadata.yaml`, as for the overrides folder or a `file://` repository).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::capi::Catalog;
use crate::capi::object::{str_at, to_value};
use crate::client::Kube;
use crate::version::Semver;
use crate::{Error, Result};

/// The inventory's API group.
pub const INVENTORY_GROUP: &str = "clusterctl.cluster.x-k8s.io";
/// The contracts this tool understands.
pub const SUPPORTED_CONTRACTS: &[&str] = &["v1beta1", "v1beta2"];
/// The inventory's provider types, in clusterctl's install order.
pub const TYPE_ORDER: [&str; 7] = [
    "CoreProvider",
    "BootstrapProvider",
    "ControlPlaneProvider",
    "InfrastructureProvider",
    "IPAMProvider",
    "RuntimeExtensionProvider",
    "AddonProvider",
];

/// The rank of an inventory `type` in install order (unknown types last).
pub fn type_rank(type_name: &str) -> usize {
    TYPE_ORDER
        .iter()
        .position(|t| *t == type_name)
        .unwrap_or(TYPE_ORDER.len())
}

/// One installed provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    /// The inventory object's name: the provider's manifest label (`cluster-api`,
    /// `bootstrap-kubeadm`, ...), which is also its folder in the repository.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `CoreProvider`, `BootstrapProvider`, ...
    #[serde(rename = "type")]
    pub provider_type: String,
    /// `kubeadm`, `docker`, ...
    pub provider_name: String,
    /// The installed version.
    pub version: String,
}

impl Installed {
    /// The installed provider an inventory object records.
    pub fn of(v: &serde_json::Value) -> Installed {
        let at = |p: &str| str_at(v, p).unwrap_or("").to_string();
        Installed {
            name: at("/metadata/name"),
            namespace: at("/metadata/namespace"),
            provider_type: at("/type"),
            provider_name: at("/providerName"),
            version: at("/version"),
        }
    }
}

/// One release series of a provider's metadata.yaml.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Series {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// The Cluster API contract (`v1beta2`).
    pub contract: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    release_series: Vec<Series>,
}

/// Reads and checks a metadata.yaml.
pub fn read_metadata(path: &Path) -> Result<Vec<Series>> {
    let text = std::fs::read_to_string(path).map_err(Error::io("reading", path))?;
    parse_metadata(&text, &path.display().to_string())
}

/// Checks a metadata.yaml's text (`origin` names it in errors).
pub fn parse_metadata(text: &str, origin: &str) -> Result<Vec<Series>> {
    let m: Metadata = crate::yaml::from_str(text)
        .map_err(|e| Error::Other(format!("{origin}: not a clusterctl metadata file: {e}")))?;
    if m.api_version.as_deref() != Some("clusterctl.cluster.x-k8s.io/v1alpha3")
        || m.kind.as_deref() != Some("Metadata")
    {
        return Err(Error::Other(format!(
            "{origin}: expected apiVersion clusterctl.cluster.x-k8s.io/v1alpha3 and kind Metadata"
        )));
    }
    if m.release_series.is_empty() {
        return Err(Error::Other(format!("{origin}: releaseSeries is empty")));
    }
    Ok(m.release_series)
}

/// A provider's versions in the repository (folders that parse as versions), newest first.
pub fn repo_versions(repo: &Path, label: &str) -> Result<Vec<(Semver, String)>> {
    let dir = repo.join(label);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io("reading", &dir)(e)),
    };
    let mut out: Vec<(Semver, String)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with('v')
                .then(|| Semver::parse(&n).map(|v| (v, n)))
                .flatten()
        })
        .collect();
    out.sort_by(|a, b| b.0.precedence(&a.0));
    Ok(out)
}

/// What the repository holds for one provider: versions and the latest metadata.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Versions, newest first.
    pub versions: Vec<(Semver, String)>,
    /// The release series of the newest stable version's metadata.yaml.
    pub series: Vec<Series>,
}

impl Offer {
    /// Reads a provider's offer; the metadata comes from the newest stable version.
    pub fn read(repo: &Path, label: &str) -> Result<Offer> {
        let versions = repo_versions(repo, label)?;
        let newest = versions
            .iter()
            .find(|(v, _)| v.pre.is_none())
            .or(versions.first());
        let series = match newest {
            Some((_, dir)) => read_metadata(&repo.join(label).join(dir).join("metadata.yaml"))?,
            None => vec![],
        };
        Ok(Offer { versions, series })
    }

    fn contract_of(&self, v: &Semver) -> Option<&str> {
        self.series
            .iter()
            .find(|s| s.major == v.major && s.minor == v.minor)
            .map(|s| s.contract.as_str())
    }
}

/// Whether a provider of contract `provider` works with a core provider of contract `core`.
pub fn compatible(core: &str, provider: &str) -> bool {
    core == provider || (core == "v1beta2" && provider == "v1beta1")
}

/// One provider's line of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The provider.
    #[serde(flatten)]
    pub provider: Installed,
    /// Its next version, if any.
    pub next_version: Option<String>,
    /// Whether the repository has any version of it.
    pub in_repository: bool,
}

/// The plan for one contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractPlan {
    /// The contract.
    pub contract: String,
    /// Whether it is the current one.
    pub current: bool,
    /// Whether this tool understands it.
    pub supported: bool,
    /// The providers.
    pub providers: Vec<Row>,
}

/// Computes the plans from the inventory and the offers (`offer(label)`).
pub fn plan(
    installed: &[Installed],
    mut offer: impl FnMut(&str) -> Result<Offer>,
) -> Result<Vec<ContractPlan>> {
    let cores: Vec<&Installed> = installed
        .iter()
        .filter(|p| p.provider_type == "CoreProvider")
        .collect();
    let core = match cores.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::NotFound(
                "no CoreProvider in the provider inventory (providers.clusterctl.cluster.x-k8s.io): were the providers installed with clusterctl init?".into(),
            ));
        }
        _ => {
            return Err(Error::Refused(format!(
                "the inventory lists {} CoreProviders; exactly one is expected",
                cores.len()
            )));
        }
    };
    let core_offer = offer(&core.name)?;
    let current = Semver::parse(&core.version).ok_or_else(|| {
        Error::Other(format!(
            "{} has version {:?}, which is not a version",
            core.name, core.version
        ))
    })?;
    if core_offer.series.is_empty() {
        return Err(Error::NotFound(format!(
            "the repository has no versions of {} (expected {}/<version>/metadata.yaml)",
            core.name, core.name
        )));
    }
    let current_contract = core_offer
        .contract_of(&current)
        .map(str::to_string)
        .ok_or_else(|| {
            Error::Other(format!(
                "the metadata.yaml of {} lists no release series for its installed version {} (v{}.{})",
                core.name, core.version, current.major, current.minor
            ))
        })?;
    let mut contracts = vec![current_contract.clone()];
    let mut newer: Vec<&Series> = core_offer
        .series
        .iter()
        .filter(|s| (s.major, s.minor) > (current.major, current.minor))
        .collect();
    newer.sort_by_key(|s| (s.major, s.minor));
    for s in newer {
        if !contracts.contains(&s.contract) {
            contracts.push(s.contract.clone());
        }
    }
    let mut offers = vec![];
    for p in installed {
        let o = if p.name == core.name {
            core_offer.clone()
        } else {
            offer(&p.name)?
        };
        offers.push((p, o));
    }
    let mut sorted = offers;
    sorted.sort_by_key(|(p, _)| (type_rank(&p.provider_type), p.name.clone(), p.namespace.clone()));
    let mut plans = vec![];
    for contract in contracts {
        let is_current = contract == current_contract;
        let mut rows = vec![];
        let mut missing = false;
        for (p, o) in &sorted {
            let cur = Semver::parse(&p.version);
            let next = o
                .versions
                .iter()
                .filter(|(v, _)| v.pre.is_none())
                .filter(|(v, _)| o.contract_of(v).is_some_and(|c| compatible(&contract, c)))
                .find(|(v, _)| cur.as_ref().is_none_or(|c| v.precedence(c).is_gt()))
                .map(|(_, s)| s.clone());
            let cur_ok = cur
                .as_ref()
                .and_then(|c| o.contract_of(c))
                .is_some_and(|c| compatible(&contract, c));
            if next.is_none() && !cur_ok {
                missing = true;
            }
            rows.push(Row {
                provider: (*p).clone(),
                next_version: next,
                in_repository: !o.versions.is_empty(),
            });
        }
        if !is_current && missing {
            continue;
        }
        plans.push(ContractPlan {
            supported: SUPPORTED_CONTRACTS.contains(&contract.as_str()),
            contract,
            current: is_current,
            providers: rows,
        });
    }
    Ok(plans)
}

/// The plans as clusterctl prints them.
pub fn text(plans: &[ContractPlan]) -> String {
    let mut out = String::new();
    let mut upgradable = false;
    for p in plans {
        if !p.supported {
            out += &format!(
                "The current version of kubectl capi could not upgrade to {} contract (only {} supported).\n\n",
                p.contract,
                SUPPORTED_CONTRACTS.join(", ")
            );
            continue;
        }
        out += &format!(
            "Latest release available for the {} Cluster API contract version:\n\n",
            p.contract
        );
        let rows: Vec<Vec<String>> = p
            .providers
            .iter()
            .map(|r| {
                vec![
                    r.provider.name.clone(),
                    r.provider.namespace.clone(),
                    r.provider.provider_type.clone(),
                    r.provider.version.clone(),
                    match (&r.next_version, r.in_repository) {
                        (Some(v), _) => v.clone(),
                        (None, true) => "Already up to date".into(),
                        (None, false) => "- (not in the repository)".into(),
                    },
                ]
            })
            .collect();
        out += &crate::output::table::render(
            &["NAME", "NAMESPACE", "TYPE", "CURRENT VERSION", "NEXT VERSION"],
            &rows,
        );
        out.push('\n');
        if p.providers.iter().any(|r| r.next_version.is_some()) {
            upgradable = true;
            out += &format!(
                "You can now apply the upgrade by executing the following command:\n\nclusterctl upgrade apply --contract {}\n\n",
                p.contract
            );
        } else {
            out += "You are already up to date!\n\n";
        }
    }
    if plans.is_empty() || !upgradable && plans.iter().all(|p| p.providers.is_empty()) {
        out += "No providers to upgrade.\n";
    }
    out
}

/// The default repository: clusterctl's overrides folder.
pub fn default_repository() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("cluster-api").join("overrides"))
}

/// Reads the inventory.
pub async fn inventory(kube: &Kube, catalog: &Catalog) -> Result<Vec<Installed>> {
    let Some((ar, _)) = catalog.resolve(kube, INVENTORY_GROUP, "Provider").await? else {
        return Err(Error::NotFound(
            "the management cluster has no provider inventory (providers.clusterctl.cluster.x-k8s.io): were the providers installed with clusterctl init?".into(),
        ));
    };
    // A plain list: the inventory keeps its fields at the top level, which the fast list
    // decoder (spec and status only) would drop; it is a handful of objects.
    let items = kube
        .call(
            "listing the provider inventory",
            kube.api(&ar, None).list(&kube::api::ListParams::default()),
        )
        .await?;
    Ok(items.items.iter().map(|o| Installed::of(&to_value(o))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, ty: &str, v: &str) -> Installed {
        Installed {
            name: name.into(),
            namespace: format!("{name}-system"),
            provider_type: ty.into(),
            provider_name: name.rsplit('-').next().unwrap_or(name).into(),
            version: v.into(),
        }
    }

    fn s(major: u64, minor: u64, c: &str) -> Series {
        Series {
            major,
            minor,
            contract: c.into(),
        }
    }

    fn offer(versions: &[&str], series: Vec<Series>) -> Offer {
        let mut v: Vec<(Semver, String)> = versions
            .iter()
            .map(|x| (Semver::parse(x).unwrap(), x.to_string()))
            .collect();
        v.sort_by(|a, b| b.0.precedence(&a.0));
        Offer { versions: v, series }
    }

    #[test]
    fn plans_per_contract_like_clusterctl() {
        let inv = vec![
            p("infrastructure-docker", "InfrastructureProvider", "v1.10.0"),
            p("cluster-api", "CoreProvider", "v1.10.0"),
            p("bootstrap-kubeadm", "BootstrapProvider", "v1.10.0"),
        ];
        let capi_series = vec![s(1, 10, "v1beta1"), s(1, 11, "v1beta2"), s(1, 14, "v1beta2")];
        let plans = plan(&inv, |label| {
            Ok(match label {
                "infrastructure-docker" => offer(&["v1.10.0", "v1.10.3"], vec![s(1, 10, "v1beta1")]),
                _ => offer(
                    &[
                        "v1.10.0",
                        "v1.10.4",
                        "v1.11.0",
                        "v1.14.0",
                        "v1.14.1",
                        "v1.15.0-rc.0",
                    ],
                    capi_series.clone(),
                ),
            })
        })
        .unwrap();
        assert_eq!(plans.len(), 2);
        assert_eq!((plans[0].contract.as_str(), plans[0].current), ("v1beta1", true));
        let next: Vec<_> = plans[0]
            .providers
            .iter()
            .map(|r| (r.provider.name.as_str(), r.next_version.as_deref()))
            .collect();
        assert_eq!(
            next,
            vec![
                ("cluster-api", Some("v1.10.4")),
                ("bootstrap-kubeadm", Some("v1.10.4")),
                ("infrastructure-docker", Some("v1.10.3")),
            ]
        );
        // v1beta2 accepts the v1beta1 infrastructure provider; pre-releases are skipped.
        let next: Vec<_> = plans[1]
            .providers
            .iter()
            .map(|r| r.next_version.as_deref())
            .collect();
        assert_eq!(next, vec![Some("v1.14.1"), Some("v1.14.1"), Some("v1.10.3")]);
        let t = text(&plans);
        assert!(t.contains("clusterctl upgrade apply --contract v1beta2"), "{t}");
        assert!(t.contains("CURRENT VERSION"), "{t}");
    }

    #[test]
    fn up_to_date_and_errors() {
        let inv = vec![p("cluster-api", "CoreProvider", "v1.14.1")];
        let plans = plan(&inv, |_| Ok(offer(&["v1.14.1"], vec![s(1, 14, "v1beta2")]))).unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].providers[0].next_version, None);
        let t = text(&plans);
        assert!(
            t.contains("Already up to date") && t.contains("You are already up to date!"),
            "{t}"
        );
        assert!(matches!(plan(&[], |_| unreachable!()), Err(Error::NotFound(_))));
        let e = plan(&inv, |_| Ok(offer(&["v1.15.0"], vec![s(1, 15, "v1beta2")]))).unwrap_err();
        assert!(e.to_string().contains("no release series"), "{e}");
    }

    #[test]
    fn metadata_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("metadata.yaml");
        std::fs::write(
            &f,
            "apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n- {major: 1, minor: 14, contract: v1beta2}\n",
        )
        .unwrap();
        assert_eq!(read_metadata(&f).unwrap(), vec![s(1, 14, "v1beta2")]);
        std::fs::write(&f, "kind: Other\n").unwrap();
        assert!(read_metadata(&f).is_err());
        std::fs::create_dir_all(dir.path().join("cluster-api/v1.14.0")).unwrap();
        std::fs::create_dir_all(dir.path().join("cluster-api/latest")).unwrap();
        let v = repo_versions(dir.path(), "cluster-api").unwrap();
        assert_eq!(v.len(), 1);
        assert!(repo_versions(dir.path(), "nothing").unwrap().is_empty());
    }
}
