//! MachinePool: a pool of instances the infrastructure provider manages as one (a scale set),
//! without a Machine per instance (as most providers do). Instances are counted in status only:
//! scaling adds or removes one instance per simulated step, and a changed template (version,
//! infrastructure or bootstrap reference) replaces them one at a time; counters, phase and
//! conditions follow, so clients can watch a pool scale and roll out.

use serde_json::{Value, json};

use super::action::{Action, SimResult};
use super::ctx::{Ctx, delay};
use super::kit::{Cond, Counters, Kind, MachineCounts, annotation, hash, is_deleting, s};
use super::machine::cluster_paused;
use crate::api::rest::Sub;
use capi_shared::capi::labels::PAUSED_ANNOTATION;

fn count(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// Reconciles one MachinePool.
pub fn reconcile(sim: &mut Ctx, ns: &str, name: &str) -> SimResult {
    let Some(def) = sim.kit.def(Kind::MachinePool) else {
        return Ok(Action::AwaitChange);
    };
    let Some(mp) = sim.kit.get_def(&def, ns, name) else {
        return Ok(Action::AwaitChange);
    };
    if is_deleting(&mp) {
        return Ok(Action::AwaitChange);
    }
    let cluster = sim.kit.get(Kind::Cluster, ns, s(&mp, "/spec/clusterName"));
    if cluster_paused(cluster.as_ref()) || annotation(&mp, PAUSED_ANNOTATION).is_some() {
        return Ok(Action::AwaitChange);
    }
    let v2 = sim.kit.v2();
    let uid = s(&mp, "/metadata/uid").to_string();
    let desired = mp
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0);
    let template = hash(mp.pointer("/spec/template/spec").unwrap_or(&Value::Null));
    let mut replicas = count(&mp, "/status/replicas");
    let up_ptr = if v2 {
        "/status/upToDateReplicas"
    } else {
        "/status/v1beta2/upToDateReplicas"
    };
    let mut up_to_date = if mp.pointer(up_ptr).is_some() {
        count(&mp, up_ptr)
    } else {
        replicas
    };
    // The template the instances run: remembered per pool (first sight: the current one).
    let rolled = sim.pools.entry(uid.clone()).or_insert_with(|| template.clone());
    if *rolled != template {
        *rolled = template;
        up_to_date = 0;
        sim.forget(&uid);
    }
    let step = delay::INFRA_MACHINE + delay::NODE;
    let mut next = None;
    if replicas < desired {
        match sim.elapsed(&uid, "mp-step", step) {
            Ok(()) => {
                replicas += 1;
                up_to_date += 1;
                sim.forget(&uid);
            }
            Err(left) => next = Some(left),
        }
    } else if up_to_date < replicas {
        match sim.elapsed(&uid, "mp-step", step) {
            Ok(()) => {
                up_to_date += 1;
                sim.forget(&uid);
            }
            Err(left) => next = Some(left),
        }
    } else if replicas > desired {
        match sim.elapsed(&uid, "mp-step", delay::DELETE) {
            Ok(()) => {
                replicas -= 1;
                up_to_date = up_to_date.min(replicas);
                sim.forget(&uid);
            }
            Err(left) => next = Some(left),
        }
    }
    let settled = replicas == desired && up_to_date == replicas;
    write_status(sim, &mp, desired, replicas, up_to_date)?;
    Ok(if settled {
        Action::AwaitChange
    } else {
        Action::requeue(next.unwrap_or_else(|| sim.scaled(0.05)))
    })
}

fn write_status(sim: &Ctx, mp: &Value, desired: i64, replicas: i64, up_to_date: i64) -> SimResult<()> {
    let kit = &sim.kit;
    let Some(def) = kit.def(Kind::MachinePool) else {
        return Ok(());
    };
    let rolling = up_to_date < replicas;
    let phase = if replicas < desired {
        "ScalingUp"
    } else if replicas > desired {
        "ScalingDown"
    } else {
        "Running"
    };
    let [scaling_up, scaling_down] = Cond::scaling(replicas, desired);
    // A pool's instances are ready as far as the simulation goes.
    let counts = MachineCounts {
        replicas,
        ready: replicas,
        up_to_date,
        noun: "instances",
    };
    let [machines_ready, machines_up_to_date, rolling_out] = Cond::replicas(&counts, rolling);
    let conds = vec![
        Cond::new(
            "Available",
            replicas >= desired,
            "Available",
            "NotAvailable",
            format!("{replicas} of {desired} instances are available"),
        ),
        Cond::new("BootstrapConfigReady", true, "Ready", "NotReady", ""),
        Cond::new("InfrastructureReady", true, "Ready", "NotReady", ""),
        machines_ready,
        machines_up_to_date,
        rolling_out,
        scaling_up,
        scaling_down,
        Cond::off("Remediating"),
        Cond::off("Deleting"),
        Cond::off("Paused"),
    ];
    let generation = mp.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    kit.mutate(
        &def,
        s(mp, "/metadata/namespace"),
        s(mp, "/metadata/name"),
        Sub::Status,
        |o| {
            let before = o.get("status").cloned().unwrap_or(json!({}));
            let mut st = before.clone();
            kit.set_counters(
                &mut st,
                "MachinePool",
                Counters {
                    replicas,
                    ready: replicas,
                    available: replicas,
                    up_to_date,
                },
            );
            st["observedGeneration"] = generation.clone();
            st["phase"] = json!(phase);
            kit.set_conditions(&mut st, conds.clone(), "MachinePool");
            o["status"] = st;
            before != o["status"]
        },
    )?;
    Ok(())
}
