//! Following a cluster deletion: what is left, and, when it stalls, which objects hold it up
//! (their finalizers and the conditions that say why).

use kube::api::DynamicObject;
use serde_json::Value;

use crate::capi::Generation;
use crate::capi::conditions;
use crate::capi::object::{deleting, to_value};
use crate::tree::fetch::ClusterObjects;

/// One object still present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Whether its deletion has started.
    pub deleting: bool,
    /// Its finalizers.
    pub finalizers: Vec<String>,
    /// The condition explaining its state, as `Type Status: message`, if any.
    pub why: Option<String>,
}

fn left(o: &DynamicObject, g: Generation) -> Left {
    let v = to_value(o);
    let kind = o.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
    let finalizers = o.metadata.finalizers.clone().unwrap_or_default();
    Left {
        kind,
        name: o.metadata.name.clone().unwrap_or_default(),
        deleting: deleting(o),
        finalizers,
        why: explain(&v, g),
    }
}

/// The v1beta2 `Deleting` condition (or, on v1beta1, a `Ready` condition that is not True).
fn explain(v: &Value, g: Generation) -> Option<String> {
    let v2 = conditions::v1beta2(v, g, true);
    let pick = conditions::find(&v2, "Deleting")
        .filter(|c| c.status == "True")
        .or_else(|| conditions::find(&v2, "Ready").filter(|c| c.status != "True"))
        .cloned()
        .or_else(|| {
            let v1 = conditions::v1beta1(v, g, true);
            conditions::find(&v1, "Ready")
                .filter(|c| c.status != "True")
                .cloned()
        })?;
    let text = if pick.message.is_empty() {
        pick.reason.clone()
    } else {
        pick.message.replace('\n', " ")
    };
    Some(
        format!("{} {}: {text}", pick.type_, pick.status)
            .trim_end_matches(": ")
            .to_string(),
    )
}

/// Everything of the cluster still present, the Cluster last.
pub fn remaining(objs: &ClusterObjects) -> Vec<Left> {
    let g = objs.generation;
    let mut out: Vec<Left> = vec![];
    for o in objs
        .machines
        .iter()
        .chain(&objs.provider_objects)
        .chain(&objs.machine_sets)
        .chain(&objs.machine_deployments)
        .chain(&objs.machine_pools)
        .chain(objs.control_plane.iter())
        .chain(objs.infra_cluster.iter())
        .chain(std::iter::once(&objs.cluster))
    {
        out.push(left(o, g));
    }
    out
}

/// "3 Machines, 1 MachineSet, KubeadmControlPlane, Cluster".
pub fn progress(left: &[Left]) -> String {
    let mut counts: Vec<(String, usize)> = vec![];
    for l in left {
        match counts.iter_mut().find(|(k, _)| *k == l.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((l.kind.clone(), 1)),
        }
    }
    counts
        .into_iter()
        .map(|(k, n)| {
            if n == 1 {
                format!("1 {k}")
            } else {
                format!("{n} {k}s")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The objects holding the deletion up: being deleted but kept by finalizers (the deepest first,
/// since their owners wait for them), each with its finalizers and the condition saying why.
pub fn blockers(left: &[Left]) -> Vec<String> {
    left.iter()
        .filter(|l| l.deleting && !l.finalizers.is_empty())
        .map(|l| {
            let mut s = format!(
                "{}/{} is held by finalizers [{}]",
                l.kind,
                l.name,
                l.finalizers.join(", ")
            );
            if let Some(w) = &l.why {
                s += &format!("; {w}");
            }
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(kind: &str, name: &str, deleting: bool, finalizers: &[&str], conds: Value) -> DynamicObject {
        let mut v = serde_json::json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": kind,
            "metadata": {"name": name, "finalizers": finalizers},
            "status": {"conditions": conds}
        });
        if deleting {
            v["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn names_blockers_with_their_reasons() {
        let held = obj(
            "Machine",
            "m1",
            true,
            &["machine.cluster.x-k8s.io", "example.com/hold"],
            serde_json::json!([{"type": "Deleting", "status": "True", "reason": "Draining", "message": "Drain not completed yet"}]),
        );
        let waiting = obj("MachineSet", "ms", false, &[], serde_json::json!([]));
        let l = vec![
            left(&held, Generation::V1beta2),
            left(&waiting, Generation::V1beta2),
        ];
        assert_eq!(
            blockers(&l),
            vec![
                "Machine/m1 is held by finalizers [machine.cluster.x-k8s.io, example.com/hold]; Deleting True: Drain not completed yet"
            ]
        );
        assert_eq!(progress(&l), "1 Machine, 1 MachineSet");
    }
}
