//! A Machine's deletion hooks, as Cluster API's Machine controller honours them: annotations
//! whose key starts with a hook prefix hold the deletion at that point (pre-drain: before the
//! Node is drained; pre-terminate: before the infrastructure goes) until their owner removes
//! them. The `Deleting` condition then names the hooks, in Cluster API's words.

use capi_shared::capi::labels::{PRE_DRAIN_HOOK_PREFIX, PRE_TERMINATE_HOOK_PREFIX};
use serde_json::Value;

/// Where a deletion is held, with the reason Cluster API gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Before the drain.
    PreDrain,
    /// After the drain, before the infrastructure machine is deleted.
    PreTerminate,
}

impl Point {
    fn prefix(self) -> &'static str {
        match self {
            Point::PreDrain => PRE_DRAIN_HOOK_PREFIX,
            Point::PreTerminate => PRE_TERMINATE_HOOK_PREFIX,
        }
    }

    /// The `Deleting` condition's reason while held here.
    pub fn reason(self) -> &'static str {
        match self {
            Point::PreDrain => "WaitingForPreDrainHook",
            Point::PreTerminate => "WaitingForPreTerminateHook",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Point::PreDrain => "pre-drain",
            Point::PreTerminate => "pre-terminate",
        }
    }
}

/// The `Deleting` message when hooks at `point` hold the Machine `m`, ignoring the keys in
/// `gone` (hooks already released in this pass); `None` when none holds it.
pub fn holding(m: &Value, point: Point, gone: &[&str]) -> Option<String> {
    let mut hooks: Vec<&str> = m
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|a| a.keys())
        .map(String::as_str)
        .filter(|k| k.starts_with(point.prefix()) && !gone.contains(k))
        .collect();
    if hooks.is_empty() {
        return None;
    }
    hooks.sort_unstable();
    Some(format!(
        "Waiting for {} hooks to succeed (hooks: {})",
        point.words(),
        hooks.join(",")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn machine(keys: &[&str]) -> Value {
        let a: serde_json::Map<String, Value> = keys.iter().map(|k| (k.to_string(), json!(""))).collect();
        json!({"metadata": {"annotations": a}})
    }

    #[test]
    fn names_the_hooks_of_one_point_sorted() {
        let m = machine(&[
            "pre-drain.delete.hook.machine.cluster.x-k8s.io/zeta",
            "pre-drain.delete.hook.machine.cluster.x-k8s.io/alpha",
            "pre-terminate.delete.hook.machine.cluster.x-k8s.io/other",
            "cluster.x-k8s.io/paused",
        ]);
        assert_eq!(
            holding(&m, Point::PreDrain, &[]).as_deref(),
            Some(
                "Waiting for pre-drain hooks to succeed (hooks: pre-drain.delete.hook.machine.cluster.x-k8s.io/alpha,pre-drain.delete.hook.machine.cluster.x-k8s.io/zeta)"
            )
        );
        assert_eq!(
            holding(&m, Point::PreTerminate, &[]).as_deref(),
            Some(
                "Waiting for pre-terminate hooks to succeed (hooks: pre-terminate.delete.hook.machine.cluster.x-k8s.io/other)"
            )
        );
    }

    #[test]
    fn released_or_absent_hooks_hold_nothing() {
        let kcp = "pre-terminate.delete.hook.machine.cluster.x-k8s.io/kcp-cleanup";
        assert_eq!(holding(&machine(&[kcp]), Point::PreTerminate, &[kcp]), None);
        assert_eq!(holding(&machine(&[]), Point::PreDrain, &[]), None);
        assert_eq!(holding(&json!({"metadata": {}}), Point::PreDrain, &[]), None);
    }
}
