//! `rollout`: restart, pause, resume, status, history and undo of MachineDeployments,
//! MachinePools and control planes. Each sub-command has its own module; [`targets`] turns the
//! command line into the objects they act on.

pub mod history;
pub mod pause;
pub mod restart;
pub mod status;
pub mod targets;
pub mod undo;

use serde_json::{Value, json};

use crate::capi::PAUSED_ANNOTATION;
use crate::capi::target::TargetKind;

pub use targets::Target;

/// Whether the object carries the Cluster API paused annotation.
pub fn has_paused_annotation(v: &Value) -> bool {
    v.pointer("/metadata/annotations")
        .and_then(|a| a.get(PAUSED_ANNOTATION))
        .is_some()
}

/// Whether the object is paused, for its kind: a MachineDeployment by `spec.paused` or the
/// annotation, anything else by the annotation.
pub fn is_paused(kind: TargetKind, v: &Value) -> bool {
    let spec = kind == TargetKind::MachineDeployment
        && v.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    spec || has_paused_annotation(v)
}

/// Where the object's `rollout.after` lives: `spec.rolloutAfter` in v1beta1 (and in objects that
/// already use that name), `spec.rollout.after` otherwise.
pub fn rollout_after_pointer(version: &str, v: &Value) -> &'static str {
    if version == "v1beta1" || v.pointer("/spec/rolloutAfter").is_some() {
        "/spec/rolloutAfter"
    } else {
        "/spec/rollout/after"
    }
}

/// A merge patch setting one field given by a JSON pointer.
pub fn merge_patch_at(pointer: &str, value: Value) -> Value {
    let mut out = value;
    for seg in pointer.trim_start_matches('/').rsplit('/') {
        let key = seg.replace("~1", "/").replace("~0", "~");
        out = json!({ key: out });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patches_nest_and_unescape() {
        assert_eq!(
            merge_patch_at("/spec/rollout/after", json!("T")),
            json!({"spec": {"rollout": {"after": "T"}}})
        );
        assert_eq!(
            merge_patch_at("/metadata/annotations/cluster.x-k8s.io~1paused", Value::Null),
            json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": null}}})
        );
    }

    #[test]
    fn field_names_follow_the_generation() {
        assert_eq!(rollout_after_pointer("v1beta1", &json!({})), "/spec/rolloutAfter");
        assert_eq!(
            rollout_after_pointer("v1beta2", &json!({})),
            "/spec/rollout/after"
        );
        assert_eq!(
            rollout_after_pointer("v1beta2", &json!({"spec": {"rolloutAfter": null}})),
            "/spec/rolloutAfter"
        );
    }

    #[test]
    fn paused_by_kind() {
        let md = json!({"spec": {"paused": true}});
        assert!(is_paused(TargetKind::MachineDeployment, &md));
        assert!(!is_paused(TargetKind::ControlPlane, &md));
        let cp = json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": ""}}});
        assert!(is_paused(TargetKind::ControlPlane, &cp));
        assert!(is_paused(TargetKind::MachineDeployment, &cp));
    }
}
