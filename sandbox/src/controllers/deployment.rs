//! What kube-controller-manager's deployment controller (with a scheduler and kubelets) leaves a
//! Deployment with once its pods run: the status counters at `spec.replicas` and the
//! `Available` and `Progressing` conditions, for the generation it saw. No ReplicaSets or Pods
//! are made. A Deployment annotated [`UNAVAILABLE`] stays unavailable (for tests of waits that
//! time out), with the reason the real controller gives.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Controller, mutate};
use crate::api::rest::{Api, Sub};
use crate::store::{Event, EventType, ObjKey};

const MANAGER: &str = "kube-controller-manager";
const RESOURCE: &str = "apps/deployments";

/// Keeps a Deployment from becoming available; the value is the message of its condition.
pub const UNAVAILABLE: &str = "sandbox.capi.kubectl.x-k8s.io/unavailable";

/// The deployment controller.
pub struct DeploymentController {
    api: Api,
    pending: BTreeSet<ObjKey>,
}

impl DeploymentController {
    /// A controller.
    pub fn new(api: Api) -> Self {
        DeploymentController {
            api,
            pending: BTreeSet::new(),
        }
    }
}

/// The status a Deployment has once its rollout is done (or is stuck, when annotated).
pub fn status_of(d: &Value, now: &str) -> Value {
    let replicas = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let generation = d
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let name = d.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let stuck = d
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(UNAVAILABLE))
        .and_then(Value::as_str);
    let condition = |ty: &str, ok: bool, reason: &str, message: String| {
        json!({"type": ty, "status": if ok { "True" } else { "False" }, "reason": reason,
            "message": message, "lastUpdateTime": now, "lastTransitionTime": now})
    };
    let (available, conditions) = match stuck {
        None => (
            replicas,
            vec![
                condition(
                    "Available",
                    true,
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.".into(),
                ),
                condition(
                    "Progressing",
                    true,
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \"{name}\" has successfully progressed."),
                ),
            ],
        ),
        Some(message) => (
            0,
            vec![
                condition(
                    "Available",
                    false,
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.".into(),
                ),
                condition("Progressing", true, "ReplicaSetUpdated", message.to_string()),
            ],
        ),
    };
    let mut status = json!({"observedGeneration": generation, "replicas": replicas,
        "updatedReplicas": replicas, "readyReplicas": available, "availableReplicas": available,
        "conditions": conditions});
    if available < replicas {
        status["unavailableReplicas"] = json!(replicas - available);
    }
    status
}

fn same(a: &Value, b: &Value) -> bool {
    // Everything but the timestamps.
    let strip = |v: &Value| {
        let mut v = v.clone();
        for c in v
            .get_mut("conditions")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(o) = c.as_object_mut() {
                o.remove("lastUpdateTime");
                o.remove("lastTransitionTime");
            }
        }
        v
    };
    strip(a) == strip(b)
}

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    fn resync(&mut self) {
        let (_, table) = self.api.store.snapshot(&Arc::from(RESOURCE));
        self.pending.extend(table.iter().map(|(k, _)| k.clone()));
    }

    fn handle(&mut self, e: &Event) {
        if &*e.res == RESOURCE && e.ty != EventType::Deleted {
            self.pending.insert(ObjKey::new(&e.obj.ns, &e.obj.name));
        }
    }

    fn tick(&mut self) -> Option<Duration> {
        let Some(def) = self.api.registry.get("apps", "deployments") else {
            self.pending.clear();
            return None;
        };
        let now = crate::store::time::now_rfc3339();
        for key in std::mem::take(&mut self.pending) {
            let r = mutate(
                &self.api,
                &def,
                Some(&key.ns),
                &key.name,
                Sub::Status,
                MANAGER,
                |d| {
                    let want = status_of(d, &now);
                    if d.get("status").is_some_and(|s| same(s, &want)) {
                        return false;
                    }
                    d["status"] = want;
                    true
                },
            );
            if let Err(e) = r
                && e.code != 404
            {
                tracing::warn!(name = %key.name, error = %e, "deployment status update failed");
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_unless_annotated() {
        let d = json!({"metadata": {"name": "m", "generation": 2}, "spec": {"replicas": 2}});
        let s = status_of(&d, "t");
        assert_eq!(s["availableReplicas"], 2);
        assert_eq!(s["observedGeneration"], 2);
        assert_eq!(s["conditions"][0]["status"], "True");
        let stuck = json!({"metadata": {"name": "m", "annotations": {UNAVAILABLE: "image pull backoff"}}, "spec": {}});
        let s = status_of(&stuck, "t");
        assert_eq!(s["availableReplicas"], 0);
        assert_eq!(s["unavailableReplicas"], 1);
        assert_eq!(s["conditions"][0]["reason"], "MinimumReplicasUnavailable");
        assert!(same(&s, &status_of(&stuck, "later")));
    }
}
