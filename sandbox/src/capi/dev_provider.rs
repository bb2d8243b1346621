//! What the Dev infrastructure provider's in-memory backend puts on the objects it serves, as
//! Cluster API v1.14's `capd-manager` does: the finalizers it keeps on DevClusters and
//! DevMachines until it has torn down what they stand for (it inherited the Docker provider's
//! names), and its markers. Only objects of its kinds get them.

use serde_json::Value;

use super::action::SimResult;
use super::kit::{Kit, finalizers, is_deleting, s};
use crate::api::resource::ResourceDef;

/// Kept on a DevCluster until its simulated API server is gone.
pub const CLUSTER_FINALIZER: &str = "dockercluster.infrastructure.cluster.x-k8s.io";
/// Kept on a DevMachine until its simulated VM is gone.
pub const MACHINE_FINALIZER: &str = "dockermachine.infrastructure.cluster.x-k8s.io";
/// On a DevCluster: the `namespace/cluster` of the listener serving the workload cluster's API.
pub const LISTENER_ANNOTATION: &str = "inmemorycluster.infrastructure.cluster.x-k8s.io/listener";
/// On a Machine the backend has bootstrapped.
pub const BOOTSTRAPPED_ANNOTATION: &str = "machine.inmemory.infrastructure.cluster.x-k8s.io/bootstrapped";

/// The provider's finalizer for an object of its kinds.
fn finalizer_of(o: &Value) -> Option<&'static str> {
    match s(o, "/kind") {
        "DevCluster" => Some(CLUSTER_FINALIZER),
        "DevMachine" => Some(MACHINE_FINALIZER),
        _ => None,
    }
}

/// Whether the object is one the in-memory backend serves.
pub fn serves(o: &Value) -> bool {
    finalizer_of(o).is_some()
}

/// The provider takes charge of an object its owner has adopted (keeps its finalizer on it), or
/// lets go of one being deleted (the simulated resources go at once).
pub fn reconcile(kit: &Kit, def: &ResourceDef, o: &Value) -> SimResult<()> {
    let Some(f) = finalizer_of(o) else {
        return Ok(());
    };
    let (ns, name) = (s(o, "/metadata/namespace"), s(o, "/metadata/name"));
    if is_deleting(o) {
        if finalizers(o).iter().any(|x| x == f) {
            kit.remove_finalizer(def, ns, name, f)?;
        }
        return Ok(());
    }
    kit.ensure_finalizer(def, ns, name, f)
}
