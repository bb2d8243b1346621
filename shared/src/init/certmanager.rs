//! cert-manager, which the providers' webhooks need for their serving certificates: found
//! before anything is installed (its `certificates.cert-manager.io` CRD), installed from the
//! repository when absent and needed, and labelled as clusterctl labels it so that it is
//! managed (upgraded) only when this tool or clusterctl installed it.

use serde::Serialize;
use serde_json::{Value, json};

use super::components::{CERT_MANAGER_GROUP, ObjectId, rank};
use super::config::CertManagerConfig;
use super::inventory::CORE_LABEL;
use super::repository::{CERT_MANAGER, Release, Repositories};
use crate::capi::labels::CLUSTERCTL_LABEL;
use crate::client::Kube;
use crate::{Error, Result};

/// The CRD whose presence means cert-manager is installed.
pub const CRD: &str = "certificates.cert-manager.io";
/// The annotation clusterctl records cert-manager's installed version in.
pub const VERSION_ANNOTATION: &str = "cert-manager.clusterctl.cluster.x-k8s.io/version";

/// What the cluster has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No cert-manager.
    Absent,
    /// Installed by clusterctl or by us, at this version.
    Managed(String),
    /// Installed some other way: left alone.
    External,
}

/// Finds cert-manager by its CRD and our labels on it.
pub async fn detect(kube: &Kube) -> Result<Found> {
    let Some(crd) = super::apply::get_crd(kube, CRD).await? else {
        return Ok(Found::Absent);
    };
    let managed = crd.pointer(&format!("/metadata/labels/{}", CORE_LABEL.replace('/', "~1")))
        == Some(&json!(CERT_MANAGER));
    if !managed {
        return Ok(Found::External);
    }
    let version = crd
        .pointer(&format!(
            "/metadata/annotations/{}",
            VERSION_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    Ok(Found::Managed(version.to_string()))
}

/// What a run does about cert-manager.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum Plan {
    /// Nothing to install needs it.
    NotNeeded,
    /// Already there (managed at `version`, or external): nothing is written.
    Present {
        /// `external`, or the managed version.
        version: String,
    },
    /// The config file says it is provisioned outside clusterctl: not checked, not installed.
    ExternallyProvisioned,
    /// Installed by this run.
    Install {
        /// Its version.
        version: String,
        /// Its objects, labelled, in apply order.
        #[serde(skip)]
        objects: Vec<Value>,
        /// Whether its manifest registers webhooks (then it is awaited before providers).
        #[serde(skip)]
        wait: bool,
    },
}

/// Whether any of these objects is a cert-manager object.
pub fn needed_by(objects: &[Value]) -> bool {
    objects
        .iter()
        .any(|o| ObjectId::of(o).group() == CERT_MANAGER_GROUP)
}

/// Decides, and reads the manifest when it is to be installed.
pub async fn decide(
    repos: &Repositories,
    cfg: &CertManagerConfig,
    found: &Found,
    needed: bool,
) -> Result<Plan> {
    if !needed {
        return Ok(Plan::NotNeeded);
    }
    if cfg.externally_provisioned {
        return Ok(Plan::ExternallyProvisioned);
    }
    match found {
        Found::Managed(v) => return Ok(Plan::Present { version: v.clone() }),
        Found::External => {
            return Ok(Plan::Present {
                version: "external".into(),
            });
        }
        Found::Absent => {}
    }
    let Some(rel) = repos.cert_manager()? else {
        return Err(Error::Refused(
            "the providers' components need cert-manager, which the cluster does not have and the repository does not hold: add DIR/cert-manager/<version>/cert-manager.yaml to the repository (or cert-manager.url to the config file), or install cert-manager yourself and set cert-manager.externallyProvisioned: true in the config file".into(),
        ));
    };
    let text = repos.read(&rel, &rel.file).await?;
    let objects = prepare(&text, &origin(&rel), &rel.version)?;
    let wait = objects.iter().any(|o| {
        matches!(
            o["kind"].as_str(),
            Some("MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration")
        )
    });
    Ok(Plan::Install {
        version: rel.version,
        objects,
        wait,
    })
}

fn origin(rel: &Release) -> String {
    format!("{}/{}/{}", rel.label, rel.version, rel.file)
}

/// cert-manager's manifest as clusterctl installs it: unchanged but for its labels and the
/// version annotation on every object (no namespace rewrite, no variables).
pub fn prepare(text: &str, origin: &str, version: &str) -> Result<Vec<Value>> {
    let mut objects: Vec<Value> = crate::yaml::from_str_multiple::<Value>(text)
        .map_err(|e| Error::Usage(format!("{origin} is not valid YAML: {e}")))?
        .into_iter()
        .filter(|d| !d.is_null())
        .collect();
    for (n, o) in objects.iter_mut().enumerate() {
        if o.get("kind").and_then(Value::as_str).is_none() || !o["metadata"].is_object() {
            return Err(Error::Usage(format!(
                "document {} of {origin} is not a Kubernetes object (apiVersion, kind, metadata)",
                n + 1
            )));
        }
        let meta = &mut o["metadata"];
        if !meta["labels"].is_object() {
            meta["labels"] = json!({});
        }
        meta["labels"][CLUSTERCTL_LABEL] = json!("");
        meta["labels"][CORE_LABEL] = json!(CERT_MANAGER);
        if !meta["annotations"].is_object() {
            meta["annotations"] = json!({});
        }
        meta["annotations"][VERSION_ANNOTATION] = json!(version);
    }
    objects.sort_by_key(rank);
    Ok(objects)
}

/// The label selector of cert-manager's objects as we install them.
pub fn selector() -> String {
    format!("{CORE_LABEL}={CERT_MANAGER}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_labels_every_object_and_keeps_namespaces() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: cert-manager\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cert-manager\n  namespace: cert-manager\n";
        let got = prepare(text, "cm", "v1.16.0").unwrap();
        assert_eq!(got.len(), 2);
        for o in &got {
            assert_eq!(o["metadata"]["labels"][CORE_LABEL], "cert-manager");
            assert_eq!(o["metadata"]["labels"][CLUSTERCTL_LABEL], "");
            assert_eq!(o["metadata"]["annotations"][VERSION_ANNOTATION], "v1.16.0");
        }
        assert_eq!(got[1]["metadata"]["namespace"], "cert-manager");
        assert!(prepare("kind: X\n", "cm", "v1").is_err());
    }

    #[test]
    fn needed_only_for_cert_manager_objects() {
        let cert =
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"}});
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "s"}});
        assert!(needed_by(&[sa.clone(), cert]));
        assert!(!needed_by(&[sa]));
    }
}
