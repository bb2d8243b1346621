//! Building the cluster tree from fetched objects, with Cluster API's placement rules (control
//! plane Machines under the control plane, MachineSet Machines under their MachineDeployment,
//! pool Machines under their MachinePool, the rest under "Other"), grouping of same-state
//! Machines and echo suppression of infrastructure/bootstrap rows that add nothing. Improvements
//! over clusterctl: MachineDeployments with no Machines and standalone MachineSets are shown,
//! MachinePool rows are filled, MachineHealthChecks are shown with what they target, and the
//! cluster's version distribution and upgrade plan are kept.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::DynamicObject;
use serde_json::Value;

use super::fetch::ClusterObjects;
use super::{ClusterTree, Counters, HealthCheck, Node, UpgradePlan, VersionCount, Versions};
use crate::capi::conditions::{self, Condition};
use crate::capi::object::{annotation, controller_owner, i64_at, label, obj_ref, str_at, to_value};
use crate::capi::{CONTROL_PLANE_LABEL, CORE_GROUP, Generation, PAUSED_ANNOTATION};

/// Options of the tree.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Insert MachineSets between MachineDeployments and Machines.
    pub show_machinesets: bool,
    /// Add Templates nodes.
    pub show_templates: bool,
    /// Add the ClusterResourceSets node.
    pub show_resourcesets: bool,
    /// Show infrastructure/bootstrap rows even when they echo their Machine.
    pub echo: bool,
    /// Group Machines in the same state.
    pub grouping: bool,
    /// Condition format (v1beta2 columns, or v1beta1 with severity).
    pub mode: Generation,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            show_machinesets: false,
            show_templates: false,
            show_resourcesets: false,
            echo: false,
            grouping: true,
            mode: Generation::V1beta2,
        }
    }
}

fn is_core(o: &DynamicObject) -> bool {
    o.types
        .as_ref()
        .is_some_and(|t| t.api_version.starts_with(&format!("{CORE_GROUP}/")))
}

fn kind_of(o: &DynamicObject) -> String {
    o.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default()
}

struct Ctx {
    served: Generation,
    opts: BuildOptions,
}

impl Ctx {
    fn conditions(&self, o: &DynamicObject) -> Vec<Condition> {
        let v = to_value(o);
        match self.opts.mode {
            Generation::V1beta2 => conditions::v1beta2(&v, self.served, is_core(o)),
            Generation::V1beta1 => conditions::v1beta1(&v, self.served, is_core(o)),
        }
    }

    /// Counters live at `status.X` on v1beta2 and at `status.v1beta2.X` on v1beta1-era
    /// objects (core kinds and v1beta1-contract providers alike).
    fn counter(&self, v: &Value, core: bool, field: &str) -> Option<i64> {
        let nested = i64_at(v, &format!("/status/v1beta2/{field}"));
        if self.served == Generation::V1beta1 && (core || nested.is_some()) {
            nested
        } else {
            i64_at(v, &format!("/status/{field}"))
        }
    }

    fn row_condition(&self, kind: &str, conds: &[Condition]) -> Option<Condition> {
        if self.opts.mode == Generation::V1beta1 {
            return conditions::find(conds, "Ready").cloned();
        }
        let pick = |t: &str| conditions::find(conds, t).cloned();
        match kind {
            "Cluster" | "MachineDeployment" | "MachinePool" => pick("Available"),
            "MachineSet" => None,
            "MachineHealthCheck" => pick("RemediationAllowed"),
            "Machine" => pick("Ready"),
            // Infrastructure and bootstrap objects: Ready, as clusterctl shows them (their
            // Available often says less, e.g. NotAvailable where Ready says "vm stopped").
            _ => pick("Ready"),
        }
    }

    /// The control plane row: its Available condition when it has one, else Ready (the
    /// control plane contract's rule in clusterctl).
    fn control_plane(&self, o: &DynamicObject) -> Node {
        let mut n = self.replica_node(o, "/spec/version");
        if self.opts.mode == Generation::V1beta2
            && let Some(c) = conditions::find(&n.conditions, "Available")
        {
            n.status = Some(c.clone());
        }
        n
    }

    fn object(&self, o: &DynamicObject) -> Node {
        let kind = kind_of(o);
        let v = to_value(o);
        let conds = self.conditions(o);
        let paused = v.pointer("/spec/paused").and_then(Value::as_bool) == Some(true)
            || annotation(o, PAUSED_ANNOTATION).is_some();
        Node {
            status: self.row_condition(&kind, &conds),
            conditions: conds,
            name: o.metadata.name.clone().unwrap_or_default(),
            namespace: o.metadata.namespace.clone().unwrap_or_default(),
            api_version: o
                .types
                .as_ref()
                .map(|t| t.api_version.clone())
                .unwrap_or_default(),
            deleting: o.metadata.deletion_timestamp.is_some(),
            paused,
            kind,
            ..Default::default()
        }
    }

    fn replica_node(&self, o: &DynamicObject, version_ptr: &str) -> Node {
        let v = to_value(o);
        let core = is_core(o);
        let mut n = self.object(o);
        n.version = str_at(&v, version_ptr).map(str::to_string);
        let up_to_date = self
            .counter(&v, core, "upToDateReplicas")
            .or_else(|| (!core).then(|| i64_at(&v, "/status/updatedReplicas")).flatten());
        n.replicas = Some(Counters {
            current: i64_at(&v, "/status/replicas"),
            desired: i64_at(&v, "/spec/replicas"),
            available: self.counter(&v, core, "availableReplicas"),
            ready: self.counter(&v, core, "readyReplicas"),
            up_to_date,
        });
        n
    }

    fn machine(&self, o: &DynamicObject) -> Node {
        let v = to_value(o);
        let mut n = self.object(o);
        n.version = str_at(&v, "/spec/version").map(str::to_string);
        let c = conditions::v1beta2(&v, self.served, true);
        // A missing condition counts as not true (0), as clusterctl counts it.
        let is_true = |t: &str| Some(conditions::find(&c, t).map_or(0, |x| i64::from(x.status == "True")));
        n.replicas = Some(Counters {
            current: Some(1),
            desired: None,
            available: is_true("Available"),
            ready: is_true("Ready"),
            up_to_date: is_true("UpToDate"),
        });
        n
    }
}

fn key_of(n: &Node, mode: Generation) -> Vec<(String, String, String)> {
    let pick = |t: &str| {
        conditions::find(&n.conditions, t)
            .map(|c| (c.status.clone(), c.reason.clone(), c.severity.clone()))
            .unwrap_or_default()
    };
    match mode {
        Generation::V1beta2 => vec![pick("Available"), pick("Ready"), pick("UpToDate")],
        Generation::V1beta1 => vec![pick("Ready")],
    }
}

/// Groups sibling Machines in the same state into "N Machines..." rows.
fn group_machines(children: Vec<Node>, mode: Generation) -> Vec<Node> {
    let mut out: Vec<Node> = vec![];
    let mut buckets: BTreeMap<Vec<(String, String, String)>, Vec<Node>> = BTreeMap::new();
    let mut order: Vec<Vec<(String, String, String)>> = vec![];
    for c in children {
        // Deleting Machines group too (clusterctl's rule): their Ready reason sets them apart.
        if c.kind != "Machine" {
            out.push(c);
            continue;
        }
        let k = key_of(&c, mode);
        if !buckets.contains_key(&k) {
            order.push(k.clone());
        }
        buckets.entry(k).or_default().push(c);
    }
    for k in order {
        let Some(mut members) = buckets.remove(&k) else {
            continue;
        };
        if members.len() == 1 {
            out.extend(members.pop());
            continue;
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let count = |f: fn(&Counters) -> Option<i64>| -> Option<i64> {
            let vals: Vec<i64> = members
                .iter()
                .filter_map(|m| m.replicas.as_ref().and_then(f))
                .collect();
            (!vals.is_empty()).then(|| vals.iter().sum())
        };
        let mut status = members[0].status.clone();
        if let Some(s) = status.as_mut() {
            s.message.clear();
            s.last_transition_time = members
                .iter()
                .filter_map(|m| m.status.as_ref().and_then(|x| x.last_transition_time.clone()))
                .min();
        }
        let versions: BTreeSet<String> = members.iter().filter_map(|m| m.version.clone()).collect();
        out.push(Node {
            kind: "MachineGroup".into(),
            name: format!("{} Machines...", members.len()),
            namespace: members[0].namespace.clone(),
            version: (versions.len() == 1)
                .then(|| versions.into_iter().next())
                .flatten(),
            replicas: Some(Counters {
                current: None,
                desired: None,
                available: count(|c| c.available),
                ready: count(|c| c.ready),
                up_to_date: count(|c| c.up_to_date),
            }),
            status,
            members: members.iter().map(|m| m.name.clone()).collect(),
            is_virtual: true,
            ..Default::default()
        });
    }
    out
}

fn echo_hidden(child: &Node, parent: &Node, mode: Generation) -> bool {
    let ready = |n: &Node| conditions::find(&n.conditions, "Ready").cloned();
    match (ready(child), ready(parent)) {
        (Some(c), _) if c.status == "True" => true,
        (Some(c), Some(p)) => {
            c.status == p.status
                && c.reason == p.reason
                && (mode == Generation::V1beta2 || c.severity == p.severity)
        }
        (None, None) => true,
        _ => false,
    }
}

/// A template reference row, in the namespace of the object that names it.
fn template_node(v: &Value, pointer: &str) -> Option<Node> {
    let r = obj_ref(v, pointer)?;
    Some(Node {
        kind: r.kind,
        name: r.name,
        namespace: str_at(v, "/metadata/namespace").unwrap_or_default().to_string(),
        is_virtual: true,
        ..Default::default()
    })
}

fn templates(children: Vec<Node>) -> Option<Node> {
    (!children.is_empty()).then(|| Node {
        children,
        ..Node::virtual_node("TemplateGroup", "Templates")
    })
}

fn list_versions(v: Option<&Value>) -> Vec<VersionCount> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| match x {
                    Value::String(s) => Some(VersionCount {
                        version: s.clone(),
                        replicas: None,
                    }),
                    Value::Object(_) => Some(VersionCount {
                        version: x.get("version").and_then(Value::as_str)?.to_string(),
                        replicas: x.get("replicas").and_then(Value::as_i64),
                    }),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn label_selector_matches(sel: &Value, labels: &BTreeMap<String, String>) -> bool {
    let ml_ok = sel.get("matchLabels").and_then(Value::as_object).is_none_or(|m| {
        m.iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
    });
    let me_ok = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let have = labels.get(key).map(String::as_str);
                match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                    "In" => have.is_some_and(|h| values.contains(&h)),
                    "NotIn" => have.is_none_or(|h| !values.contains(&h)),
                    "Exists" => have.is_some(),
                    "DoesNotExist" => have.is_none(),
                    _ => false,
                }
            })
        });
    ml_ok && me_ok
}

/// Orders every node's children as clusterctl prints them: Templates first, then by the
/// printed row label.
fn sort_children(n: &mut Node) {
    n.children
        .sort_by_cached_key(|c| (c.kind != "TemplateGroup", c.label()));
    n.children.iter_mut().for_each(sort_children);
}

/// Builds the tree of a cluster.
pub fn build(objs: &ClusterObjects, opts: BuildOptions) -> ClusterTree {
    let ctx = Ctx {
        served: objs.generation,
        opts,
    };
    let cv = to_value(&objs.cluster);
    let mut root = ctx.object(&objs.cluster);
    if cv.pointer("/spec/topology").is_some() {
        root.version = str_at(&cv, "/spec/topology/version").map(str::to_string);
    }
    let pool = |part: &str, field: &str| -> Option<i64> {
        match objs.generation {
            Generation::V1beta2 => i64_at(&cv, &format!("/status/{part}/{field}")),
            Generation::V1beta1 => i64_at(&cv, &format!("/status/v1beta2/{part}/{field}")),
        }
    };
    let sum = |field: &str| -> Option<i64> {
        match (pool("controlPlane", field), pool("workers", field)) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        }
    };
    root.replicas = Some(Counters {
        current: sum("replicas"),
        desired: sum("desiredReplicas"),
        available: sum("availableReplicas"),
        ready: sum("readyReplicas"),
        up_to_date: sum("upToDateReplicas"),
    });
    let status_base = if objs.generation == Generation::V1beta2 {
        "/status"
    } else {
        "/status/v1beta2"
    };
    let versions = Versions {
        control_plane: list_versions(cv.pointer(&format!("{status_base}/controlPlane/versions"))),
        workers: list_versions(cv.pointer(&format!("{status_base}/workers/versions"))),
    };
    if !versions.control_plane.is_empty() || !versions.workers.is_empty() {
        root.versions = Some(versions);
    }
    let plan = UpgradePlan {
        control_plane: list_versions(cv.pointer(&format!("{status_base}/controlPlane/upgradePlan")))
            .into_iter()
            .map(|v| v.version)
            .collect(),
        workers: list_versions(cv.pointer(&format!("{status_base}/workers/upgradePlan")))
            .into_iter()
            .map(|v| v.version)
            .collect(),
    };
    if !plan.control_plane.is_empty() || !plan.workers.is_empty() {
        root.upgrade_plan = Some(plan);
    }

    // Provider objects by (kind, name).
    let providers: BTreeMap<(String, String), &DynamicObject> = objs
        .provider_objects
        .iter()
        .map(|o| ((kind_of(o), o.metadata.name.clone().unwrap_or_default()), o))
        .collect();
    let machine_node = |m: &DynamicObject| -> Node {
        let mut n = ctx.machine(m);
        let v = to_value(m);
        for p in ["/spec/infrastructureRef", "/spec/bootstrap/configRef"] {
            if let Some(r) = obj_ref(&v, p)
                && let Some(o) = providers.get(&(r.kind.clone(), r.name.clone()))
            {
                let child = ctx.object(o);
                if opts.echo || !echo_hidden(&child, &n, opts.mode) {
                    n.children.push(child);
                }
            }
        }
        n
    };

    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut children: Vec<Node> = vec![];
    if let Some(ic) = &objs.infra_cluster {
        children.push(ctx.object(ic));
    }
    if opts.show_resourcesets
        && let Some(b) = &objs.resource_set_binding
    {
        let bv = to_value(b);
        let sets: Vec<Node> = bv
            .pointer("/spec/bindings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.get("clusterResourceSetName").and_then(Value::as_str))
            .map(|n| Node {
                kind: "ClusterResourceSet".into(),
                name: n.into(),
                namespace: root.namespace.clone(),
                is_virtual: true,
                ..Default::default()
            })
            .collect();
        if !sets.is_empty() {
            children.push(Node {
                children: sets,
                ..Node::virtual_node("ClusterResourceSetGroup", "ClusterResourceSets")
            });
        }
    }
    // Control plane and its Machines.
    let cp_name = objs.control_plane.as_ref().and_then(|c| c.metadata.name.clone());
    if let Some(cp) = &objs.control_plane {
        let cpv = to_value(cp);
        let mut n = ctx.control_plane(cp);
        if opts.show_templates {
            let t = template_node(&cpv, "/spec/machineTemplate/spec/infrastructureRef")
                .or_else(|| template_node(&cpv, "/spec/machineTemplate/infrastructureRef"));
            n.children.extend(templates(t.into_iter().collect()));
        }
        let mut machines: Vec<Node> = objs
            .machines
            .iter()
            .filter(|m| label(m, CONTROL_PLANE_LABEL).is_some())
            .map(|m| {
                placed.insert(m.metadata.name.clone().unwrap_or_default());
                machine_node(m)
            })
            .collect();
        machines.sort_by(|a, b| a.name.cmp(&b.name));
        n.children.extend(if opts.grouping {
            group_machines(machines, opts.mode)
        } else {
            machines
        });
        children.push(n);
    }
    // Workers.
    let mut workers: Vec<Node> = vec![];
    let ms_to_md: BTreeMap<String, String> = objs
        .machine_sets
        .iter()
        .filter_map(|ms| {
            controller_owner(ms)
                .filter(|(k, _)| *k == "MachineDeployment")
                .map(|(_, md)| (ms.metadata.name.clone().unwrap_or_default(), md.to_string()))
        })
        .collect();
    let owned_by = |kind: &str, name: &str| -> Vec<&DynamicObject> {
        objs.machines
            .iter()
            .filter(|m| {
                label(m, CONTROL_PLANE_LABEL).is_none()
                    && controller_owner(m).is_some_and(|(k, n)| k == kind && n == name)
            })
            .collect()
    };
    let finish = |mut machines: Vec<Node>, grouping_parent: bool| -> Vec<Node> {
        machines.sort_by(|a, b| a.name.cmp(&b.name));
        if opts.grouping && grouping_parent {
            group_machines(machines, opts.mode)
        } else {
            machines
        }
    };
    let mut mds: Vec<&DynamicObject> = objs.machine_deployments.iter().collect();
    mds.sort_by_key(|m| m.metadata.name.clone());
    for md in mds {
        let mdname = md.metadata.name.clone().unwrap_or_default();
        let mdv = to_value(md);
        let mut n = ctx.replica_node(md, "/spec/template/spec/version");
        if opts.show_templates {
            let t: Vec<Node> = [
                template_node(&mdv, "/spec/template/spec/bootstrap/configRef"),
                template_node(&mdv, "/spec/template/spec/infrastructureRef"),
            ]
            .into_iter()
            .flatten()
            .collect();
            n.children.extend(templates(t));
        }
        let mut sets: Vec<&DynamicObject> = objs
            .machine_sets
            .iter()
            .filter(|ms| ms_to_md.get(ms.metadata.name.as_deref().unwrap_or("")) == Some(&mdname))
            .collect();
        sets.sort_by_key(|s| s.metadata.name.clone());
        let mut md_machines = vec![];
        for ms in sets {
            let msname = ms.metadata.name.clone().unwrap_or_default();
            let machines: Vec<Node> = owned_by("MachineSet", &msname)
                .into_iter()
                .map(|m| {
                    placed.insert(m.metadata.name.clone().unwrap_or_default());
                    machine_node(m)
                })
                .collect();
            if opts.show_machinesets {
                let mut msn = ctx.replica_node(ms, "/spec/template/spec/version");
                msn.children = finish(machines, true);
                n.children.push(msn);
            } else {
                md_machines.extend(machines);
            }
        }
        if !opts.show_machinesets {
            n.children.extend(finish(md_machines, true));
        }
        workers.push(n);
    }
    let mut pools: Vec<&DynamicObject> = objs.machine_pools.iter().collect();
    pools.sort_by_key(|p| p.metadata.name.clone());
    for mp in pools {
        let mpv = to_value(mp);
        let mut n = ctx.replica_node(mp, "/spec/template/spec/version");
        for p in [
            "/spec/template/spec/bootstrap/configRef",
            "/spec/template/spec/infrastructureRef",
        ] {
            if let Some(r) = obj_ref(&mpv, p)
                && let Some(o) = providers.get(&(r.kind.clone(), r.name.clone()))
            {
                let child = ctx.object(o);
                if opts.echo || !echo_hidden(&child, &n, opts.mode) {
                    n.children.push(child);
                }
            }
        }
        let mpname = mp.metadata.name.clone().unwrap_or_default();
        let machines: Vec<Node> = owned_by("MachinePool", &mpname)
            .into_iter()
            .map(|m| {
                placed.insert(m.metadata.name.clone().unwrap_or_default());
                machine_node(m)
            })
            .collect();
        n.children.extend(finish(machines, true));
        workers.push(n);
    }
    // MachineSets without a MachineDeployment are shown too.
    let mut standalone: Vec<&DynamicObject> = objs
        .machine_sets
        .iter()
        .filter(|ms| !ms_to_md.contains_key(ms.metadata.name.as_deref().unwrap_or("")))
        .collect();
    standalone.sort_by_key(|s| s.metadata.name.clone());
    for ms in standalone {
        let msname = ms.metadata.name.clone().unwrap_or_default();
        let mut n = ctx.replica_node(ms, "/spec/template/spec/version");
        let machines: Vec<Node> = owned_by("MachineSet", &msname)
            .into_iter()
            .map(|m| {
                placed.insert(m.metadata.name.clone().unwrap_or_default());
                machine_node(m)
            })
            .collect();
        n.children = finish(machines, true);
        workers.push(n);
    }
    // MachineHealthChecks with their targets.
    let mut mhcs: Vec<&DynamicObject> = objs.health_checks.iter().collect();
    mhcs.sort_by_key(|m| m.metadata.name.clone());
    for mhc in mhcs {
        let v = to_value(mhc);
        let mut n = ctx.object(mhc);
        let listed: Vec<String> = v
            .pointer("/status/targets")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let selector = v.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
        let targets: Vec<&DynamicObject> = objs
            .machines
            .iter()
            .filter(|m| {
                let name = m.metadata.name.as_deref().unwrap_or("");
                if !listed.is_empty() {
                    return listed.iter().any(|t| t == name);
                }
                let labels: BTreeMap<String, String> = m
                    .metadata
                    .labels
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                !selector.is_null() && label_selector_matches(&selector, &labels)
            })
            .collect();
        let mut owners: BTreeSet<String> = BTreeSet::new();
        let mut unhealthy = vec![];
        for m in &targets {
            let owner = if label(m, CONTROL_PLANE_LABEL).is_some() {
                cp_name.as_ref().map(|c| {
                    format!(
                        "{}/{c}",
                        objs.control_plane.as_ref().map(kind_of).unwrap_or_default()
                    )
                })
            } else {
                controller_owner(m).map(|(k, n)| match (k, ms_to_md.get(n)) {
                    ("MachineSet", Some(md)) => format!("MachineDeployment/{md}"),
                    (k, _) => format!("{k}/{n}"),
                })
            };
            owners.extend(owner);
            let mv = to_value(m);
            let c = conditions::v1beta2(&mv, objs.generation, true);
            let c1 = conditions::v1beta1(&mv, objs.generation, true);
            let failing = |cs: &[Condition]| {
                conditions::find(cs, "HealthCheckSucceeded").is_some_and(|x| x.status == "False")
                    || conditions::find(cs, "OwnerRemediated").is_some_and(|x| x.status == "False")
            };
            if failing(&c) || failing(&c1) {
                unhealthy.push(m.metadata.name.clone().unwrap_or_default());
            }
        }
        let expected = i64_at(&v, "/status/expectedMachines").or(Some(targets.len() as i64));
        let healthy =
            i64_at(&v, "/status/currentHealthy").or(Some(targets.len() as i64 - unhealthy.len() as i64));
        n.replicas = Some(Counters {
            current: expected,
            desired: None,
            available: None,
            ready: healthy,
            up_to_date: None,
        });
        n.health_check = Some(HealthCheck {
            targets: targets.iter().filter_map(|m| m.metadata.name.clone()).collect(),
            unhealthy,
            owners: owners.into_iter().collect(),
            remediations_allowed: i64_at(&v, "/status/remediationsAllowed"),
        });
        children.push(n);
    }
    // Everything not placed yet.
    let other: Vec<Node> = objs
        .machines
        .iter()
        .filter(|m| !placed.contains(m.metadata.name.as_deref().unwrap_or("")))
        .map(machine_node)
        .collect();
    if !other.is_empty() {
        // Under Workers, where clusterctl puts them.
        workers.push(Node {
            children: other,
            ..Node::virtual_node("OtherGroup", "Other")
        });
    }
    if !workers.is_empty() {
        children.push(Node {
            children: workers,
            ..Node::virtual_node("WorkerGroup", "Workers")
        });
    }
    root.children = children;
    sort_children(&mut root);
    ClusterTree::new(root, opts.mode)
}

#[cfg(test)]
mod tests;
