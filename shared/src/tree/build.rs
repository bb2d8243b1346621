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
    let b = Builder::new(objs, opts);
    let mut root = b.cluster_row();
    let mut children: Vec<Node> = vec![];
    if let Some(ic) = &objs.infra_cluster {
        children.push(b.ctx.object(ic));
    }
    children.extend(b.resource_sets(&root.namespace));
    children.extend(b.control_plane());
    let mut workers: Vec<Node> = vec![];
    workers.extend(sorted(&objs.machine_deployments).map(|md| b.machine_deployment(md)));
    workers.extend(sorted(&objs.machine_pools).map(|mp| b.machine_pool(mp)));
    // MachineSets without a MachineDeployment are shown too.
    workers.extend(
        sorted(&objs.machine_sets)
            .filter(|ms| !b.ms_to_md.contains_key(name_of(ms)))
            .map(|ms| b.machine_set(ms)),
    );
    children.extend(sorted(&objs.health_checks).map(|mhc| b.health_check(mhc)));
    // Everything not placed yet, under Workers, where clusterctl puts them.
    let other = b.unplaced_machines();
    if !other.is_empty() {
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

/// Objects in name order.
fn sorted(objs: &[DynamicObject]) -> impl Iterator<Item = &DynamicObject> {
    let mut v: Vec<&DynamicObject> = objs.iter().collect();
    v.sort_by_key(|o| o.metadata.name.clone());
    v.into_iter()
}

fn name_of(o: &DynamicObject) -> &str {
    o.metadata.name.as_deref().unwrap_or("")
}

/// What building one tree works from: the objects, where each MachineSet belongs, the provider
/// objects by (kind, name), and which Machines have found their place.
struct Builder<'a> {
    ctx: Ctx,
    objs: &'a ClusterObjects,
    opts: BuildOptions,
    providers: BTreeMap<(String, String), &'a DynamicObject>,
    ms_to_md: BTreeMap<String, String>,
    placed: std::cell::RefCell<BTreeSet<String>>,
}

impl<'a> Builder<'a> {
    fn new(objs: &'a ClusterObjects, opts: BuildOptions) -> Builder<'a> {
        Builder {
            ctx: Ctx {
                served: objs.generation,
                opts,
            },
            providers: objs
                .provider_objects
                .iter()
                .map(|o| ((kind_of(o), o.metadata.name.clone().unwrap_or_default()), o))
                .collect(),
            ms_to_md: objs
                .machine_sets
                .iter()
                .filter_map(|ms| {
                    controller_owner(ms)
                        .filter(|(k, _)| *k == "MachineDeployment")
                        .map(|(_, md)| (name_of(ms).to_string(), md.to_string()))
                })
                .collect(),
            placed: Default::default(),
            objs,
            opts,
        }
    }

    /// The Cluster row: its counters summed over control plane and workers, the version
    /// distribution and the upgrade plan (v1beta2 fields, under `status.v1beta2` on v1beta1).
    fn cluster_row(&self) -> Node {
        let objs = self.objs;
        let cv = to_value(&objs.cluster);
        let mut root = self.ctx.object(&objs.cluster);
        if cv.pointer("/spec/topology").is_some() {
            root.version = str_at(&cv, "/spec/topology/version").map(str::to_string);
        }
        let status_base = if objs.generation == Generation::V1beta2 {
            "/status"
        } else {
            "/status/v1beta2"
        };
        let pool = |part: &str, field: &str| i64_at(&cv, &format!("{status_base}/{part}/{field}"));
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
        let listed =
            |part: &str, field: &str| list_versions(cv.pointer(&format!("{status_base}/{part}/{field}")));
        let versions = Versions {
            control_plane: listed("controlPlane", "versions"),
            workers: listed("workers", "versions"),
        };
        if !versions.control_plane.is_empty() || !versions.workers.is_empty() {
            root.versions = Some(versions);
        }
        let only_versions = |l: Vec<VersionCount>| l.into_iter().map(|v| v.version).collect::<Vec<_>>();
        let plan = UpgradePlan {
            control_plane: only_versions(listed("controlPlane", "upgradePlan")),
            workers: only_versions(listed("workers", "upgradePlan")),
        };
        if !plan.control_plane.is_empty() || !plan.workers.is_empty() {
            root.upgrade_plan = Some(plan);
        }
        root
    }

    /// The provider objects `v` references at `pointers`, as children of `n`, unless they only
    /// echo it.
    fn add_providers(&self, n: &mut Node, v: &Value, pointers: &[&str]) {
        for p in pointers {
            if let Some(r) = obj_ref(v, p)
                && let Some(o) = self.providers.get(&(r.kind.clone(), r.name.clone()))
            {
                let child = self.ctx.object(o);
                if self.opts.echo || !echo_hidden(&child, n, self.opts.mode) {
                    n.children.push(child);
                }
            }
        }
    }

    /// A Machine row with its infrastructure and bootstrap objects; the Machine is placed.
    fn machine(&self, m: &DynamicObject) -> Node {
        self.placed.borrow_mut().insert(name_of(m).to_string());
        let mut n = self.ctx.machine(m);
        self.add_providers(
            &mut n,
            &to_value(m),
            &["/spec/infrastructureRef", "/spec/bootstrap/configRef"],
        );
        n
    }

    /// Worker Machines whose controller is `kind/name`, as rows.
    fn machines_owned_by(&self, kind: &str, name: &str) -> Vec<Node> {
        self.objs
            .machines
            .iter()
            .filter(|m| {
                label(m, CONTROL_PLANE_LABEL).is_none()
                    && controller_owner(m).is_some_and(|(k, n)| k == kind && n == name)
            })
            .map(|m| self.machine(m))
            .collect()
    }

    /// Machine rows in name order, grouped when grouping is on.
    fn finish(&self, mut machines: Vec<Node>) -> Vec<Node> {
        machines.sort_by(|a, b| a.name.cmp(&b.name));
        if self.opts.grouping {
            group_machines(machines, self.opts.mode)
        } else {
            machines
        }
    }

    /// The ClusterResourceSets bound to the cluster, when asked for.
    fn resource_sets(&self, namespace: &str) -> Option<Node> {
        let b = self
            .objs
            .resource_set_binding
            .as_ref()
            .filter(|_| self.opts.show_resourcesets)?;
        let sets: Vec<Node> = to_value(b)
            .pointer("/spec/bindings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.get("clusterResourceSetName").and_then(Value::as_str))
            .map(|n| Node {
                kind: "ClusterResourceSet".into(),
                name: n.into(),
                namespace: namespace.to_string(),
                is_virtual: true,
                ..Default::default()
            })
            .collect();
        (!sets.is_empty()).then(|| Node {
            children: sets,
            ..Node::virtual_node("ClusterResourceSetGroup", "ClusterResourceSets")
        })
    }

    /// The control plane with its template and Machines.
    fn control_plane(&self) -> Option<Node> {
        let cp = self.objs.control_plane.as_ref()?;
        let cpv = to_value(cp);
        let mut n = self.ctx.control_plane(cp);
        if self.opts.show_templates {
            let t = template_node(&cpv, "/spec/machineTemplate/spec/infrastructureRef")
                .or_else(|| template_node(&cpv, "/spec/machineTemplate/infrastructureRef"));
            n.children.extend(templates(t.into_iter().collect()));
        }
        let machines: Vec<Node> = self
            .objs
            .machines
            .iter()
            .filter(|m| label(m, CONTROL_PLANE_LABEL).is_some())
            .map(|m| self.machine(m))
            .collect();
        n.children.extend(self.finish(machines));
        Some(n)
    }

    /// A MachineDeployment with its templates, and its Machines under it or under their
    /// MachineSets.
    fn machine_deployment(&self, md: &DynamicObject) -> Node {
        let mdv = to_value(md);
        let mut n = self.ctx.replica_node(md, "/spec/template/spec/version");
        if self.opts.show_templates {
            let t: Vec<Node> = [
                template_node(&mdv, "/spec/template/spec/bootstrap/configRef"),
                template_node(&mdv, "/spec/template/spec/infrastructureRef"),
            ]
            .into_iter()
            .flatten()
            .collect();
            n.children.extend(templates(t));
        }
        let mut md_machines = vec![];
        let sets = sorted(&self.objs.machine_sets)
            .filter(|ms| self.ms_to_md.get(name_of(ms)).map(String::as_str) == Some(name_of(md)));
        for ms in sets {
            if self.opts.show_machinesets {
                n.children.push(self.machine_set(ms));
            } else {
                md_machines.extend(self.machines_owned_by("MachineSet", name_of(ms)));
            }
        }
        if !self.opts.show_machinesets {
            n.children.extend(self.finish(md_machines));
        }
        n
    }

    fn machine_set(&self, ms: &DynamicObject) -> Node {
        let mut n = self.ctx.replica_node(ms, "/spec/template/spec/version");
        n.children = self.finish(self.machines_owned_by("MachineSet", name_of(ms)));
        n
    }

    /// A MachinePool with its bootstrap and infrastructure objects and its Machines.
    fn machine_pool(&self, mp: &DynamicObject) -> Node {
        let mut n = self.ctx.replica_node(mp, "/spec/template/spec/version");
        self.add_providers(
            &mut n,
            &to_value(mp),
            &[
                "/spec/template/spec/bootstrap/configRef",
                "/spec/template/spec/infrastructureRef",
            ],
        );
        let machines = self.machines_owned_by("MachinePool", name_of(mp));
        n.children.extend(self.finish(machines));
        n
    }

    /// A MachineHealthCheck with what it targets: the Machines it lists (or selects), their
    /// owners, the unhealthy ones, and expected/healthy counts.
    fn health_check(&self, mhc: &DynamicObject) -> Node {
        let v = to_value(mhc);
        let mut n = self.ctx.object(mhc);
        let targets = self.targets_of(&v);
        let mut owners: BTreeSet<String> = BTreeSet::new();
        let mut unhealthy = vec![];
        for m in &targets {
            owners.extend(self.owner_row_of(m));
            if remediation_failing(m, self.objs.generation) {
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
        n
    }

    /// The Machines a health check targets: those in `status.targets`, else those its selector
    /// matches.
    fn targets_of(&self, mhc: &Value) -> Vec<&'a DynamicObject> {
        let listed: Vec<String> = mhc
            .pointer("/status/targets")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let selector = mhc.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
        self.objs
            .machines
            .iter()
            .filter(|m| {
                if !listed.is_empty() {
                    return listed.iter().any(|t| t == name_of(m));
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
            .collect()
    }

    /// The row that owns a Machine, as `Kind/name`: the control plane, the MachineDeployment of
    /// its MachineSet, or its controller.
    fn owner_row_of(&self, m: &DynamicObject) -> Option<String> {
        if label(m, CONTROL_PLANE_LABEL).is_some() {
            let cp = self.objs.control_plane.as_ref()?;
            return Some(format!("{}/{}", kind_of(cp), name_of(cp)));
        }
        controller_owner(m).map(|(k, n)| match (k, self.ms_to_md.get(n)) {
            ("MachineSet", Some(md)) => format!("MachineDeployment/{md}"),
            (k, _) => format!("{k}/{n}"),
        })
    }

    /// Machines no other row took, as rows.
    fn unplaced_machines(&self) -> Vec<Node> {
        let unplaced: Vec<&DynamicObject> = {
            let placed = self.placed.borrow();
            self.objs
                .machines
                .iter()
                .filter(|m| !placed.contains(name_of(m)))
                .collect()
        };
        unplaced.into_iter().map(|m| self.machine(m)).collect()
    }
}

/// Whether a health check has found a Machine unhealthy (either generation's conditions).
fn remediation_failing(m: &DynamicObject, served: Generation) -> bool {
    let mv = to_value(m);
    let failing = |cs: &[Condition]| {
        conditions::find(cs, "HealthCheckSucceeded").is_some_and(|x| x.status == "False")
            || conditions::find(cs, "OwnerRemediated").is_some_and(|x| x.status == "False")
    };
    failing(&conditions::v1beta2(&mv, served, true)) || failing(&conditions::v1beta1(&mv, served, true))
}

#[cfg(test)]
mod tests;
