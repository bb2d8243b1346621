//! The stuck states `diagnose` recognises, as data: which objects, which condition (v1beta2 type
//! and its v1beta1 equivalent), in which state and for how long, how bad, what it means and what
//! to do. The README's table of signatures is written from this one.

use super::finding::Severity;

/// The role an object plays in a cluster (which rules apply to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The Cluster.
    Cluster,
    /// Its infrastructure cluster.
    InfraCluster,
    /// Its control plane.
    ControlPlane,
    /// A MachineDeployment.
    MachineDeployment,
    /// A MachineSet.
    MachineSet,
    /// A MachinePool.
    MachinePool,
    /// A Machine.
    Machine,
    /// An infrastructure machine.
    InfraMachine,
    /// A bootstrap config.
    BootstrapConfig,
    /// A MachineHealthCheck.
    HealthCheck,
    /// A Node of the workload cluster (read with `--workload`).
    Node,
}

/// The bad state of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Status False.
    False,
    /// Status True (conditions whose normal state is False, e.g. `Deleting`).
    True,
    /// Anything but True (False or Unknown).
    NotTrue,
}

/// One signature read from a condition.
#[derive(Debug, Clone, Copy)]
pub struct CondRule {
    /// Stable id.
    pub id: &'static str,
    /// The objects it applies to.
    pub on: Role,
    /// The v1beta2 condition type.
    pub v2: &'static str,
    /// The v1beta1 equivalent ("" when there is none).
    pub v1: &'static str,
    /// Its bad state.
    pub when: When,
    /// Only these reasons (empty: any).
    pub reasons: &'static [&'static str],
    /// Only when the message contains one of these (empty: any).
    pub message_has: &'static [&'static str],
    /// How bad.
    pub severity: Severity,
    /// Reported only once held this long (seconds; 0 at once).
    pub hold_secs: i64,
    /// What it means.
    pub explanation: &'static str,
    /// What to do.
    pub next_step: &'static str,
}

const BOOK: &str = "https://cluster-api.sigs.k8s.io/user/troubleshooting";

/// Every condition signature, most specific first (the first match on an object wins for that
/// condition).
pub const RULES: &[CondRule] = &[
    CondRule {
        id: "RemoteConnectionFailing",
        on: Role::Cluster,
        v2: "RemoteConnectionProbe",
        v1: "",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The management cluster cannot reach the workload cluster's API server, so no controller sees its Nodes: health checks, drains and node references stall.",
        next_step: "Check the control plane endpoint (spec.controlPlaneEndpoint), load balancer and firewall; try `kubectl capi get-kubeconfig NAME --output f && kubectl --kubeconfig f get nodes`.",
    },
    CondRule {
        id: "TopologyReconcileFailed",
        on: Role::Cluster,
        v2: "TopologyReconciled",
        v1: "TopologyReconciled",
        when: When::False,
        reasons: &["ReconcileFailed", "TopologyReconcileFailed"],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The topology controller could not turn the ClusterClass and spec.topology into objects; nothing of the topology changes until it can.",
        next_step: "Read the condition's message; check the ClusterClass's templates exist and its variables and patches are valid (`kubectl capi describe cluster NAME --show-conditions`).",
    },
    CondRule {
        id: "ClassNotReconciled",
        on: Role::Cluster,
        v2: "TopologyReconciled",
        v1: "TopologyReconciled",
        when: When::False,
        reasons: &["ClusterClassNotReconciled"],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 0,
        explanation: "The ClusterClass has not been reconciled since it changed, so the topology waits for it.",
        next_step: "Look at the ClusterClass's own conditions (VariablesReady, RefVersionsUpToDate) and the core controller's logs.",
    },
    CondRule {
        id: "LifecycleHookBlocking",
        on: Role::Cluster,
        v2: "TopologyReconciled",
        v1: "TopologyReconciled",
        when: When::False,
        reasons: &[
            "LifecycleHookBlocking",
            "BeforeClusterUpgradeHookBlocking",
            "BeforeClusterCreateHookBlocking",
        ],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 0,
        explanation: "A runtime extension's lifecycle hook asks the topology to wait.",
        next_step: "Find the runtime extension named in the message and why it blocks (its logs); it retries by itself.",
    },
    CondRule {
        id: "TopologyNotReconciled",
        on: Role::Cluster,
        v2: "TopologyReconciled",
        v1: "TopologyReconciled",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 0,
        explanation: "The topology is not fully applied yet (an upgrade step or a change is in progress or held).",
        next_step: "Read the message; `kubectl capi upgrade plan cluster NAME` shows where an upgrade stands.",
    },
    CondRule {
        id: "InfrastructureClusterNotReady",
        on: Role::InfraCluster,
        v2: "Ready",
        v1: "Ready",
        when: When::NotTrue,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The infrastructure provider has not provisioned the cluster's infrastructure (network, load balancer); nothing else can start.",
        next_step: "Read the message; check the provider's credentials, quotas and its controller's logs.",
    },
    CondRule {
        id: "InfrastructureNotProvisioned",
        on: Role::Cluster,
        v2: "InfrastructureReady",
        v1: "InfrastructureReady",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The Cluster's infrastructure is not provisioned.",
        next_step: "Look at the infrastructure cluster (spec.infrastructureRef) and its conditions.",
    },
    CondRule {
        id: "ControlPlaneNotInitialized",
        on: Role::Cluster,
        v2: "ControlPlaneInitialized",
        v1: "ControlPlaneInitialized",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 0,
        explanation: "The first control plane Machine has not come up yet; worker Machines wait for it before they join.",
        next_step: "Follow the first control plane Machine: `kubectl capi describe cluster NAME --show-conditions`.",
    },
    CondRule {
        id: "EtcdUnhealthy",
        on: Role::Machine,
        v2: "EtcdMemberHealthy",
        v1: "EtcdMemberHealthy",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "This control plane Machine's etcd member is unhealthy; losing one more member may cost quorum.",
        next_step: "Check the etcd pod on the node (`kubectl --kubeconfig WORKLOAD -n kube-system logs etcd-NODE`) and disk latency; do not delete more control plane Machines until it is healthy.",
    },
    CondRule {
        id: "ControlPlaneComponentUnhealthy",
        on: Role::Machine,
        v2: "APIServerPodHealthy",
        v1: "APIServerPodHealthy",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The kube-apiserver static pod on this control plane Machine is not healthy.",
        next_step: "Look at the pod on the node (`kubectl --kubeconfig WORKLOAD -n kube-system get pods -o wide`) and the kubelet's logs there.",
    },
    CondRule {
        id: "ControlPlaneComponentUnhealthy",
        on: Role::Machine,
        v2: "ControllerManagerPodHealthy",
        v1: "ControllerManagerPodHealthy",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The kube-controller-manager static pod on this control plane Machine is not healthy.",
        next_step: "Look at the pod and its logs in the workload cluster's kube-system namespace.",
    },
    CondRule {
        id: "ControlPlaneComponentUnhealthy",
        on: Role::Machine,
        v2: "SchedulerPodHealthy",
        v1: "SchedulerPodHealthy",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The kube-scheduler static pod on this control plane Machine is not healthy.",
        next_step: "Look at the pod and its logs in the workload cluster's kube-system namespace.",
    },
    CondRule {
        id: "ControlPlaneComponentUnhealthy",
        on: Role::Machine,
        v2: "EtcdPodHealthy",
        v1: "EtcdPodHealthy",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The etcd static pod on this control plane Machine is not healthy.",
        next_step: "Look at the pod and its logs in the workload cluster's kube-system namespace.",
    },
    CondRule {
        id: "EtcdClusterUnhealthy",
        on: Role::ControlPlane,
        v2: "EtcdClusterHealthy",
        v1: "EtcdClusterHealthy",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The control plane's etcd cluster is unhealthy; KubeadmControlPlane will not scale or roll out until it recovers.",
        next_step: "Find the unhealthy member in the message; check the control plane Machines' EtcdMemberHealthy conditions.",
    },
    CondRule {
        id: "ControlPlaneComponentsUnhealthy",
        on: Role::ControlPlane,
        v2: "ControlPlaneComponentsHealthy",
        v1: "ControlPlaneComponentsHealthy",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "Some control plane component (API server, controller manager, scheduler, etcd pod) is not healthy.",
        next_step: "The message names the Machines; look at their *PodHealthy conditions.",
    },
    CondRule {
        id: "InfrastructureMachineFailed",
        on: Role::InfraMachine,
        v2: "Ready",
        v1: "Ready",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The infrastructure provider reports that it cannot create or run this machine (quota, credentials, image, capacity).",
        next_step: "Read the message; fix the cause at the provider (quota, credentials, image) — the provider retries; or delete the Machine to get a new one.",
    },
    CondRule {
        id: "BootstrapFailed",
        on: Role::BootstrapConfig,
        v2: "Ready",
        v1: "Ready",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 300,
        explanation: "The bootstrap provider has not produced this Machine's bootstrap data.",
        next_step: "Read the message (a joining Machine waits for the control plane; a missing Secret or a kubeadm configuration error otherwise).",
    },
    CondRule {
        id: "NodeStartupTimeout",
        on: Role::Machine,
        v2: "HealthCheckSucceeded",
        v1: "HealthCheckSucceeded",
        when: When::False,
        reasons: &["NodeStartupTimeout"],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The Machine's Node did not appear within the health check's nodeStartupTimeout: bootstrap (cloud-init, kubeadm join) or the kubelet failed on it.",
        next_step: "Read the machine's console or cloud-init log at the provider (/var/log/cloud-init-output.log); check the join token, the control plane endpoint and the image's kubelet.",
    },
    CondRule {
        id: "MachineUnhealthy",
        on: Role::Machine,
        v2: "HealthCheckSucceeded",
        v1: "HealthCheckSucceeded",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 0,
        explanation: "A MachineHealthCheck marked this Machine unhealthy; its owner should replace it.",
        next_step: "Read the message for the failing check; if it is not replaced, look at the OwnerRemediated condition and the health check's RemediationAllowed.",
    },
    CondRule {
        id: "RemediationRefused",
        on: Role::Machine,
        v2: "OwnerRemediated",
        v1: "OwnerRemediated",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 0,
        explanation: "The owner of this unhealthy Machine does not remediate it (yet): a single-replica control plane, etcd quorum at risk, retries exhausted or a remediation in progress elsewhere.",
        next_step: "Read the message; for a one-replica control plane, scale it up first or replace the Machine by hand.",
    },
    CondRule {
        id: "RemediationNotAllowed",
        on: Role::HealthCheck,
        v2: "RemediationAllowed",
        v1: "RemediationAllowed",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 0,
        explanation: "More Machines are unhealthy than the health check's maxUnhealthy (or triggerIf) allows, so none is remediated: a wider outage, not single bad Machines.",
        next_step: "Find the common cause (network, zone, image); raise the limit only if remediation would help.",
    },
    CondRule {
        id: "NodeNotReady",
        on: Role::Machine,
        v2: "NodeReady",
        v1: "NodeHealthy",
        when: When::False,
        reasons: &[],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 0,
        explanation: "The Machine's Node is not Ready; a network plugin (CNI) not installed or not running is the usual cause on a new cluster, the kubelet on an old one.",
        next_step: "`kubectl --kubeconfig WORKLOAD describe node NODE`: a 'network plugin is not ready' message means installing or fixing the CNI; otherwise check the kubelet on the node.",
    },
    CondRule {
        id: "DrainStuck",
        on: Role::Machine,
        v2: "Deleting",
        v1: "DrainingSucceeded",
        when: When::True,
        reasons: &["DrainingNode", "Draining"],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 300,
        explanation: "The Machine's deletion waits for its Node to drain; pods that cannot be evicted (PodDisruptionBudgets, pods without controllers) hold it.",
        next_step: "The message names the pods; fix the PodDisruptionBudget or move the pods, or set nodeDrainTimeout on the Machine's owner.",
    },
    CondRule {
        id: "DeletionHookBlocking",
        on: Role::Machine,
        v2: "Deleting",
        v1: "",
        when: When::True,
        reasons: &["WaitingForPreDrainHook", "WaitingForPreTerminateHook"],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 300,
        explanation: "A pre-drain or pre-terminate hook annotation holds the Machine's deletion.",
        next_step: "Find who set the `pre-drain.delete.hook.machine.cluster.x-k8s.io/*` or `pre-terminate...` annotation and why; remove it once its owner is done.",
    },
    CondRule {
        id: "VolumeDetachStuck",
        on: Role::Machine,
        v2: "Deleting",
        v1: "VolumeDetachSucceeded",
        when: When::True,
        reasons: &["WaitingForVolumeDetach"],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 300,
        explanation: "The Machine's deletion waits for volumes to detach from its Node.",
        next_step: "Check the VolumeAttachments of the node in the workload cluster and the CSI driver; set nodeVolumeDetachTimeout to bound the wait.",
    },
    CondRule {
        id: "ScaleUpBlocked",
        on: Role::MachineSet,
        v2: "ScalingUp",
        v1: "MachinesCreated",
        when: When::True,
        reasons: &["PreflightCheckFailed", "ScalingUpPreflightCheckFailed"],
        message_has: &[],
        severity: Severity::Warning,
        hold_secs: 0,
        explanation: "The MachineSet does not create Machines because a preflight check fails (control plane not stable or upgrading, version skew with the control plane).",
        next_step: "Read the message; wait for the control plane to settle, or fix the version skew.",
    },
    CondRule {
        id: "TemplateMissing",
        on: Role::MachineSet,
        v2: "ScalingUp",
        v1: "MachinesCreated",
        when: When::True,
        reasons: &[
            "InfrastructureTemplateNotFound",
            "BootstrapTemplateNotFound",
            "BootstrapConfigTemplateNotFound",
        ],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The MachineSet cannot create Machines: a template it references does not exist.",
        next_step: "Create the template named in the message, or point the MachineDeployment at one that exists.",
    },
    CondRule {
        id: "NetworkNotReady",
        on: Role::Node,
        v2: "Ready",
        v1: "",
        when: When::False,
        reasons: &[],
        message_has: &["NetworkPluginNotReady", "network plugin", "cni", "CNI"],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The Node is not Ready because its network plugin (CNI) is not installed or not running; on a new cluster, nothing installed one yet.",
        next_step: "Install a CNI in the workload cluster (e.g. with a ClusterResourceSet or `kubectl --kubeconfig WORKLOAD apply -f CNI.yaml`), or look at its pods in kube-system.",
    },
    CondRule {
        id: "NodeUnreachable",
        on: Role::Node,
        v2: "Ready",
        v1: "",
        when: When::NotTrue,
        reasons: &["NodeStatusUnknown"],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The kubelet stopped posting the Node's status: the machine is down, or cut off from the control plane.",
        next_step: "Check the machine at the provider (running? reachable?); a health check replaces it after its timeout.",
    },
    CondRule {
        id: "KubeletNotReady",
        on: Role::Node,
        v2: "Ready",
        v1: "",
        when: When::NotTrue,
        reasons: &[],
        message_has: &[],
        severity: Severity::Error,
        hold_secs: 0,
        explanation: "The kubelet reports the Node not Ready.",
        next_step: "`kubectl --kubeconfig WORKLOAD describe node NODE` and the kubelet's log on the machine (`journalctl -u kubelet`).",
    },
];

/// The book's troubleshooting page, linked from every finding.
pub fn book() -> &'static str {
    BOOK
}

/// The rules that apply to objects of `role`.
pub fn rules_for(role: Role) -> impl Iterator<Item = &'static CondRule> {
    RULES.iter().filter(move |r| r.on == role)
}

/// What the tool knows about a condition reason, type or signature id (for `--explain`).
pub fn explain(word: &str) -> Vec<&'static CondRule> {
    let w = word.to_ascii_lowercase();
    RULES
        .iter()
        .filter(|r| {
            r.id.to_ascii_lowercase() == w
                || r.v2.to_ascii_lowercase() == w
                || r.v1.to_ascii_lowercase() == w
                || r.reasons.iter().any(|x| x.to_ascii_lowercase() == w)
        })
        .collect()
}
