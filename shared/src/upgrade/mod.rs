//! `upgrade`: Kubernetes version upgrades of workload clusters (plan and apply, for
//! ClusterClass topologies and for clusters built without one) and the provider upgrade plan.
//!
//! Layers: [`state`] reads the cluster, [`plan`] decides (pure), [`apply`] writes and waits,
//! [`templates`] copies and cleans up machine templates, [`progress`] reports on stderr,
//! [`providers`] plans provider upgrades from clusterctl's inventory.

pub mod apply;
pub mod plan;
pub mod progress;
pub mod providers;
pub mod state;
pub mod templates;

pub use plan::{Plan, parse_target};
