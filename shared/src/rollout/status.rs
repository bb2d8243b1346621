//! `rollout status`: follow a rollout through the watch API until every replica is up to date
//! and available, kubectl style. A topology-managed object also waits for the topology
//! controller to carry the Cluster's `rollout.after` and version down to it.

use serde::Serialize;
use serde_json::Value;

use super::restart::owning_cluster;
use super::targets::Target;
use super::{is_paused, rollout_after_pointer};
use crate::Result;
use crate::capi::conditions::{self, Condition};
use crate::capi::labels::{DEPLOYMENT_NAME_LABEL, TOPOLOGY_DEPLOYMENT_NAME_LABEL, TOPOLOGY_OWNED_LABEL};
use crate::capi::object::{i64_at, str_at, to_value};
use crate::capi::target::TargetKind;
use crate::capi::{CORE_GROUP, Catalog, Generation};
use crate::client::Kube;
use crate::tree::fetch::core;

/// Where a rollout stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Whether the rollout has finished.
    pub complete: bool,
    /// Whether the object is paused.
    pub paused: bool,
    /// spec.replicas.
    pub desired: i64,
    /// status.replicas.
    pub replicas: i64,
    /// Replicas with the current spec.
    pub up_to_date: i64,
    /// Ready replicas.
    pub ready: i64,
    /// Available replicas.
    pub available: i64,
    /// Whether the controller has seen the latest spec.
    pub observed: bool,
    /// kubectl-style progress line.
    pub message: String,
    /// The conditions that explain an unfinished rollout (RollingOut, MachinesUpToDate, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Only old MachineSets still holding replicas keep the rollout from being complete.
    #[serde(skip)]
    pub old_sets_only: bool,
}

/// What the Cluster's topology wants the object to have, for topology-managed objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopologyIntent {
    /// `Namespace/Name` of the Cluster.
    pub cluster: String,
    /// The topology's rollout.after for this object.
    pub after: Option<String>,
    /// The topology's Kubernetes version.
    pub version: Option<String>,
}

const EXPLAINING: &[&str] = &[
    "RollingOut",
    "MachinesUpToDate",
    "ScalingUp",
    "ScalingDown",
    "Remediating",
    "Available",
    "MachinesReady",
    "Paused",
];

fn counter(v: &Value, new: &str, old: &str) -> i64 {
    i64_at(v, &format!("/status/{new}"))
        .or_else(|| i64_at(v, &format!("/status/v1beta2/{new}")))
        .or_else(|| i64_at(v, &format!("/status/{old}")))
        .unwrap_or(0)
}

fn object_version(kind: TargetKind, v: &Value) -> Option<&str> {
    match kind {
        TargetKind::ControlPlane => str_at(v, "/spec/version"),
        _ => str_at(v, "/spec/template/spec/version"),
    }
}

/// Evaluates one state of the object.
pub fn evaluate(t: &Target, v: &Value, intent: Option<&TopologyIntent>) -> RolloutStatus {
    evaluate_with_sets(t, v, intent, None)
}

/// [`evaluate`], also knowing how many of a MachineDeployment's MachineSets hold replicas.
/// Cluster API's MachineDeployment status lags its MachineSets: right after a change is
/// observed, the new MachineSet exists but the counters still describe the old Machines as up
/// to date. A rollout is over only when a single MachineSet holds replicas.
pub fn evaluate_with_sets(
    t: &Target,
    v: &Value,
    intent: Option<&TopologyIntent>,
    holding: Option<usize>,
) -> RolloutStatus {
    let q = t.quoted();
    let generation = Generation::parse(&t.resolved.resource.version).unwrap_or(Generation::V1beta2);
    let core = t.resolved.resource.group == CORE_GROUP || t.resolved.resource.kind == "KubeadmControlPlane";
    let v1 = generation == Generation::V1beta1;
    // v1beta1 objects keep the new counters under status.v1beta2.
    let up_to_date = if v1 {
        i64_at(v, "/status/v1beta2/upToDateReplicas")
            .or_else(|| i64_at(v, "/status/updatedReplicas"))
            .unwrap_or(0)
    } else {
        counter(v, "upToDateReplicas", "updatedReplicas")
    };
    let ready = if v1 {
        i64_at(v, "/status/v1beta2/readyReplicas")
            .or_else(|| i64_at(v, "/status/readyReplicas"))
            .unwrap_or(0)
    } else {
        counter(v, "readyReplicas", "readyReplicas")
    };
    let available = if v1 {
        i64_at(v, "/status/v1beta2/availableReplicas")
            .or_else(|| i64_at(v, "/status/availableReplicas"))
            .unwrap_or(0)
    } else {
        counter(v, "availableReplicas", "availableReplicas")
    };
    let desired = i64_at(v, "/spec/replicas").unwrap_or(0);
    let replicas = i64_at(v, "/status/replicas").unwrap_or(0);
    let generation_n = i64_at(v, "/metadata/generation").unwrap_or(0);
    let observed = i64_at(v, "/status/observedGeneration").is_some_and(|o| o >= generation_n);
    let mut conds = conditions::v1beta2(v, generation, core);
    let new_style = !conds.is_empty();
    if !new_style {
        conds = conditions::v1beta1(v, generation, core);
    }
    let rolling = conditions::find(&conds, "RollingOut").is_some_and(|c| c.status == "True");
    let pending = intent.and_then(|i| {
        let after_ptr = rollout_after_pointer(&t.resolved.resource.version, v);
        let after_differs = i.after.is_some() && i.after.as_deref() != str_at(v, after_ptr);
        let version_differs = i.version.is_some() && i.version.as_deref() != object_version(t.kind(), v);
        (after_differs || version_differs).then(|| {
            format!(
                "Waiting for the topology controller to carry Cluster {}'s spec.topology to {q}...",
                i.cluster
            )
        })
    });
    let old_sets = holding.filter(|n| *n > 1);
    let mut old_sets_only = false;
    let message = if let Some(p) = pending {
        p
    } else if !observed {
        format!("Waiting for {q} spec update to be observed...")
    } else if up_to_date < desired {
        format!(
            "Waiting for {q} rollout to finish: {up_to_date} out of {desired} new replicas have been updated..."
        )
    } else if replicas > up_to_date {
        format!(
            "Waiting for {q} rollout to finish: {} old replicas are pending termination...",
            replicas - up_to_date
        )
    } else if available < up_to_date {
        format!(
            "Waiting for {q} rollout to finish: {available} of {up_to_date} updated replicas are available..."
        )
    } else if let Some(n) = old_sets {
        old_sets_only = true;
        format!(
            "Waiting for {q} rollout to finish: {} old MachineSets still have replicas...",
            n - 1
        )
    } else if rolling {
        format!("Waiting for {q} rollout to finish: RollingOut is True...")
    } else {
        format!("{q} successfully rolled out")
    };
    let complete = message.ends_with("successfully rolled out");
    let paused = is_paused(t.kind(), v);
    let message = if paused && !complete {
        format!(
            "{message} ({q} is paused: run `kubectl capi rollout resume {}/{}` to let it finish)",
            t.resolved.resource.kind.to_ascii_lowercase(),
            t.name
        )
    } else {
        message
    };
    let explaining = if complete {
        vec![]
    } else {
        conds
            .into_iter()
            .filter(|c| !conditions::is_normal(c))
            .filter(|c| !new_style || EXPLAINING.contains(&c.type_.as_str()))
            .collect()
    };
    RolloutStatus {
        kind: t.resolved.resource.kind.clone(),
        name: t.name.clone(),
        namespace: t.ns.clone(),
        complete,
        paused,
        desired,
        replicas,
        up_to_date,
        ready,
        available,
        observed,
        message,
        conditions: explaining,
        old_sets_only,
    }
}

/// The conditions as indented lines: `  RollingOut=True (Reason): message`.
pub fn explain(s: &RolloutStatus) -> String {
    let mut out = String::new();
    for c in &s.conditions {
        let why = match (c.reason.is_empty(), c.message.is_empty()) {
            (_, false) => format!(": {}", c.message.replace('\n', " ")),
            (false, true) => String::new(),
            (true, true) => String::new(),
        };
        let reason = if c.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.reason)
        };
        out += &format!("\n  {}={}{reason}{why}", c.type_, c.status);
    }
    out
}

/// What the topology wants for a topology-managed object (v1beta2 Clusters).
pub async fn topology_intent(kube: &Kube, catalog: &Catalog, t: &Target) -> Result<Option<TopologyIntent>> {
    let obj = t.get(kube).await?;
    let owned = obj
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(TOPOLOGY_OWNED_LABEL));
    if !owned {
        return Ok(None);
    }
    let Some(cluster) = owning_cluster(kube, catalog, &t.ns, &obj).await? else {
        return Ok(None);
    };
    let cv = to_value(&cluster);
    let Some(topo) = cv.pointer("/spec/topology").filter(|x| !x.is_null()) else {
        return Ok(None);
    };
    let section = match t.kind() {
        TargetKind::ControlPlane => topo.get("controlPlane").cloned(),
        TargetKind::MachineDeployment => {
            let entry = obj
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(TOPOLOGY_DEPLOYMENT_NAME_LABEL));
            topo.pointer("/workers/machineDeployments")
                .and_then(Value::as_array)
                .and_then(|a| {
                    a.iter()
                        .find(|m| m.get("name").and_then(Value::as_str) == entry.map(String::as_str))
                })
                .cloned()
        }
        TargetKind::MachinePool => None,
    };
    Ok(Some(TopologyIntent {
        cluster: format!("{}/{}", t.ns, cluster.metadata.name.as_deref().unwrap_or("")),
        after: section
            .as_ref()
            .and_then(|s| s.pointer("/rollout/after"))
            .and_then(Value::as_str)
            .map(str::to_string),
        version: topo.get("version").and_then(Value::as_str).map(str::to_string),
    }))
}

/// How often old MachineSets are looked at again while only they hold a rollout up.
const SETS_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// How many MachineSets of a MachineDeployment target hold replicas (spec or status); `None`
/// for other kinds. One label-selected LIST.
async fn sets_holding_replicas(kube: &Kube, catalog: &Catalog, t: &Target) -> Result<Option<usize>> {
    if t.kind() != TargetKind::MachineDeployment {
        return Ok(None);
    }
    let msr = core(kube, catalog, "MachineSet").await?;
    let selector = format!("{DEPLOYMENT_NAME_LABEL}={}", t.name);
    let (sets, _) = kube.list_all(&msr, Some(&t.ns), Some(&selector), None).await?;
    let n = sets
        .iter()
        .filter(|ms| {
            crate::capi::object::controller_owner(ms)
                .is_none_or(|(k, n)| k == "MachineDeployment" && n == t.name)
        })
        .map(to_value)
        .filter(|ms| {
            i64_at(ms, "/spec/replicas").unwrap_or(0) > 0 || i64_at(ms, "/status/replicas").unwrap_or(0) > 0
        })
        .count();
    Ok(Some(n))
}

/// Follows one object until its rollout completes or `deadline` passes (then the returned
/// status has `complete: false`). With `watch` false, answers once.
pub async fn follow(
    kube: &Kube,
    catalog: &Catalog,
    t: &Target,
    watch: bool,
    deadline: tokio::time::Instant,
    mut report: impl FnMut(&str),
) -> Result<RolloutStatus> {
    follow_status(kube, catalog, t, watch, deadline, |s| report(&s.message)).await
}

/// [`follow`], reporting every new state whole (for progress bars).
pub async fn follow_status(
    kube: &Kube,
    catalog: &Catalog,
    t: &Target,
    watch: bool,
    deadline: tokio::time::Instant,
    mut report: impl FnMut(&RolloutStatus),
) -> Result<RolloutStatus> {
    let intent = topology_intent(kube, catalog, t).await?;
    if !watch {
        let v = to_value(&t.get(kube).await?);
        let holding = sets_holding_replicas(kube, catalog, t).await?;
        return Ok(evaluate_with_sets(t, &v, intent.as_ref(), holding));
    }
    let mut follow = crate::client::follow::Follow::new(
        kube,
        &t.resolved.resource,
        &t.ns,
        &t.name,
        deadline,
        format!("{} was deleted while following its rollout", t.display()),
    );
    let mut last: Option<RolloutStatus> = None;
    while let Some(obj) = follow.next().await? {
        let v = to_value(&obj);
        loop {
            let holding = sets_holding_replicas(kube, catalog, t).await?;
            let s = evaluate_with_sets(t, &v, intent.as_ref(), holding);
            if last.as_ref().is_none_or(|l| l.message != s.message) {
                report(&s);
            }
            if s.complete {
                return Ok(s);
            }
            // Only old MachineSets hold it up: they change without the MachineDeployment
            // changing, so look at them again rather than wait for its next event.
            let sets_only = s.old_sets_only;
            last = Some(s);
            if !sets_only || tokio::time::Instant::now() + SETS_POLL > deadline {
                break;
            }
            tokio::time::sleep(SETS_POLL).await;
        }
    }
    match last {
        Some(s) => Ok(s),
        None => {
            let v = to_value(&t.get(kube).await?);
            Ok(evaluate(t, &v, intent.as_ref()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capi::catalog::Served;
    use crate::capi::target::Resolved;
    use kube::core::ApiResource;
    use serde_json::json;

    fn md(version: &str) -> Target {
        Target {
            resolved: Resolved {
                kind: TargetKind::MachineDeployment,
                resource: ApiResource {
                    group: CORE_GROUP.into(),
                    version: version.into(),
                    api_version: format!("{CORE_GROUP}/{version}"),
                    kind: "MachineDeployment".into(),
                    plural: "machinedeployments".into(),
                },
                served: Served {
                    version: version.into(),
                    kind: "MachineDeployment".into(),
                    plural: "machinedeployments".into(),
                    namespaced: true,
                    subresources: vec![],
                },
            },
            ns: "default".into(),
            name: "md-0".into(),
        }
    }

    fn state(up: i64, replicas: i64, avail: i64) -> Value {
        json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "replicas": replicas, "upToDateReplicas": up,
                "readyReplicas": avail, "availableReplicas": avail,
                "conditions": [{"type": "RollingOut", "status": "True", "reason": "RollingOut", "message": "Rolling out 2 not up-to-date replicas"},
                               {"type": "Available", "status": "True", "reason": "Available"}]}})
    }

    #[test]
    fn kubectl_style_progress() {
        let t = md("v1beta2");
        let s = evaluate(&t, &state(1, 4, 1), None);
        assert_eq!(
            s.message,
            "Waiting for machinedeployment \"md-0\" rollout to finish: 1 out of 3 new replicas have been updated..."
        );
        assert!(!s.complete);
        assert_eq!(s.conditions.len(), 1, "only the abnormal explaining ones");
        assert_eq!(
            explain(&s),
            "\n  RollingOut=True (RollingOut): Rolling out 2 not up-to-date replicas"
        );
        let s = evaluate(&t, &state(3, 4, 3), None);
        assert!(
            s.message.ends_with("1 old replicas are pending termination..."),
            "{}",
            s.message
        );
        let s = evaluate(&t, &state(3, 3, 2), None);
        assert!(
            s.message.ends_with("2 of 3 updated replicas are available..."),
            "{}",
            s.message
        );
        let mut done = state(3, 3, 3);
        done["status"]["conditions"][0]["status"] = json!("False");
        let s = evaluate(&t, &done, None);
        assert!(s.complete);
        assert_eq!(s.message, "machinedeployment \"md-0\" successfully rolled out");
        // Cluster API's counters lag the MachineSets: an old one still holding replicas means
        // the rollout has only begun, whatever the counters say.
        let s = evaluate_with_sets(&t, &done, None, Some(2));
        assert!(!s.complete);
        assert!(
            s.message.ends_with("1 old MachineSets still have replicas..."),
            "{}",
            s.message
        );
        assert!(evaluate_with_sets(&t, &done, None, Some(1)).complete);
        let mut unobserved = done.clone();
        unobserved["metadata"]["generation"] = json!(3);
        assert!(!evaluate(&t, &unobserved, None).complete);
    }

    #[test]
    fn topology_intent_and_v1beta1_counters() {
        let t = md("v1beta1");
        let v = json!({"metadata": {"generation": 1}, "spec": {"replicas": 2, "rolloutAfter": "A", "template": {"spec": {"version": "v1.33.0"}}},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
        assert!(evaluate(&t, &v, None).complete);
        let intent = TopologyIntent {
            cluster: "default/c".into(),
            after: Some("B".into()),
            version: None,
        };
        let s = evaluate(&t, &v, Some(&intent));
        assert!(!s.complete);
        assert!(s.message.contains("topology controller"), "{}", s.message);
    }
}
