//! The simulator: a queue of work per object, fed by the store's events, drained by the
//! reconcilers. Simulated durations (provisioning, bootstrapping, joining...) are measured from
//! when a step first became possible, scaled by `--speed`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::action::{SimError, SimResult};
use super::ctx::Ctx;
use super::kit::{Kit, controller_owner, s};
use super::{SimConfig, cluster, kcp, machine, md, mhc, mp};
use crate::api::rest::Api;
use crate::controllers::Controller;
use crate::store::{Event, EventType};
use capi_shared::capi::labels::CLUSTER_NAME_LABEL;

/// A unit of work: reconcile one object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Work {
    /// A Cluster (and its infrastructure cluster and topology).
    Cluster(String, String),
    /// A KubeadmControlPlane.
    Kcp(String, String),
    /// A MachineDeployment.
    Md(String, String),
    /// A MachineSet.
    Ms(String, String),
    /// A MachinePool.
    Mp(String, String),
    /// A Machine (and its infrastructure machine and bootstrap config).
    Machine(String, String),
    /// A MachineHealthCheck.
    Mhc(String, String),
    /// A ClusterClass (it owns the templates it names).
    Class(String, String),
}

/// The simulator: the reconcilers' context, the work queue and the failing work.
pub struct Sim {
    ctx: Ctx,
    queue: BTreeMap<Work, Instant>,
    /// Work whose last pass failed: how many times in a row, and the last error as reported.
    failing: HashMap<Work, (u32, String)>,
}

/// The first retry delay after a refused write; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest retry delay after refused writes.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The retry delay after a race (a conflict, or an object gone between read and write).
const RACE_RETRY: Duration = Duration::from_millis(20);
/// Races retried at once before backing off.
const RACES_BEFORE_BACKOFF: u32 = 3;

impl Sim {
    /// A simulator over the given API.
    pub fn new(api: Api, cfg: SimConfig) -> Sim {
        Sim {
            ctx: Ctx::new(Kit::new(api), cfg),
            queue: BTreeMap::new(),
            failing: HashMap::new(),
        }
    }

    /// Queues work now.
    pub fn enqueue(&mut self, w: Work) {
        self.queue.insert(w, Instant::now());
    }

    fn enqueue_at(&mut self, w: Work, at: Instant) {
        let e = self.queue.entry(w).or_insert(at);
        if at < *e {
            *e = at;
        }
    }

    fn run(&mut self, w: &Work) -> SimResult {
        match w {
            Work::Cluster(ns, n) => cluster::reconcile(&mut self.ctx, ns, n),
            Work::Kcp(ns, n) => kcp::reconcile(&mut self.ctx, ns, n),
            Work::Md(ns, n) => md::reconcile_md(&mut self.ctx, ns, n),
            Work::Ms(ns, n) => md::reconcile_ms(&mut self.ctx, ns, n),
            Work::Mp(ns, n) => mp::reconcile(&mut self.ctx, ns, n),
            Work::Machine(ns, n) => machine::reconcile(&mut self.ctx, ns, n),
            Work::Mhc(ns, n) => mhc::reconcile(&mut self.ctx, ns, n),
            Work::Class(ns, n) => super::topology::reconcile_class(&mut self.ctx, ns, n),
        }
    }
}

impl Sim {
    /// One pass over `w`, and when to look again: the reconciler's answer, or the error
    /// policy's when a write was refused.
    fn pass(&mut self, w: &Work) -> Option<Duration> {
        match self.run(w) {
            Ok(action) => {
                self.failing.remove(w);
                action.after()
            }
            Err(e) => Some(self.on_error(w, &e)),
        }
    }

    /// The error policy: a race is retried soon, silently (the next pass reads the new state);
    /// any other refusal is a simulator bug or a CRD that does not match, reported once per
    /// distinct error (log and `rejected_writes`) and retried with a doubling delay.
    fn on_error(&mut self, w: &Work, e: &SimError) -> Duration {
        let (times, last) = self.failing.entry(w.clone()).or_insert((0, String::new()));
        *times += 1;
        if e.is_race() {
            // A race that keeps coming back (a name taken by an object not ours) backs off too.
            return match times.checked_sub(RACES_BEFORE_BACKOFF) {
                None | Some(0) => RACE_RETRY,
                Some(n) => backoff(n),
            };
        }
        let report = format!(
            "{} {}/{}: {} {}",
            e.kind,
            e.namespace,
            e.name,
            e.code(),
            e.source.message
        );
        if *last != report {
            tracing::warn!(work = ?w, error = %e, cause = %e.source, "simulated controller write refused");
            if let Ok(mut list) = self.ctx.kit.api.rejected_writes.lock() {
                list.push(report.clone());
            }
            *last = report;
        }
        backoff(*times)
    }
}

/// The retry delay after `times` refusals in a row.
fn backoff(times: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32 << times.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

fn is_infra_machine(res: &str) -> bool {
    res.starts_with("infrastructure.cluster.x-k8s.io/") && res.ends_with("machines")
}

fn is_infra_cluster(res: &str) -> bool {
    res.starts_with("infrastructure.cluster.x-k8s.io/") && res.ends_with("clusters")
}

impl Controller for Sim {
    fn name(&self) -> &'static str {
        "capi-sim"
    }

    fn resync(&mut self) {
        for (kind, ctor) in [
            (
                super::kit::Kind::Cluster,
                Work::Cluster as fn(String, String) -> Work,
            ),
            (super::kit::Kind::KubeadmControlPlane, Work::Kcp),
            (super::kit::Kind::MachineDeployment, Work::Md),
            (super::kit::Kind::MachineSet, Work::Ms),
            (super::kit::Kind::MachinePool, Work::Mp),
            (super::kit::Kind::Machine, Work::Machine),
            (super::kit::Kind::MachineHealthCheck, Work::Mhc),
            (super::kit::Kind::ClusterClass, Work::Class),
        ] {
            let Some(def) = self.ctx.kit.def(kind) else {
                continue;
            };
            let (_, table) = self
                .ctx
                .kit
                .api
                .store
                .snapshot(&std::sync::Arc::from(def.key().as_str()));
            for (k, _) in table.iter() {
                self.enqueue(ctor(k.ns.clone(), k.name.clone()));
            }
        }
    }

    fn handle(&mut self, e: &Event) {
        let res = &*e.res;
        let ns = e.obj.ns.clone();
        let name = e.obj.name.clone();
        if e.ty == EventType::Deleted {
            self.ctx.forget(&e.obj.uid);
            self.ctx.pools.remove(&e.obj.uid);
        }
        let cluster = e.obj.labels.get(CLUSTER_NAME_LABEL).map(str::to_string);
        let owner = || {
            let v = e.obj.value();
            controller_owner(&v)
        };
        match res {
            "cluster.x-k8s.io/clusters" => self.enqueue(Work::Cluster(ns, name)),
            "controlplane.cluster.x-k8s.io/kubeadmcontrolplanes" => {
                self.enqueue(Work::Kcp(ns.clone(), name));
                if let Some(c) = cluster {
                    self.enqueue(Work::Cluster(ns, c));
                }
            }
            "cluster.x-k8s.io/machinedeployments" => {
                self.enqueue(Work::Md(ns.clone(), name));
                if let Some(c) = cluster {
                    self.enqueue(Work::Cluster(ns, c));
                }
            }
            "cluster.x-k8s.io/machinesets" => {
                self.enqueue(Work::Ms(ns.clone(), name));
                if let Some((k, o)) = owner()
                    && k == "MachineDeployment"
                {
                    self.enqueue(Work::Md(ns, o));
                }
            }
            "cluster.x-k8s.io/machines" => {
                self.enqueue(Work::Machine(ns.clone(), name));
                match owner() {
                    Some((k, o)) if k == "MachineSet" => self.enqueue(Work::Ms(ns.clone(), o)),
                    Some((k, o)) if k == "KubeadmControlPlane" => self.enqueue(Work::Kcp(ns.clone(), o)),
                    _ => {}
                }
                if let Some(c) = cluster {
                    self.enqueue(Work::Cluster(ns.clone(), c.clone()));
                    // Health checks of the cluster look at its Machines.
                    // (Every health check carries its cluster's label: the MHC reconciler
                    // adds it, so a label selector finds them without reading all of them.)
                    if let Some(def) = self.ctx.kit.def(super::kit::Kind::MachineHealthCheck) {
                        for m in self
                            .ctx
                            .kit
                            .list_def(&def, &ns, &format!("{}={c}", CLUSTER_NAME_LABEL))
                        {
                            self.enqueue(Work::Mhc(ns.clone(), s(&m, "/metadata/name").to_string()));
                        }
                    }
                }
            }
            "cluster.x-k8s.io/machinepools" => self.enqueue(Work::Mp(ns, name)),
            "cluster.x-k8s.io/machinehealthchecks" => self.enqueue(Work::Mhc(ns, name)),
            "cluster.x-k8s.io/clusterclasses" => {
                self.enqueue(Work::Class(ns.clone(), name));
                for c in self.ctx.kit.list(super::kit::Kind::Cluster, &ns, "") {
                    self.enqueue(Work::Cluster(ns.clone(), s(&c, "/metadata/name").to_string()));
                }
            }
            "bootstrap.cluster.x-k8s.io/kubeadmconfigs" => {
                if let Some((k, o)) = owner()
                    && k == "Machine"
                {
                    self.enqueue(Work::Machine(ns, o));
                }
            }
            r if is_infra_machine(r) => {
                if let Some((k, o)) = owner()
                    && k == "Machine"
                {
                    self.enqueue(Work::Machine(ns, o));
                }
            }
            r if is_infra_cluster(r) => {
                if let Some(c) = cluster.or_else(|| owner().filter(|(k, _)| k == "Cluster").map(|(_, n)| n)) {
                    self.enqueue(Work::Cluster(ns, c));
                }
            }
            _ => {}
        }
    }

    fn tick(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let due: Vec<Work> = self
            .queue
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(w, _)| w.clone())
            .collect();
        for w in due {
            self.queue.remove(&w);
            if let Some(after) = self.pass(&w) {
                self.enqueue_at(w, Instant::now() + after);
            }
        }
        let next = self.queue.values().min().copied();
        next.map(|at| {
            at.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::error::ApiError;
    use crate::api::registry::Registry;
    use crate::store::Store;

    fn sim() -> Sim {
        let api = Api::new(Arc::new(Store::new(1, 100)), Arc::new(Registry::new()));
        let cfg = SimConfig {
            speed: 0.0,
            url: "https://127.0.0.1:1".into(),
            server_ca: String::new(),
            workloads: Arc::default(),
        };
        Sim::new(api, cfg)
    }

    fn refused(code: u16, reason: &'static str, message: &str) -> SimError {
        SimError {
            verb: "update",
            kind: "Machine".into(),
            namespace: "ns".into(),
            name: "m".into(),
            source: ApiError::new(code, reason, message),
        }
    }

    fn reported(sim: &Sim) -> Vec<String> {
        sim.ctx
            .kit
            .api
            .rejected_writes
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_refused_write_is_reported_once_and_retried_ever_later() {
        let mut sim = sim();
        let w = Work::Machine("ns".into(), "m".into());
        let invalid = refused(422, "Invalid", "spec.version: Invalid value");
        let delays: Vec<Duration> = (0..10).map(|_| sim.on_error(&w, &invalid)).collect();
        assert_eq!(delays[0], FIRST_BACKOFF);
        assert_eq!(delays[1], FIRST_BACKOFF * 2);
        assert_eq!(delays[9], MAX_BACKOFF);
        assert_eq!(reported(&sim), ["Machine ns/m: 422 spec.version: Invalid value"]);
        // A different error is reported too; success clears the count.
        sim.on_error(&w, &refused(403, "Forbidden", "denied"));
        assert_eq!(reported(&sim).len(), 2);
        sim.failing.remove(&w);
        assert_eq!(sim.on_error(&w, &invalid), FIRST_BACKOFF);
    }

    #[test]
    fn a_race_is_retried_soon_and_not_reported() {
        let mut sim = sim();
        let w = Work::Cluster("ns".into(), "c".into());
        assert_eq!(sim.on_error(&w, &refused(409, "Conflict", "changed")), RACE_RETRY);
        assert_eq!(sim.on_error(&w, &refused(404, "NotFound", "gone")), RACE_RETRY);
        assert_eq!(
            sim.on_error(&w, &refused(409, "AlreadyExists", "taken")),
            RACE_RETRY
        );
        // The same race again and again: no longer at once.
        assert_eq!(
            sim.on_error(&w, &refused(409, "AlreadyExists", "taken")),
            FIRST_BACKOFF
        );
        assert_eq!(
            sim.on_error(&w, &refused(409, "AlreadyExists", "taken")),
            FIRST_BACKOFF * 2
        );
        assert!(reported(&sim).is_empty());
    }
}
