//! Simulated Cluster API controllers (core, kubeadm bootstrap and control plane, in-memory
//! infrastructure).

use tokio::task::JoinHandle;

use crate::rest::Api;
use crate::tls::Ca;

/// Settings of the simulated controllers.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Delay scale: 1.0 is realistic, 0 is as fast as possible.
    pub speed: f64,
    /// The sandbox URL (workload cluster endpoints are served under it).
    pub url: String,
    /// The CA that signs workload cluster credentials.
    pub ca: Ca,
}

/// Starts every simulated controller.
pub fn spawn_all(_api: Api, _cfg: SimConfig) -> Vec<JoinHandle<()>> {
    vec![]
}
