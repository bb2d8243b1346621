//! `rollout pause` and `rollout resume`. A MachineDeployment is paused by `spec.paused` (it
//! still scales, but template changes are not rolled out); a MachinePool or control plane by
//! the `cluster.x-k8s.io/paused` annotation (its controller stops reconciling it altogether).
//! Both are idempotent: pausing a paused object says so and succeeds.

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::targets::Target;
use super::{has_paused_annotation, is_paused};
use crate::Result;
use crate::capi::PAUSED_ANNOTATION;
use crate::capi::object::to_value;
use crate::capi::target::TargetKind;
use crate::flags::WriteMode;

/// Pause or resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop rolling out.
    Pause,
    /// Roll out again.
    Resume,
}

/// The merge patch that moves an object to the wanted state, or `None` when it is there.
pub fn patch_for(kind: TargetKind, v: &Value, action: Action) -> Option<Value> {
    let paused = is_paused(kind, v);
    match (action, paused) {
        (Action::Pause, true) | (Action::Resume, false) => None,
        (Action::Pause, false) => Some(match kind {
            TargetKind::MachineDeployment => json!({"spec": {"paused": true}}),
            _ => json!({"metadata": {"annotations": {PAUSED_ANNOTATION: "true"}}}),
        }),
        (Action::Resume, true) => {
            let mut p = json!({});
            if kind == TargetKind::MachineDeployment
                && v.pointer("/spec/paused").and_then(Value::as_bool) == Some(true)
            {
                p["spec"] = json!({"paused": false});
            }
            // The annotation pauses any Cluster API object; resuming removes it too.
            if has_paused_annotation(v) {
                p["metadata"] = json!({"annotations": {PAUSED_ANNOTATION: null}});
            }
            Some(p)
        }
    }
}

/// Pauses or resumes one object; returns the line to print.
pub async fn apply(
    kube: &crate::client::Kube,
    t: &Target,
    action: Action,
    write: WriteMode,
) -> Result<String> {
    let obj = t.get(kube).await?;
    let v = to_value(&obj);
    let what = t.display();
    let (done, already) = match action {
        Action::Pause => ("paused", "already paused"),
        Action::Resume => ("resumed", "not paused"),
    };
    let Some(body) = patch_for(t.kind(), &v, action) else {
        return Ok(format!("{what} is {already}"));
    };
    let pp = PatchParams {
        dry_run: write.is_dry_run(),
        ..Default::default()
    };
    kube.call(
        &format!(
            "{} {what}",
            if action == Action::Pause {
                "pausing"
            } else {
                "resuming"
            }
        ),
        kube.api(&t.resolved.resource, Some(&t.ns))
            .patch(&t.name, &pp, &Patch::Merge(&body)),
    )
    .await?;
    let dry = write.suffix();
    Ok(format!("{what} {done}{dry}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_per_kind_and_idempotence() {
        let md = json!({"spec": {}});
        assert_eq!(
            patch_for(TargetKind::MachineDeployment, &md, Action::Pause),
            Some(json!({"spec": {"paused": true}}))
        );
        assert_eq!(
            patch_for(TargetKind::MachineDeployment, &md, Action::Resume),
            None
        );
        let cp = json!({"metadata": {"annotations": {PAUSED_ANNOTATION: "true"}}});
        assert_eq!(patch_for(TargetKind::ControlPlane, &cp, Action::Pause), None);
        assert_eq!(
            patch_for(TargetKind::ControlPlane, &cp, Action::Resume),
            Some(json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null}}}))
        );
        let both = json!({"spec": {"paused": true}, "metadata": {"annotations": {PAUSED_ANNOTATION: ""}}});
        assert_eq!(
            patch_for(TargetKind::MachineDeployment, &both, Action::Resume),
            Some(json!({"spec": {"paused": false}, "metadata": {"annotations": {PAUSED_ANNOTATION: null}}}))
        );
    }
}
