//! Turning `TYPE/NAME...` (or `TYPE NAME...`) into the objects a rollout command acts on.
//! `cluster/NAME` stands for the Cluster's control plane and all its MachineDeployments.

use kube::api::DynamicObject;
use serde_json::Value;

use crate::capi::object::{obj_ref, to_value};
use crate::capi::target::{self, Resolved, TargetKind};
use crate::capi::{CLUSTER_NAME_LABEL, Catalog};
use crate::client::Kube;
use crate::tree::fetch::read_cluster;
use crate::{Error, Result};

/// One object a rollout command acts on.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its type.
    pub resolved: Resolved,
    /// Namespace.
    pub ns: String,
    /// Name.
    pub name: String,
}

impl Target {
    /// `machinedeployment.cluster.x-k8s.io/NAME`, as kubectl names objects.
    pub fn display(&self) -> String {
        crate::scale::display(&self.resolved, &self.name)
    }

    /// `machinedeployment "NAME"`, as kubectl's rollout messages name objects.
    pub fn quoted(&self) -> String {
        format!(
            "{} {:?}",
            self.resolved.resource.kind.to_ascii_lowercase(),
            self.name
        )
    }

    /// The kind's role.
    pub fn kind(&self) -> TargetKind {
        self.resolved.kind
    }

    /// Reads the object; a missing one is a clear error.
    pub async fn get(&self, kube: &Kube) -> Result<DynamicObject> {
        let api = kube.api(&self.resolved.resource, Some(&self.ns));
        kube.call(&format!("reading {}", self.display()), api.get_opt(&self.name))
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("{} not found in namespace {:?}", self.display(), self.ns))
            })
    }
}

/// The name of the Cluster an object belongs to (label, `spec.clusterName` or owner).
pub fn cluster_of(o: &DynamicObject) -> Option<String> {
    if let Some(l) = o.metadata.labels.as_ref().and_then(|l| l.get(CLUSTER_NAME_LABEL)) {
        return Some(l.clone());
    }
    let v = to_value(o);
    if let Some(c) = v.pointer("/spec/clusterName").and_then(Value::as_str) {
        return Some(c.to_string());
    }
    o.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.kind == "Cluster")
        .map(|r| r.name.clone())
}

/// Splits the arguments: every one `TYPE/NAME`, or `TYPE NAME...`.
pub fn parse(args: &[String]) -> Result<Vec<(String, String)>> {
    if args.is_empty() {
        return Err(Error::Usage(
            "give what to act on: TYPE/NAME... or TYPE NAME... (types: machinedeployment|md, machinepool|mp, kubeadmcontrolplane|kcp, cluster, or KIND.GROUP for another control plane)".into(),
        ));
    }
    if args[0].contains('/') {
        return args
            .iter()
            .map(|a| {
                if a.contains('/') {
                    target::split_args(std::slice::from_ref(a))
                } else {
                    Err(Error::Usage(format!(
                        "{a:?}: mixing TYPE/NAME and TYPE NAME forms is not allowed; write every object as TYPE/NAME"
                    )))
                }
            })
            .collect();
    }
    let ty = &args[0];
    if args.len() == 1 {
        return Err(Error::Usage(format!(
            "{ty:?}: give TYPE/NAME (e.g. machinedeployment/my-md) or TYPE NAME"
        )));
    }
    args[1..]
        .iter()
        .map(|n| {
            if n.contains('/') || n.is_empty() {
                Err(Error::Usage(format!(
                    "{n:?}: after TYPE give plain names; mixing TYPE NAME and TYPE/NAME forms is not allowed"
                )))
            } else {
                Ok((ty.clone(), n.clone()))
            }
        })
        .collect()
}

fn is_cluster_type(ty: &str) -> bool {
    matches!(
        ty.to_ascii_lowercase().as_str(),
        "cluster" | "clusters" | "cl" | "cluster.cluster.x-k8s.io" | "clusters.cluster.x-k8s.io"
    )
}

/// Resolves every argument against the server, expanding `cluster/NAME`; duplicates are dropped.
pub async fn resolve(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    pairs: &[(String, String)],
) -> Result<Vec<Target>> {
    let mut out: Vec<Target> = vec![];
    for (ty, name) in pairs {
        let found = if is_cluster_type(ty) {
            expand_cluster(kube, catalog, ns, name).await?
        } else {
            vec![Target {
                resolved: target::resolve(kube, catalog, ty).await?,
                ns: ns.to_string(),
                name: name.clone(),
            }]
        };
        for t in found {
            let dup = out.iter().any(|o| {
                o.name == t.name
                    && o.resolved.resource.kind == t.resolved.resource.kind
                    && o.resolved.resource.group == t.resolved.resource.group
            });
            if !dup {
                out.push(t);
            }
        }
    }
    Ok(out)
}

/// The control plane a Cluster names (`spec.controlPlaneRef`), if any; an unserved kind is an error.
pub async fn control_plane_of(kube: &Kube, catalog: &Catalog, cluster: &Value) -> Result<Option<Target>> {
    let Some(r) = obj_ref(cluster, "/spec/controlPlaneRef") else {
        return Ok(None);
    };
    let ns = cluster
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = cluster
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match catalog.resolve(kube, &r.group, &r.kind).await? {
        Some((resource, served)) => Ok(Some(Target {
            resolved: Resolved {
                kind: TargetKind::ControlPlane,
                resource,
                served,
            },
            ns: ns.to_string(),
            name: r.name,
        })),
        None => Err(Error::NotCapi(format!(
            "Cluster {ns}/{name}'s control plane is a {} ({}), which the server does not serve",
            r.kind, r.group
        ))),
    }
}

/// A Cluster's control plane, then its MachineDeployments by name.
async fn expand_cluster(kube: &Kube, catalog: &Catalog, ns: &str, name: &str) -> Result<Vec<Target>> {
    let cluster = read_cluster(kube, catalog, ns, name).await?;
    let mut out: Vec<Target> = control_plane_of(kube, catalog, &to_value(&cluster))
        .await?
        .into_iter()
        .collect();
    let md = target::resolve(kube, catalog, "machinedeployment").await?;
    let (mds, _) = kube
        .list_all(
            &md.resource,
            Some(ns),
            Some(&format!("{CLUSTER_NAME_LABEL}={name}")),
            None,
        )
        .await?;
    let mut names: Vec<String> = mds.iter().filter_map(|m| m.metadata.name.clone()).collect();
    names.sort();
    for n in names {
        out.push(Target {
            resolved: md.clone(),
            ns: ns.to_string(),
            name: n,
        });
    }
    if out.is_empty() {
        return Err(Error::NotFound(format!(
            "Cluster {ns}/{name} has no control plane and no MachineDeployments yet"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn both_forms_and_several_objects() {
        assert_eq!(
            parse(&s(&["md/a", "kcp/b"])).unwrap(),
            vec![("md".into(), "a".into()), ("kcp".into(), "b".into())]
        );
        assert_eq!(
            parse(&s(&["md", "a", "b"])).unwrap(),
            vec![("md".into(), "a".into()), ("md".into(), "b".into())]
        );
        for bad in [&[][..], &["md"], &["md/a", "b"], &["md", "a/b"], &["md/"]] {
            assert!(matches!(parse(&s(bad)), Err(Error::Usage(_))), "{bad:?}");
        }
    }
}
