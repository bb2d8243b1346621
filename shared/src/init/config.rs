//! The parts of clusterctl's config file init reads besides variables: the `providers:` list
//! (extra or replacing repositories), `images:` overrides, the `cert-manager:` section and
//! `overridesFolder`. Variables are read by [`crate::generate::load_config`] from the same file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// One entry of the config file's `providers:` list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProviderEntry {
    /// Provider name (`docker`).
    pub name: String,
    /// Where its components file is: a path, `file://` URL or `https://` URL whose last three
    /// parts are `<provider-label-or-anything>/<version|latest>/<file>` (local) or a GitHub
    /// release (`.../releases/<latest|vX.Y.Z>/<file>`).
    pub url: String,
    /// Its type (`InfrastructureProvider`).
    #[serde(rename = "type")]
    pub provider_type: String,
}

/// One `images:` override.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ImageOverride {
    /// Replaces the registry and path before the image name.
    pub repository: Option<String>,
    /// Replaces the image name.
    pub name: Option<String>,
    /// Replaces the tag.
    pub tag: Option<String>,
}

/// The `cert-manager:` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertManagerConfig {
    /// Where cert-manager's manifest is (path, `file://` or `https://`).
    pub url: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// How long to wait for it (clusterctl's duration, e.g. `10m`).
    pub timeout: Option<String>,
    /// Installed by someone else: never install or upgrade it.
    #[serde(default)]
    pub externally_provisioned: bool,
}

/// The init-related sections of the config file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitConfig {
    /// Repositories by provider.
    #[serde(default)]
    pub providers: Vec<ProviderEntry>,
    /// Image overrides keyed by `all`, a component (provider label or `cert-manager`) or
    /// `component/image`.
    #[serde(default)]
    pub images: BTreeMap<String, ImageOverride>,
    /// cert-manager.
    #[serde(default, rename = "cert-manager")]
    pub cert_manager: CertManagerConfig,
    /// The overrides folder.
    pub overrides_folder: Option<PathBuf>,
    /// The file it came from.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// Reads the config file: `explicit` must exist; the default locations are optional.
pub fn load(explicit: Option<&Path>) -> Result<InitConfig> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => crate::generate::default_config_paths()
            .into_iter()
            .find(|p| p.is_file()),
    };
    let Some(path) = path else {
        return Ok(InitConfig::default());
    };
    let text = std::fs::read_to_string(&path).map_err(Error::io("reading", &path))?;
    let mut cfg: InitConfig = if text.trim().is_empty() {
        InitConfig::default()
    } else {
        crate::yaml::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "{}: the providers, images or cert-manager section is not as clusterctl documents it: {e}",
                path.display()
            ))
        })?
    };
    cfg.path = Some(path);
    Ok(cfg)
}

/// `image` with the overrides for `component` applied (`component/name` over `component` over
/// `all`, field by field).
pub fn override_image(images: &BTreeMap<String, ImageOverride>, component: &str, image: &str) -> String {
    let (rest, tag) = match image.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (image, None),
    };
    let (repo, name) = match rest.rsplit_once('/') {
        Some((r, n)) => (Some(r), n),
        None => (None, rest),
    };
    let layers = [
        images.get(&format!("{component}/{name}")),
        images.get(component),
        images.get("all"),
    ];
    let pick = |f: fn(&ImageOverride) -> Option<&String>| layers.iter().flatten().find_map(|o| f(o)).cloned();
    let repo = pick(|o| o.repository.as_ref()).or(repo.map(str::to_string));
    let name = pick(|o| o.name.as_ref()).unwrap_or_else(|| name.to_string());
    let tag = pick(|o| o.tag.as_ref()).or(tag.map(str::to_string));
    let mut out = match repo {
        Some(r) => format!("{r}/{name}"),
        None => name,
    };
    if let Some(t) = tag {
        out = format!("{out}:{t}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_clusterctl_sections() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("clusterctl.yaml");
        std::fs::write(
            &f,
            "EXP_MACHINE_POOL: \"true\"\nproviders:\n- name: docker\n  url: /repo/infrastructure-docker/latest/infrastructure-components.yaml\n  type: InfrastructureProvider\nimages:\n  all:\n    repository: registry.local/capi\ncert-manager:\n  version: v1.21.1\n  externallyProvisioned: true\noverridesFolder: /tmp/o\n",
        )
        .unwrap();
        let c = load(Some(&f)).unwrap();
        assert_eq!(c.providers[0].provider_type, "InfrastructureProvider");
        assert!(c.cert_manager.externally_provisioned);
        assert_eq!(c.overrides_folder.as_deref(), Some(Path::new("/tmp/o")));
        std::fs::write(&f, "providers: 3\n").unwrap();
        assert!(
            load(Some(&f))
                .unwrap_err()
                .to_string()
                .contains("clusterctl.yaml")
        );
    }

    #[test]
    fn image_overrides_layer() {
        let mut m = BTreeMap::new();
        m.insert(
            "all".into(),
            ImageOverride {
                repository: Some("mirror.local/k8s".into()),
                ..Default::default()
            },
        );
        m.insert(
            "cluster-api/cluster-api-controller".into(),
            ImageOverride {
                tag: Some("v9".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            override_image(
                &m,
                "cluster-api",
                "registry.k8s.io/cluster-api/cluster-api-controller:v1.14.0"
            ),
            "mirror.local/k8s/cluster-api-controller:v9"
        );
        assert_eq!(
            override_image(&m, "bootstrap-kubeadm", "localhost:5000/x:v1"),
            "mirror.local/k8s/x:v1"
        );
        assert_eq!(override_image(&BTreeMap::new(), "c", "busybox"), "busybox");
    }
}
