//! Cluster API's providers as `clusterctl init` would install them, minus the pods: which
//! manager binary serves which provider, where its release keeps its CRDs and webhooks (the
//! `config/` folder of its Go module, copied next to the binaries at build time), and how those
//! manifests are rewritten for managers that run as local processes: conversion and admission
//! webhooks point at `https://127.0.0.1:PORT` with the stack's CA, and the labels kustomize and
//! clusterctl would add are added.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::pins::{self, Component};

/// One provider of the release.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// clusterctl's name for it (`cluster-api`, `kubeadm`, `docker`).
    pub name: &'static str,
    /// The inventory's `type` (`CoreProvider`, ...).
    pub kind: &'static str,
    /// The label value clusterctl puts on its objects (`infrastructure-docker`), also the name of
    /// its inventory `Provider` object and of its folder of manifests.
    pub label: &'static str,
    /// The namespace clusterctl installs it into.
    pub namespace: &'static str,
    /// Its manager.
    pub component: Component,
    /// The Go module holding its `config/` folder, and the folder's parent inside it.
    pub module: &'static str,
    /// The folder inside the module.
    pub subdir: &'static str,
}

/// The four providers run: core, kubeadm bootstrap, kubeadm control plane, and the Dev
/// infrastructure provider (whose in-memory backend needs no Docker).
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "cluster-api",
        kind: "CoreProvider",
        label: "cluster-api",
        namespace: "capi-system",
        component: pins::CAPI_CORE,
        module: "sigs.k8s.io/cluster-api",
        subdir: "core",
    },
    Provider {
        name: "kubeadm",
        kind: "BootstrapProvider",
        label: "bootstrap-kubeadm",
        namespace: "capi-kubeadm-bootstrap-system",
        component: pins::CAPI_KUBEADM_BOOTSTRAP,
        module: "sigs.k8s.io/cluster-api",
        subdir: "bootstrap/kubeadm",
    },
    Provider {
        name: "kubeadm",
        kind: "ControlPlaneProvider",
        label: "control-plane-kubeadm",
        namespace: "capi-kubeadm-control-plane-system",
        component: pins::CAPI_KUBEADM_CONTROL_PLANE,
        module: "sigs.k8s.io/cluster-api",
        subdir: "controlplane/kubeadm",
    },
    Provider {
        name: "docker",
        kind: "InfrastructureProvider",
        label: "infrastructure-docker",
        namespace: "capd-system",
        component: pins::CAPI_DEV_INFRASTRUCTURE,
        module: "sigs.k8s.io/cluster-api/test",
        subdir: "infrastructure/docker",
    },
];

/// Feature gates every manager gets: ClusterClass topologies and MachinePools, as the issue's
/// scenarios need (MachinePool is on by default in v1.14; saying so keeps it on if that changes).
pub const FEATURE_GATES: &str = "ClusterTopology=true,MachinePool=true";

/// The folder of copied manifests inside the binaries' folder.
pub const CONFIG_DIR: &str = "cluster-api-config";

/// The files of a provider's `config/` folder the stack reads, relative to it.
pub const CONFIG_FILES: &[&str] = &[
    "crd/kustomization.yaml",
    "crd/bases",
    "crd/patches",
    "webhook/manifests.yaml",
];

/// Where `p`'s copied `config/` folder is, under the binaries' folder `bin`.
pub fn config_dir(bin: &Path, p: &Provider) -> PathBuf {
    bin.join(CONFIG_DIR).join(p.label)
}

/// Why a provider's manifests could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ManifestError {
    /// The file.
    pub path: PathBuf,
    /// What was wrong.
    pub message: String,
}

fn read_docs(path: &Path) -> Result<Vec<Value>, ManifestError> {
    let err = |message: String| ManifestError {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(format!(
            "{e} (run `cargo xtask realstack build`, which copies it from the Go module)"
        ))
    })?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| err(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| d.is_object()).collect())
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let rd = std::fs::read_dir(dir).map_err(|e| ManifestError {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// A provider's manifests read from its copied `config/` folder.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    /// Its CRDs as generated (`crd/bases`).
    pub crds: Vec<Value>,
    /// Labels kustomize adds to every CRD (`crd/kustomization.yaml`: contract labels).
    pub crd_labels: serde_json::Map<String, Value>,
    /// CRDs whose conversion goes through the webhook (`crd/patches/webhook_in_*.yaml`).
    pub converted: Vec<String>,
    /// Its admission webhook configurations (`webhook/manifests.yaml`).
    pub webhooks: Vec<Value>,
}

impl Manifests {
    /// Reads the copied `config/` folder `dir`.
    pub fn read(dir: &Path) -> Result<Manifests, ManifestError> {
        let mut m = Manifests::default();
        for f in yaml_files(&dir.join("crd/bases"))? {
            m.crds.extend(read_docs(&f)?);
        }
        for k in read_docs(&dir.join("crd/kustomization.yaml"))? {
            for l in k["labels"].as_array().into_iter().flatten() {
                if let Some(pairs) = l["pairs"].as_object() {
                    m.crd_labels.extend(pairs.clone());
                }
            }
        }
        let patches = dir.join("crd/patches");
        if patches.is_dir() {
            for f in yaml_files(&patches)? {
                let is_conversion = f
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("webhook_in_"));
                if is_conversion {
                    for d in read_docs(&f)? {
                        if let Some(n) = d["metadata"]["name"].as_str() {
                            m.converted.push(n.to_string());
                        }
                    }
                }
            }
        }
        m.webhooks = read_docs(&dir.join("webhook/manifests.yaml"))?;
        Ok(m)
    }
}

/// The labels clusterctl puts on every object it installs for `p`.
fn clusterctl_labels(p: &Provider) -> serde_json::Map<String, Value> {
    let mut l = serde_json::Map::new();
    l.insert(
        capi_shared::init::inventory::PROVIDER_LABEL.into(),
        json!(p.label),
    );
    l.insert(capi_shared::capi::labels::CLUSTERCTL_LABEL.into(), json!(""));
    l
}

fn label(obj: &mut Value, labels: &serde_json::Map<String, Value>) {
    let md = &mut obj["metadata"];
    if !md["labels"].is_object() {
        md["labels"] = json!({});
    }
    if let Some(l) = md["labels"].as_object_mut() {
        l.extend(labels.clone());
    }
}

/// `p`'s CRDs ready to apply: kustomize's and clusterctl's labels, and conversion through the
/// manager's webhook at `url` (`https://127.0.0.1:PORT`) for the CRDs the release converts.
pub fn crds(p: &Provider, m: &Manifests, url: &str, ca_pem: &str) -> Vec<Value> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    m.crds
        .iter()
        .cloned()
        .map(|mut crd| {
            label(&mut crd, &m.crd_labels);
            label(&mut crd, &clusterctl_labels(p));
            let name = crd["metadata"]["name"].as_str().unwrap_or("").to_string();
            if m.converted.contains(&name) {
                crd["spec"]["conversion"] = json!({
                    "strategy": "Webhook",
                    "webhook": {
                        "conversionReviewVersions": ["v1"],
                        "clientConfig": {"url": format!("{url}/convert"), "caBundle": ca},
                    },
                });
            }
            crd
        })
        .collect()
}

/// `p`'s admission webhook configurations, named as kustomize's prefix would (one per
/// provider), each webhook sent to `url` + its path instead of the in-cluster Service.
pub fn webhooks(p: &Provider, m: &Manifests, url: &str, ca_pem: &str) -> Vec<Value> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    m.webhooks
        .iter()
        .cloned()
        .map(|mut w| {
            let name = w["metadata"]["name"].as_str().unwrap_or("webhooks").to_string();
            w["metadata"]["name"] = json!(format!("{}-{name}", p.label));
            label(&mut w, &clusterctl_labels(p));
            for h in w["webhooks"].as_array_mut().into_iter().flatten() {
                let path = h["clientConfig"]["service"]["path"]
                    .as_str()
                    .unwrap_or("/")
                    .to_string();
                h["clientConfig"] = json!({"url": format!("{url}{path}"), "caBundle": ca});
            }
            w
        })
        .collect()
}

/// The inventory `Provider` object `clusterctl init` leaves for `p` at `version` (the shape
/// lives in `capi_shared::init::inventory`, which `kubectl capi init` writes too).
pub fn inventory(p: &Provider, version: &str) -> Value {
    use capi_shared::init::provider::ProviderType;
    let ty = ProviderType::from_type_name(p.kind).unwrap_or(ProviderType::Core);
    capi_shared::init::inventory::provider(ty, p.name, p.namespace, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests() -> Manifests {
        Manifests {
            crds: vec![
                json!({"kind": "CustomResourceDefinition", "metadata": {"name": "devclusters.infrastructure.cluster.x-k8s.io"}, "spec": {}}),
                json!({"kind": "CustomResourceDefinition", "metadata": {"name": "other.example.com", "labels": {"keep": "me"}}, "spec": {}}),
            ],
            crd_labels: json!({"cluster.x-k8s.io/v1beta2": "v1beta2"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            converted: vec!["devclusters.infrastructure.cluster.x-k8s.io".into()],
            webhooks: vec![json!({
                "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": "validating-webhook-configuration"},
                "webhooks": [{"name": "v.devcluster", "clientConfig": {"service": {"name": "webhook-service", "namespace": "system", "path": "/validate-x"}}}],
            })],
        }
    }

    #[test]
    fn crds_get_contract_and_provider_labels_and_conversion_only_where_patched() {
        let p = &PROVIDERS[3];
        let out = crds(p, &manifests(), "https://127.0.0.1:9443", "CA");
        let dev = &out[0];
        assert_eq!(dev["metadata"]["labels"]["cluster.x-k8s.io/v1beta2"], "v1beta2");
        assert_eq!(
            dev["metadata"]["labels"]["cluster.x-k8s.io/provider"],
            "infrastructure-docker"
        );
        assert_eq!(dev["spec"]["conversion"]["strategy"], "Webhook");
        assert_eq!(
            dev["spec"]["conversion"]["webhook"]["clientConfig"]["url"],
            "https://127.0.0.1:9443/convert"
        );
        assert_eq!(
            dev["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"],
            "Q0E="
        );
        assert_eq!(out[1]["metadata"]["labels"]["keep"], "me");
        assert!(out[1]["spec"]["conversion"].is_null());
    }

    #[test]
    fn webhooks_point_at_loopback_with_the_path_of_their_service() {
        let p = &PROVIDERS[0];
        let out = webhooks(p, &manifests(), "https://127.0.0.1:1234", "CA");
        assert_eq!(
            out[0]["metadata"]["name"],
            "cluster-api-validating-webhook-configuration"
        );
        let cc = &out[0]["webhooks"][0]["clientConfig"];
        assert_eq!(cc["url"], "https://127.0.0.1:1234/validate-x");
        assert!(cc["service"].is_null());
    }

    #[test]
    fn inventory_is_what_clusterctl_init_leaves() {
        let v = inventory(&PROVIDERS[2], "v1.14.2");
        assert_eq!(v["metadata"]["name"], "control-plane-kubeadm");
        assert_eq!(v["metadata"]["namespace"], "capi-kubeadm-control-plane-system");
        assert_eq!(v["type"], "ControlPlaneProvider");
        assert_eq!(v["providerName"], "kubeadm");
        assert_eq!(v["version"], "v1.14.2");
    }
}
