//! Clusters: the infrastructure cluster becomes ready after a delay and gets its endpoint; the
//! Cluster owns its infrastructure and control plane objects, reports phase, initialisation,
//! control plane and worker counters with the version distribution, and the v1beta2 conditions;
//! paused clusters are left alone; a deleted Cluster tears down workers, then the control plane,
//! then the infrastructure.

use std::collections::BTreeMap;
use std::time::Duration;

use capi_shared::capi::object::obj_ref;
use serde_json::{Value, json};

use super::action::{Action, SimResult};
use super::ctx::{Ctx, delay};
use super::dev_provider;
use super::kit::{Cond, Kind, cond_true, is_deleting, label, owner_ref, s};
use super::machine::{cluster_paused, provisioned, provisioned_status};
use crate::api::rest::Sub;
use capi_shared::capi::labels::{CLUSTER_NAME_LABEL, CONTROL_PLANE_LABEL};

const FINALIZER: &str = "cluster.cluster.x-k8s.io";

/// Reconciles one Cluster.
pub fn reconcile(sim: &mut Ctx, ns: &str, name: &str) -> SimResult {
    let kit = sim.kit.clone();
    let v2 = kit.v2();
    let Some(def) = kit.def(Kind::Cluster) else {
        return Ok(Action::AwaitChange);
    };
    let Some(cluster) = kit.get_def(&def, ns, name) else {
        return Ok(Action::AwaitChange);
    };
    let uid = s(&cluster, "/metadata/uid").to_string();
    if is_deleting(&cluster) {
        return teardown(sim, &cluster);
    }
    kit.ensure_finalizer(&def, ns, name, FINALIZER)?;
    if cluster_paused(Some(&cluster)) {
        write_paused(sim, &cluster)?;
        return Ok(Action::AwaitChange);
    }
    let mut requeue = Action::AwaitChange;
    if cluster.pointer("/spec/topology").is_some() {
        requeue = super::topology::reconcile(sim, &cluster)?;
    }
    let Some(cluster) = kit.get_def(&def, ns, name) else {
        return Ok(requeue);
    };
    // The infrastructure cluster: owned by the Cluster, provisioned after a delay.
    let infra_ref = obj_ref(&cluster, "/spec/infrastructureRef");
    let infra_def = infra_ref.as_ref().and_then(|r| kit.def_of(&r.group, &r.kind));
    let mut infra = infra_def
        .as_ref()
        .zip(infra_ref.as_ref())
        .and_then(|(d, r)| kit.get_def(d, ns, &r.name));
    if let (Some(d), Some(i)) = (infra_def.as_ref(), infra.as_ref()) {
        adopt(sim, d, i, &cluster)?;
        dev_provider::reconcile(&kit, d, i)?;
        if !provisioned(i) {
            match sim.elapsed(&uid, "infra", delay::INFRA_CLUSTER) {
                Ok(()) => {
                    let iname = s(i, "/metadata/name").to_string();
                    let port: u16 = sim
                        .cfg
                        .url
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(6443);
                    let listener = dev_provider::serves(i).then(|| format!("{ns}/{name}"));
                    kit.mutate(d, ns, &iname, Sub::Main, |o| {
                        let before = o.clone();
                        if o.pointer("/spec/controlPlaneEndpoint/host")
                            .and_then(Value::as_str)
                            .is_none_or(str::is_empty)
                        {
                            o["spec"]["controlPlaneEndpoint"] = json!({"host": "127.0.0.1", "port": port});
                        }
                        // The in-memory backend names the listener serving the cluster's API.
                        if let Some(l) = &listener {
                            o["metadata"]["annotations"][dev_provider::LISTENER_ANNOTATION] = json!(l);
                        }
                        *o != before
                    })?;
                    kit.mutate(d, ns, &iname, Sub::Status, |o| {
                        let fds = if v2 {
                            json!([{"name": "fd1", "controlPlane": true}, {"name": "fd2", "controlPlane": true}, {"name": "fd3", "controlPlane": true}])
                        } else {
                            json!({"fd1": {"controlPlane": true}, "fd2": {"controlPlane": true}, "fd3": {"controlPlane": true}})
                        };
                        o["status"] = provisioned_status(o, json!({ "failureDomains": fds }));
                        true
                    })?;
                    infra = kit.get_def(d, ns, &iname);
                }
                Err(left) => requeue = requeue.or_sooner(Action::requeue(left)),
            }
        }
    }
    let infra_ready = infra.as_ref().is_some_and(provisioned);
    // Copy the endpoint, like the Cluster controller does.
    if let Some(ep) = infra
        .as_ref()
        .and_then(|i| i.pointer("/spec/controlPlaneEndpoint"))
        .filter(|e| !s(e, "/host").is_empty())
        && s(&cluster, "/spec/controlPlaneEndpoint/host").is_empty()
    {
        let ep = ep.clone();
        kit.mutate(&def, ns, name, Sub::Main, |o| {
            o["spec"]["controlPlaneEndpoint"] = ep.clone();
            true
        })?;
    }
    let cp = kit.referenced(&cluster, "/spec/controlPlaneRef", ns);
    if let Some((d, c)) = cp.as_ref() {
        adopt(sim, d, c, &cluster)?;
    }
    write_status(
        sim,
        &cluster,
        infra.as_ref(),
        infra_ready,
        cp.as_ref().map(|(_, c)| c),
    )?;
    Ok(requeue)
}

/// Makes the Cluster an owner of an object it references, with the cluster label.
fn adopt(sim: &Ctx, def: &crate::api::resource::ResourceDef, o: &Value, cluster: &Value) -> SimResult<()> {
    let name = s(cluster, "/metadata/name").to_string();
    if owned_by_cluster(o, &name) && label(o, CLUSTER_NAME_LABEL) == Some(name.as_str()) {
        return Ok(());
    }
    // Cluster API's Cluster controller adds a plain owner reference (not the controller one the
    // topology controller gives the objects it creates).
    let owner = owner_ref(cluster, false);
    sim.kit.mutate(
        def,
        s(o, "/metadata/namespace"),
        s(o, "/metadata/name"),
        Sub::Main,
        |x| {
            let mut refs: Vec<Value> = x
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            refs.retain(|r| r["kind"] != "Cluster");
            refs.push(owner.clone());
            x["metadata"]["ownerReferences"] = Value::Array(refs);
            x["metadata"]["labels"][CLUSTER_NAME_LABEL] = json!(name);
            true
        },
    )?;
    Ok(())
}

/// Whether the object has an owner reference to the named Cluster.
fn owned_by_cluster(o: &Value, cluster: &str) -> bool {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r["kind"] == "Cluster" && r["name"] == cluster)
        })
}

fn write_paused(sim: &Ctx, cluster: &Value) -> SimResult<()> {
    let kit = &sim.kit;
    let Some(def) = kit.def(Kind::Cluster) else {
        return Ok(());
    };
    let v2 = kit.v2();
    kit.mutate(&def, s(cluster, "/metadata/namespace"), s(cluster, "/metadata/name"), Sub::Status, |o| {
        let ptr = if v2 { "/status/conditions" } else { "/status/v1beta2/conditions" };
        let mut list: Vec<Value> = o.pointer(ptr).and_then(Value::as_array).cloned().unwrap_or_default();
        if list.iter().any(|c| c["type"] == "Paused" && c["status"] == "True") {
            return false;
        }
        list.retain(|c| c["type"] != "Paused");
        list.push(json!({"type": "Paused", "status": "True", "reason": "Paused", "message": "", "lastTransitionTime": crate::store::time::now_rfc3339()}));
        let mut st = o.get("status").cloned().unwrap_or(json!({}));
        super::kit::set_ptr(&mut st, ptr.trim_start_matches("/status"), Value::Array(list));
        o["status"] = st;
        true
    })?;
    Ok(())
}

#[derive(Default)]
struct Pool {
    desired: i64,
    replicas: i64,
    ready: i64,
    available: i64,
    up_to_date: i64,
    versions: BTreeMap<String, i64>,
}

impl Pool {
    fn add(&mut self, m: &Value, v2: bool) {
        self.replicas += 1;
        self.ready += i64::from(cond_true(m, v2, true, "Ready"));
        self.available += i64::from(cond_true(m, v2, true, "Available"));
        self.up_to_date += i64::from(cond_true(m, v2, true, "UpToDate"));
        *self
            .versions
            .entry(s(m, "/spec/version").to_string())
            .or_default() += 1;
    }

    fn to_json(&self, plan: &[String]) -> Value {
        let mut v = json!({
            "desiredReplicas": self.desired, "replicas": self.replicas, "readyReplicas": self.ready,
            "availableReplicas": self.available, "upToDateReplicas": self.up_to_date,
        });
        super::kit::set_versions(&mut v, "versions", &self.versions);
        if !plan.is_empty() {
            // Upstream's shape: a list of `{version}` steps.
            v["upgradePlan"] = plan.iter().map(|p| json!({"version": p})).collect();
        }
        v
    }
}

/// What a Cluster's status is computed from: its Machines by pool, its control plane and
/// MachineDeployments, and the topology's verdict.
struct Observed<'a> {
    infra: Option<&'a Value>,
    infra_ready: bool,
    cp: Option<&'a Value>,
    mds: Vec<Value>,
    cpp: Pool,
    workers: Pool,
    cp_initialized: bool,
    cp_available: bool,
    mds_not_available: Vec<String>,
    /// `Kind name` of the control plane and MachineDeployments rolling out.
    rolling: Vec<String>,
    topology_reconciled: Option<Cond>,
}

impl<'a> Observed<'a> {
    fn new(
        sim: &Ctx,
        cluster: &Value,
        infra: Option<&'a Value>,
        infra_ready: bool,
        cp: Option<&'a Value>,
    ) -> Self {
        let kit = &sim.kit;
        let v2 = kit.v2();
        let ns = s(cluster, "/metadata/namespace");
        let selector = format!("{CLUSTER_NAME_LABEL}={}", s(cluster, "/metadata/name"));
        let machines = kit.list(Kind::Machine, ns, &selector);
        let mds = kit.list(Kind::MachineDeployment, ns, &selector);
        let mut cpp = Pool {
            desired: cp
                .and_then(|c| c.pointer("/spec/replicas"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
            ..Default::default()
        };
        let mut workers = Pool {
            desired: mds
                .iter()
                .filter_map(|m| m.pointer("/spec/replicas").and_then(Value::as_i64))
                .sum(),
            ..Default::default()
        };
        for m in &machines {
            if label(m, CONTROL_PLANE_LABEL).is_some() {
                cpp.add(m, v2)
            } else {
                workers.add(m, v2)
            }
        }
        let cp_initialized = cp.is_some_and(|c| {
            c.pointer("/status/initialization/controlPlaneInitialized")
                .and_then(Value::as_bool)
                == Some(true)
                || c.pointer("/status/initialized").and_then(Value::as_bool) == Some(true)
        });
        let mds_not_available = mds
            .iter()
            .filter(|m| !cond_true(m, v2, true, "Available"))
            .map(|m| s(m, "/metadata/name").to_string())
            .collect();
        let rolling = cp
            .into_iter()
            .chain(mds.iter())
            .filter(|o| cond_true(o, v2, true, "RollingOut"))
            .map(|o| format!("{} {}", s(o, "/kind"), s(o, "/metadata/name")))
            .collect();
        Observed {
            cp_available: cp.is_some_and(|c| cond_true(c, v2, true, "Available")),
            topology_reconciled: super::topology::reconciled_condition(sim, cluster),
            infra,
            infra_ready,
            cp,
            mds,
            cpp,
            workers,
            cp_initialized,
            mds_not_available,
            rolling,
        }
    }

    fn workers_available(&self) -> bool {
        self.mds_not_available.is_empty()
    }

    /// A topology mid-upgrade does not make the cluster unavailable.
    fn topology_ok(&self) -> bool {
        self.topology_reconciled
            .as_ref()
            .is_none_or(|t| t.status == "True" || t.reason == "ClusterUpgrading")
    }

    /// `Available`, its message listing what keeps the cluster from it.
    fn available(&self) -> Cond {
        let mut problems = vec![];
        if !self.infra_ready {
            problems.push(format!(
                "* InfrastructureReady: {} is not provisioned yet",
                self.infra
                    .map(|i| format!("{} {}", s(i, "/kind"), s(i, "/metadata/name")))
                    .unwrap_or_else(|| "the infrastructure cluster".into())
            ));
        }
        if !self.cp_available {
            problems.push("* ControlPlaneAvailable: the control plane is not available".to_string());
        }
        if !self.workers_available() {
            problems.push(format!(
                "* WorkersAvailable:\n  * MachineDeployment {}: not available",
                self.mds_not_available.join(", ")
            ));
        }
        if let Some(t) = self.topology_reconciled.as_ref().filter(|_| !self.topology_ok()) {
            problems.push(format!("* TopologyReconciled: {}", t.message));
        }
        let available = self.infra_ready
            && self.cp_available
            && self.workers_available()
            && self.cp_initialized
            && self.topology_ok();
        Cond::new(
            "Available",
            available,
            "Available",
            "NotAvailable",
            problems.join("\n"),
        )
    }

    /// Every condition of the Cluster, in upstream's order.
    fn conditions(&self) -> Vec<Cond> {
        let (cpp, workers) = (&self.cpp, &self.workers);
        let mut conds = vec![
            self.available(),
            Cond::new(
                "InfrastructureReady",
                self.infra_ready,
                "Ready",
                "NotReady",
                "waiting for the infrastructure cluster",
            ),
            Cond::new(
                "ControlPlaneInitialized",
                self.cp_initialized,
                "Initialized",
                "NotInitialized",
                "waiting for the control plane to be initialized",
            ),
            Cond::new(
                "ControlPlaneAvailable",
                self.cp_available,
                "Available",
                "NotAvailable",
                "the control plane is not available",
            ),
            Cond::new(
                "WorkersAvailable",
                self.workers_available(),
                "Available",
                "NotAvailable",
                format!(
                    "MachineDeployments not available: {}",
                    self.mds_not_available.join(", ")
                ),
            ),
            Cond::new(
                "ControlPlaneMachinesReady",
                cpp.ready == cpp.replicas,
                "Ready",
                "NotReady",
                format!(
                    "{} control plane Machines are not ready",
                    cpp.replicas - cpp.ready
                ),
            ),
            Cond::new(
                "WorkerMachinesReady",
                workers.ready == workers.replicas,
                "Ready",
                "NotReady",
                format!(
                    "{} worker Machines are not ready",
                    workers.replicas - workers.ready
                ),
            ),
            Cond::new(
                "ControlPlaneMachinesUpToDate",
                cpp.up_to_date == cpp.replicas,
                "UpToDate",
                "NotUpToDate",
                "some control plane Machines are not up to date",
            ),
            Cond::new(
                "WorkerMachinesUpToDate",
                workers.up_to_date == workers.replicas,
                "UpToDate",
                "NotUpToDate",
                "some worker Machines are not up to date",
            ),
            Cond::new(
                "RemoteConnectionProbe",
                self.cp_initialized,
                "ProbeSucceeded",
                "ProbeFailed",
                "the workload cluster API server is not reachable yet",
            ),
        ];
        conds.extend(self.topology_reconciled.clone());
        conds.extend([
            Cond::flag(
                "RollingOut",
                !self.rolling.is_empty(),
                "RollingOut",
                "NotRollingOut",
                format!("Rolling out: {}", self.rolling.join(", ")),
            ),
            Cond::flag(
                "ScalingUp",
                cpp.replicas < cpp.desired || workers.replicas < workers.desired,
                "ScalingUp",
                "NotScalingUp",
                "Scaling up",
            ),
            Cond::flag(
                "ScalingDown",
                cpp.replicas > cpp.desired || workers.replicas > workers.desired,
                "ScalingDown",
                "NotScalingDown",
                "Scaling down",
            ),
            Cond::off("Remediating"),
            Cond::off("Deleting"),
            Cond::off("Paused"),
        ]);
        conds
    }

    fn phase(&self) -> &'static str {
        if self.cp_initialized && self.infra_ready {
            "Provisioned"
        } else if self.infra.is_some() || self.cp.is_some() {
            "Provisioning"
        } else {
            "Pending"
        }
    }
}

fn write_status(
    sim: &Ctx,
    cluster: &Value,
    infra: Option<&Value>,
    infra_ready: bool,
    cp: Option<&Value>,
) -> SimResult<()> {
    let kit = &sim.kit;
    let v2 = kit.v2();
    let Some(def) = kit.def(Kind::Cluster) else {
        return Ok(());
    };
    let seen = Observed::new(sim, cluster, infra, infra_ready, cp);
    let conds = seen.conditions();
    let (cp_plan, worker_plan) = super::topology::upgrade_plan(sim, cluster, cp, &seen.mds);
    let generation = cluster
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let (ns, name) = (s(cluster, "/metadata/namespace"), s(cluster, "/metadata/name"));
    kit.update_status(&def, ns, name, |st, _| {
        st["phase"] = json!(seen.phase());
        st["observedGeneration"] = generation.clone();
        if v2 {
            st["initialization"] = json!({"infrastructureProvisioned": infra_ready, "controlPlaneInitialized": seen.cp_initialized});
            st["controlPlane"] = seen.cpp.to_json(&cp_plan);
            st["workers"] = seen.workers.to_json(&worker_plan);
        } else {
            st["infrastructureReady"] = json!(infra_ready);
            st["controlPlaneReady"] = json!(seen.cp_initialized);
            super::kit::set_ptr(st, "/v1beta2/controlPlane", seen.cpp.to_json(&cp_plan));
            super::kit::set_ptr(st, "/v1beta2/workers", seen.workers.to_json(&worker_plan));
        }
        if let Some(fds) = infra.and_then(|i| i.pointer("/status/failureDomains")) {
            st["failureDomains"] = fds.clone();
        }
        kit.set_conditions(st, conds.clone(), "Cluster");
    })?;
    Ok(())
}

/// Deletes workers, then the control plane, then the infrastructure; removes the finalizer
/// when everything is gone.
fn teardown(sim: &mut Ctx, cluster: &Value) -> SimResult {
    let kit = sim.kit.clone();
    let ns = s(cluster, "/metadata/namespace").to_string();
    let name = s(cluster, "/metadata/name").to_string();
    let Some(def) = kit.def(Kind::Cluster) else {
        return Ok(Action::AwaitChange);
    };
    let selector = format!("{CLUSTER_NAME_LABEL}={name}");
    let mds = kit.list(Kind::MachineDeployment, &ns, &selector);
    let mss = kit.list(Kind::MachineSet, &ns, &selector);
    let machines = kit.list(Kind::Machine, &ns, &selector);
    let workers: Vec<&Value> = machines
        .iter()
        .filter(|m| label(m, CONTROL_PLANE_LABEL).is_none())
        .collect();
    for (kind, objs) in [(Kind::MachineDeployment, &mds), (Kind::MachineSet, &mss)] {
        if let Some(d) = kit.def(kind) {
            for o in objs.iter().filter(|o| !is_deleting(o)) {
                kit.delete(&d, &ns, s(o, "/metadata/name"))?;
            }
        }
    }
    let Some(mdef) = kit.def(Kind::Machine) else {
        return Ok(Action::AwaitChange);
    };
    if mds.is_empty() && mss.is_empty() {
        for m in workers.iter().filter(|m| !is_deleting(m)) {
            kit.delete(&mdef, &ns, s(m, "/metadata/name"))?;
        }
    }
    let cp = kit.referenced(cluster, "/spec/controlPlaneRef", &ns);
    let infra = kit.referenced(cluster, "/spec/infrastructureRef", &ns);
    let workers_gone = mds.is_empty() && mss.is_empty() && workers.is_empty();
    if workers_gone {
        if let Some((d, c)) = cp.as_ref() {
            if !is_deleting(c) {
                kit.delete(d, &ns, s(c, "/metadata/name"))?;
            }
        } else {
            // No control plane object (or gone): any control plane machines left go now.
            for m in machines
                .iter()
                .filter(|m| label(m, CONTROL_PLANE_LABEL).is_some() && !is_deleting(m))
            {
                kit.delete(&mdef, &ns, s(m, "/metadata/name"))?;
            }
        }
    }
    let cp_gone = workers_gone && cp.is_none() && machines.is_empty();
    if cp_gone && let Some((d, i)) = infra.as_ref() {
        if is_deleting(i) {
            dev_provider::reconcile(&kit, d, i)?;
        } else {
            kit.delete(d, &ns, s(i, "/metadata/name"))?;
        }
    }
    let v2 = kit.v2();
    let remaining = format!(
        "{} MachineDeployments, {} MachineSets, {} Machines{}{}",
        mds.len(),
        mss.len(),
        machines.len(),
        if cp.is_some() { ", the control plane" } else { "" },
        if infra.is_some() {
            ", the infrastructure cluster"
        } else {
            ""
        }
    );
    kit.update_status(&def, &ns, &name, |st, o| {
        let before = o.get("status").cloned().unwrap_or(json!({}));
        st["phase"] = json!("Deleting");
        let ptr = if v2 { "/conditions" } else { "/v1beta2/conditions" };
        let mut list: Vec<Value> = st.pointer(ptr).and_then(Value::as_array).cloned().unwrap_or_default();
        list.retain(|c| c["type"] != "Deleting");
        let keep = before.pointer(ptr).and_then(Value::as_array).and_then(|a| a.iter().find(|c| c["type"] == "Deleting" && c["status"] == "True")).and_then(|c| c["lastTransitionTime"].as_str()).map(str::to_string);
        list.push(json!({"type": "Deleting", "status": "True", "reason": "WaitingForDeletion", "message": format!("* Waiting for {remaining} to be deleted"),
            "lastTransitionTime": keep.unwrap_or_else(crate::store::time::now_rfc3339)}));
        super::kit::set_ptr(st, ptr, Value::Array(list));
    })?;
    if cp_gone && infra.is_none() {
        sim.cfg.workloads.remove(&ns, &name);
        kit.remove_finalizer(&def, &ns, &name, FINALIZER)?;
        return Ok(Action::AwaitChange);
    }
    Ok(Action::requeue(Duration::from_millis(50)))
}
