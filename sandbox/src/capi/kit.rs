//! Helpers the simulated controllers share: object access through the REST layer, conditions
//! and references written in the served generation's shape, and small value utilities.

use std::sync::Arc;

use serde_json::{Map, Value, json};

pub use capi_shared::capi::value::{
    annotation, controller_owner, finalizers, is_deleting, label, owner_ref, s,
};

use super::action::{SimError, SimResult};
use crate::api::crds::Generation;
use crate::api::error::{ApiError, ApiResult};
use crate::api::resource::ResourceDef;
use crate::api::rest::{Api, DeleteOpts, ListOpts, Sub, WriteOpts};
use crate::api::selector::LabelSelector;
use crate::store::time;
use capi_shared::capi::Condition;
use capi_shared::capi::labels::CLUSTER_NAME_LABEL;
use capi_shared::capi::object::ObjRef;
use capi_shared::capi::object::obj_ref;
use capi_shared::capi::v1beta1_conditions::{self, Counter};

/// The field manager of the simulated controllers.
pub const MANAGER: &str = "capi-sandbox-controllers";

/// Kinds the simulation reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Cluster.
    Cluster,
    /// ClusterClass.
    ClusterClass,
    /// Machine.
    Machine,
    /// MachineSet.
    MachineSet,
    /// MachineDeployment.
    MachineDeployment,
    /// MachinePool.
    MachinePool,
    /// MachineHealthCheck.
    MachineHealthCheck,
    /// KubeadmControlPlane.
    KubeadmControlPlane,
    /// KubeadmConfig.
    KubeadmConfig,
    /// Secret.
    Secret,
}

impl Kind {
    /// (group, plural).
    pub fn resource(self) -> (&'static str, &'static str) {
        match self {
            Kind::Cluster => ("cluster.x-k8s.io", "clusters"),
            Kind::ClusterClass => ("cluster.x-k8s.io", "clusterclasses"),
            Kind::Machine => ("cluster.x-k8s.io", "machines"),
            Kind::MachineSet => ("cluster.x-k8s.io", "machinesets"),
            Kind::MachineDeployment => ("cluster.x-k8s.io", "machinedeployments"),
            Kind::MachinePool => ("cluster.x-k8s.io", "machinepools"),
            Kind::MachineHealthCheck => ("cluster.x-k8s.io", "machinehealthchecks"),
            Kind::KubeadmControlPlane => ("controlplane.cluster.x-k8s.io", "kubeadmcontrolplanes"),
            Kind::KubeadmConfig => ("bootstrap.cluster.x-k8s.io", "kubeadmconfigs"),
            Kind::Secret => ("", "secrets"),
        }
    }
}

/// Access to the API for the simulation, in the served generation.
#[derive(Clone)]
pub struct Kit {
    /// The REST layer.
    pub api: Api,
    /// The Cluster API generation served.
    pub generation: Generation,
}

fn opts() -> WriteOpts {
    WriteOpts::controller(MANAGER)
}

impl Kit {
    /// A kit; the generation is read from the served Cluster kind.
    pub fn new(api: Api) -> Kit {
        let generation = api
            .registry
            .get("cluster.x-k8s.io", "clusters")
            .and_then(|d| Generation::parse(&d.storage_version))
            .unwrap_or(Generation::V1beta2);
        Kit { api, generation }
    }

    /// Whether v1beta2 shapes are written.
    pub fn v2(&self) -> bool {
        self.generation == Generation::V1beta2
    }

    /// The definition of a kind.
    pub fn def(&self, kind: Kind) -> Option<Arc<ResourceDef>> {
        let (g, p) = kind.resource();
        self.api.registry.get(g, p)
    }

    /// The definition of a group/kind pair (providers' kinds).
    pub fn def_of(&self, group: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.api.registry.find_kind(group, kind)
    }

    /// The apiVersion of a group at the served generation (or the group's storage version).
    pub fn api_version_of(&self, group: &str, kind: &str) -> String {
        match self.def_of(group, kind) {
            Some(d) => d.api_version(&d.storage_version),
            None => format!("{group}/{}", self.generation.as_str()),
        }
    }

    /// Reads an object.
    pub fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        let def = self.def(kind)?;
        self.get_def(&def, ns, name)
    }

    /// Reads an object of any served kind.
    pub fn get_def(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
        let ns = if def.namespaced { Some(ns) } else { None };
        self.api.get_stored(def, ns, name).map(|o| o.value())
    }

    /// The object `obj` references at `pointer` (a Cluster's `/spec/controlPlaneRef`, say) in
    /// `ns`, with its kind's definition; `None` when there is no reference, its kind is not
    /// served, or the object does not exist.
    pub fn referenced(&self, obj: &Value, pointer: &str, ns: &str) -> Option<(Arc<ResourceDef>, Value)> {
        let r = obj_ref(obj, pointer)?;
        let def = self.def_of(&r.group, &r.kind)?;
        let o = self.get_def(&def, ns, &r.name)?;
        Some((def, o))
    }

    /// Lists objects of a kind in a namespace, optionally by label selector.
    pub fn list(&self, kind: Kind, ns: &str, selector: &str) -> Vec<Value> {
        match self.def(kind) {
            Some(def) => self.list_def(&def, ns, selector),
            None => vec![],
        }
    }

    /// Lists objects of any served kind.
    pub fn list_def(&self, def: &ResourceDef, ns: &str, selector: &str) -> Vec<Value> {
        let labels = LabelSelector::parse(selector).unwrap_or_default();
        let opts = ListOpts {
            labels,
            ..Default::default()
        };
        self.api
            .list(def, Some(ns), &opts)
            .map(|p| p.items.iter().map(|o| o.value()).collect())
            .unwrap_or_default()
    }

    /// Creates an object (status, if given, is written right after).
    pub fn create(&self, def: &ResourceDef, ns: &str, obj: Value, status: Option<Value>) -> SimResult<Value> {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        self.create_inner(def, ns, obj, status)
            .map_err(|e| refused("create", def, ns, &name, e))
    }

    fn create_inner(
        &self,
        def: &ResourceDef,
        ns: &str,
        obj: Value,
        status: Option<Value>,
    ) -> ApiResult<Value> {
        let version = def.storage_version.clone();
        let created = self.api.create(def, &version, Some(ns), obj, &opts())?.value;
        match status {
            Some(st) => {
                let name = created["metadata"]["name"].as_str().unwrap_or("").to_string();
                let mut o = created;
                o["status"] = st;
                Ok(self
                    .api
                    .update(def, &version, Some(ns), &name, Sub::Status, o, &opts())?
                    .value)
            }
            None => Ok(created),
        }
    }

    /// Read-modify-write of an object's spec/metadata (`Sub::Main`) or status; `Ok(None)` when
    /// nothing changed or the object is gone (its deletion event queues whoever cares).
    pub fn mutate(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        sub: Sub,
        change: impl FnMut(&mut Value) -> bool,
    ) -> SimResult<Option<Value>> {
        match crate::controllers::mutate(&self.api, def, Some(ns), name, sub, MANAGER, change) {
            Ok(v) => Ok(v),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(refused("update", def, ns, name, e)),
        }
    }

    /// Rewrites an object's status: `change` gets the status (`{}` when there is none) and the
    /// object as read; the write happens only when the status changed.
    pub fn update_status(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut change: impl FnMut(&mut Value, &Value),
    ) -> SimResult<Option<Value>> {
        self.mutate(def, ns, name, Sub::Status, |o| {
            let mut st = o.get("status").cloned().unwrap_or(json!({}));
            change(&mut st, o);
            if o.get("status") == Some(&st) || (o.get("status").is_none() && st == json!({})) {
                return false;
            }
            o["status"] = st;
            true
        })
    }

    /// Deletes an object (background propagation); a missing object is not an error.
    pub fn delete(&self, def: &ResourceDef, ns: &str, name: &str) -> SimResult<()> {
        match self.api.delete(
            def,
            &def.storage_version,
            Some(ns),
            name,
            &DeleteOpts {
                propagation: Some("Background".into()),
                ..Default::default()
            },
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => Err(refused("delete", def, ns, name, e)),
        }
    }

    /// Adds a finalizer if missing (no-op while deleting).
    pub fn ensure_finalizer(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        finalizer: &str,
    ) -> SimResult<()> {
        self.mutate(def, ns, name, Sub::Main, |o| {
            if is_deleting(o) || finalizers(o).iter().any(|f| f == finalizer) {
                return false;
            }
            let mut f: Vec<Value> = o
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            f.push(json!(finalizer));
            o["metadata"]["finalizers"] = Value::Array(f);
            true
        })
        .map(|_| ())
    }

    /// Removes a finalizer.
    pub fn remove_finalizer(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        finalizer: &str,
    ) -> SimResult<()> {
        self.mutate(def, ns, name, Sub::Main, |o| {
            crate::controllers::drop_finalizer(o, finalizer)
        })
        .map(|_| ())
    }

    /// Makes `obj` belong to `cluster` as the real controllers do: the cluster-name label and a
    /// (non-controller) owner reference, written only when one is missing.
    pub fn belong_to_cluster(&self, def: &ResourceDef, obj: &Value, cluster: &Value) -> SimResult<()> {
        let cluster_name = s(obj, "/spec/clusterName");
        let has_owner = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|r| r["kind"] == "Cluster"));
        if has_owner && label(obj, CLUSTER_NAME_LABEL) == Some(cluster_name) {
            return Ok(());
        }
        let owner = owner_ref(cluster, false);
        self.mutate(
            def,
            s(obj, "/metadata/namespace"),
            s(obj, "/metadata/name"),
            Sub::Main,
            |o| {
                o["metadata"]["labels"][CLUSTER_NAME_LABEL] = json!(cluster_name);
                let mut refs: Vec<Value> = o
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if !refs.iter().any(|r| r["kind"] == "Cluster") {
                    refs.push(owner.clone());
                }
                o["metadata"]["ownerReferences"] = Value::Array(refs);
                true
            },
        )
        .map(|_| ())
    }

    /// Makes `owner` (a Cluster or ClusterClass) an owner, not the controller, of a template it
    /// or one of its objects references, as the MachineDeployment, MachineSet,
    /// KubeadmControlPlane and ClusterClass controllers do: the template then goes with it
    /// (garbage collection, `move`).
    pub fn own_template(&self, r: &ObjRef, ns: &str, owner: &Value) -> SimResult<()> {
        let Some(def) = self
            .def_of(&r.group, &r.kind)
            .filter(|_| r.kind.ends_with("Template"))
        else {
            return Ok(());
        };
        let uid = s(owner, "/metadata/uid").to_string();
        let owner = owner_ref(owner, false);
        self.mutate(&def, ns, &r.name, Sub::Main, |o| {
            let mut refs: Vec<Value> = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if refs.iter().any(|x| x["uid"] == uid.as_str()) {
                return false;
            }
            refs.push(owner.clone());
            o["metadata"]["ownerReferences"] = Value::Array(refs);
            true
        })
        .map(|_| ())
    }

    /// A reference to an object in the served generation's form.
    pub fn reference(&self, group: &str, kind: &str, name: &str, ns: &str) -> Value {
        if self.v2() {
            json!({"apiGroup": group, "kind": kind, "name": name})
        } else {
            json!({"apiVersion": self.api_version_of(group, kind), "kind": kind, "name": name, "namespace": ns})
        }
    }

    /// Writes the new-style conditions (v1beta2: `status.conditions`; v1beta1:
    /// `status.v1beta2.conditions`) and the v1beta1 ones Cluster API derives from them for
    /// `kind` in the old place (the shared table of v1beta1 equivalents). Transition times are
    /// kept when a condition's status does not change.
    pub fn set_conditions(&self, status: &mut Value, conds: Vec<Cond>, kind: &str) {
        // v1beta1 objects, core and providers alike (v1.10's schemas), keep v1beta1 conditions in
        // `status.conditions` and the metav1 ones in `status.v1beta2.conditions`.
        let (new_ptr, old_ptr) = self.condition_places();
        let old_new = status.pointer(new_ptr).cloned().unwrap_or(json!([]));
        let list: Vec<Value> = conds.iter().map(|c| c.to_json(&old_new)).collect();
        set_ptr(status, new_ptr, Value::Array(list));
        let shared: Vec<Condition> = conds.iter().map(Cond::to_shared).collect();
        let old = v1beta1_conditions::derive(kind, &shared);
        if !old.is_empty() {
            let prev = status.pointer(old_ptr).cloned().unwrap_or(json!([]));
            set_ptr(status, old_ptr, v1beta1_json(&old, &prev));
        }
    }

    /// Where the served generation keeps the new-style and the v1beta1 conditions, under
    /// `status`.
    pub fn condition_places(&self) -> (&'static str, &'static str) {
        if self.v2() {
            ("/conditions", "/deprecated/v1beta1/conditions")
        } else {
            ("/v1beta2/conditions", "/conditions")
        }
    }

    /// Writes replica counters of a `kind` object in the served generation's places, with the
    /// v1beta1 counters Cluster API keeps for that kind.
    pub fn set_counters(&self, status: &mut Value, kind: &str, c: Counters) {
        let Counters {
            replicas,
            ready,
            available,
            up_to_date,
        } = c;
        status["replicas"] = json!(replicas);
        let prefix = if self.v2() {
            status["readyReplicas"] = json!(ready);
            status["availableReplicas"] = json!(available);
            status["upToDateReplicas"] = json!(up_to_date);
            "/deprecated/v1beta1/"
        } else {
            set_ptr(status, "/v1beta2/readyReplicas", json!(ready));
            set_ptr(status, "/v1beta2/availableReplicas", json!(available));
            set_ptr(status, "/v1beta2/upToDateReplicas", json!(up_to_date));
            "/"
        };
        for counter in v1beta1_conditions::counters(kind) {
            let n = match counter {
                Counter::Ready => ready,
                Counter::Available => available,
                Counter::Updated => up_to_date,
                Counter::Unavailable => (replicas - available).max(0),
                Counter::FullyLabeled => replicas,
            };
            set_ptr(status, &format!("{prefix}{}", counter.field()), json!(n));
        }
    }
}

/// Replica counters of an owner of Machines.
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    /// Replicas that exist.
    pub replicas: i64,
    /// Of those, ready.
    pub ready: i64,
    /// Of those, available.
    pub available: i64,
    /// Of those, up to date.
    pub up_to_date: i64,
}

fn refused(verb: &'static str, def: &ResourceDef, ns: &str, name: &str, source: ApiError) -> SimError {
    SimError {
        verb,
        kind: def.kind.clone(),
        namespace: ns.to_string(),
        name: name.to_string(),
        source,
    }
}

/// A condition to write.
#[derive(Debug, Clone)]
pub struct Cond {
    /// Type.
    pub t: &'static str,
    /// Status.
    pub status: &'static str,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

/// How many of an owner's Machines (or a pool's instances) exist, are ready and up to date.
#[derive(Debug, Clone, Copy)]
pub struct MachineCounts {
    /// Machines that exist.
    pub replicas: i64,
    /// Of those, ready.
    pub ready: i64,
    /// Of those, up to date.
    pub up_to_date: i64,
    /// What is counted, in messages: `Machines`, or `instances` for a MachinePool.
    pub noun: &'static str,
}

impl MachineCounts {
    /// Counts of Machines (not pool instances).
    pub fn machines(replicas: i64, ready: i64, up_to_date: i64) -> MachineCounts {
        MachineCounts {
            replicas,
            ready,
            up_to_date,
            noun: "Machines",
        }
    }
}

impl Cond {
    /// A condition: `ok` picks True/False and the matching reason.
    pub fn new(
        t: &'static str,
        ok: bool,
        reason_true: &str,
        reason_false: &str,
        message: impl Into<String>,
    ) -> Cond {
        let message = if ok { String::new() } else { message.into() };
        Cond {
            t,
            status: if ok { "True" } else { "False" },
            reason: (if ok { reason_true } else { reason_false }).into(),
            message,
        }
    }

    /// A negative-polarity condition (`Deleting`, `Paused`, `RollingOut`...): True when `on`.
    pub fn flag(
        t: &'static str,
        on: bool,
        reason_on: &str,
        reason_off: &str,
        message: impl Into<String>,
    ) -> Cond {
        let message = if on { message.into() } else { String::new() };
        Cond {
            t,
            status: if on { "True" } else { "False" },
            reason: (if on { reason_on } else { reason_off }).into(),
            message,
        }
    }

    /// A flag condition that is off (`X=False`, reason `NotX`), as an idle object reports it.
    pub fn off(t: &'static str) -> Cond {
        Cond::flag(t, false, t, &format!("Not{t}"), "")
    }

    /// `ScalingUp` and `ScalingDown` of an object with `replicas` of `desired`.
    pub fn scaling(replicas: i64, desired: i64) -> [Cond; 2] {
        [
            Cond::flag(
                "ScalingUp",
                replicas < desired,
                "ScalingUp",
                "NotScalingUp",
                format!("Scaling up from {replicas} to {desired} replicas"),
            ),
            Cond::flag(
                "ScalingDown",
                replicas > desired,
                "ScalingDown",
                "NotScalingDown",
                format!("Scaling down from {replicas} to {desired} replicas"),
            ),
        ]
    }

    /// The replica conditions every owner of Machines reports (control plane, MachineDeployment,
    /// MachineSet, MachinePool): `MachinesReady`, `MachinesUpToDate` and `RollingOut`.
    pub fn replicas(c: &MachineCounts, rolling: bool) -> [Cond; 3] {
        let MachineCounts {
            replicas,
            ready,
            up_to_date,
            noun,
        } = *c;
        let units = if noun == "Machines" { "replicas" } else { noun };
        [
            Cond::new(
                "MachinesReady",
                ready >= replicas,
                "Ready",
                "NotReady",
                format!("{} of {replicas} {noun} are not ready", replicas - ready),
            ),
            Cond::new(
                "MachinesUpToDate",
                up_to_date >= replicas,
                "UpToDate",
                "NotUpToDate",
                format!(
                    "{} of {replicas} {noun} are not up to date",
                    replicas - up_to_date
                ),
            ),
            Cond::flag(
                "RollingOut",
                rolling,
                "RollingOut",
                "NotRollingOut",
                format!(
                    "Rolling out {} not up-to-date {units}",
                    (replicas - up_to_date).max(0)
                ),
            ),
        ]
    }

    /// An Unknown condition.
    pub fn unknown(t: &'static str, reason: &str, message: impl Into<String>) -> Cond {
        Cond {
            t,
            status: "Unknown",
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn to_shared(&self) -> Condition {
        Condition {
            type_: self.t.to_string(),
            status: self.status.to_string(),
            reason: self.reason.clone(),
            message: self.message.clone(),
            ..Default::default()
        }
    }

    fn to_json(&self, old: &Value) -> Value {
        // metav1.Condition always carries a message (the CRDs require it), empty or not.
        json!({"type": self.t, "status": self.status, "reason": self.reason, "message": self.message,
               "lastTransitionTime": keep_time(old, self.t, self.status)})
    }
}

/// v1beta1 conditions as stored: empty reason, severity and message left out (the v1beta1
/// schemas want one character or more), transition times kept from `prev`.
pub fn v1beta1_json(conds: &[Condition], prev: &Value) -> Value {
    conds
        .iter()
        .map(|c| {
            let mut v = json!({"type": c.type_, "status": c.status,
                               "lastTransitionTime": keep_time(prev, &c.type_, &c.status)});
            for (k, x) in [
                ("severity", &c.severity),
                ("reason", &c.reason),
                ("message", &c.message),
            ] {
                if !x.is_empty() {
                    v[k] = json!(x);
                }
            }
            v
        })
        .collect()
}

fn keep_time(old: &Value, t: &str, status: &str) -> String {
    old.as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == t))
        .filter(|c| c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string))
        .unwrap_or_else(time::now_rfc3339)
}

/// Sets `field` of `obj` to the `{version, replicas}` list of `versions` (empty versions left
/// out), or removes it when there are none: upstream's schemas want at least one item, and
/// Cluster API's controllers omit an empty list.
pub fn set_versions<'a>(
    obj: &mut Value,
    field: &str,
    versions: impl IntoIterator<Item = (&'a String, &'a i64)>,
) {
    let list: Vec<Value> = versions
        .into_iter()
        .filter(|(v, n)| !v.is_empty() && **n > 0)
        .map(|(v, n)| json!({"version": v, "replicas": n}))
        .collect();
    if let Some(o) = obj.as_object_mut() {
        if list.is_empty() {
            o.remove(field);
        } else {
            o.insert(field.into(), Value::Array(list));
        }
    }
}

/// Sets a value at a JSON pointer, creating objects on the way.
pub fn set_ptr(root: &mut Value, ptr: &str, v: Value) {
    let parts: Vec<&str> = ptr.trim_start_matches('/').split('/').collect();
    let mut cur = root;
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else { return };
        if i + 1 == parts.len() {
            m.insert((*p).to_string(), v);
            return;
        }
        cur = m
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// How many of `objs` have condition `t` True.
pub fn count_true(objs: &[Value], v2: bool, t: &str) -> i64 {
    objs.iter().filter(|o| cond_true(o, v2, true, t)).count() as i64
}

/// Whether a condition of the new-style list is True.
pub fn cond_true(obj: &Value, v2: bool, _core: bool, t: &str) -> bool {
    let ptr = if v2 {
        "/status/conditions"
    } else {
        "/status/v1beta2/conditions"
    };
    obj.pointer(ptr)
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|c| c["type"] == t && c["status"] == "True"))
}

/// Five random characters, as generateName uses.
pub fn suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| CHARS[rand::random::<u8>() as usize % CHARS.len()] as char)
        .collect()
}

/// A short stable hash of a value (template hashes).
pub fn hash(v: &Value) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(v.to_string().as_bytes());
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    d.iter()
        .take(5)
        .map(|b| CHARS[*b as usize % CHARS.len()] as char)
        .collect()
}
