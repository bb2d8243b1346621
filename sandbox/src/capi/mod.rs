//! Simulated Cluster API controllers: what Cluster API core, the kubeadm bootstrap and control
//! plane providers and the in-memory infrastructure provider do, closely enough that a client
//! sees what it would see on a real management cluster. They write through the REST layer, so
//! resourceVersions, generations, managedFields and watch events behave as for any client.
//!
//! One event-driven simulator ([`sim::Sim`]) queues work per object and runs the reconcilers
//! ([`cluster`], [`topology`], [`kcp`], [`md`], [`mp`], [`machine`], [`mhc`]); delays scale with
//! `--speed` (0 = as fast as possible, deterministic order). Each reconciler returns an
//! [`action::Action`] or the [`action::SimError`] of a refused write; the runner logs and retries.

pub mod action;
pub mod cluster;
pub mod ctx;
pub mod deletion_hooks;
pub mod dev_provider;
pub mod kcp;
pub mod kit;
pub mod machine;
pub mod md;
pub mod mhc;
pub mod mp;
pub mod sim;
pub mod stuck;
pub mod topology;
pub mod workload;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::api::rest::Api;

/// Settings of the simulated controllers.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Delay scale: 1.0 is realistic, 0 is as fast as possible.
    pub speed: f64,
    /// The sandbox URL (workload cluster endpoints are served under it).
    pub url: String,
    /// The sandbox CA's certificate (PEM): workload kubeconfigs trust it for the server, whose
    /// port they share. Their client certificates come from each cluster's own CA.
    pub server_ca: String,
    /// The workload API servers.
    pub workloads: Arc<crate::http::workloads::Workloads>,
}

/// Starts every simulated controller.
pub fn spawn_all(api: Api, cfg: SimConfig) -> Vec<JoinHandle<()>> {
    vec![crate::controllers::spawn(
        api.clone(),
        Box::new(sim::Sim::new(api, cfg)),
    )]
}
