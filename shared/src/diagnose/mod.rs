//! `kubectl capi diagnose`: why a cluster is stuck, which object holds it, and what to do. The
//! objects come from the same label-selected LISTs as `describe` ([`crate::tree::fetch`]); each
//! is read against the [`signatures`] for its role; then a finding whose object has a finding
//! below it (a Cluster not Available because a Machine has no Node because its infrastructure
//! machine failed) is folded into that deeper finding's chain, so one root cause is one finding.

pub mod finding;
pub mod report;
pub mod signatures;
pub mod special;
pub mod workload;

use kube::api::DynamicObject;
use serde_json::Value;

use crate::capi::Generation;
use crate::capi::conditions::{self, Condition};
use crate::capi::object::{controller_owner, to_value};
use crate::tree::fetch::ClusterObjects;
use finding::{Evidence, Finding, Severity, Subject};
use signatures::{CondRule, Role, When};

/// One object of the cluster, with its place in the hierarchy.
#[derive(Debug, Clone)]
pub struct Obj {
    /// What it is.
    pub subject: Subject,
    /// Its role.
    pub role: Role,
    /// The object.
    pub value: Value,
    /// Index of the object above it (its owner in the cluster's hierarchy).
    pub parent: Option<usize>,
}

/// The cluster's objects, top down (the Cluster first).
pub fn objects(o: &ClusterObjects) -> Vec<Obj> {
    let mut out = vec![obj(&o.cluster, Role::Cluster, None)];
    let push = |d: &DynamicObject, role: Role, parent: Option<usize>, out: &mut Vec<Obj>| {
        out.push(obj(d, role, parent));
        out.len() - 1
    };
    if let Some(ic) = &o.infra_cluster {
        push(ic, Role::InfraCluster, Some(0), &mut out);
    }
    if let Some(cp) = &o.control_plane {
        push(cp, Role::ControlPlane, Some(0), &mut out);
    }
    for md in &o.machine_deployments {
        push(md, Role::MachineDeployment, Some(0), &mut out);
    }
    for mp in &o.machine_pools {
        push(mp, Role::MachinePool, Some(0), &mut out);
    }
    for mhc in &o.health_checks {
        push(mhc, Role::HealthCheck, Some(0), &mut out);
    }
    for ms in &o.machine_sets {
        let parent = owner_index(&out, ms).or(Some(0));
        push(ms, Role::MachineSet, parent, &mut out);
    }
    for m in &o.machines {
        let parent = owner_index(&out, m).or(Some(0));
        push(m, Role::Machine, parent, &mut out);
    }
    for p in &o.provider_objects {
        let kind = p.types.as_ref().map(|t| t.kind.as_str()).unwrap_or("");
        let role = if kind.ends_with("Config") {
            Role::BootstrapConfig
        } else {
            Role::InfraMachine
        };
        let parent = owner_index(&out, p).or(Some(0));
        push(p, role, parent, &mut out);
    }
    out
}

fn obj(d: &DynamicObject, role: Role, parent: Option<usize>) -> Obj {
    Obj {
        subject: Subject {
            kind: d.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default(),
            namespace: d.metadata.namespace.clone().unwrap_or_default(),
            name: d.metadata.name.clone().unwrap_or_default(),
        },
        role,
        value: to_value(d),
        parent,
    }
}

fn owner_index(out: &[Obj], d: &DynamicObject) -> Option<usize> {
    let (kind, name) = controller_owner(d)?;
    out.iter()
        .position(|o| o.subject.kind == kind && o.subject.name == name)
}

/// Whether an object's kind is one of Cluster API's core or control plane kinds (their
/// conditions sit where the served generation puts them).
fn is_core(role: Role) -> bool {
    matches!(
        role,
        Role::Cluster
            | Role::ControlPlane
            | Role::MachineDeployment
            | Role::MachineSet
            | Role::MachinePool
            | Role::Machine
            | Role::HealthCheck
    )
}

/// A condition of `o` by its v1beta2 type, else its v1beta1 equivalent.
fn condition(o: &Obj, g: Generation, v2: &str, v1: &str) -> Option<Condition> {
    let core = is_core(o.role);
    conditions::find(&conditions::v1beta2(&o.value, g, core), v2)
        .cloned()
        .or_else(|| {
            (!v1.is_empty())
                .then(|| conditions::find(&conditions::v1beta1(&o.value, g, core), v1).cloned())
                .flatten()
        })
}

/// Seconds since `t` (RFC 3339), if it parses.
fn held_for(t: Option<&str>, now: jiff::Timestamp) -> Option<i64> {
    let t: jiff::Timestamp = t?.parse().ok()?;
    Some(now.as_second() - t.as_second())
}

fn matches(rule: &CondRule, c: &Condition) -> bool {
    let bad = match rule.when {
        When::False => c.status == "False",
        When::True => c.status == "True",
        When::NotTrue => c.status != "True",
    };
    bad && (rule.reasons.is_empty() || rule.reasons.contains(&c.reason.as_str()))
        && (rule.message_has.is_empty() || rule.message_has.iter().any(|m| c.message.contains(m)))
}

/// The condition signatures one object shows (one per condition type).
fn condition_findings(o: &Obj, g: Generation, now: jiff::Timestamp) -> Vec<Finding> {
    let mut out: Vec<Finding> = vec![];
    let mut seen: Vec<&str> = vec![];
    for rule in signatures::rules_for(o.role) {
        if seen.contains(&rule.v2) {
            continue;
        }
        let Some(c) = condition(o, g, rule.v2, rule.v1) else {
            continue;
        };
        if !matches(rule, &c) {
            continue;
        }
        let held = held_for(c.last_transition_time.as_deref(), now);
        if held.is_some_and(|h| h < rule.hold_secs) {
            continue;
        }
        seen.push(rule.v2);
        out.push(Finding {
            signature: rule.id,
            severity: rule.severity,
            object: o.subject.clone(),
            evidence: Evidence::of_condition(&c, held),
            explanation: rule.explanation.to_string(),
            next_step: rule.next_step.to_string(),
            chain: vec![],
        });
    }
    out
}

/// The workload cluster's Nodes as objects below their Machines (by `status.nodeRef`).
fn add_nodes(list: &mut Vec<Obj>, nodes: &[Value]) {
    for n in nodes {
        let name = crate::capi::value::s(n, "/metadata/name");
        let parent = list.iter().position(|o| {
            o.role == Role::Machine && crate::capi::value::s(&o.value, "/status/nodeRef/name") == name
        });
        list.push(Obj {
            subject: Subject {
                kind: "Node".into(),
                namespace: String::new(),
                name: name.to_string(),
            },
            role: Role::Node,
            value: n.clone(),
            parent: parent.or(Some(0)),
        });
    }
}

/// Everything `diagnose` finds in one cluster, root causes only, worst first. `nodes` are the
/// workload cluster's Nodes, when they were read (`--workload`).
pub fn diagnose(
    objs: &ClusterObjects,
    kubeconfig_expiry: Option<&str>,
    nodes: &[Value],
    now: jiff::Timestamp,
) -> Vec<Finding> {
    let g = objs.generation;
    let mut list = objects(objs);
    add_nodes(&mut list, nodes);
    let mut per: Vec<Vec<Finding>> = list
        .iter()
        .map(|o| {
            let mut f = condition_findings(o, g, now);
            f.extend(special::findings(o, &list, g, now));
            f
        })
        .collect();
    if let Some(f) = kubeconfig_expiry.and_then(|k| special::kubeconfig_expiry(&list[0], k, now)) {
        per[0].push(f);
    }
    // The Cluster's own state: a symptom folded into what is found below it, or, when nothing
    // is, the finding itself.
    if !per[0].iter().any(|f| f.severity != Severity::Info)
        && let Some(f) = special::not_available(&list[0], g)
    {
        per[0].push(f);
    }
    fold(&list, per)
}

/// Signatures that describe an aggregate state (of what is below the object), so that a finding
/// below explains them; the others (a version skew, a pause, a failing remote connection) stand
/// on their own wherever they are.
const SYMPTOMS: &[&str] = &[
    "ClusterNotAvailable",
    "InfrastructureNotProvisioned",
    "ControlPlaneNotInitialized",
    "EtcdClusterUnhealthy",
    "ControlPlaneComponentsUnhealthy",
    "NodeNotReady",
    "MachineUnhealthy",
    "MachineWithoutProviderID",
    "MachineWithoutNode",
    "TopologyNotReconciled",
    "DeletionHeld",
];

fn is_symptom(f: &Finding) -> bool {
    SYMPTOMS.contains(&f.signature)
}

/// Keeps the deepest findings: an object's symptom findings are folded when something below it
/// has a finding of its own (info aside); they become the chain of each such deeper finding.
fn fold(list: &[Obj], per: Vec<Vec<Finding>>) -> Vec<Finding> {
    let serious = |i: usize| per[i].iter().any(|f| f.severity != Severity::Info);
    let mut has_serious_below = vec![false; list.len()];
    for (i, o) in list.iter().enumerate() {
        if serious(i) {
            let mut p = o.parent;
            while let Some(j) = p {
                has_serious_below[j] = true;
                p = list[j].parent;
            }
        }
    }
    let mut out = vec![];
    for (i, findings) in per.iter().enumerate() {
        for f in findings {
            if has_serious_below[i] && is_symptom(f) {
                continue;
            }
            let mut f = f.clone();
            f.chain = chain_above(list, &per, &has_serious_below, i);
            out.push(f);
        }
    }
    out.sort_by(|a, b| (a.severity, &a.object).cmp(&(b.severity, &b.object)));
    out
}

/// The folded symptoms above object `i`, top down.
fn chain_above(list: &[Obj], per: &[Vec<Finding>], folded: &[bool], i: usize) -> Vec<String> {
    let mut chain = vec![];
    let mut p = list[i].parent;
    while let Some(j) = p {
        if folded[j] {
            for f in per[j].iter().filter(|f| is_symptom(f)) {
                chain.push(symptom(f));
            }
        }
        p = list[j].parent;
    }
    chain.reverse();
    chain
}

fn symptom(f: &Finding) -> String {
    let e = &f.evidence;
    match (&e.condition, &e.status) {
        (Some(c), Some(s)) => format!(
            "{}: {c} {s}{}",
            f.object,
            e.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
        ),
        _ => format!("{}: {}", f.object, f.signature),
    }
}

/// Whether any finding is an error (the exit code).
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}
