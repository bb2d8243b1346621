//! MachineDeployments and MachineSets: one MachineSet per distinct machine template (named and
//! labelled by a template hash), revision annotations, rolling updates honouring maxSurge and
//! maxUnavailable, `paused` (scaling continues, template changes do not roll), `rollout.after`,
//! removal of drained old MachineSets, and the counters and conditions of both.

use std::collections::BTreeMap;
use std::time::Duration;

use capi_shared::capi::object::obj_ref;
use serde_json::{Value, json};

use super::action::{Action, SimResult};
use super::ctx::Ctx;
use super::kcp::{clone_infra, rollout_after};
use super::kit::{
    Cond, Counters, Kind, MachineCounts, cond_true, controller_owner, count_true, hash, is_deleting, label,
    owner_ref, s, suffix,
};
use super::machine::cluster_paused;
use crate::api::rest::Sub;
use capi_shared::capi::labels::{
    CLONED_FROM_GROUPKIND_ANNOTATION, CLONED_FROM_NAME_ANNOTATION, CLUSTER_NAME_LABEL, DEPLOYMENT_NAME_LABEL,
    DESIRED_REPLICAS_ANNOTATION, DISABLE_MACHINE_CREATE_ANNOTATION, MACHINE_TEMPLATE_HASH_LABEL,
    MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION, SET_NAME_LABEL, TOPOLOGY_OWNED_LABEL,
};

// As Cluster API v1.14 names it (older releases: `machinedeployment.cluster.x-k8s.io`).
const MD_FINALIZER: &str = "cluster.x-k8s.io/machinedeployment";
const MS_FINALIZER: &str = "cluster.x-k8s.io/machineset";
/// The topology controller's finalizers on the MachineDeployments it manages and their
/// MachineSets (it cleans up their templates before letting them go).
const MD_TOPOLOGY_FINALIZER: &str = "machinedeployment.topology.cluster.x-k8s.io";
const MS_TOPOLOGY_FINALIZER: &str = "machineset.topology.cluster.x-k8s.io";

/// The finalizers Cluster API keeps on a MachineDeployment or MachineSet: `core`, plus the
/// topology's on objects of a topology.
fn finalizers_of(o: &Value, core: &'static str, topology: &'static str) -> Vec<&'static str> {
    let mut out = vec![core];
    if label(o, TOPOLOGY_OWNED_LABEL).is_some() {
        out.push(topology);
    }
    out
}

fn int_or_percent(v: Option<&Value>, of: i64, default: i64, round_up: bool) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(p)) if p.ends_with('%') => {
            let pct: f64 = p.trim_end_matches('%').parse().unwrap_or(0.0);
            let x = pct * of as f64 / 100.0;
            if round_up {
                x.ceil() as i64
            } else {
                x.floor() as i64
            }
        }
        _ => default,
    }
}

fn strategy(md: &Value, desired: i64) -> (i64, i64) {
    let ru = md
        .pointer("/spec/rollout/strategy/rollingUpdate")
        .or_else(|| md.pointer("/spec/strategy/rollingUpdate"));
    let surge = int_or_percent(ru.and_then(|r| r.get("maxSurge")), desired, 1, true);
    let unavailable = int_or_percent(ru.and_then(|r| r.get("maxUnavailable")), desired, 0, false);
    if surge == 0 && unavailable == 0 {
        (1, 0)
    } else {
        (surge, unavailable)
    }
}

/// The hash identifying a MachineDeployment's current machine template (a passed
/// `rollout.after` makes a new one, so machines are replaced).
pub fn template_hash(md: &Value) -> String {
    let mut t = md.pointer("/spec/template").cloned().unwrap_or(json!({}));
    if let Some(o) = t.get_mut("metadata").and_then(Value::as_object_mut) {
        o.remove("annotations");
    }
    let after = rollout_after(md)
        .filter(|a| crate::store::time::parse(a).is_some_and(|t| t <= jiff::Timestamp::now()));
    hash(&json!({"template": t, "rolloutAfter": after}))
}

fn revision(o: &Value) -> i64 {
    super::kit::annotation(o, REVISION_ANNOTATION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn owned_sets(sim: &Ctx, ns: &str, md: &Value) -> Vec<Value> {
    let name = s(md, "/metadata/name");
    sim.kit
        .list(Kind::MachineSet, ns, &format!("{DEPLOYMENT_NAME_LABEL}={name}"))
        .into_iter()
        .filter(|ms| controller_owner(ms).is_some_and(|(k, n)| k == "MachineDeployment" && n == name))
        .collect()
}

fn set_machines(sim: &Ctx, ns: &str, ms: &Value) -> Vec<Value> {
    let name = s(ms, "/metadata/name");
    sim.kit
        .list(Kind::Machine, ns, &format!("{SET_NAME_LABEL}={name}"))
        .into_iter()
        .filter(|m| controller_owner(m).is_some_and(|(k, n)| k == "MachineSet" && n == name))
        .collect()
}

fn spec_replicas(o: &Value) -> i64 {
    o.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)
}

fn set_replicas(sim: &Ctx, ms: &Value, n: i64) -> SimResult<()> {
    if spec_replicas(ms) == n {
        return Ok(());
    }
    let Some(def) = sim.kit.def(Kind::MachineSet) else {
        return Ok(());
    };
    sim.kit.mutate(
        &def,
        s(ms, "/metadata/namespace"),
        s(ms, "/metadata/name"),
        Sub::Main,
        |o| {
            o["spec"]["replicas"] = json!(n);
            true
        },
    )?;
    Ok(())
}

/// Reconciles one MachineDeployment.
pub fn reconcile_md(sim: &mut Ctx, ns: &str, name: &str) -> SimResult {
    let kit = sim.kit.clone();
    let Some(def) = kit.def(Kind::MachineDeployment) else {
        return Ok(Action::AwaitChange);
    };
    let Some(md) = kit.get_def(&def, ns, name) else {
        return Ok(Action::AwaitChange);
    };
    let cluster_name = s(&md, "/spec/clusterName").to_string();
    let sets = owned_sets(sim, ns, &md);
    if is_deleting(&md) {
        return delete_sets(sim, &md, &sets);
    }
    for f in finalizers_of(&md, MD_FINALIZER, MD_TOPOLOGY_FINALIZER) {
        kit.ensure_finalizer(&def, ns, name, f)?;
    }
    let cluster = kit.get(Kind::Cluster, ns, &cluster_name);
    if let Some(c) = &cluster {
        kit.belong_to_cluster(&def, &md, c)?;
        for ptr in [
            "/spec/template/spec/infrastructureRef",
            "/spec/template/spec/bootstrap/configRef",
        ] {
            if let Some(r) = obj_ref(&md, ptr) {
                kit.own_template(&r, ns, c)?;
            }
        }
    }
    if cluster_paused(cluster.as_ref()) {
        return Ok(Action::AwaitChange);
    }
    let desired = spec_replicas(&md);
    let paused = md.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let max_rev = sets.iter().map(revision).max().unwrap_or(0);
    let current = current_set(sim, &md, &sets, paused, max_rev)?;
    // Read again: the current set may be new, or its revision may have moved.
    let sets = owned_sets(sim, ns, &md);
    let current = current.and_then(|c| {
        sets.iter()
            .find(|x| x["metadata"]["name"] == c["metadata"]["name"])
            .cloned()
    });
    let machines_of: BTreeMap<String, Vec<Value>> = sets
        .iter()
        .map(|ms| (s(ms, "/metadata/name").to_string(), set_machines(sim, ns, ms)))
        .collect();
    match (&current, paused) {
        (Some(cur), false) => roll_out(sim, &md, &sets, cur, &machines_of)?,
        // Paused (or nothing to roll to): only scale, the newest set absorbing the change.
        _ => {
            let total: i64 = sets.iter().map(spec_replicas).sum();
            if let Some(newest) = sets.iter().max_by_key(|ms| revision(ms))
                && total != desired
            {
                set_replicas(sim, newest, (spec_replicas(newest) + desired - total).max(0))?;
            }
        }
    }
    if !paused {
        remove_drained_sets(sim, &md, &sets, current.as_ref(), &machines_of)?;
    }
    annotate_sets(sim, &md, &sets, current.as_ref())?;
    // Machines of the current set are up to date, the others not.
    for (ms, machines) in &machines_of {
        let ok = current.as_ref().is_some_and(|c| s(c, "/metadata/name") == ms);
        for m in machines.iter().filter(|m| !is_deleting(m)) {
            super::machine::set_up_to_date(sim, m, ok, "* The MachineDeployment's template changed")?;
        }
    }
    let rev = current.as_ref().map(revision).unwrap_or(max_rev);
    if rev > 0 && revision(&md) != rev {
        kit.mutate(&def, ns, name, Sub::Main, |o| {
            o["metadata"]["annotations"][REVISION_ANNOTATION] = json!(rev.to_string());
            true
        })?;
    }
    let Some(md) = kit.get_def(&def, ns, name) else {
        return Ok(Action::AwaitChange);
    };
    let settled = write_md_status(sim, &md, &sets, current.as_ref())?;
    Ok(if settled {
        Action::AwaitChange
    } else {
        Action::requeue(sim.scaled(0.5))
    })
}

/// A MachineDeployment being deleted deletes its MachineSets, then lets go of its finalizer.
fn delete_sets(sim: &Ctx, md: &Value, sets: &[Value]) -> SimResult {
    let kit = &sim.kit;
    let (ns, name) = (s(md, "/metadata/namespace"), s(md, "/metadata/name"));
    let (Some(def), Some(msdef)) = (kit.def(Kind::MachineDeployment), kit.def(Kind::MachineSet)) else {
        return Ok(Action::AwaitChange);
    };
    for ms in sets.iter().filter(|ms| !is_deleting(ms)) {
        kit.delete(&msdef, ns, s(ms, "/metadata/name"))?;
    }
    if sets.is_empty() {
        for f in finalizers_of(md, MD_FINALIZER, MD_TOPOLOGY_FINALIZER) {
            kit.remove_finalizer(&def, ns, name, f)?;
        }
        return Ok(Action::AwaitChange);
    }
    write_md_status(sim, md, sets, None)?;
    Ok(Action::requeue(Duration::from_millis(50)))
}

/// The MachineSet of the current template (created when missing unless paused: with every
/// replica when it is the first set); a template that came back (undo) makes its MachineSet
/// the newest revision again.
fn current_set(
    sim: &Ctx,
    md: &Value,
    sets: &[Value],
    paused: bool,
    max_rev: i64,
) -> SimResult<Option<Value>> {
    let h = template_hash(md);
    let mut current = sets
        .iter()
        .find(|ms| label(ms, MACHINE_TEMPLATE_HASH_LABEL) == Some(h.as_str()))
        .cloned();
    if current.is_none() && !paused {
        let replicas = if sets.is_empty() { spec_replicas(md) } else { 0 };
        current = create_set(sim, md, &h, max_rev + 1, replicas)?;
    }
    if let Some(c) = &current
        && let Some(msdef) = sim.kit.def(Kind::MachineSet)
    {
        let r = revision(c);
        if r < max_rev || r == 0 {
            sim.kit.mutate(
                &msdef,
                s(md, "/metadata/namespace"),
                s(c, "/metadata/name"),
                Sub::Main,
                |o| {
                    o["metadata"]["annotations"][REVISION_ANNOTATION] = json!((max_rev + 1).to_string());
                    true
                },
            )?;
        }
    }
    Ok(current)
}

/// A rolling update step: the current set surges within `maxSurge`, old sets shrink (oldest
/// first) while `maxUnavailable` allows.
fn roll_out(
    sim: &Ctx,
    md: &Value,
    sets: &[Value],
    cur: &Value,
    machines_of: &BTreeMap<String, Vec<Value>>,
) -> SimResult<()> {
    let v2 = sim.kit.v2();
    let desired = spec_replicas(md);
    let (surge, max_unavailable) = strategy(md, desired);
    let available_of = |ms: &Value| {
        machines_of
            .get(s(ms, "/metadata/name"))
            .map(|ms| {
                ms.iter()
                    .filter(|m| !is_deleting(m) && cond_true(m, v2, true, "Available"))
                    .count() as i64
            })
            .unwrap_or(0)
    };
    let mut old: Vec<&Value> = sets
        .iter()
        .filter(|ms| ms["metadata"]["name"] != cur["metadata"]["name"])
        .collect();
    if old.iter().map(|ms| spec_replicas(ms)).sum::<i64>() == 0 {
        set_replicas(sim, cur, desired)?;
        return Ok(());
    }
    // Surge the new set...
    let total: i64 = sets.iter().map(spec_replicas).sum();
    let room = (desired + surge - total).max(0);
    set_replicas(sim, cur, (spec_replicas(cur) + room).min(desired))?;
    // ...and retire old machines while enough stay available.
    let available: i64 = sets.iter().map(available_of).sum();
    let mut removable = (available - (desired - max_unavailable)).max(0);
    old.sort_by_key(|ms| revision(ms));
    for ms in old {
        let unavailable_here = (spec_replicas(ms) - available_of(ms)).max(0);
        let cut = (removable + unavailable_here).min(spec_replicas(ms));
        if cut > 0 {
            set_replicas(sim, ms, spec_replicas(ms) - cut)?;
            removable = (removable - (cut - unavailable_here).max(0)).max(0);
        }
    }
    Ok(())
}

/// Drained old sets go away. v1beta1 (Cluster API before v1.11) keeps the newest
/// `spec.revisionHistoryLimit` of them (default 1) as revision history; v1beta2 keeps none.
fn remove_drained_sets(
    sim: &Ctx,
    md: &Value,
    sets: &[Value],
    current: Option<&Value>,
    machines_of: &BTreeMap<String, Vec<Value>>,
) -> SimResult<()> {
    let kit = &sim.kit;
    let Some(msdef) = kit.def(Kind::MachineSet) else {
        return Ok(());
    };
    let keep = if kit.v2() {
        0
    } else {
        md.pointer("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize
    };
    let mut drained: Vec<&Value> = sets
        .iter()
        .filter(|ms| {
            let is_current = current.is_some_and(|c| c["metadata"]["name"] == ms["metadata"]["name"]);
            let empty = machines_of.get(s(ms, "/metadata/name")).is_none_or(Vec::is_empty);
            !is_current && spec_replicas(ms) == 0 && empty && !is_deleting(ms)
        })
        .collect();
    drained.sort_by_key(|ms| std::cmp::Reverse(revision(ms)));
    for ms in drained.into_iter().skip(keep) {
        kit.delete(&msdef, s(md, "/metadata/namespace"), s(ms, "/metadata/name"))?;
    }
    Ok(())
}

/// The annotations a MachineDeployment keeps on its MachineSets: its replicas, the most it may
/// have during a rollout, and whether the set may create Machines (the current one may; a
/// rolling update leaves the old ones' as they were).
fn deployment_annotations(md: &Value, current: bool) -> Vec<(&'static str, String)> {
    let desired = spec_replicas(md);
    let (surge, _) = strategy(md, desired);
    let mut out = vec![
        (DESIRED_REPLICAS_ANNOTATION, desired.to_string()),
        (MAX_REPLICAS_ANNOTATION, (desired + surge).to_string()),
    ];
    if current {
        out.push((DISABLE_MACHINE_CREATE_ANNOTATION, "false".to_string()));
    }
    out
}

/// Brings every set's deployment annotations up to date.
fn annotate_sets(sim: &Ctx, md: &Value, sets: &[Value], current: Option<&Value>) -> SimResult<()> {
    let Some(def) = sim.kit.def(Kind::MachineSet) else {
        return Ok(());
    };
    for ms in sets.iter().filter(|ms| !is_deleting(ms)) {
        let is_current = current.is_some_and(|c| c["metadata"]["name"] == ms["metadata"]["name"]);
        let want = deployment_annotations(md, is_current);
        if want
            .iter()
            .all(|(k, v)| super::kit::annotation(ms, k) == Some(v.as_str()))
        {
            continue;
        }
        sim.kit.mutate(
            &def,
            s(ms, "/metadata/namespace"),
            s(ms, "/metadata/name"),
            Sub::Main,
            |o| {
                for (k, v) in &want {
                    o["metadata"]["annotations"][*k] = json!(v);
                }
                true
            },
        )?;
    }
    Ok(())
}

fn create_set(sim: &Ctx, md: &Value, h: &str, rev: i64, replicas: i64) -> SimResult<Option<Value>> {
    let kit = &sim.kit;
    let Some(def) = kit.def(Kind::MachineSet) else {
        return Ok(None);
    };
    let ns = s(md, "/metadata/namespace");
    let mdname = s(md, "/metadata/name");
    let cluster = s(md, "/spec/clusterName");
    let mut labels = md
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels[CLUSTER_NAME_LABEL] = json!(cluster);
    labels[MACHINE_TEMPLATE_HASH_LABEL] = json!(h);
    let mut template = md.pointer("/spec/template").cloned().unwrap_or(json!({}));
    template["metadata"]["labels"] = labels.clone();
    // The set itself is labelled with its deployment (its Machines get that from it).
    labels[DEPLOYMENT_NAME_LABEL] = json!(mdname);
    let mut annotations = json!({REVISION_ANNOTATION: rev.to_string()});
    for (k, v) in deployment_annotations(md, true) {
        annotations[k] = json!(v);
    }
    let mut selector = md.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    selector["matchLabels"][MACHINE_TEMPLATE_HASH_LABEL] = json!(h);
    let ms = json!({
        "apiVersion": def.api_version(&def.storage_version), "kind": "MachineSet",
        "metadata": {"name": format!("{mdname}-{h}"), "namespace": ns, "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_ref(md, true)]},
        "spec": {"clusterName": cluster, "replicas": replicas, "selector": selector, "template": template},
    });
    kit.create(&def, ns, ms, None).map(Some)
}

/// Writes the MachineDeployment's status; returns whether it is settled.
fn write_md_status(sim: &Ctx, md: &Value, sets: &[Value], current: Option<&Value>) -> SimResult<bool> {
    let kit = &sim.kit;
    let v2 = kit.v2();
    let Some(def) = kit.def(Kind::MachineDeployment) else {
        return Ok(true);
    };
    let ns = s(md, "/metadata/namespace").to_string();
    let name = s(md, "/metadata/name").to_string();
    let mut machines = vec![];
    let mut up_to_date = 0;
    for ms in sets {
        let ms_machines = set_machines(sim, &ns, ms);
        if current.is_some_and(|c| c["metadata"]["name"] == ms["metadata"]["name"]) {
            up_to_date += ms_machines.iter().filter(|m| !is_deleting(m)).count() as i64;
        }
        machines.extend(ms_machines);
    }
    let desired = spec_replicas(md);
    let replicas = machines.len() as i64;
    let ready = count_true(&machines, v2, "Ready");
    let available = count_true(&machines, v2, "Available");
    let (_, max_unavailable) = strategy(md, desired);
    let paused = md.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let old_sets = sets
        .iter()
        .filter(|ms| current.is_none_or(|c| c["metadata"]["name"] != ms["metadata"]["name"]))
        .filter(|ms| spec_replicas(ms) > 0 || !set_machines(sim, &ns, ms).is_empty())
        .count();
    let rolling = old_sets > 0 || up_to_date < desired.min(replicas);
    let deleting = is_deleting(md);
    let is_available = available >= desired - max_unavailable;
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    for m in &machines {
        *versions.entry(s(m, "/spec/version").to_string()).or_default() += 1;
    }
    let [machines_ready, machines_up_to_date, rolling_out] =
        Cond::replicas(&MachineCounts::machines(replicas, ready, up_to_date), rolling);
    let [scaling_up, scaling_down] = Cond::scaling(replicas, desired);
    let conds = vec![
        Cond::new(
            "Available",
            is_available,
            "Available",
            "NotAvailable",
            format!(
                "{available} available replicas, at least {} required",
                desired - max_unavailable
            ),
        ),
        machines_ready,
        machines_up_to_date,
        rolling_out,
        scaling_up,
        scaling_down,
        Cond::off("Remediating"),
        Cond::flag(
            "Deleting",
            deleting,
            "Deleting",
            "NotDeleting",
            "deleting MachineSets",
        ),
        Cond::flag(
            "Paused",
            paused,
            "Paused",
            "NotPaused",
            "spec.paused is true: template changes are not rolled out",
        ),
    ];
    let phase = if replicas < desired {
        "ScalingUp"
    } else if replicas > desired {
        "ScalingDown"
    } else {
        "Running"
    };
    let cluster = s(md, "/spec/clusterName").to_string();
    let generation = md.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    kit.update_status(&def, &ns, &name, |st, _| {
        kit.set_counters(
            st,
            "MachineDeployment",
            Counters {
                replicas,
                ready,
                available,
                up_to_date,
            },
        );
        st["selector"] = json!(format!(
            "{CLUSTER_NAME_LABEL}={cluster},{DEPLOYMENT_NAME_LABEL}={name}"
        ));
        st["phase"] = json!(phase);
        st["observedGeneration"] = generation.clone();
        if v2 {
            super::kit::set_versions(st, "versions", &versions);
        }
        kit.set_conditions(st, conds.clone(), "MachineDeployment");
    })?;
    Ok(!rolling && replicas == desired && ready == replicas)
}

/// Machines a MachineSet creates or deletes in one pass.
pub const MACHINES_PER_PASS: i64 = 20;

/// Reconciles one MachineSet.
pub fn reconcile_ms(sim: &mut Ctx, ns: &str, name: &str) -> SimResult {
    let kit = sim.kit.clone();
    let v2 = kit.v2();
    let (Some(def), Some(mdef)) = (kit.def(Kind::MachineSet), kit.def(Kind::Machine)) else {
        return Ok(Action::AwaitChange);
    };
    let Some(ms) = kit.get_def(&def, ns, name) else {
        return Ok(Action::AwaitChange);
    };
    let machines = set_machines(sim, ns, &ms);
    let cluster = kit.get(Kind::Cluster, ns, s(&ms, "/spec/clusterName"));
    if is_deleting(&ms) {
        for m in &machines {
            if !is_deleting(m) {
                kit.delete(&mdef, ns, s(m, "/metadata/name"))?;
            }
        }
        if machines.is_empty() {
            for f in finalizers_of(&ms, MS_FINALIZER, MS_TOPOLOGY_FINALIZER) {
                kit.remove_finalizer(&def, ns, name, f)?;
            }
            return Ok(Action::AwaitChange);
        }
        return Ok(Action::requeue(Duration::from_millis(50)));
    }
    if v2 {
        // Cluster API v1.14 keeps a MachineSet until its Machines are gone.
        kit.ensure_finalizer(&def, ns, name, MS_FINALIZER)?;
    }
    if label(&ms, TOPOLOGY_OWNED_LABEL).is_some() {
        kit.ensure_finalizer(&def, ns, name, MS_TOPOLOGY_FINALIZER)?;
    }
    if cluster_paused(cluster.as_ref()) {
        return Ok(Action::AwaitChange);
    }
    let desired = spec_replicas(&ms);
    // Remediate machines a health check marked.
    for m in &machines {
        let ptr = if v2 {
            "/status/conditions"
        } else {
            "/status/v1beta2/conditions"
        };
        let marked = m.pointer(ptr).and_then(Value::as_array).is_some_and(|a| {
            a.iter()
                .any(|c| c["type"] == "OwnerRemediated" && c["status"] == "False")
        });
        if marked && !is_deleting(m) {
            kit.delete(&mdef, ns, s(m, "/metadata/name"))?;
        }
    }
    let machines = set_machines(sim, ns, &ms);
    let active: Vec<&Value> = machines.iter().filter(|m| !is_deleting(m)).collect();
    let n = active.len() as i64;
    // Bounded steps: each pass re-reads the spec, so a later change (say, a mistaken huge count
    // set back) takes effect within one pass instead of after the whole batch.
    if n < desired {
        for _ in 0..(desired - n).min(MACHINES_PER_PASS) {
            create_machine(sim, &ms)?;
        }
    } else if n > desired {
        // Not-ready machines go first, then the newest.
        let mut order = active.clone();
        order.sort_by_key(|m| {
            (
                cond_true(m, v2, true, "Ready"),
                std::cmp::Reverse(s(m, "/metadata/creationTimestamp").to_string()),
            )
        });
        for m in order.iter().take((n - desired).min(MACHINES_PER_PASS) as usize) {
            kit.delete(&mdef, ns, s(m, "/metadata/name"))?;
        }
    }
    let machines = set_machines(sim, ns, &ms);
    let replicas = machines.len() as i64;
    let ready = count_true(&machines, v2, "Ready");
    let available = count_true(&machines, v2, "Available");
    let up_to_date = count_true(&machines, v2, "UpToDate");
    let [machines_ready, machines_up_to_date, _] =
        Cond::replicas(&MachineCounts::machines(replicas, ready, up_to_date), false);
    let [scaling_up, scaling_down] = Cond::scaling(replicas, desired);
    let conds = vec![
        machines_ready,
        machines_up_to_date,
        scaling_up,
        scaling_down,
        Cond::off("Remediating"),
        Cond::off("Deleting"),
        Cond::off("Paused"),
    ];
    let labels = ms
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let generation = ms.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    for m in &machines {
        *versions.entry(s(m, "/spec/version").to_string()).or_default() += 1;
    }
    kit.update_status(&def, ns, name, |st, _| {
        if v2 {
            super::kit::set_versions(st, "versions", &versions);
        }
        kit.set_counters(
            st,
            "MachineSet",
            Counters {
                replicas,
                ready,
                available,
                up_to_date,
            },
        );
        st["selector"] = json!(labels);
        st["observedGeneration"] = generation.clone();
        kit.set_conditions(st, conds.clone(), "MachineSet");
    })?;
    Ok(if replicas == desired && ready == replicas {
        Action::AwaitChange
    } else {
        Action::requeue(sim.scaled(0.5))
    })
}

fn create_machine(sim: &Ctx, ms: &Value) -> SimResult<()> {
    let kit = &sim.kit;
    let ns = s(ms, "/metadata/namespace").to_string();
    let msname = s(ms, "/metadata/name").to_string();
    let name = format!("{msname}-{}", suffix());
    let mut labels = ms
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels[SET_NAME_LABEL] = json!(msname);
    labels[CLUSTER_NAME_LABEL] = json!(s(ms, "/spec/clusterName"));
    if let Some(d) = label(ms, DEPLOYMENT_NAME_LABEL) {
        labels[DEPLOYMENT_NAME_LABEL] = json!(d);
    }
    let Some(mdef) = kit.def(Kind::Machine) else {
        return Ok(());
    };
    let mut spec = ms.pointer("/spec/template/spec").cloned().unwrap_or(json!({}));
    if let Some(t) = obj_ref(ms, "/spec/template/spec/infrastructureRef") {
        if clone_infra(sim, &ns, &t, &name, &labels, ms)?.is_none() {
            return Ok(());
        }
        spec["infrastructureRef"] = kit.reference(&t.group, t.kind.trim_end_matches("Template"), &name, &ns);
    }
    if let Some(t) = obj_ref(ms, "/spec/template/spec/bootstrap/configRef") {
        let Some(tdef) = kit.def_of(&t.group, &t.kind) else {
            return Ok(());
        };
        let Some(tmpl) = kit.get_def(&tdef, &ns, &t.name) else {
            return Ok(());
        };
        let kind = t.kind.trim_end_matches("Template").to_string();
        let Some(bdef) = kit.def_of(&t.group, &kind) else {
            return Ok(());
        };
        let boot = json!({"apiVersion": bdef.api_version(&bdef.storage_version), "kind": kind,
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                "annotations": {CLONED_FROM_NAME_ANNOTATION: t.name,
                    CLONED_FROM_GROUPKIND_ANNOTATION: format!("{}.{}", t.kind, t.group)},
                "ownerReferences": [owner_ref(ms, true)]},
            "spec": tmpl.pointer("/spec/template/spec").cloned().unwrap_or(json!({}))});
        kit.create(&bdef, &ns, boot, None)?;
        spec["bootstrap"]["configRef"] = kit.reference(&t.group, &kind, &name, &ns);
    }
    super::machine::default_deletion(&mut spec, kit.v2());
    let machine = json!({"apiVersion": mdef.api_version(&mdef.storage_version), "kind": "Machine",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner_ref(ms, true)]}, "spec": spec});
    kit.create(&mdef, &ns, machine, None)?;
    Ok(())
}
