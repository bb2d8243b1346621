//! The checks a move makes before it pauses anything, each failure named: the target has every
//! provider of the source (same name and type, same or newer version) and serves every moved
//! kind; the moved clusters are provisioned; nothing moved is paused by someone else (a pause
//! carrying this tool's mark is its own, from an interrupted run, and is resumed).

use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::graph::Graph;
use super::kinds::Served;
use super::plan::Plan;
use crate::capi::labels::{PAUSED_ANNOTATION, PAUSED_BY_MOVE_ANNOTATION};
use crate::capi::value::{annotation, s};
use crate::client::Kube;
use crate::error::{Error, Result};
use crate::upgrade::providers::{INVENTORY_GROUP, Installed};
use crate::version::Semver;

/// One reason not to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A source provider is not installed in the target.
    #[error(
        "provider {name} ({provider_type}) is not installed in the target: install it there first (`kubectl capi init`)"
    )]
    MissingProvider {
        /// Inventory name (`infrastructure-docker`).
        name: String,
        /// `InfrastructureProvider`, ...
        provider_type: String,
    },
    /// The target's provider is older than the source's.
    #[error(
        "provider {name} is {target} in the target, older than {source_version} in the source: upgrade the target first"
    )]
    OlderProvider {
        /// Inventory name.
        name: String,
        /// The source's version.
        source_version: String,
        /// The target's version.
        target: String,
    },
    /// The target does not serve a kind that moves.
    #[error(
        "the target does not serve {kind} ({group}/{version}), which {count} moved object(s) are: install its provider there, at a version serving {version}"
    )]
    KindNotServed {
        /// Kind.
        kind: String,
        /// Group.
        group: String,
        /// Version.
        version: String,
        /// How many moved objects are of it.
        count: usize,
    },
    /// A moved cluster is not provisioned.
    #[error("{object} is not provisioned: {why} (wait for it, or pass --force to move it as it is)")]
    NotProvisioned {
        /// `Cluster ns/name` or `Machine ns/name`.
        object: String,
        /// What is missing.
        why: String,
    },
    /// Something moved is paused by someone else.
    #[error("{object} is paused, not by a move of this tool: resume it, or find out who paused it and why")]
    PausedByOthers {
        /// `Cluster ns/name` or `ClusterClass ns/name`.
        object: String,
    },
}

/// The provider inventory of a management cluster (empty when it has none: then every provider
/// of the other side is missing, which names what to install).
pub async fn inventory(kube: &Kube) -> Result<Vec<Installed>> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(INVENTORY_GROUP, "v1alpha3", "Provider"),
        "providers",
    );
    let items = match kube.list_values(&ar, None, None, 500).await {
        Ok(items) => items,
        Err(Error::NotFound(_)) => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    Ok(items.iter().map(Installed::of).collect())
}

/// Providers of the source missing or older in the target.
pub fn check_providers(source: &[Installed], target: &[Installed]) -> Vec<Problem> {
    source
        .iter()
        .filter_map(|p| {
            let Some(t) = target
                .iter()
                .find(|t| t.name == p.name && t.provider_type == p.provider_type)
            else {
                return Some(Problem::MissingProvider {
                    name: p.name.clone(),
                    provider_type: p.provider_type.clone(),
                });
            };
            let older = match (Semver::parse(&t.version), Semver::parse(&p.version)) {
                (Some(tv), Some(sv)) => tv < sv,
                _ => t.version != p.version,
            };
            older.then(|| Problem::OlderProvider {
                name: p.name.clone(),
                source_version: p.version.clone(),
                target: t.version.clone(),
            })
        })
        .collect()
}

/// Moved kinds the target does not serve at the version they are read in.
pub fn check_served(g: &Graph, plan: &Plan, served: &Served) -> Vec<Problem> {
    let mut counts: std::collections::BTreeMap<usize, usize> = Default::default();
    for u in plan.moved() {
        *counts.entry(g.nodes[u].ty).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(ty, _)| served.get(&g.types[*ty]).is_none())
        .map(|(ty, count)| {
            let t = &g.types[ty];
            Problem::KindNotServed {
                kind: t.kind.clone(),
                group: t.group.clone(),
                version: t.version.clone(),
                count,
            }
        })
        .collect()
}

/// Moved Clusters not provisioned (infrastructure, control plane initialised) and moved
/// Machines without a Node, as clusterctl checks them.
pub fn check_provisioned(g: &Graph, plan: &Plan) -> Vec<Problem> {
    let mut out = vec![];
    for u in plan.moved() {
        let n = &g.nodes[u];
        let t = &g.types[n.ty];
        let o = &n.object;
        let why = if t.is_core("Cluster") {
            if !flag(
                o,
                &[
                    "/status/initialization/infrastructureProvisioned",
                    "/status/infrastructureReady",
                ],
            ) {
                Some("its infrastructure is not provisioned")
            } else if !flag(
                o,
                &[
                    "/status/initialization/controlPlaneInitialized",
                    "/status/controlPlaneReady",
                ],
            ) && !condition_true(o, "ControlPlaneInitialized")
            {
                Some("its control plane is not initialised")
            } else {
                None
            }
        } else if t.is_core("Machine") && o.pointer("/status/nodeRef").is_none_or(Value::is_null) {
            Some("it has no Node (status.nodeRef)")
        } else {
            None
        };
        if let Some(why) = why {
            out.push(Problem::NotProvisioned {
                object: n.display(&g.types),
                why: why.to_string(),
            });
        }
    }
    out
}

/// Moved Clusters and ClusterClasses paused without this tool's mark.
pub fn check_not_paused(g: &Graph, plan: &Plan) -> Vec<Problem> {
    plan.moved()
        .map(|u| &g.nodes[u])
        .filter(|n| {
            let t = &g.types[n.ty];
            t.is_core("Cluster") || t.is_core("ClusterClass")
        })
        .filter(|n| is_paused(&n.object) && annotation(&n.object, PAUSED_BY_MOVE_ANNOTATION).is_none())
        .map(|n| Problem::PausedByOthers {
            object: n.display(&g.types),
        })
        .collect()
}

/// Paused by `spec.paused` or the paused annotation (with any value, as Cluster API reads it).
pub fn is_paused(o: &Value) -> bool {
    o.pointer("/spec/paused").and_then(Value::as_bool) == Some(true)
        || annotation(o, PAUSED_ANNOTATION).is_some()
}

fn flag(o: &Value, pointers: &[&str]) -> bool {
    pointers
        .iter()
        .any(|p| o.pointer(p).and_then(Value::as_bool) == Some(true))
}

fn condition_true(o: &Value, t: &str) -> bool {
    ["/status/conditions", "/status/v1beta2/conditions"]
        .iter()
        .any(|p| {
            o.pointer(p)
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|c| s(c, "/type") == t && s(c, "/status") == "True"))
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::moving::graph::MoveType;
    use crate::moving::plan::{Scope, plan};

    fn installed(name: &str, ty: &str, version: &str) -> Installed {
        Installed {
            name: name.into(),
            namespace: "capi-system".into(),
            provider_type: ty.into(),
            provider_name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn a_provider_missing_or_older_in_the_target_is_named() {
        let source = [
            installed("cluster-api", "CoreProvider", "v1.14.2"),
            installed("infrastructure-docker", "InfrastructureProvider", "v1.14.2"),
            installed("bootstrap-kubeadm", "BootstrapProvider", "v1.14.2"),
        ];
        let target = [
            installed("cluster-api", "CoreProvider", "v1.14.3"),
            installed("bootstrap-kubeadm", "BootstrapProvider", "v1.13.0"),
        ];
        let p: Vec<String> = check_providers(&source, &target)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            p,
            [
                "provider infrastructure-docker (InfrastructureProvider) is not installed in the target: install it there first (`kubectl capi init`)",
                "provider bootstrap-kubeadm is v1.13.0 in the target, older than v1.14.2 in the source: upgrade the target first",
            ]
        );
    }

    fn graph(cluster: Value, machine: Value) -> Graph {
        let ty = |kind: &str, plural: &str, hierarchy: bool| MoveType {
            group: "cluster.x-k8s.io".into(),
            version: "v1beta2".into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced: true,
            hierarchy,
            force: hierarchy,
        };
        Graph::build(
            vec![ty("Cluster", "clusters", true), ty("Machine", "machines", false)],
            vec![(0, cluster), (1, machine)],
        )
    }

    #[test]
    fn unprovisioned_and_foreign_paused_clusters_are_refused_and_our_own_pause_is_not() {
        let machine = json!({"metadata": {"name": "m", "namespace": "ns", "uid": "m",
            "ownerReferences": [{"kind": "Cluster", "name": "c", "uid": "c"}]}});
        let cluster = json!({"metadata": {"name": "c", "namespace": "ns", "uid": "c"}, "spec": {"paused": true},
            "status": {"initialization": {"infrastructureProvisioned": true}}});
        let g = graph(cluster.clone(), machine.clone());
        let p = plan(&g, &Scope::Namespace("ns".into())).unwrap();
        let problems: Vec<String> = check_provisioned(&g, &p)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "Cluster ns/c is not provisioned: its control plane is not initialised (wait for it, or pass --force to move it as it is)",
                "Machine ns/m is not provisioned: it has no Node (status.nodeRef) (wait for it, or pass --force to move it as it is)",
            ]
        );
        assert_eq!(check_not_paused(&g, &p).len(), 1);
        // Paused by an earlier run of ours: resumable, and a provisioned cluster passes.
        let mut ours = cluster;
        ours["metadata"]["annotations"] = json!({PAUSED_BY_MOVE_ANNOTATION: "run-1"});
        ours["status"]["initialization"]["controlPlaneInitialized"] = json!(true);
        let mut joined = machine;
        joined["status"] = json!({"nodeRef": {"name": "m"}});
        let g = graph(ours, joined);
        let p = plan(&g, &Scope::Namespace("ns".into())).unwrap();
        assert!(check_not_paused(&g, &p).is_empty());
        assert!(check_provisioned(&g, &p).is_empty());
        let mut served = Served::from_crds(&[
            json!({"spec": {"group": "cluster.x-k8s.io", "scope": "Namespaced",
            "names": {"kind": "Cluster", "plural": "clusters"},
            "versions": [{"name": "v1beta2", "served": true, "subresources": {"status": {}}}]}}),
        ]);
        served.0.insert(
            ("cluster.x-k8s.io".into(), "v1beta1".into(), "Machine".into()),
            crate::moving::kinds::ServedKind {
                plural: "machines".into(),
                namespaced: true,
                status: true,
            },
        );
        assert_eq!(
            check_served(&g, &p, &served)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "the target does not serve Machine (cluster.x-k8s.io/v1beta2), which 1 moved object(s) are: install its provider there, at a version serving v1beta2"
            ]
        );
    }
}
