//! What the target of a move serves, read from its CRDs in one LIST: each kind's versions,
//! plural, scope and whether it has a status subresource (a status is written through it).

use std::collections::BTreeMap;

use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::graph::MoveType;
use crate::capi::value::s;
use crate::client::Kube;
use crate::error::Result;

/// One served (group, version, kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedKind {
    /// Resource plural.
    pub plural: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Whether the version has a status subresource.
    pub status: bool,
}

/// The kinds a cluster serves, by (group, version, kind); Secrets and ConfigMaps always.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served(pub BTreeMap<(String, String, String), ServedKind>);

impl Served {
    /// Reads the served kinds from the CRDs of `kube`.
    pub async fn read(kube: &Kube) -> Result<Served> {
        let crd = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        );
        let crds = kube.list_values(&crd, None, None, 500).await?;
        Ok(Served::from_crds(&crds))
    }

    /// The served kinds of these CRDs.
    pub fn from_crds(crds: &[Value]) -> Served {
        let mut out = BTreeMap::new();
        for (kind, plural) in [("Secret", "secrets"), ("ConfigMap", "configmaps")] {
            let k = (String::new(), "v1".to_string(), kind.to_string());
            out.insert(
                k,
                ServedKind {
                    plural: plural.into(),
                    namespaced: true,
                    status: false,
                },
            );
        }
        for c in crds {
            let group = s(c, "/spec/group");
            let kind = s(c, "/spec/names/kind");
            let versions = c.pointer("/spec/versions").and_then(Value::as_array);
            for v in versions.into_iter().flatten() {
                if v.get("served").and_then(Value::as_bool) != Some(true) {
                    continue;
                }
                out.insert(
                    (group.to_string(), s(v, "/name").to_string(), kind.to_string()),
                    ServedKind {
                        plural: s(c, "/spec/names/plural").to_string(),
                        namespaced: s(c, "/spec/scope") != "Cluster",
                        status: v.pointer("/subresources/status").is_some(),
                    },
                );
            }
        }
        Served(out)
    }

    /// How `t` is served, at the version it was read in.
    pub fn get(&self, t: &MoveType) -> Option<&ServedKind> {
        self.0.get(&(t.group.clone(), t.version.clone(), t.kind.clone()))
    }
}
