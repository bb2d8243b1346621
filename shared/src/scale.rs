//! Scaling MachineDeployments, MachinePools and control planes. A topology-managed object is
//! scaled through its Cluster's `spec.topology` (where the topology controller would otherwise
//! put the old count back); anything else through its scale subresource. Waiting follows the
//! object through a watch.

use std::time::Duration;

use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::capi::labels::{
    AUTOSCALER_MAX_ANNOTATION, AUTOSCALER_MIN_ANNOTATION, TOPOLOGY_DEPLOYMENT_NAME_LABEL,
    TOPOLOGY_OWNED_LABEL, TOPOLOGY_POOL_NAME_LABEL,
};
use crate::capi::object::{i64_at, to_value};
use crate::capi::target::{Resolved, TargetKind};
use crate::capi::{CLUSTER_NAME_LABEL, Catalog};
use crate::client::Kube;
use crate::flags::WriteMode;
use crate::tree::fetch::core;
use crate::{Error, Result};

/// A missing target, with a suggestion: the object a topology entry of that name stands for
/// (`md/md-0` is what `spec.topology` calls it; the MachineDeployment has a generated name), or
/// close names in the namespace.
async fn not_found(kube: &Kube, r: &Resolved, ns: &str, name: &str, what: &str) -> Error {
    let mut msg = format!("{what} not found in namespace {ns:?}");
    let entry_label = match r.kind {
        TargetKind::MachineDeployment => Some(TOPOLOGY_DEPLOYMENT_NAME_LABEL),
        TargetKind::MachinePool => Some(TOPOLOGY_POOL_NAME_LABEL),
        TargetKind::ControlPlane => None,
    };
    let short = r
        .resource
        .kind
        .chars()
        .filter(char::is_ascii_uppercase)
        .collect::<String>()
        .to_lowercase();
    let listed = kube
        .list_all(&r.resource, Some(ns), None, None)
        .await
        .map(|(l, _)| l)
        .unwrap_or_default();
    let entries: Vec<String> = listed
        .iter()
        .filter(|o| entry_label.is_some_and(|l| crate::capi::object::label(o, l) == Some(name)))
        .map(|o| {
            let cluster = crate::capi::object::label(o, CLUSTER_NAME_LABEL).unwrap_or("?");
            format!(
                "{short}/{} (topology entry {name:?} of Cluster {cluster})",
                o.metadata.name.as_deref().unwrap_or("")
            )
        })
        .collect();
    let names: Vec<&str> = listed.iter().filter_map(|o| o.metadata.name.as_deref()).collect();
    let close = crate::tree::fetch::close_names(name, names);
    if !entries.is_empty() {
        msg.push_str(&format!("; did you mean {}?", entries.join(", ")));
    } else if !close.is_empty() {
        let close: Vec<String> = close.iter().map(|c| format!("{short}/{c}")).collect();
        msg.push_str(&format!("; did you mean {}?", close.join(", ")));
    }
    Error::NotFound(msg)
}

/// How the replica count is changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// PATCH the object's scale subresource.
    ScaleSubresource,
    /// PATCH `spec.replicas` of the object (no scale subresource served).
    Spec,
    /// JSON-patch the Cluster's topology at `path` (guarded by a `test` of the entry's name).
    Topology {
        /// The Cluster's name.
        cluster: String,
        /// The JSON pointer of the replicas field.
        path: String,
        /// The JSON patch.
        patch: Value,
    },
}

/// What `scale` will do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `machinedeployment.cluster.x-k8s.io/NAME`.
    pub display: String,
    /// Current desired replicas, when set.
    pub from: Option<i64>,
    /// New replicas.
    pub to: i64,
    /// How.
    pub route: Route,
    /// Things the user should know (autoscaler).
    pub warnings: Vec<String>,
}

impl Plan {
    /// One line saying what was done.
    pub fn summary(&self, write: WriteMode) -> String {
        let from = self.from.map_or_else(|| "unset".to_string(), |f| f.to_string());
        let via = match &self.route {
            Route::Topology { cluster, path, .. } => {
                format!(" through Cluster {cluster} ({})", pointer_to_path(path))
            }
            _ => String::new(),
        };
        let dry = write.suffix();
        if self.from == Some(self.to) {
            format!("{} already has {} replicas{via}{dry}", self.display, self.to)
        } else {
            format!("{} scaled from {from} to {}{via}{dry}", self.display, self.to)
        }
    }
}

fn pointer_to_path(p: &str) -> String {
    p.trim_start_matches('/').replace('/', ".")
}

/// The object's display name, kubectl style.
pub fn display(r: &Resolved, name: &str) -> String {
    format!(
        "{}.{}/{name}",
        r.resource.kind.to_ascii_lowercase(),
        r.resource.group
    )
}

/// Reads the object and decides how to scale it; checks happen here, before anything changes.
pub async fn plan(
    kube: &Kube,
    catalog: &Catalog,
    r: &Resolved,
    ns: &str,
    name: &str,
    replicas: i64,
    force: bool,
) -> Result<Plan> {
    // Replica counts are int32 in every Cluster API kind and in autoscaling/v1 Scale.
    if !(0..=i64::from(i32::MAX)).contains(&replicas) {
        return Err(Error::Usage(format!(
            "--replicas must be between 0 and 2147483647 (a replica count is an int32), not {replicas}"
        )));
    }
    let api = kube.api(&r.resource, Some(ns));
    let what = display(r, name);
    let Some(obj) = kube.call(&format!("reading {what}"), api.get_opt(name)).await? else {
        return Err(not_found(kube, r, ns, name, &what).await);
    };
    let v = to_value(&obj);
    let mut warnings = vec![];
    if r.kind == TargetKind::ControlPlane && r.resource.kind == "KubeadmControlPlane" {
        let external = v
            .pointer("/spec/kubeadmConfigSpec/clusterConfiguration/etcd/external")
            .is_some_and(|e| !e.is_null());
        if replicas == 0 {
            return Err(Error::Usage(format!(
                "{what}: a control plane cannot be scaled to 0 replicas"
            )));
        }
        if !external && replicas % 2 == 0 && !force {
            return Err(Error::Usage(format!(
                "{what} runs stacked etcd, which needs an odd number of members to keep quorum through a failure; {replicas} is even. Use {} or {}, or --force (the KubeadmControlPlane webhook may still refuse it)",
                replicas - 1,
                replicas + 1
            )));
        }
    }
    // The cluster autoscaler owns the count of a node group it manages.
    let ann = |k: &str| {
        obj.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(k))
            .and_then(|s| s.trim().parse::<i64>().ok())
    };
    if let (Some(min), Some(max)) = (ann(AUTOSCALER_MIN_ANNOTATION), ann(AUTOSCALER_MAX_ANNOTATION)) {
        if (replicas < min || replicas > max) && !force {
            return Err(Error::Usage(format!(
                "{what} is managed by the cluster autoscaler within [{min}, {max}]; {replicas} is outside that range and the autoscaler would undo it. Change the autoscaler bounds, or pass --force"
            )));
        }
        warnings.push(format!(
            "{what} is managed by the cluster autoscaler (between {min} and {max} replicas); it may change the count again"
        ));
    }
    let labels = obj.metadata.labels.clone().unwrap_or_default();
    let from_spec = i64_at(&v, "/spec/replicas");
    if labels.contains_key(TOPOLOGY_OWNED_LABEL) {
        let cluster = labels
            .get(CLUSTER_NAME_LABEL)
            .cloned()
            .or_else(|| {
                v.pointer("/spec/clusterName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| Error::Api(format!("{what} is topology-managed but names no cluster")))?;
        let (path, from) = topology_path(kube, catalog, r, &obj, ns, &cluster).await?;
        let route = Route::Topology {
            cluster: format!("{ns}/{cluster}"),
            patch: path.1.clone(),
            path: path.0,
        };
        return Ok(Plan {
            display: what,
            from: from.or(from_spec),
            to: replicas,
            route,
            warnings,
        });
    }
    let route = if r.served.subresources.iter().any(|s| s == "scale") {
        Route::ScaleSubresource
    } else {
        Route::Spec
    };
    Ok(Plan {
        display: what,
        from: from_spec,
        to: replicas,
        route,
        warnings,
    })
}

/// The topology field for the object, with the guarded JSON patch, and its current value.
async fn topology_path(
    kube: &Kube,
    catalog: &Catalog,
    r: &Resolved,
    obj: &DynamicObject,
    ns: &str,
    cluster: &str,
) -> Result<((String, Value), Option<i64>)> {
    let ar = core(kube, catalog, "Cluster").await?;
    let c = kube
        .call(
            &format!("reading Cluster {ns}/{cluster}"),
            kube.api(&ar, Some(ns)).get_opt(cluster),
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("Cluster {ns}/{cluster} not found")))?;
    let cv = to_value(&c);
    let Some(topology) = cv.pointer("/spec/topology").filter(|t| !t.is_null()) else {
        return Err(Error::Api(format!(
            "{} carries the topology label but Cluster {ns}/{cluster} has no spec.topology",
            display(r, obj.metadata.name.as_deref().unwrap_or(""))
        )));
    };
    let label = |k: &str| obj.metadata.labels.as_ref().and_then(|l| l.get(k)).cloned();
    let (list, entry) = match r.kind {
        TargetKind::ControlPlane => {
            let path = "/spec/topology/controlPlane/replicas".to_string();
            let from = i64_at(&cv, &path);
            let patch = json!([{"op": "add", "path": path, "value": Value::Null}]);
            return Ok(((path, patch), from));
        }
        TargetKind::MachineDeployment => ("machineDeployments", label(TOPOLOGY_DEPLOYMENT_NAME_LABEL)),
        TargetKind::MachinePool => ("machinePools", label(TOPOLOGY_POOL_NAME_LABEL)),
    };
    let entry = entry.ok_or_else(|| {
        Error::Api(format!(
            "the topology-managed object does not say which spec.topology.workers.{list} entry it belongs to"
        ))
    })?;
    let items = topology
        .pointer(&format!("/workers/{list}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(i) = items
        .iter()
        .position(|m| m.get("name").and_then(Value::as_str) == Some(entry.as_str()))
    else {
        return Err(Error::Api(format!(
            "Cluster {ns}/{cluster} has no spec.topology.workers.{list} entry named {entry:?}"
        )));
    };
    let base = format!("/spec/topology/workers/{list}/{i}");
    let path = format!("{base}/replicas");
    let from = i64_at(&cv, &path);
    // The `test` makes the patch fail rather than scale the wrong entry if the list changed.
    let patch = json!([
        {"op": "test", "path": format!("{base}/name"), "value": entry},
        {"op": "add", "path": path, "value": Value::Null},
    ]);
    Ok(((path, patch), from))
}

/// Applies the plan.
pub async fn apply(
    kube: &Kube,
    catalog: &Catalog,
    r: &Resolved,
    ns: &str,
    name: &str,
    plan: &Plan,
    write: WriteMode,
) -> Result<()> {
    let pp = PatchParams {
        dry_run: write.is_dry_run(),
        ..Default::default()
    };
    let api = kube.api(&r.resource, Some(ns));
    let body = json!({"spec": {"replicas": plan.to}});
    match &plan.route {
        Route::ScaleSubresource => {
            kube.call(
                &format!("scaling {}", plan.display),
                api.patch_scale(name, &pp, &Patch::Merge(&body)),
            )
            .await?;
        }
        Route::Spec => {
            kube.call(
                &format!("scaling {}", plan.display),
                api.patch(name, &pp, &Patch::Merge(&body)),
            )
            .await?;
        }
        Route::Topology { cluster, patch, .. } => {
            let mut ops = patch.clone();
            if let Some(last) = ops.as_array_mut().and_then(|a| a.last_mut()) {
                last["value"] = json!(plan.to);
            }
            let patch: json_patch::Patch = serde_json::from_value(ops)
                .map_err(|e| Error::Other(format!("building the topology patch: {e}")))?;
            let ar = core(kube, catalog, "Cluster").await?;
            let cname = cluster.rsplit('/').next().unwrap_or(cluster);
            kube.call(
                &format!("scaling {} through Cluster {cluster}", plan.display),
                kube.api(&ar, Some(ns))
                    .patch(cname, &pp, &Patch::<()>::Json(patch)),
            )
            .await
            .map_err(|e| {
                if e.is_failed_test() || matches!(e, Error::Status { code: 422, .. }) {
                    e.explained(|m| {
                        format!("{m}; the Cluster's topology changed while scaling, run the command again")
                    })
                } else {
                    e
                }
            })?;
        }
    }
    Ok(())
}

/// The replica counters of an object, both generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// spec.replicas.
    pub desired: i64,
    /// status.replicas.
    pub current: i64,
    /// status.readyReplicas.
    pub ready: i64,
    /// status.availableReplicas (v1beta2) when reported.
    pub available: Option<i64>,
    /// Up-to-date replicas (v1beta2 upToDateReplicas, v1beta1 updatedReplicas) when reported.
    pub up_to_date: Option<i64>,
    /// Whether the controller has seen the latest spec.
    pub observed: bool,
}

/// Reads the counters.
pub fn counts(v: &Value) -> Counts {
    let n = |p: &str| i64_at(v, p);
    let generation = n("/metadata/generation").unwrap_or(0);
    Counts {
        desired: n("/spec/replicas").unwrap_or(0),
        current: n("/status/replicas").unwrap_or(0),
        ready: n("/status/readyReplicas").unwrap_or(0),
        available: n("/status/availableReplicas"),
        up_to_date: n("/status/upToDateReplicas").or_else(|| n("/status/updatedReplicas")),
        observed: n("/status/observedGeneration").is_none_or(|o| o >= generation),
    }
}

impl Counts {
    /// Whether the object has settled at `n` replicas.
    pub fn done(&self, n: i64) -> bool {
        self.desired == n
            && self.observed
            && self.current == n
            && self.ready == n
            && self.available.is_none_or(|a| a == n)
            && self.up_to_date.is_none_or(|u| u == n)
    }

    /// kubectl-style progress.
    pub fn progress(&self, n: i64) -> String {
        if self.desired != n {
            return format!("waiting for spec.replicas to become {n} (now {})", self.desired);
        }
        let mut s = format!("{} of {n} replicas ready, {} exist", self.ready, self.current);
        if let Some(a) = self.available {
            s += &format!(", {a} available");
        }
        s
    }
}

/// Follows the object through a watch until it settles at `n` replicas, printing progress with
/// `report`. Times out with the last state and the conditions that explain it.
pub async fn wait(
    kube: &Kube,
    r: &Resolved,
    ns: &str,
    name: &str,
    n: i64,
    timeout: Duration,
    mut report: impl FnMut(&str),
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut follow = crate::client::follow::Follow::new(
        kube,
        &r.resource,
        ns,
        name,
        deadline,
        format!("{} was deleted while waiting", display(r, name)),
    );
    let mut last = String::new();
    let mut last_obj = Value::Null;
    loop {
        let Some(obj) = follow.next().await? else {
            return Err(Error::Timeout(format!(
                "{} did not reach {n} ready replicas within {timeout:?}: {}{}",
                display(r, name),
                counts(&last_obj).progress(n),
                explain(&last_obj)
            )));
        };
        let v = to_value(&obj);
        let c = counts(&v);
        if c.done(n) {
            report(&format!("{}: {n} of {n} replicas ready", display(r, name)));
            return Ok(());
        }
        let line = format!("{}: {}", display(r, name), c.progress(n));
        if line != last {
            report(&line);
            last = line;
        }
        last_obj = v;
    }
}

/// The scaling conditions that are not in their normal state, as "; Type: message".
fn explain(v: &Value) -> String {
    let conds = crate::capi::conditions::parse_list(v.pointer("/status/conditions"));
    let mut out = String::new();
    for c in conds.iter().filter(|c| {
        matches!(
            c.type_.as_str(),
            "ScalingUp" | "ScalingDown" | "Available" | "MachinesReady" | "Ready" | "Remediating"
        ) && !crate::capi::conditions::is_normal(c)
    }) {
        let why = if c.message.is_empty() {
            &c.reason
        } else {
            &c.message
        };
        out += &format!("; {} {}: {why}", c.type_, c.status);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_both_generations() {
        let v2 = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3}, "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "upToDateReplicas": 3}});
        assert!(counts(&v2).done(3));
        assert!(!counts(&v2).done(4));
        let v1 = json!({"metadata": {"generation": 5}, "spec": {"replicas": 2}, "status": {"observedGeneration": 4, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}});
        assert!(!counts(&v1).done(2), "not observed yet");
        let mut v1 = v1;
        v1["status"]["observedGeneration"] = json!(5);
        assert!(counts(&v1).done(2));
        assert_eq!(
            counts(&v1).progress(4),
            "waiting for spec.replicas to become 4 (now 2)"
        );
    }
}
