//! Signatures read from fields rather than one condition: pauses, Machines without a provider
//! ID or a Node for long, stuck deletions and the finalizers holding them, version skew, long
//! rollouts, an expiring kubeconfig certificate, and a Cluster not Available for no reason found
//! below it.

use serde_json::Value;

use super::finding::{Evidence, Finding, Severity};
use super::signatures::{Role, book};
use super::{Obj, condition, held_for};
use crate::capi::Generation;
use crate::capi::labels::{PAUSED_ANNOTATION, PAUSED_BY_MOVE_ANNOTATION};
use crate::capi::value::{annotation, s};
use crate::upgrade::plan::KUBELET_SKEW;
use crate::version::release_of;

/// How long a Machine may go without a provider ID, or a Node, before it is reported.
pub const MACHINE_HOLD_SECS: i64 = 600;
/// How long a deletion may take before its holders are reported.
pub const DELETION_HOLD_SECS: i64 = 600;
/// How long a rollout may take before it is reported.
pub const ROLLOUT_HOLD_SECS: i64 = 3600;

fn finding(
    o: &Obj,
    signature: &'static str,
    severity: Severity,
    evidence: Evidence,
    explanation: &str,
    next_step: &str,
) -> Finding {
    Finding {
        signature,
        severity,
        object: o.subject.clone(),
        evidence,
        explanation: explanation.to_string(),
        next_step: next_step.to_string(),
        chain: vec![],
    }
}

/// The field signatures of one object.
pub fn findings(o: &Obj, list: &[Obj], g: Generation, now: jiff::Timestamp) -> Vec<Finding> {
    let mut out = vec![];
    out.extend(paused(o));
    match o.role {
        Role::Machine => out.extend(machine_stalls(o, g, now)),
        Role::Cluster => {
            out.extend(rollout_too_long(o, g, now));
        }
        Role::MachineDeployment => out.extend(skew(o, list)),
        _ => {}
    }
    out.extend(deletion_held(o, now));
    out
}

/// Signature 1: paused by `spec.paused` or the paused annotation (any value).
fn paused(o: &Obj) -> Option<Finding> {
    let v = &o.value;
    let by_spec = v.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let by_annotation = annotation(v, PAUSED_ANNOTATION).is_some();
    if !by_spec && !by_annotation {
        return None;
    }
    let how = if by_spec {
        "spec.paused: true".to_string()
    } else {
        format!("annotation {PAUSED_ANNOTATION}")
    };
    let deleting = v.pointer("/metadata/deletionTimestamp").is_some();
    if let Some(id) = annotation(v, PAUSED_BY_MOVE_ANNOTATION) {
        return Some(finding(
            o,
            "PausedByMove",
            Severity::Warning,
            Evidence::of_field(format!("{how}; {PAUSED_BY_MOVE_ANNOTATION}: {id}")),
            "Paused by `kubectl capi move` (move id above), which did not finish: no controller reconciles it.",
            "Run the same `kubectl capi move` command again: it finishes or rolls back the move.",
        ));
    }
    if deleting && o.role == Role::Cluster {
        return Some(finding(
            o,
            "PausedClusterDeleting",
            Severity::Error,
            Evidence::of_field(how),
            "The Cluster is being deleted but is paused: its controllers never act, so the deletion never progresses.",
            "Resume it (`kubectl patch cluster NAME --type=merge -p '{\"spec\":{\"paused\":null}}'`, and remove the cluster.x-k8s.io/paused annotation).",
        ));
    }
    let (what, step) = if o.role == Role::MachineDeployment && by_spec {
        (
            "Its rollouts are paused: template changes wait.",
            "`kubectl capi rollout resume machinedeployment NAME` when the change may roll out.",
        )
    } else {
        (
            "Paused: no controller reconciles it (left over from a move or maintenance?).",
            "Resume it when that is intended: remove spec.paused / the cluster.x-k8s.io/paused annotation.",
        )
    };
    Some(finding(
        o,
        "Paused",
        Severity::Info,
        Evidence::of_field(how),
        what,
        step,
    ))
}

/// Signatures 4 and 5: no provider ID, or a provider ID but no Node, for long.
fn machine_stalls(o: &Obj, g: Generation, now: jiff::Timestamp) -> Option<Finding> {
    let v = &o.value;
    if v.pointer("/metadata/deletionTimestamp").is_some() || v.pointer("/status/nodeRef/name").is_some() {
        return None;
    }
    let age = held_for(
        v.pointer("/metadata/creationTimestamp").and_then(Value::as_str),
        now,
    )?;
    if s(v, "/spec/providerID").is_empty() {
        let c = condition(o, g, "InfrastructureReady", "InfrastructureReady");
        let held = c
            .as_ref()
            .and_then(|c| held_for(c.last_transition_time.as_deref(), now))
            .unwrap_or(age);
        if held < MACHINE_HOLD_SECS {
            return None;
        }
        let evidence = c
            .map(|c| Evidence::of_condition(&c, Some(held)))
            .unwrap_or_else(|| Evidence::of_field("spec.providerID is empty".into()));
        return Some(finding(
            o,
            "MachineWithoutProviderID",
            Severity::Warning,
            evidence,
            "The infrastructure provider has not created this Machine's server for a long time (quota, credentials, capacity).",
            "Read the infrastructure machine's conditions (`kubectl capi describe cluster NAME --show-conditions`) and the provider's controller logs.",
        ));
    }
    let c = condition(o, g, "NodeReady", "NodeHealthy");
    let since_infra = condition(o, g, "InfrastructureReady", "InfrastructureReady")
        .filter(|c| c.status == "True")
        .and_then(|c| held_for(c.last_transition_time.as_deref(), now))
        .unwrap_or(age);
    if since_infra < MACHINE_HOLD_SECS {
        return None;
    }
    let evidence = c
        .map(|c| Evidence::of_condition(&c, Some(since_infra)))
        .unwrap_or_else(|| {
            Evidence::of_field(format!(
                "spec.providerID {} but no status.nodeRef",
                s(v, "/spec/providerID")
            ))
        });
    Some(finding(
        o,
        "MachineWithoutNode",
        Severity::Warning,
        evidence,
        "The server exists but no Node joined: bootstrap (cloud-init, kubeadm join) or the kubelet failed on it.",
        "Read the server's console or /var/log/cloud-init-output.log at the provider; check the control plane endpoint is reachable from the node.",
    ))
}

/// Signatures 11 and 12: an object being deleted for long, held by finalizers.
fn deletion_held(o: &Obj, now: jiff::Timestamp) -> Option<Finding> {
    let v = &o.value;
    let since = held_for(
        v.pointer("/metadata/deletionTimestamp").and_then(Value::as_str),
        now,
    )?;
    let finalizers: Vec<&str> = v
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if since < DELETION_HOLD_SECS || finalizers.is_empty() {
        return None;
    }
    let mut e = Evidence::of_field(format!("finalizers: {}", finalizers.join(", ")));
    e.for_seconds = Some(since);
    Some(finding(
        o,
        "DeletionHeld",
        Severity::Warning,
        e,
        "Being deleted for long; its finalizers keep it until their controllers finish cleaning up.",
        "Find why the controller owning the finalizer does not finish (its conditions, its logs); remove a finalizer by hand only once what it guards is gone.",
    ))
}

/// Signature 15: workers' version too far from (or newer than) the control plane's.
fn skew(o: &Obj, list: &[Obj]) -> Option<Finding> {
    let cp = list.iter().find(|x| x.role == Role::ControlPlane)?;
    let cpv = release_of(s(&cp.value, "/spec/version"))?;
    let raw = s(&o.value, "/spec/template/spec/version");
    let wv = release_of(raw)?;
    let (why, sev) = if (wv.0, wv.1) > (cpv.0, cpv.1) {
        (
            "its Machines are newer than the control plane, which Kubernetes does not support",
            Severity::Error,
        )
    } else if cpv.0 == wv.0 && cpv.1 > wv.1 + KUBELET_SKEW {
        (
            "its kubelets are more than three minors older than the control plane",
            Severity::Error,
        )
    } else {
        return None;
    };
    Some(finding(
        o,
        "VersionSkew",
        sev,
        Evidence::of_field(format!(
            "spec.template.spec.version {raw}, control plane {}",
            s(&cp.value, "/spec/version")
        )),
        &format!("Version skew: {why}."),
        "Upgrade the workers one minor at a time (`kubectl capi upgrade plan cluster NAME`).",
    ))
}

/// Signature 15, the other half: a rollout (an upgrade) in progress for longer than expected.
fn rollout_too_long(o: &Obj, g: Generation, now: jiff::Timestamp) -> Option<Finding> {
    let c = condition(o, g, "RollingOut", "").filter(|c| c.status == "True")?;
    let held = held_for(c.last_transition_time.as_deref(), now)?;
    if held < ROLLOUT_HOLD_SECS {
        return None;
    }
    Some(finding(
        o,
        "RolloutTakingLong",
        Severity::Warning,
        Evidence::of_condition(&c, Some(held)),
        "A rollout (an upgrade or template change) has been in progress for over an hour.",
        "`kubectl capi rollout status` and `kubectl capi upgrade plan cluster NAME` show where it stands; look for Machines that do not come up.",
    ))
}

/// Signature 16: the workload kubeconfig's client certificate expires soon, or has.
/// `when` is the certificate's expiry as `get-kubeconfig` reads it (RFC 3339); days are counted
/// on the server's clock.
pub fn kubeconfig_expiry(cluster: &Obj, when: &str, now: jiff::Timestamp) -> Option<Finding> {
    let at: jiff::Timestamp = when.parse().ok()?;
    let days = (at.as_second() - now.as_second()).div_euclid(86_400);
    let (sev, what) = if days < 0 {
        (Severity::Error, "has expired")
    } else if days < crate::workload_kubeconfig::WARN_DAYS {
        (Severity::Warning, "expires soon")
    } else {
        return None;
    };
    Some(finding(
        cluster,
        "KubeconfigCertificateExpiring",
        sev,
        Evidence::of_field(format!(
            "Secret {}-kubeconfig: client certificate not valid after {when} ({days} days)",
            cluster.subject.name
        )),
        &format!(
            "The workload cluster's admin kubeconfig certificate {what}; the management cluster's controllers use it to reach the workload cluster."
        ),
        "Rotate it: KubeadmControlPlane renews it with the control plane's certificates (spec.rollout.before.certificatesExpiryDays, or `kubectl capi rollout restart kcp NAME`).",
    ))
}

/// A Cluster not Available when nothing below explains it.
pub fn not_available(cluster: &Obj, g: Generation) -> Option<Finding> {
    let c = condition(cluster, g, "Available", "Ready").filter(|c| c.status != "True")?;
    Some(finding(
        cluster,
        "ClusterNotAvailable",
        Severity::Error,
        Evidence::of_condition(&c, None),
        "The Cluster is not Available, and no object below it shows a known cause.",
        &format!(
            "Read the message and `kubectl capi describe cluster NAME --show-conditions`; see {}.",
            book()
        ),
    ))
}

/// The ids of the field signatures (the README lists them with the condition ones).
pub const IDS: &[&str] = &[
    "Paused",
    "PausedByMove",
    "PausedClusterDeleting",
    "MachineWithoutProviderID",
    "MachineWithoutNode",
    "DeletionHeld",
    "VersionSkew",
    "RolloutTakingLong",
    "KubeconfigCertificateExpiring",
    "ClusterNotAvailable",
    "WorkloadUnreachable",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_signature() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let ids = super::super::signatures::RULES
            .iter()
            .map(|r| r.id)
            .chain(IDS.iter().copied());
        for id in ids {
            assert!(
                readme.contains(&format!("| `{id}` |")),
                "the README's signature table lacks {id}"
            );
        }
    }
}
