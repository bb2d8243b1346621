//! The labels, annotations and Secret type Cluster API and its providers put on objects: the one
//! place the workspace spells them (the plugins read them, the sandbox's simulated controllers
//! write them).

/// Every object of a workload cluster.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Control plane Machines.
pub const CONTROL_PLANE_LABEL: &str = "cluster.x-k8s.io/control-plane";
/// The control plane a Machine belongs to.
pub const CONTROL_PLANE_NAME_LABEL: &str = "cluster.x-k8s.io/control-plane-name";
/// The MachineDeployment of a MachineSet or Machine.
pub const DEPLOYMENT_NAME_LABEL: &str = "cluster.x-k8s.io/deployment-name";
/// The MachineSet of a Machine.
pub const SET_NAME_LABEL: &str = "cluster.x-k8s.io/set-name";
/// The template hash of MachineSets and their Machines.
pub const MACHINE_TEMPLATE_HASH_LABEL: &str = "machine-template-hash";
/// Objects the topology controller created.
pub const TOPOLOGY_OWNED_LABEL: &str = "topology.cluster.x-k8s.io/owned";
/// The topology entry of a MachineDeployment.
pub const TOPOLOGY_DEPLOYMENT_NAME_LABEL: &str = "topology.cluster.x-k8s.io/deployment-name";
/// The topology entry of a MachinePool.
pub const TOPOLOGY_POOL_NAME_LABEL: &str = "topology.cluster.x-k8s.io/pool-name";

/// Pauses reconciliation of an object.
pub const PAUSED_ANNOTATION: &str = "cluster.x-k8s.io/paused";
/// MachineDeployment/MachineSet revision.
pub const REVISION_ANNOTATION: &str = "machinedeployment.clusters.x-k8s.io/revision";
/// The replicas a MachineDeployment wanted when a MachineSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "machinedeployment.clusters.x-k8s.io/desired-replicas";
/// On a MachineSet of a MachineDeployment: the most Machines the deployment may have during a
/// rollout (its replicas plus `maxSurge`).
pub const MAX_REPLICAS_ANNOTATION: &str = "machinedeployment.clusters.x-k8s.io/max-replicas";
/// On a MachineSet: `"true"` stops it creating Machines (its deployment sets `"false"` on the
/// current one).
pub const DISABLE_MACHINE_CREATE_ANNOTATION: &str = "cluster.x-k8s.io/disable-machine-create";
/// On a control-plane KubeadmConfig: when the certificates of its Machine expire (RFC 3339).
pub const CERTIFICATES_EXPIRY_ANNOTATION: &str = "machine.cluster.x-k8s.io/certificates-expiry";
/// The prefix of a Machine's pre-drain deletion hooks: while an annotation with it is set, a
/// deleting Machine waits before its Node is drained (`Deleting` reason `WaitingForPreDrainHook`).
pub const PRE_DRAIN_HOOK_PREFIX: &str = "pre-drain.delete.hook.machine.cluster.x-k8s.io";
/// The prefix of a Machine's pre-terminate deletion hooks: while one is set, a deleting Machine
/// waits after the drain, before its infrastructure goes (`WaitingForPreTerminateHook`).
pub const PRE_TERMINATE_HOOK_PREFIX: &str = "pre-terminate.delete.hook.machine.cluster.x-k8s.io";
/// The pre-terminate hook KubeadmControlPlane puts on its Machines (it removes its etcd member
/// before letting a Machine's infrastructure go).
pub const KCP_CLEANUP_HOOK_ANNOTATION: &str =
    "pre-terminate.delete.hook.machine.cluster.x-k8s.io/kcp-cleanup";
/// Cluster autoscaler bounds of a node group.
pub const AUTOSCALER_MIN_ANNOTATION: &str = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size";
/// Cluster autoscaler bounds of a node group.
pub const AUTOSCALER_MAX_ANNOTATION: &str = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size";
/// The template an object was cloned from (name).
pub const CLONED_FROM_NAME_ANNOTATION: &str = "cluster.x-k8s.io/cloned-from-name";
/// The template an object was cloned from (`Kind.group`).
pub const CLONED_FROM_GROUPKIND_ANNOTATION: &str = "cluster.x-k8s.io/cloned-from-groupkind";
/// Asks a Machine's health check to remediate it.
pub const REMEDIATE_MACHINE_ANNOTATION: &str = "cluster.x-k8s.io/remediate-machine";
/// Exempts a Machine from remediation.
pub const SKIP_REMEDIATION_ANNOTATION: &str = "cluster.x-k8s.io/skip-remediation";
/// How many MachineDeployments of a topology upgrade at once.
pub const UPGRADE_CONCURRENCY_ANNOTATION: &str = "topology.cluster.x-k8s.io/upgrade-concurrency";
/// Holds a topology's control plane upgrade.
pub const HOLD_UPGRADE_ANNOTATION: &str = "topology.cluster.x-k8s.io/hold-upgrade";
/// Defers a topology MachineDeployment's upgrade.
pub const DEFER_UPGRADE_ANNOTATION: &str = "topology.cluster.x-k8s.io/defer-upgrade";
/// Holds the rest of a topology's MachineDeployment upgrade sequence.
pub const HOLD_UPGRADE_SEQUENCE_ANNOTATION: &str = "topology.cluster.x-k8s.io/hold-upgrade-sequence";
/// Lets a topology version change skip the webhook's checks.
pub const SKIP_VERSION_CHECK_ANNOTATION: &str =
    "unsafe.topology.cluster.x-k8s.io/disable-update-version-check";

/// The type of the Secrets Cluster API writes (kubeconfig, certificates, bootstrap data).
pub const SECRET_TYPE: &str = "cluster.x-k8s.io/secret";

/// On a CRD (or object): installed by clusterctl; its kind is one a move discovers.
pub const CLUSTERCTL_LABEL: &str = "clusterctl.cluster.x-k8s.io";
/// On a CRD or object: moved even when nothing in a moved cluster owns it.
pub const MOVE_LABEL: &str = "clusterctl.cluster.x-k8s.io/move";
/// On a CRD or object: moved with everything it owns, like a Cluster.
pub const MOVE_HIERARCHY_LABEL: &str = "clusterctl.cluster.x-k8s.io/move-hierarchy";
/// On an object: a move waits until the annotation is gone before copying.
pub const BLOCK_MOVE_ANNOTATION: &str = "clusterctl.cluster.x-k8s.io/block-move";
/// Set on an object just before a move deletes it from the source (webhooks may read it).
pub const DELETE_FOR_MOVE_ANNOTATION: &str = "clusterctl.cluster.x-k8s.io/delete-for-move";
/// Ours: marks what a `kubectl capi move` paused (the value names the run), so that a later run
/// knows the pause is its own and resumes instead of refusing.
pub const PAUSED_BY_MOVE_ANNOTATION: &str = "capi.kubectl.x-k8s.io/paused-by-move";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_control_planes_hook_is_a_pre_terminate_hook() {
        let rest = KCP_CLEANUP_HOOK_ANNOTATION.strip_prefix(PRE_TERMINATE_HOOK_PREFIX);
        assert_eq!(rest, Some("/kcp-cleanup"));
        assert!(!KCP_CLEANUP_HOOK_ANNOTATION.starts_with(PRE_DRAIN_HOOK_PREFIX));
    }
}
