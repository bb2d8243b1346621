//! Naming the object a verb acts on, kubectl style: `TYPE/NAME` or `TYPE NAME`, with Cluster
//! API short names (`md`, `mp`, `kcp`) and group-qualified kinds (`kind.group`) for any
//! provider's control plane.

use kube::core::ApiResource;

use crate::capi::catalog::Served;
use crate::capi::{CORE_GROUP, Catalog};
use crate::client::Kube;
use crate::{Error, Result};

/// The control plane provider group.
pub const CONTROL_PLANE_GROUP: &str = "controlplane.cluster.x-k8s.io";

/// What a `TYPE` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A MachineDeployment.
    MachineDeployment,
    /// A MachinePool.
    MachinePool,
    /// A control plane (KubeadmControlPlane or any provider's).
    ControlPlane,
}

/// A resolved target type.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Which role it plays.
    pub kind: TargetKind,
    /// How to reach it.
    pub resource: ApiResource,
    /// What discovery says about it (subresources).
    pub served: Served,
}

/// Splits `TYPE/NAME` or `TYPE NAME` into (type, name).
pub fn split_args(args: &[String]) -> Result<(String, String)> {
    match args {
        [one] => match one.split_once('/') {
            Some((t, n)) if !t.is_empty() && !n.is_empty() && !n.contains('/') => {
                Ok((t.to_string(), n.to_string()))
            }
            _ => Err(Error::Usage(format!(
                "{one:?}: give TYPE/NAME (e.g. machinedeployment/my-md) or TYPE NAME"
            ))),
        },
        [t, n] if !t.contains('/') && !n.contains('/') => Ok((t.clone(), n.clone())),
        [] => Err(Error::Usage(
            "give the object: TYPE/NAME or TYPE NAME (types: machinedeployment|md, machinepool|mp, kubeadmcontrolplane|kcp, or KIND.GROUP for another control plane)".into(),
        )),
        _ => Err(Error::Usage(format!(
            "expected TYPE/NAME or TYPE NAME, got {}",
            args.join(" ")
        ))),
    }
}

/// Resolves a type name against what the server serves.
pub async fn resolve(kube: &Kube, catalog: &Catalog, ty: &str) -> Result<Resolved> {
    let lower = ty.to_ascii_lowercase();
    let (group, kind, role) = match lower.as_str() {
        "machinedeployment" | "machinedeployments" | "md" | "mds" => (
            CORE_GROUP.to_string(),
            "MachineDeployment".to_string(),
            TargetKind::MachineDeployment,
        ),
        "machinepool" | "machinepools" | "mp" | "mps" => (
            CORE_GROUP.to_string(),
            "MachinePool".to_string(),
            TargetKind::MachinePool,
        ),
        "kubeadmcontrolplane" | "kubeadmcontrolplanes" | "kcp" => (
            CONTROL_PLANE_GROUP.to_string(),
            "KubeadmControlPlane".to_string(),
            TargetKind::ControlPlane,
        ),
        other => {
            let Some((name, group)) = other.split_once('.') else {
                return Err(Error::Usage(format!(
                    "unknown type {ty:?}: use machinedeployment (md), machinepool (mp), kubeadmcontrolplane (kcp), or KIND.GROUP for another control plane (e.g. awsmanagedcontrolplane.controlplane.cluster.x-k8s.io)"
                )));
            };
            let served = catalog.resources(kube, group).await?;
            let Some(s) = served
                .iter()
                .find(|s| s.kind.eq_ignore_ascii_case(name) || s.plural.eq_ignore_ascii_case(name))
            else {
                return Err(Error::NotFound(format!(
                    "the server does not serve {name:?} in API group {group:?}"
                )));
            };
            let role = match (group, s.kind.as_str()) {
                (CORE_GROUP, "MachineDeployment") => TargetKind::MachineDeployment,
                (CORE_GROUP, "MachinePool") => TargetKind::MachinePool,
                _ => TargetKind::ControlPlane,
            };
            (group.to_string(), s.kind.clone(), role)
        }
    };
    match catalog.resolve(kube, &group, &kind).await? {
        Some((resource, served)) => Ok(Resolved {
            kind: role,
            resource,
            served,
        }),
        None => Err(Error::NotCapi(format!(
            "the server does not serve {kind} ({group}); is the provider installed?"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn splits_both_forms() {
        assert_eq!(split_args(&s(&["md/a"])).unwrap(), ("md".into(), "a".into()));
        assert_eq!(split_args(&s(&["md", "a"])).unwrap(), ("md".into(), "a".into()));
        for bad in [&["md"][..], &["md/"], &["/a"], &["md/a/b"], &[], &["a", "b", "c"]] {
            assert!(matches!(split_args(&s(bad)), Err(Error::Usage(_))), "{bad:?}");
        }
    }
}
