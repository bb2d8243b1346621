//! What a simulated reconciler works with: API access in the served generation, the
//! simulator's settings, and the clocks of simulated steps. The runner (`sim.rs`) owns the
//! work queue and hands each reconciler this context; no reconciler sees the queue.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::SimConfig;
use super::kit::Kit;

/// Simulated durations at speed 1, in seconds.
pub mod delay {
    /// Infrastructure cluster provisioning.
    pub const INFRA_CLUSTER: f64 = 2.0;
    /// Bootstrap data generation.
    pub const BOOTSTRAP: f64 = 1.0;
    /// Infrastructure machine provisioning.
    pub const INFRA_MACHINE: f64 = 3.0;
    /// Node joining and becoming Ready.
    pub const NODE: f64 = 2.0;
    /// Draining and shutting a machine down.
    pub const DELETE: f64 = 1.0;
}

/// A reconciler's context.
pub struct Ctx {
    /// API access.
    pub kit: Kit,
    /// Settings.
    pub cfg: SimConfig,
    timers: HashMap<(String, &'static str), Instant>,
    /// The template each MachinePool's instances run (by uid), to notice a rollout.
    pub pools: HashMap<String, String>,
}

impl Ctx {
    /// A context over `kit`.
    pub fn new(kit: Kit, cfg: SimConfig) -> Ctx {
        Ctx {
            kit,
            cfg,
            timers: HashMap::new(),
            pools: HashMap::new(),
        }
    }

    /// Whether a simulated step of `uid` that takes `secs` (at speed 1) is done; the first call
    /// starts its clock. `Err` holds the time left.
    pub fn elapsed(&mut self, uid: &str, stage: &'static str, secs: f64) -> Result<(), Duration> {
        let need = Duration::from_secs_f64((secs * self.cfg.speed).max(0.0));
        if need.is_zero() {
            return Ok(());
        }
        let start = *self
            .timers
            .entry((uid.to_string(), stage))
            .or_insert_with(Instant::now);
        let gone = start.elapsed();
        if gone >= need { Ok(()) } else { Err(need - gone) }
    }

    /// Forgets the timers of an object (when it goes away).
    pub fn forget(&mut self, uid: &str) {
        self.timers.retain(|(u, _), _| u != uid);
    }

    /// A duration scaled by speed, never below 10 ms (for periodic checks).
    pub fn scaled(&self, secs: f64) -> Duration {
        Duration::from_secs_f64((secs * self.cfg.speed).max(0.01))
    }
}
