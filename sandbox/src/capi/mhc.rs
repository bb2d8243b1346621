//! MachineHealthChecks: select Machines, judge them by their workload cluster Node (startup
//! timeout, deleted Node, unhealthy Node conditions held past their timeout), by their own
//! conditions, or by the `cluster.x-k8s.io/remediate-machine` annotation; mark unhealthy ones
//! (`HealthCheckSucceeded=False`, and `OwnerRemediated=False` when remediation is allowed) so the
//! owning MachineSet or control plane replaces them; report counters and `RemediationAllowed`.
//! Timeouts scale with `--speed` like every other simulated duration.

use std::time::Duration;

use serde_json::{Value, json};

use super::action::{Action, SimResult};
use super::ctx::Ctx;
use super::kit::{Cond, Kind, annotation, is_deleting, s, set_ptr};
use super::machine::cluster_paused;
use crate::api::selector::LabelSelector;
use capi_shared::capi::labels::{
    CLUSTER_NAME_LABEL, REMEDIATE_MACHINE_ANNOTATION, SKIP_REMEDIATION_ANNOTATION,
};

const DEFAULT_STARTUP_SECS: f64 = 600.0;

/// One unhealthy-condition rule: (type, status, timeout seconds).
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    t: String,
    status: String,
    timeout: f64,
}

fn rules(list: Option<&Value>) -> Vec<Rule> {
    list.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| Rule {
                    t: s(c, "/type").to_string(),
                    status: s(c, "/status").to_string(),
                    timeout: c
                        .get("timeoutSeconds")
                        .and_then(Value::as_f64)
                        .or_else(|| {
                            capi_shared::duration::parse_go(s(c, "/timeout"))
                                .ok()
                                .map(|d| d.as_secs_f64())
                        })
                        .unwrap_or(0.0),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The checks of an MHC in either generation: (node rules, machine rules, startup seconds).
fn checks(mhc: &Value) -> (Vec<Rule>, Vec<Rule>, f64) {
    let node = match mhc.pointer("/spec/checks/unhealthyNodeConditions") {
        Some(v) => rules(Some(v)),
        None => rules(mhc.pointer("/spec/unhealthyConditions")),
    };
    let machine = rules(mhc.pointer("/spec/checks/unhealthyMachineConditions"));
    let startup = mhc
        .pointer("/spec/checks/nodeStartupTimeoutSeconds")
        .and_then(Value::as_f64)
        .or_else(|| {
            mhc.pointer("/spec/nodeStartupTimeout")
                .and_then(Value::as_str)
                .and_then(|d| capi_shared::duration::parse_go(d).ok())
                .map(|d| d.as_secs_f64())
        })
        .unwrap_or(DEFAULT_STARTUP_SECS);
    (node, machine, startup)
}

/// The most unhealthy Machines remediation allows: `maxUnhealthy` (v1beta1) or
/// `remediation.triggerIf.unhealthyLessThanOrEqualTo` (v1beta2), a number or a percentage of the
/// targets; plus the optional `[a-b]` range.
fn allowed(mhc: &Value, targets: usize, unhealthy: usize) -> (bool, i64) {
    let max = mhc
        .pointer("/spec/remediation/triggerIf/unhealthyLessThanOrEqualTo")
        .or_else(|| mhc.pointer("/spec/maxUnhealthy"));
    let limit = match max {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(i64::MAX),
        Some(Value::String(p)) if p.ends_with('%') => {
            let pct: f64 = p.trim_end_matches('%').parse().unwrap_or(100.0);
            (pct / 100.0 * targets as f64).floor() as i64
        }
        Some(Value::String(p)) => p.parse().unwrap_or(i64::MAX),
        _ => targets as i64,
    };
    let range = mhc
        .pointer("/spec/remediation/triggerIf/unhealthyInRange")
        .or_else(|| mhc.pointer("/spec/unhealthyRange"))
        .and_then(Value::as_str);
    let in_range = range
        .and_then(|r| r.trim_matches(['[', ']']).split_once('-'))
        .and_then(|(a, b)| Some((a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?)))
        .is_none_or(|(a, b)| unhealthy >= a && unhealthy <= b);
    let ok = if range.is_some() {
        in_range
    } else {
        unhealthy as i64 <= limit
    };
    (ok, if ok { (limit - unhealthy as i64).max(0) } else { 0 })
}

/// Seconds since an RFC 3339 time (0 when unknown).
fn age(ts: &str) -> f64 {
    crate::store::time::parse(ts)
        .map(|t| (jiff::Timestamp::now().as_millisecond() - t.as_millisecond()) as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// Why a Machine is unhealthy (reason, message), or when to look again.
enum Verdict {
    Healthy(Option<Duration>),
    Unhealthy(&'static str, String),
}

/// The verdict of the first rule whose condition has held longer than its timeout
/// (`who`: the verdict's reason, what the conditions are on, its name); otherwise each matching
/// rule's time left goes to `wait`.
fn expired(
    conds: &[Value],
    rules: &[Rule],
    speed: f64,
    who: (&'static str, &str, &str),
    wait: &mut impl FnMut(f64),
) -> Option<Verdict> {
    let (reason, on, name) = who;
    for r in rules {
        let Some(c) = conds
            .iter()
            .find(|c| c["type"] == r.t.as_str() && c["status"] == r.status.as_str())
        else {
            continue;
        };
        let gone = age(s(c, "/lastTransitionTime"));
        let limit = r.timeout * speed;
        if gone >= limit {
            return Some(Verdict::Unhealthy(
                reason,
                format!(
                    "Health check failed: Condition {} on {on} {name} reports {} for more than {}s",
                    r.t, r.status, r.timeout
                ),
            ));
        }
        wait(limit - gone);
    }
    None
}

fn judge(sim: &Ctx, m: &Value, node_rules: &[Rule], machine_rules: &[Rule], startup: f64) -> Verdict {
    let v2 = sim.kit.v2();
    let name = s(m, "/metadata/name");
    if annotation(m, REMEDIATE_MACHINE_ANNOTATION).is_some() {
        return Verdict::Unhealthy(
            "HasRemediateAnnotation",
            format!("Machine {name} has the {REMEDIATE_MACHINE_ANNOTATION} annotation"),
        );
    }
    let speed = sim.cfg.speed;
    let mut next: Option<f64> = None;
    let mut wait = |left: f64| next = Some(next.map_or(left, |n: f64| n.min(left)));
    let conds_ptr = if v2 {
        "/status/conditions"
    } else {
        "/status/v1beta2/conditions"
    };
    let mconds: Vec<Value> = m
        .pointer(conds_ptr)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(v) = expired(
        &mconds,
        machine_rules,
        speed,
        ("UnhealthyMachine", "Machine", name),
        &mut wait,
    ) {
        return v;
    }
    let ws = sim
        .cfg
        .workloads
        .get(s(m, "/metadata/namespace"), s(m, "/spec/clusterName"));
    let node = ws.as_ref().and_then(|w| {
        let d = w.api.registry.get("", "nodes")?;
        w.api.get_stored(&d, None, name).map(|n| n.value())
    });
    match node {
        None if m.pointer("/status/nodeRef").is_some() => {
            return Verdict::Unhealthy(
                "NodeDeleted",
                format!("Health check failed: Node {name} has been deleted"),
            );
        }
        None => {
            // The startup clock runs from when the infrastructure became ready.
            let infra = mconds
                .iter()
                .find(|c| c["type"] == "InfrastructureReady" && c["status"] == "True");
            if let Some(c) = infra {
                let gone = age(s(c, "/lastTransitionTime"));
                let limit = (startup * speed).max(5.0);
                if gone >= limit {
                    return Verdict::Unhealthy(
                        "NodeStartupTimeout",
                        format!("Health check failed: Node failed to report startup in {startup}s"),
                    );
                }
                wait(limit - gone);
            }
        }
        Some(n) => {
            let nconds: Vec<Value> = n
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(v) = expired(
                &nconds,
                node_rules,
                speed,
                ("UnhealthyNode", "Node", name),
                &mut wait,
            ) {
                return v;
            }
        }
    }
    Verdict::Healthy(next.map(|s| Duration::from_secs_f64(s.max(0.01))))
}

/// Writes (or clears) the health conditions of a Machine.
fn mark(sim: &Ctx, m: &Value, verdict: Option<(&str, &str)>, remediate: bool) -> SimResult<()> {
    let kit = &sim.kit;
    let Some(def) = kit.def(Kind::Machine) else {
        return Ok(());
    };
    let v2 = kit.v2();
    let ptr = if v2 { "/conditions" } else { "/v1beta2/conditions" };
    let now = crate::store::time::now_rfc3339();
    kit.update_status(&def, s(m, "/metadata/namespace"), s(m, "/metadata/name"), |st, _| {
        let mut list: Vec<Value> = st.pointer(ptr).and_then(Value::as_array).cloned().unwrap_or_default();
        let keep = |list: &[Value], t: &str, status: &str| {
            list.iter().find(|c| c["type"] == t && c["status"] == status).and_then(|c| c["lastTransitionTime"].as_str()).map(str::to_string).unwrap_or_else(|| now.clone())
        };
        let hc = match verdict {
            None => json!({"type": "HealthCheckSucceeded", "status": "True", "reason": "HealthCheckSucceeded", "message": "", "lastTransitionTime": keep(&list, "HealthCheckSucceeded", "True")}),
            Some((reason, msg)) => json!({"type": "HealthCheckSucceeded", "status": "False", "reason": reason, "message": msg, "lastTransitionTime": keep(&list, "HealthCheckSucceeded", "False")}),
        };
        let already_marked = list.iter().any(|c| c["type"] == "OwnerRemediated" && c["status"] == "False");
        // Replace in place: the machine controller writes the same list, and a moving entry
        // would make the two rewrite each other forever.
        upsert(&mut list, hc);
        if verdict.is_none() {
            list.retain(|c| c["type"] != "OwnerRemediated");
        } else if remediate && !already_marked {
            upsert(&mut list, json!({"type": "OwnerRemediated", "status": "False", "reason": "WaitingForRemediation", "message": "Waiting for remediation", "lastTransitionTime": now}));
        }
        set_ptr(st, ptr, Value::Array(list));
    })?;
    Ok(())
}

fn upsert(list: &mut Vec<Value>, c: Value) {
    match list.iter_mut().find(|x| x["type"] == c["type"]) {
        Some(x) => *x = c,
        None => list.push(c),
    }
}

/// Reconciles one MachineHealthCheck.
pub fn reconcile(sim: &mut Ctx, ns: &str, name: &str) -> SimResult {
    let kit = sim.kit.clone();
    let Some(def) = kit.def(Kind::MachineHealthCheck) else {
        return Ok(Action::AwaitChange);
    };
    let Some(mhc) = kit.get_def(&def, ns, name) else {
        return Ok(Action::AwaitChange);
    };
    if is_deleting(&mhc) {
        return Ok(Action::AwaitChange);
    }
    let cluster_name = s(&mhc, "/spec/clusterName").to_string();
    let cluster = kit.get(Kind::Cluster, ns, &cluster_name);
    if cluster_paused(cluster.as_ref()) {
        return Ok(Action::AwaitChange);
    }
    // The MHC belongs to its Cluster (label and owner reference), as the real controller sets.
    if let Some(c) = &cluster {
        kit.belong_to_cluster(&def, &mhc, c)?;
    }
    let selector = LabelSelector::from_json(mhc.pointer("/spec/selector").unwrap_or(&Value::Null));
    let all = kit.list(Kind::Machine, ns, &format!("{CLUSTER_NAME_LABEL}={cluster_name}"));
    let targets: Vec<&Value> = all
        .iter()
        .filter(|m| selector.as_ref().is_some_and(|sel| sel.matches_value(m)) && !is_deleting(m))
        .collect();
    let (node_rules, machine_rules, startup) = checks(&mhc);
    let mut next: Option<Duration> = None;
    let mut unhealthy: Vec<(&Value, &'static str, String)> = vec![];
    for m in &targets {
        match judge(sim, m, &node_rules, &machine_rules, startup) {
            Verdict::Healthy(after) => {
                if let Some(a) = after {
                    next = Some(next.map_or(a, |n| n.min(a)));
                }
            }
            Verdict::Unhealthy(reason, msg) => unhealthy.push((m, reason, msg)),
        }
    }
    let (ok, remaining) = allowed(&mhc, targets.len(), unhealthy.len());
    for m in &targets {
        match unhealthy
            .iter()
            .find(|(u, _, _)| s(u, "/metadata/uid") == s(m, "/metadata/uid"))
        {
            Some((_, reason, msg)) => mark(
                sim,
                m,
                Some((reason, msg)),
                ok && annotation(m, SKIP_REMEDIATION_ANNOTATION).is_none(),
            )?,
            None => mark(sim, m, None, false)?,
        }
    }
    let healthy = targets.len() - unhealthy.len();
    let names: Vec<String> = targets
        .iter()
        .map(|m| s(m, "/metadata/name").to_string())
        .collect();
    let conds = vec![
        Cond::new(
            "RemediationAllowed",
            ok,
            "RemediationAllowed",
            "TooManyUnhealthy",
            format!(
                "Remediation is not allowed, the number of not started or unhealthy machines exceeds maxUnhealthy (total: {}, unhealthy: {})",
                targets.len(),
                unhealthy.len()
            ),
        ),
        Cond::off("Paused"),
    ];
    let generation = mhc.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    kit.update_status(&def, ns, name, |st, _| {
        st["expectedMachines"] = json!(targets.len());
        st["currentHealthy"] = json!(healthy);
        st["remediationsAllowed"] = json!(remaining);
        st["targets"] = json!(names);
        st["observedGeneration"] = generation.clone();
        kit.set_conditions(st, conds.clone(), "MachineHealthCheck");
    })?;
    Ok(next.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_and_percentages() {
        let mhc = json!({"spec": {"maxUnhealthy": "40%"}});
        assert_eq!(allowed(&mhc, 5, 2), (true, 0));
        assert!(!allowed(&mhc, 5, 3).0);
        let mhc = json!({"spec": {"remediation": {"triggerIf": {"unhealthyLessThanOrEqualTo": 1}}}});
        assert_eq!(allowed(&mhc, 3, 1), (true, 0));
        assert!(!allowed(&mhc, 3, 2).0);
        let mhc = json!({"spec": {"unhealthyRange": "[1-2]"}});
        assert!(allowed(&mhc, 5, 2).0);
        assert!(!allowed(&mhc, 5, 3).0);
        assert_eq!(allowed(&json!({"spec": {}}), 3, 3), (true, 0));
    }

    #[test]
    fn checks_read_both_generations() {
        let b2 = json!({"spec": {"checks": {"nodeStartupTimeoutSeconds": 60, "unhealthyNodeConditions": [{"type": "Ready", "status": "False", "timeoutSeconds": 30}]}}});
        let (n, m, st) = checks(&b2);
        assert_eq!(
            n,
            vec![Rule {
                t: "Ready".into(),
                status: "False".into(),
                timeout: 30.0
            }]
        );
        assert!(m.is_empty());
        assert_eq!(st, 60.0);
        let b1 = json!({"spec": {"nodeStartupTimeout": "2m", "unhealthyConditions": [{"type": "Ready", "status": "Unknown", "timeout": "5m"}]}});
        let (n, _, st) = checks(&b1);
        assert_eq!(n[0].timeout, 300.0);
        assert_eq!(st, 120.0);
    }
}
