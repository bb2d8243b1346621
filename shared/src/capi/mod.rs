//! The Cluster API object model, for both API generations (`v1beta1`, `v1beta2`), read from
//! dynamic objects: conditions, references, counters and versions.

pub mod catalog;
pub mod class;
pub mod conditions;
pub mod labels;
pub mod object;
pub mod target;
pub mod v1beta1_conditions;
pub mod value;

pub use catalog::Catalog;
pub use conditions::Condition;
pub use labels::{CLUSTER_NAME_LABEL, CONTROL_PLANE_LABEL, PAUSED_ANNOTATION, REVISION_ANNOTATION};

/// The core Cluster API group.
pub const CORE_GROUP: &str = "cluster.x-k8s.io";
/// The API groups of Cluster API and its providers that this project reads: the groups a
/// read-only role must grant (the sandbox's read-only user, the test stack's aggregated role).
pub const API_GROUPS: &[&str] = &[
    "cluster.x-k8s.io",
    "addons.cluster.x-k8s.io",
    "bootstrap.cluster.x-k8s.io",
    "controlplane.cluster.x-k8s.io",
    "infrastructure.cluster.x-k8s.io",
    "clusterctl.cluster.x-k8s.io",
    "ipam.cluster.x-k8s.io",
    "runtime.cluster.x-k8s.io",
];

/// Which Cluster API generation the management cluster serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Generation {
    /// `v1beta1` (Cluster API ≤ v1.10).
    V1beta1,
    /// `v1beta2` (Cluster API ≥ v1.11).
    V1beta2,
}

impl Generation {
    /// The version string.
    pub fn as_str(self) -> &'static str {
        match self {
            Generation::V1beta1 => "v1beta1",
            Generation::V1beta2 => "v1beta2",
        }
    }

    /// Parses a version string.
    pub fn parse(s: &str) -> Option<Generation> {
        match s {
            "v1beta1" => Some(Generation::V1beta1),
            "v1beta2" => Some(Generation::V1beta2),
            _ => None,
        }
    }
}
