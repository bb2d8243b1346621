//! The v1beta1 conditions Cluster API keeps writing beside the v1beta2 ones (v1.11+ in
//! `status.deprecated.v1beta1.conditions` of v1beta2 objects; v1.10 in `status.conditions` of
//! v1beta1 objects, with the new ones under `status.v1beta2`), each derived from the v1beta2
//! conditions of the same object. Checked against Cluster API v1.14's managers
//! (`tests/e2e/fidelity.rs`); the sandbox writes them from this table.

use super::conditions::Condition;

/// How one v1beta1 condition follows the v1beta2 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Mirrors the v1beta2 condition of this type (left out while it is absent).
    Follows(&'static str),
    /// True while none of these negative-polarity v1beta2 conditions is True (`Resized` is
    /// True while neither `ScalingUp` nor `ScalingDown` is).
    Quiet(&'static [&'static str]),
    /// True (`MachinesCreated`: the simulation does not fail to create Machines).
    Always,
}

use Rule::{Always, Follows, Quiet};

const SCALING: &[&str] = &["ScalingUp", "ScalingDown"];

/// Per kind, the v1beta1 conditions in Cluster API's order (Ready first, then by type).
const TABLE: &[(&str, &[(&str, Rule)])] = &[
    (
        "Cluster",
        &[
            ("Ready", Follows("Available")),
            ("ControlPlaneInitialized", Follows("ControlPlaneInitialized")),
            ("ControlPlaneReady", Follows("ControlPlaneAvailable")),
            ("InfrastructureReady", Follows("InfrastructureReady")),
            ("TopologyReconciled", Follows("TopologyReconciled")),
        ],
    ),
    (
        "KubeadmControlPlane",
        &[
            ("Ready", Follows("Available")),
            ("Available", Follows("Available")),
            ("CertificatesAvailable", Follows("CertificatesAvailable")),
            (
                "ControlPlaneComponentsHealthy",
                Follows("ControlPlaneComponentsHealthy"),
            ),
            ("EtcdClusterHealthy", Follows("EtcdClusterHealthy")),
            ("MachinesCreated", Always),
            ("MachinesReady", Follows("MachinesReady")),
            ("Resized", Quiet(SCALING)),
        ],
    ),
    (
        "MachineDeployment",
        &[
            ("Ready", Follows("Available")),
            ("Available", Follows("Available")),
            ("MachineSetReady", Follows("MachinesReady")),
        ],
    ),
    (
        "MachineSet",
        &[
            ("Ready", Follows("MachinesReady")),
            ("MachinesCreated", Always),
            ("MachinesReady", Follows("MachinesReady")),
            ("Resized", Quiet(SCALING)),
        ],
    ),
    (
        "Machine",
        &[
            ("Ready", Follows("Ready")),
            ("APIServerPodHealthy", Follows("APIServerPodHealthy")),
            ("BootstrapReady", Follows("BootstrapConfigReady")),
            (
                "ControllerManagerPodHealthy",
                Follows("ControllerManagerPodHealthy"),
            ),
            ("EtcdMemberHealthy", Follows("EtcdMemberHealthy")),
            ("EtcdPodHealthy", Follows("EtcdPodHealthy")),
            ("HealthCheckSucceeded", Follows("HealthCheckSucceeded")),
            ("InfrastructureReady", Follows("InfrastructureReady")),
            ("NodeHealthy", Follows("NodeHealthy")),
            ("SchedulerPodHealthy", Follows("SchedulerPodHealthy")),
        ],
    ),
    (
        "MachineHealthCheck",
        &[("RemediationAllowed", Follows("RemediationAllowed"))],
    ),
    (
        "MachinePool",
        &[
            ("Ready", Follows("Available")),
            ("BootstrapReady", Follows("BootstrapConfigReady")),
            ("InfrastructureReady", Follows("InfrastructureReady")),
            ("ReplicasReady", Follows("MachinesReady")),
        ],
    ),
    (
        "KubeadmConfig",
        &[
            ("Ready", Follows("Ready")),
            ("CertificatesAvailable", Follows("CertificatesAvailable")),
            ("DataSecretAvailable", Follows("DataSecretAvailable")),
        ],
    ),
    (
        "DevMachine",
        &[
            ("Ready", Follows("Ready")),
            ("APIServerProvisioned", Follows("APIServerProvisioned")),
            ("EtcdProvisioned", Follows("EtcdProvisioned")),
            ("NodeProvisioned", Follows("NodeProvisioned")),
            ("VMProvisioned", Follows("VMProvisioned")),
        ],
    ),
];

/// A v1beta1 replica counter, by what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// `readyReplicas`.
    Ready,
    /// `availableReplicas`.
    Available,
    /// `updatedReplicas` (v1beta2's up to date).
    Updated,
    /// `unavailableReplicas` (replicas not available).
    Unavailable,
    /// `fullyLabeledReplicas` (every replica: the simulation labels them all).
    FullyLabeled,
}

impl Counter {
    /// The field name.
    pub fn field(self) -> &'static str {
        match self {
            Counter::Ready => "readyReplicas",
            Counter::Available => "availableReplicas",
            Counter::Updated => "updatedReplicas",
            Counter::Unavailable => "unavailableReplicas",
            Counter::FullyLabeled => "fullyLabeledReplicas",
        }
    }
}

/// The v1beta1 replica counters each kind keeps (v1beta2 objects under
/// `status.deprecated.v1beta1`, v1beta1 objects at the top of `status`).
pub fn counters(kind: &str) -> &'static [Counter] {
    use Counter::*;
    match kind {
        "MachineDeployment" => &[Ready, Available, Updated, Unavailable],
        "MachineSet" => &[Ready, Available, FullyLabeled],
        "KubeadmControlPlane" => &[Ready, Updated, Unavailable],
        "MachinePool" => &[Ready, Available, Unavailable],
        _ => &[],
    }
}

/// The v1beta1 rules of `kind` (empty for kinds that keep no v1beta1 conditions).
pub fn rules(kind: &str) -> &'static [(&'static str, Rule)] {
    TABLE
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, r)| *r)
        .unwrap_or(&[])
}

/// The v1beta1 conditions of a `kind` object whose v1beta2 conditions are `new` (without
/// transition times, which the writer keeps). A condition that is not True carries the
/// reason and a severity (`Warning` for False, `Info` for Unknown), and its first message line.
pub fn derive(kind: &str, new: &[Condition]) -> Vec<Condition> {
    if new.is_empty() {
        return vec![];
    }
    rules(kind)
        .iter()
        .filter_map(|(t, rule)| derive_one(t, *rule, new))
        .collect()
}

fn derive_one(t: &str, rule: Rule, new: &[Condition]) -> Option<Condition> {
    let find = |x: &str| new.iter().find(|c| c.type_ == x);
    let (status, source) = match rule {
        Follows(x) => {
            let c = find(x)?;
            (c.status.clone(), Some(c))
        }
        Quiet(flags) => match flags.iter().filter_map(|f| find(f)).find(|c| c.status == "True") {
            Some(c) => ("False".to_string(), Some(c)),
            None => ("True".to_string(), None),
        },
        Always => ("True".to_string(), None),
    };
    let mut out = Condition {
        type_: t.to_string(),
        status,
        ..Default::default()
    };
    if out.status != "True"
        && let Some(c) = source
    {
        out.severity = if out.status == "False" { "Warning" } else { "Info" }.to_string();
        out.reason = c.reason.clone();
        // v1beta1 messages are one line, and left out rather than empty.
        out.message = c
            .message
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("* ")
            .trim()
            .to_string();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(t: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: t.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn follows_renames_and_leaves_out_absent_sources() {
        let new = [
            c("Available", "True", "Available", ""),
            c("InfrastructureReady", "True", "Ready", ""),
            c("ControlPlaneInitialized", "True", "Initialized", ""),
            c(
                "ControlPlaneAvailable",
                "False",
                "NotAvailable",
                "* 1 of 3 Machines\n* more",
            ),
        ];
        let old = derive("Cluster", &new);
        let types: Vec<&str> = old.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            [
                "Ready",
                "ControlPlaneInitialized",
                "ControlPlaneReady",
                "InfrastructureReady"
            ]
        );
        let cp = &old[2];
        assert_eq!(
            (
                cp.status.as_str(),
                cp.severity.as_str(),
                cp.reason.as_str(),
                cp.message.as_str()
            ),
            ("False", "Warning", "NotAvailable", "1 of 3 Machines")
        );
        assert!(old[0].reason.is_empty() && old[0].severity.is_empty());
    }

    #[test]
    fn resized_is_false_while_scaling_and_created_needs_conditions() {
        let scaling = [
            c("MachinesReady", "Unknown", "ReadyUnknown", ""),
            c(
                "ScalingUp",
                "True",
                "ScalingUp",
                "Scaling up from 1 to 3 replicas",
            ),
            c("ScalingDown", "False", "NotScalingDown", ""),
        ];
        let old = derive("MachineSet", &scaling);
        let resized = old.iter().find(|c| c.type_ == "Resized").unwrap();
        assert_eq!(
            (resized.status.as_str(), resized.reason.as_str()),
            ("False", "ScalingUp")
        );
        assert_eq!(old[0].severity, "Info", "Unknown is Info: {old:?}");
        assert!(derive("MachineSet", &[]).is_empty());
        assert!(derive("DevCluster", &scaling).is_empty());
    }

    #[test]
    fn counters_per_kind() {
        let fields = |k| counters(k).iter().map(|c| c.field()).collect::<Vec<_>>();
        assert_eq!(
            fields("MachineSet"),
            ["readyReplicas", "availableReplicas", "fullyLabeledReplicas"]
        );
        assert!(!fields("KubeadmControlPlane").contains(&"availableReplicas"));
        assert!(fields("Cluster").is_empty());
    }
}
