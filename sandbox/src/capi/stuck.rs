//! Stuck states on purpose, for tests and demos of `kubectl capi diagnose`: annotations on a
//! Machine (or a Cluster) that make the simulated providers fail the way real ones do. They are read only by
//! the Machine (and topology) reconcilers, and only when present; nothing else changes.
//!
//! | annotation (on a Machine) | effect |
//! |---|---|
//! | `sandbox.capi.kubectl.x-k8s.io/fail-infrastructure: MESSAGE` | its infrastructure machine reports `Ready=False` (`ProvisioningFailed`, MESSAGE) and is not provisioned |
//! | `sandbox.capi.kubectl.x-k8s.io/no-node: ""` | its Node never joins (or leaves) |
//! | `sandbox.capi.kubectl.x-k8s.io/node-not-ready: MESSAGE` | its Node reports `Ready=False` (`KubeletNotReady`, MESSAGE; e.g. the kubelet's words for a missing CNI); it stays so until set Ready in the workload cluster |
//! | `sandbox.capi.kubectl.x-k8s.io/fail-topology: MESSAGE` (on a topology Cluster) | the topology is not reconciled: `TopologyReconciled=False` (`ReconcileFailed`, MESSAGE) |
//! | `sandbox.capi.kubectl.x-k8s.io/block-drain: MESSAGE` | once deleted, it stays `Deleting=True` (`DrainingNode`, MESSAGE) until the annotation goes |

use serde_json::{Value, json};

use super::action::SimResult;
use super::kit::{Kit, annotation, s};
use crate::api::resource::ResourceDef;
use crate::api::rest::Sub;

/// Fails the Machine's infrastructure machine with the value as message.
pub const FAIL_INFRASTRUCTURE: &str = "sandbox.capi.kubectl.x-k8s.io/fail-infrastructure";
/// Keeps the Machine's Node from joining.
pub const NO_NODE: &str = "sandbox.capi.kubectl.x-k8s.io/no-node";
/// Makes the Machine's Node NotReady with the value as message.
pub const NODE_NOT_READY: &str = "sandbox.capi.kubectl.x-k8s.io/node-not-ready";
/// The reason of a Node made NotReady on purpose, as a kubelet gives it.
pub const NOT_READY_REASON: &str = "KubeletNotReady";

/// The message a NotReady Node was asked with.
pub fn node_not_ready(m: &Value) -> Option<&str> {
    annotation(m, NODE_NOT_READY)
}

/// Fails a topology Cluster's reconcile with the value as message.
pub const FAIL_TOPOLOGY: &str = "sandbox.capi.kubectl.x-k8s.io/fail-topology";

/// The message a topology failure was asked with.
pub fn topology_failure(cluster: &Value) -> Option<&str> {
    annotation(cluster, FAIL_TOPOLOGY)
}

/// Holds the Machine's deletion in drain with the value as message.
pub const BLOCK_DRAIN: &str = "sandbox.capi.kubectl.x-k8s.io/block-drain";

/// The message an infrastructure failure was asked with.
pub fn infrastructure_failure(m: &Value) -> Option<&str> {
    annotation(m, FAIL_INFRASTRUCTURE)
}

/// Whether the Node is kept from joining.
pub fn no_node(m: &Value) -> bool {
    annotation(m, NO_NODE).is_some()
}

/// The drain message a held deletion was asked with.
pub fn drain_blocked(m: &Value) -> Option<&str> {
    annotation(m, BLOCK_DRAIN)
}

/// A condition to set.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    /// Type.
    pub t: &'a str,
    /// Status.
    pub status: &'a str,
    /// Reason.
    pub reason: &'a str,
    /// Message.
    pub message: &'a str,
}

/// Sets one condition in the status of `name` (the new-style list of the served generation),
/// keeping its transition time when its status does not change; a failed `Ready` also clears
/// the provisioned flags.
pub fn set_condition(kit: &Kit, def: &ResourceDef, ns: &str, name: &str, w: Want<'_>) -> SimResult<()> {
    let Want {
        t,
        status,
        reason,
        message,
    } = w;
    let v2 = kit.v2();
    let core = def.group == "cluster.x-k8s.io";
    let ptr = if v2 || !core {
        "/status/conditions"
    } else {
        "/status/v1beta2/conditions"
    };
    kit.mutate(def, ns, name, Sub::Status, |o| {
        if o.pointer(ptr).is_none() {
            o["status"]["conditions"] = json!([]);
        }
        let Some(list) = o.pointer_mut(ptr).and_then(Value::as_array_mut) else {
            return false;
        };
        let old = list.iter().position(|c| c["type"] == t);
        let since = old
            .map(|i| &list[i])
            .filter(|c| c["status"] == status)
            .map(|c| s(c, "/lastTransitionTime").to_string())
            .unwrap_or_else(crate::store::time::now_rfc3339);
        let new = json!({"type": t, "status": status, "reason": reason, "message": message, "lastTransitionTime": since});
        match old {
            Some(i) if list[i] == new => return false,
            Some(i) => list[i] = new,
            None => list.push(new),
        }
        if let Some(st) = o.get_mut("status")
            && t == "Ready"
            && status == "False"
        {
            st["initialization"]["provisioned"] = json!(false);
            if st.get("ready").is_some() {
                st["ready"] = json!(false);
            }
        }
        true
    })
    .map(|_| ())
}
