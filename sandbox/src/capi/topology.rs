//! ClusterClass topologies: a Cluster with `spec.topology` gets its infrastructure cluster,
//! control plane, MachineDeployments, health checks and per-cluster copies of the class
//! templates created from the class. Replicas, `rollout.after` and the version follow the
//! topology; a version change moves the control plane first (through every minor the class lists
//! in `kubernetesVersions`), then the MachineDeployments, `upgrade-concurrency` at a time.

use std::time::Duration;

use capi_shared::capi::class::{class_of, listed_versions, steps};
use capi_shared::capi::object::{ObjRef, obj_ref};
use serde_json::{Value, json};

use super::action::{Action, SimError, SimResult};
use super::ctx::Ctx;
use super::kit::{
    Cond, Kind, annotation, cond_true, hash, is_deleting, label, owner_ref, s, set_ptr, suffix,
};
use crate::api::rest::Sub;
use capi_shared::capi::labels::{
    CLONED_FROM_GROUPKIND_ANNOTATION, CLONED_FROM_NAME_ANNOTATION, CLUSTER_NAME_LABEL, CONTROL_PLANE_LABEL,
    DEFER_UPGRADE_ANNOTATION, DEPLOYMENT_NAME_LABEL, HOLD_UPGRADE_ANNOTATION,
    HOLD_UPGRADE_SEQUENCE_ANNOTATION, TOPOLOGY_DEPLOYMENT_NAME_LABEL, TOPOLOGY_OWNED_LABEL,
    UPGRADE_CONCURRENCY_ANNOTATION,
};
use capi_shared::version::release_of;

/// A class section's template reference: `templateRef` (v1beta2) or `ref` (v1beta1).
fn template_ref(section: &Value) -> Option<ObjRef> {
    obj_ref(section, "/templateRef").or_else(|| obj_ref(section, "/ref"))
}

/// A MachineDeployment class's (bootstrap, infrastructure) template references.
fn md_class_refs(class: &Value) -> (Option<ObjRef>, Option<ObjRef>) {
    let boot = class
        .get("bootstrap")
        .and_then(template_ref)
        .or_else(|| class.pointer("/template/bootstrap").and_then(template_ref));
    let infra = class
        .get("infrastructure")
        .and_then(template_ref)
        .or_else(|| class.pointer("/template/infrastructure").and_then(template_ref));
    (boot, infra)
}

/// The topology's desired version.
fn desired_version(cluster: &Value) -> String {
    s(cluster, "/spec/topology/version").to_string()
}

/// `rollout.after` of a topology section, either generation.
fn section_rollout_after(section: &Value) -> Option<Value> {
    section
        .pointer("/rollout/after")
        .or_else(|| section.get("rolloutAfter"))
        .filter(|v| !v.is_null())
        .cloned()
}

/// The class's health check for a section as an MHC spec fragment, unless the topology turns it
/// off: v1beta2 `healthCheck{checks, remediation}` or v1beta1 `machineHealthCheck{...}`.
fn health_check(class_section: &Value, topo_section: Option<&Value>, v2: bool) -> Option<Value> {
    let enabled = topo_section
        .and_then(|t| {
            t.pointer("/healthCheck/enabled")
                .or_else(|| t.pointer("/machineHealthCheck/enable"))
        })
        .and_then(Value::as_bool);
    if enabled == Some(false) {
        return None;
    }
    let hc = class_section
        .get("healthCheck")
        .or_else(|| class_section.get("machineHealthCheck"))?;
    let mut out = json!({});
    if v2 {
        // v1beta2 shape: checks + remediation (convert a v1beta1-shaped class too).
        if let Some(c) = hc.get("checks") {
            out["checks"] = c.clone();
        } else {
            let mut checks = json!({});
            if let Some(u) = hc.get("unhealthyConditions").and_then(Value::as_array) {
                let conv: Vec<Value> = u.iter().map(|c| json!({"type": c["type"], "status": c["status"], "timeoutSeconds": go_secs(s(c, "/timeout"))})).collect();
                checks["unhealthyNodeConditions"] = Value::Array(conv);
            }
            out["checks"] = checks;
        }
        if let Some(r) = hc.get("remediation") {
            out["remediation"] = r.clone();
        }
    } else if let Some(o) = hc.as_object() {
        for k in [
            "unhealthyConditions",
            "maxUnhealthy",
            "unhealthyRange",
            "nodeStartupTimeout",
            "remediationTemplate",
        ] {
            if let Some(v) = o.get(k) {
                out[k] = v.clone();
            }
        }
        if let Some(c) = hc
            .pointer("/checks/unhealthyNodeConditions")
            .and_then(Value::as_array)
        {
            let conv: Vec<Value> = c.iter().map(|c| json!({"type": c["type"], "status": c["status"], "timeout": format!("{}s", c["timeoutSeconds"].as_i64().unwrap_or(300))})).collect();
            out["unhealthyConditions"] = Value::Array(conv);
        }
    }
    Some(out)
}

/// Seconds of a Go duration such as `300s` or `5m` (0 when unparsable).
fn go_secs(d: &str) -> i64 {
    capi_shared::duration::parse_go(d)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Copies a class template into a per-cluster template named `<cluster>-<role>-<hash>` (a new name
/// whenever the class template changes, so the change rolls out); returns a reference to it.
fn clone_template(
    sim: &Ctx,
    cluster: &Value,
    class_ns: &str,
    t: &ObjRef,
    role: &str,
) -> Result<ObjRef, TopologyError> {
    let kit = &sim.kit;
    let ns = s(cluster, "/metadata/namespace");
    let cname = s(cluster, "/metadata/name");
    let def = kit
        .def_of(&t.group, &t.kind)
        .ok_or_else(|| format!("{}.{} is not served", t.kind, t.group))?;
    let src = kit
        .get_def(&def, class_ns, &t.name)
        .ok_or_else(|| format!("{} {class_ns}/{} not found", t.kind, t.name))?;
    let spec = src.get("spec").cloned().unwrap_or(json!({}));
    let name = format!("{cname}-{role}-{}", hash(&json!([t.kind, t.name, spec])));
    if kit.get_def(&def, ns, &name).is_none() {
        let obj = json!({
            "apiVersion": def.api_version(&def.storage_version), "kind": t.kind,
            "metadata": {"name": name, "namespace": ns,
                "labels": {CLUSTER_NAME_LABEL: cname, TOPOLOGY_OWNED_LABEL: ""},
                "annotations": {CLONED_FROM_NAME_ANNOTATION: t.name, CLONED_FROM_GROUPKIND_ANNOTATION: format!("{}.{}", t.kind, t.group)},
                "ownerReferences": [owner_ref(cluster, false)]},
            "spec": spec,
        });
        kit.create(&def, ns, obj, None)?;
    }
    Ok(ObjRef {
        group: t.group.clone(),
        version: Some(def.storage_version.clone()),
        kind: t.kind.clone(),
        name,
    })
}

/// Creates an object of a template's kind (minus `Template`) from the template's
/// `spec.template.spec`, labelled as the topology's and annotated with where it was cloned from.
fn instantiate(
    sim: &Ctx,
    cluster: &Value,
    class_ns: &str,
    t: &ObjRef,
    name: &str,
    spec_patch: impl FnOnce(&mut Value),
) -> Result<ObjRef, TopologyError> {
    let kit = &sim.kit;
    let ns = s(cluster, "/metadata/namespace");
    let cname = s(cluster, "/metadata/name");
    let tdef = kit
        .def_of(&t.group, &t.kind)
        .ok_or_else(|| format!("{}.{} is not served", t.kind, t.group))?;
    let src = kit
        .get_def(&tdef, class_ns, &t.name)
        .ok_or_else(|| format!("{} {class_ns}/{} not found", t.kind, t.name))?;
    let kind = t.kind.trim_end_matches("Template").to_string();
    let def = kit
        .def_of(&t.group, &kind)
        .ok_or_else(|| format!("{kind}.{} is not served", t.group))?;
    let mut spec = src.pointer("/spec/template/spec").cloned().unwrap_or(json!({}));
    spec_patch(&mut spec);
    let obj = json!({
        "apiVersion": def.api_version(&def.storage_version), "kind": kind,
        "metadata": {"name": name, "namespace": ns, "labels": {CLUSTER_NAME_LABEL: cname, TOPOLOGY_OWNED_LABEL: ""},
            "annotations": {CLONED_FROM_NAME_ANNOTATION: t.name, CLONED_FROM_GROUPKIND_ANNOTATION: format!("{}.{}", t.kind, t.group)},
            "ownerReferences": [owner_ref(cluster, true)]},
        "spec": spec,
    });
    kit.create(&def, ns, obj, None)?;
    Ok(ObjRef {
        group: t.group.clone(),
        version: None,
        kind,
        name: name.to_string(),
    })
}

/// Reconciles a ClusterClass as Cluster API's ClusterClass controller does for its references:
/// the class becomes an owner (not the controller) of every template it names, so the
/// templates go with it (garbage collection, `move`). A paused class is left alone.
pub fn reconcile_class(sim: &mut Ctx, ns: &str, name: &str) -> SimResult {
    let Some(class) = sim.kit.get(Kind::ClusterClass, ns, name) else {
        return Ok(Action::AwaitChange);
    };
    if super::machine::cluster_paused(Some(&class)) || class.pointer("/metadata/deletionTimestamp").is_some()
    {
        return Ok(Action::AwaitChange);
    }
    for r in class_templates(&class) {
        sim.kit.own_template(&r, ns, &class)?;
    }
    Ok(Action::AwaitChange)
}

/// Every template a ClusterClass names: infrastructure, control plane (and its machines'
/// infrastructure), and each MachineDeployment and MachinePool class's bootstrap and
/// infrastructure templates.
fn class_templates(class: &Value) -> Vec<ObjRef> {
    let spec = class.get("spec").cloned().unwrap_or(Value::Null);
    let mut out: Vec<ObjRef> = [
        "/infrastructure",
        "/controlPlane",
        "/controlPlane/machineInfrastructure",
    ]
    .iter()
    .filter_map(|p| spec.pointer(p).and_then(template_ref))
    .collect();
    for p in ["/workers/machineDeployments", "/workers/machinePools"] {
        for c in spec.pointer(p).and_then(Value::as_array).into_iter().flatten() {
            let (boot, infra) = md_class_refs(c);
            out.extend(boot.into_iter().chain(infra));
        }
    }
    out
}

/// Reconciles a topology; returns when to look again. Errors are reported by
/// [`reconciled_condition`].
pub fn reconcile(sim: &mut Ctx, cluster: &Value) -> SimResult {
    match reconcile_inner(sim, cluster) {
        Ok(after) => Ok(after.into()),
        Err(TopologyError::Spec(_)) => Ok(Action::requeue(sim.scaled(1.0))),
        Err(TopologyError::Write(e)) => Err(*e),
    }
}

/// Why a topology pass stopped: the class or topology asks for what cannot be built (reported
/// by [`reconciled_condition`]; looked at again later), or a write was refused.
#[derive(Debug, thiserror::Error)]
enum TopologyError {
    #[error("{0}")]
    Spec(String),
    #[error(transparent)]
    Write(Box<SimError>),
}

impl From<SimError> for TopologyError {
    fn from(e: SimError) -> Self {
        TopologyError::Write(Box::new(e))
    }
}

impl From<String> for TopologyError {
    fn from(why: String) -> Self {
        TopologyError::Spec(why)
    }
}

impl From<&str> for TopologyError {
    fn from(why: &str) -> Self {
        TopologyError::Spec(why.to_string())
    }
}

fn reconcile_inner(sim: &mut Ctx, cluster: &Value) -> Result<Option<Duration>, TopologyError> {
    if let Some(msg) = super::stuck::topology_failure(cluster) {
        return Err(TopologyError::Spec(msg.to_string()));
    }
    let pass = Pass::new(sim, cluster)?;
    pass.label_cluster()?;
    pass.ensure_infrastructure()?;
    let cp = pass.control_plane()?;
    let mut wanted_mhcs: Vec<String> = vec![];
    if let (Some(r), Some(hc)) = (
        &cp.existing_ref,
        health_check(&pass.cp_class, pass.topo_cp.as_ref(), pass.v2),
    ) {
        let selector = json!({"matchLabels": {CONTROL_PLANE_LABEL: "", TOPOLOGY_OWNED_LABEL: ""}});
        ensure_mhc(sim, cluster, &r.name, selector, hc)?;
        wanted_mhcs.push(r.name.clone());
    }
    let workers_requeue = pass.machine_deployments(&cp, &mut wanted_mhcs)?;
    pass.remove_unwanted_health_checks(&wanted_mhcs)?;
    Ok((cp.requeue || workers_requeue).then(|| sim.scaled(0.5)))
}

/// What one pass over a topology works from: the Cluster, its class, the version it asks for.
struct Pass<'a> {
    sim: &'a Ctx,
    kit: super::kit::Kit,
    cluster: &'a Value,
    cdef: std::sync::Arc<crate::api::resource::ResourceDef>,
    class: Value,
    class_ns: String,
    ns: String,
    cname: String,
    version: String,
    v2: bool,
    /// The class's `spec.controlPlane` and the topology's `controlPlane` section.
    cp_class: Value,
    topo_cp: Option<Value>,
}

/// Where the control plane stands after this pass's changes.
struct ControlPlane {
    /// The control plane the Cluster referenced when the pass began.
    existing_ref: Option<ObjRef>,
    /// Its version (the topology's when there is none yet).
    version: String,
    /// At the topology's version and stable: the workers may follow.
    done: bool,
    /// Still moving: look again soon.
    requeue: bool,
}

impl<'a> Pass<'a> {
    fn new(sim: &'a Ctx, cluster: &'a Value) -> Result<Pass<'a>, TopologyError> {
        let kit = sim.kit.clone();
        let cdef = kit.def(Kind::Cluster).ok_or("Cluster is not served")?;
        let (class_ns, class_name) = class_of(cluster).ok_or("spec.topology names no ClusterClass")?;
        let class = kit
            .get(Kind::ClusterClass, &class_ns, &class_name)
            .ok_or_else(|| format!("ClusterClass {class_ns}/{class_name} not found"))?;
        Ok(Pass {
            sim,
            v2: kit.v2(),
            cdef,
            cp_class: class.pointer("/spec/controlPlane").cloned().unwrap_or(json!({})),
            topo_cp: cluster.pointer("/spec/topology/controlPlane").cloned(),
            class,
            class_ns,
            ns: s(cluster, "/metadata/namespace").to_string(),
            cname: s(cluster, "/metadata/name").to_string(),
            version: desired_version(cluster),
            cluster,
            kit,
        })
    }

    /// `labels` plus the cluster's name and the topology's own label.
    fn owned_labels(&self, mut labels: Value) -> Value {
        labels[CLUSTER_NAME_LABEL] = json!(self.cname);
        labels[TOPOLOGY_OWNED_LABEL] = json!("");
        labels
    }

    /// The Cluster of a topology is labelled as the objects the topology manages are.
    fn label_cluster(&self) -> Result<(), TopologyError> {
        if label(self.cluster, CLUSTER_NAME_LABEL) == Some(self.cname.as_str())
            && label(self.cluster, TOPOLOGY_OWNED_LABEL).is_some()
        {
            return Ok(());
        }
        let labels = self.owned_labels(json!({}));
        self.kit
            .mutate(&self.cdef, &self.ns, &self.cname, Sub::Main, |o| {
                for (k, v) in labels.as_object().into_iter().flatten() {
                    o["metadata"]["labels"][k] = v.clone();
                }
                true
            })
            .map(|_| ())
            .map_err(TopologyError::from)
    }

    /// Points the Cluster at a new object.
    fn set_cluster_ref(&self, field: &str, r: &ObjRef) -> Result<(), TopologyError> {
        let reference = self.kit.reference(&r.group, &r.kind, &r.name, &self.ns);
        self.kit
            .mutate(&self.cdef, &self.ns, &self.cname, Sub::Main, |o| {
                o["spec"][field] = reference.clone();
                true
            })
            .map(|_| ())
            .map_err(TopologyError::from)
    }

    fn rollout_after_ptr(&self, under_spec: bool) -> &'static str {
        match (self.v2, under_spec) {
            (true, true) => "/spec/rollout/after",
            (false, true) => "/spec/rolloutAfter",
            (true, false) => "/rollout/after",
            (false, false) => "/rolloutAfter",
        }
    }

    /// The infrastructure cluster, from the class's template, once.
    fn ensure_infrastructure(&self) -> Result<(), TopologyError> {
        if obj_ref(self.cluster, "/spec/infrastructureRef").is_some() {
            return Ok(());
        }
        let t = self
            .class
            .pointer("/spec/infrastructure")
            .and_then(template_ref)
            .ok_or("the ClusterClass has no infrastructure template")?;
        let name = format!("{}-{}", self.cname, suffix());
        let r = instantiate(self.sim, self.cluster, &self.class_ns, &t, &name, |_| {})?;
        self.set_cluster_ref("infrastructureRef", &r)
    }

    /// Control plane: a per-cluster copy of the machine template, then the control plane
    /// object, created at the first step of the version chain or moved one step at a time.
    fn control_plane(&self) -> Result<ControlPlane, TopologyError> {
        let kit = &self.kit;
        let cp_machine_template = match self.cp_class.get("machineInfrastructure").and_then(template_ref) {
            Some(t) => Some(clone_template(
                self.sim,
                self.cluster,
                &self.class_ns,
                &t,
                "control-plane",
            )?),
            None => None,
        };
        let cp_machines = kit.list(
            Kind::Machine,
            &self.ns,
            &format!("{CLUSTER_NAME_LABEL}={},{CONTROL_PLANE_LABEL}", self.cname),
        );
        let cp_ref = obj_ref(self.cluster, "/spec/controlPlaneRef");
        let cp_def = cp_ref.as_ref().and_then(|r| kit.def_of(&r.group, &r.kind));
        let cp = cp_def
            .as_ref()
            .zip(cp_ref.as_ref())
            .and_then(|(d, r)| kit.get_def(d, &self.ns, &r.name));
        let mut requeue = false;
        match (&cp_ref, &cp) {
            (None, _) => self.create_control_plane(cp_machine_template.as_ref())?,
            (Some(r), Some(cpo)) if !is_deleting(cpo) => {
                let d = cp_def.clone().ok_or("the control plane kind is not served")?;
                self.update_control_plane(&d, &r.name, cpo, &cp_machines, cp_machine_template.as_ref())?;
                requeue = s(cpo, "/spec/version") != self.version;
            }
            _ => {}
        }
        // A control plane created in this pass is read back, so new workers get its version.
        let cp = cp.or_else(|| {
            obj_ref(
                &kit.get_def(&self.cdef, &self.ns, &self.cname)
                    .unwrap_or(json!({})),
                "/spec/controlPlaneRef",
            )
            .and_then(|r| {
                kit.def_of(&r.group, &r.kind)
                    .and_then(|d| kit.get_def(&d, &self.ns, &r.name))
            })
        });
        let version = cp
            .as_ref()
            .map(|c| s(c, "/spec/version").to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.version.clone());
        let done = cp
            .as_ref()
            .is_some_and(|c| version == self.version && cp_stable(c, &cp_machines, self.v2));
        Ok(ControlPlane {
            existing_ref: cp_ref,
            version,
            done,
            requeue,
        })
    }

    fn cp_replicas(&self) -> Option<i64> {
        self.topo_cp
            .as_ref()
            .and_then(|t| t.get("replicas"))
            .and_then(Value::as_i64)
    }

    fn create_control_plane(&self, machine_template: Option<&ObjRef>) -> Result<(), TopologyError> {
        let t = template_ref(&self.cp_class).ok_or("the ClusterClass has no control plane template")?;
        let first = steps("", &self.version, &listed_versions(Some(&self.class)))
            .first()
            .cloned()
            .unwrap_or_else(|| self.version.clone());
        let infra_ptr = super::kcp::infra_template_ptr(self.v2);
        let after = self.topo_cp.as_ref().and_then(section_rollout_after);
        let replicas = self.cp_replicas();
        let name = format!("{}-{}", self.cname, suffix());
        let r = instantiate(self.sim, self.cluster, &self.class_ns, &t, &name, |spec| {
            spec["version"] = json!(first);
            spec["replicas"] = json!(replicas.unwrap_or(1));
            // The control plane's Machines carry the topology's labels.
            spec["machineTemplate"]["metadata"]["labels"] = self.owned_labels(json!({}));
            if let Some(mt) = machine_template {
                set_ptr(
                    spec,
                    infra_ptr.trim_start_matches("/spec"),
                    self.kit.reference(&mt.group, &mt.kind, &mt.name, &self.ns),
                );
            }
            if let Some(a) = after {
                set_ptr(spec, self.rollout_after_ptr(false), a);
            }
        })?;
        self.set_cluster_ref("controlPlaneRef", &r)
    }

    /// Replicas, machine template and `rollout.after` follow the topology; the version moves one
    /// step of the chain, only when the control plane is stable and no hold asks otherwise.
    fn update_control_plane(
        &self,
        def: &crate::api::resource::ResourceDef,
        name: &str,
        cpo: &Value,
        cp_machines: &[Value],
        machine_template: Option<&ObjRef>,
    ) -> Result<(), TopologyError> {
        let current = s(cpo, "/spec/version");
        let hold = annotation(self.cluster, HOLD_UPGRADE_ANNOTATION).is_some();
        let next = if current != self.version && cp_stable(cpo, cp_machines, self.v2) && !hold {
            steps(current, &self.version, &listed_versions(Some(&self.class)))
                .first()
                .cloned()
        } else {
            None
        };
        let infra_ptr = super::kcp::infra_template_ptr(self.v2);
        let after = self.topo_cp.as_ref().and_then(section_rollout_after);
        let replicas = self.cp_replicas();
        self.kit
            .mutate(def, &self.ns, name, Sub::Main, |o| {
                let before = o.clone();
                if let Some(n) = &next {
                    o["spec"]["version"] = json!(n);
                }
                if let Some(n) = replicas {
                    o["spec"]["replicas"] = json!(n);
                }
                if let Some(mt) = machine_template {
                    set_ptr(
                        o,
                        infra_ptr,
                        self.kit.reference(&mt.group, &mt.kind, &mt.name, &self.ns),
                    );
                }
                if let Some(a) = &after {
                    set_ptr(o, self.rollout_after_ptr(true), a.clone());
                }
                *o != before
            })
            .map(|_| ())
            .map_err(TopologyError::from)
    }

    /// The topology's MachineDeployments: created, kept in step (their version follows the
    /// control plane, `upgrade-concurrency` at a time, honouring defer and hold annotations),
    /// and deleted once gone from the topology. Returns whether to look again soon.
    fn machine_deployments(
        &self,
        cp: &ControlPlane,
        wanted_mhcs: &mut Vec<String>,
    ) -> Result<bool, TopologyError> {
        let kit = &self.kit;
        let mdef = kit
            .def(Kind::MachineDeployment)
            .ok_or("MachineDeployment is not served")?;
        let existing: Vec<Value> = kit
            .list_def(&mdef, &self.ns, &format!("{CLUSTER_NAME_LABEL}={}", self.cname))
            .into_iter()
            .filter(|m| label(m, TOPOLOGY_DEPLOYMENT_NAME_LABEL).is_some())
            .collect();
        let topo_mds: Vec<Value> = self
            .cluster
            .pointer("/spec/topology/workers/machineDeployments")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let concurrency: usize = annotation(self.cluster, UPGRADE_CONCURRENCY_ANNOTATION)
            .and_then(|c| c.parse().ok())
            .filter(|c: &usize| *c > 0)
            .unwrap_or(1);
        let upgrading = existing
            .iter()
            .filter(|m| s(m, "/spec/template/spec/version") == self.version && !md_settled(self.sim, m))
            .count();
        let mut rollout = Rollout {
            slots: concurrency.saturating_sub(upgrading),
            held: false,
            requeue: false,
        };
        for tmd in &topo_mds {
            let current = existing
                .iter()
                .find(|m| label(m, TOPOLOGY_DEPLOYMENT_NAME_LABEL) == Some(s(tmd, "/name")));
            if let Some(mhc) = self.machine_deployment(&mdef, tmd, current, cp, &mut rollout)? {
                wanted_mhcs.push(mhc);
            }
        }
        for m in &existing {
            let n = label(m, TOPOLOGY_DEPLOYMENT_NAME_LABEL).unwrap_or("");
            if !topo_mds.iter().any(|t| s(t, "/name") == n) && !is_deleting(m) {
                kit.delete(&mdef, &self.ns, s(m, "/metadata/name"))?;
            }
        }
        Ok(rollout.requeue)
    }

    /// One topology MachineDeployment (`tmd`), its templates and health check; returns the name
    /// of the health check it wants.
    fn machine_deployment(
        &self,
        mdef: &crate::api::resource::ResourceDef,
        tmd: &Value,
        current: Option<&Value>,
        cp: &ControlPlane,
        rollout: &mut Rollout,
    ) -> Result<Option<String>, TopologyError> {
        let mdname = s(tmd, "/name");
        let class_name = s(tmd, "/class");
        let mdclass = self
            .class
            .pointer("/spec/workers/machineDeployments")
            .and_then(Value::as_array)
            .and_then(|classes| {
                classes
                    .iter()
                    .find(|c| s(c, "/class") == class_name || s(c, "/name") == class_name)
            })
            .ok_or_else(|| {
                format!("MachineDeployment class {class_name} not found in ClusterClass {class_name}")
            })?;
        let md_annotations = tmd.pointer("/metadata/annotations").cloned().unwrap_or(json!({}));
        let md_version = rollout.version_for(tmd, current, cp, &self.version);
        if current.is_some_and(|m| s(m, "/spec/template/spec/version") != self.version) {
            rollout.requeue = true;
        }
        let topo_labels = self.owned_labels(json!({TOPOLOGY_DEPLOYMENT_NAME_LABEL: mdname}));
        let template_spec = self.md_template_spec(mdclass, tmd, &md_version)?;
        let replicas = tmd.get("replicas").and_then(Value::as_i64);
        let after = section_rollout_after(tmd);
        match current {
            None => {
                let mut spec = json!({
                    "clusterName": self.cname, "replicas": replicas.unwrap_or(1),
                    "selector": {"matchLabels": topo_labels},
                    "template": {"metadata": {"labels": topo_labels}, "spec": template_spec},
                });
                if let Some(a) = after {
                    set_ptr(&mut spec, self.rollout_after_ptr(false), a);
                }
                if let Some(st) = tmd.pointer("/rollout/strategy").or_else(|| tmd.get("strategy")) {
                    set_ptr(
                        &mut spec,
                        if self.v2 { "/rollout/strategy" } else { "/strategy" },
                        st.clone(),
                    );
                }
                let labels = topo_labels.clone();
                let obj = json!({
                    "apiVersion": mdef.api_version(&mdef.storage_version), "kind": "MachineDeployment",
                    "metadata": {"name": format!("{}-{mdname}-{}", self.cname, suffix()), "namespace": self.ns,
                        "labels": labels, "annotations": md_annotations,
                        "ownerReferences": [owner_ref(self.cluster, false)]},
                    "spec": spec,
                });
                self.kit.create(mdef, &self.ns, obj, None)?;
                rollout.requeue = true;
            }
            Some(m) if !is_deleting(m) => {
                self.kit
                    .mutate(mdef, &self.ns, s(m, "/metadata/name"), Sub::Main, |o| {
                        let before = o.clone();
                        if let Some(n) = replicas {
                            o["spec"]["replicas"] = json!(n);
                        }
                        if let Some(spec) = o
                            .pointer_mut("/spec/template/spec")
                            .and_then(Value::as_object_mut)
                            && let Some(ts) = template_spec.as_object()
                        {
                            for (k, v) in ts {
                                spec.insert(k.clone(), v.clone());
                            }
                        }
                        if let Some(a) = &after {
                            set_ptr(o, self.rollout_after_ptr(true), a.clone());
                        }
                        *o != before
                    })?;
            }
            _ => {}
        }
        let (Some(hc), Some(m)) = (health_check(mdclass, Some(tmd), self.v2), current) else {
            return Ok(None);
        };
        let name = s(m, "/metadata/name").to_string();
        ensure_mhc(
            self.sim,
            self.cluster,
            &name,
            json!({"matchLabels": {TOPOLOGY_DEPLOYMENT_NAME_LABEL: mdname, TOPOLOGY_OWNED_LABEL: ""}}),
            hc,
        )?;
        Ok(Some(name))
    }

    /// A MachineDeployment's `spec.template.spec`: version, per-cluster template copies,
    /// failure domain.
    fn md_template_spec(&self, mdclass: &Value, tmd: &Value, version: &str) -> Result<Value, TopologyError> {
        let mdname = s(tmd, "/name");
        let (boot_t, infra_t) = md_class_refs(mdclass);
        let copy = |t: &Option<ObjRef>, role: &str| -> Result<Option<ObjRef>, TopologyError> {
            t.as_ref()
                .map(|t| {
                    clone_template(
                        self.sim,
                        self.cluster,
                        &self.class_ns,
                        t,
                        &format!("{mdname}-{role}"),
                    )
                })
                .transpose()
        };
        let boot = copy(&boot_t, "bootstrap")?;
        let infra = copy(&infra_t, "infra")?;
        let mut template_spec = json!({"clusterName": self.cname, "version": version});
        if let Some(b) = &boot {
            template_spec["bootstrap"] =
                json!({"configRef": self.kit.reference(&b.group, &b.kind, &b.name, &self.ns)});
        }
        if let Some(i) = &infra {
            template_spec["infrastructureRef"] = self.kit.reference(&i.group, &i.kind, &i.name, &self.ns);
        }
        if let Some(fd) = tmd.get("failureDomain") {
            template_spec["failureDomain"] = fd.clone();
        }
        Ok(template_spec)
    }

    /// Topology-owned health checks no longer wanted go away.
    fn remove_unwanted_health_checks(&self, wanted: &[String]) -> SimResult<()> {
        let Some(hdef) = self.kit.def(Kind::MachineHealthCheck) else {
            return Ok(());
        };
        let selector = format!("{CLUSTER_NAME_LABEL}={},{TOPOLOGY_OWNED_LABEL}", self.cname);
        for h in self.kit.list_def(&hdef, &self.ns, &selector) {
            if !wanted.iter().any(|w| *w == s(&h, "/metadata/name")) {
                self.kit.delete(&hdef, &self.ns, s(&h, "/metadata/name"))?;
            }
        }
        Ok(())
    }
}

/// The workers' upgrade state across one pass: how many more may start, whether a hold
/// stopped the sequence, whether to look again soon.
struct Rollout {
    slots: usize,
    held: bool,
    requeue: bool,
}

impl Rollout {
    /// The version a MachineDeployment gets: the topology's once the control plane is done and
    /// a slot is free (unless deferred or held), else the one it has; a new one starts at the
    /// control plane's.
    fn version_for(
        &mut self,
        tmd: &Value,
        current: Option<&Value>,
        cp: &ControlPlane,
        version: &str,
    ) -> String {
        let annotations = tmd.pointer("/metadata/annotations");
        let has = |key: &str| annotations.and_then(|a| a.get(key)).is_some();
        let deferred = has(DEFER_UPGRADE_ANNOTATION) || self.held;
        if has(HOLD_UPGRADE_SEQUENCE_ANNOTATION) {
            self.held = true;
        }
        match current {
            Some(m) => {
                let v = s(m, "/spec/template/spec/version").to_string();
                if v != version && cp.done && !deferred && self.slots > 0 {
                    self.slots -= 1;
                    version.to_string()
                } else {
                    v
                }
            }
            None if cp.done => version.to_string(),
            None => cp.version.clone(),
        }
    }
}

/// Creates or updates a topology-owned MachineHealthCheck.
fn ensure_mhc(
    sim: &Ctx,
    cluster: &Value,
    name: &str,
    selector: Value,
    hc: Value,
) -> Result<(), TopologyError> {
    let kit = &sim.kit;
    let ns = s(cluster, "/metadata/namespace");
    let cname = s(cluster, "/metadata/name");
    let def = kit
        .def(Kind::MachineHealthCheck)
        .ok_or("MachineHealthCheck is not served")?;
    let mut spec = json!({"clusterName": cname, "selector": selector});
    if let (Some(sp), Some(h)) = (spec.as_object_mut(), hc.as_object()) {
        sp.extend(h.clone());
    }
    match kit.get_def(&def, ns, name) {
        None => {
            let obj = json!({
                "apiVersion": def.api_version(&def.storage_version), "kind": "MachineHealthCheck",
                "metadata": {"name": name, "namespace": ns, "labels": {CLUSTER_NAME_LABEL: cname, TOPOLOGY_OWNED_LABEL: ""},
                    "ownerReferences": [owner_ref(cluster, false)]},
                "spec": spec,
            });
            kit.create(&def, ns, obj, None)?;
            Ok(())
        }
        Some(existing) if existing.get("spec") != Some(&spec) => kit
            .mutate(&def, ns, name, Sub::Main, |o| {
                o["spec"] = spec.clone();
                true
            })
            .map(|_| ())
            .map_err(TopologyError::from),
        Some(_) => Ok(()),
    }
}

/// Whether a control plane runs its spec version everywhere, at full size, all Ready.
fn cp_stable(cp: &Value, machines: &[Value], v2: bool) -> bool {
    let version = s(cp, "/spec/version");
    let want = cp.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1) as usize;
    let active: Vec<&Value> = machines.iter().filter(|m| !is_deleting(m)).collect();
    active.len() == machines.len()
        && active.len() == want
        && active
            .iter()
            .all(|m| s(m, "/spec/version") == version && cond_true(m, v2, true, "Ready"))
}

/// Whether a MachineDeployment's Machines all run its version, at full size, all Ready.
fn md_settled(sim: &Ctx, md: &Value) -> bool {
    let v2 = sim.kit.v2();
    let ns = s(md, "/metadata/namespace");
    let name = s(md, "/metadata/name");
    let version = s(md, "/spec/template/spec/version");
    let want = md.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1) as usize;
    let machines = sim
        .kit
        .list(Kind::Machine, ns, &format!("{}={name}", DEPLOYMENT_NAME_LABEL));
    machines.len() == want
        && machines
            .iter()
            .all(|m| !is_deleting(m) && s(m, "/spec/version") == version && cond_true(m, v2, true, "Ready"))
}

/// The `TopologyReconciled` condition of a Cluster with a topology (None without one).
pub fn reconciled_condition(sim: &Ctx, cluster: &Value) -> Option<Cond> {
    cluster.pointer("/spec/topology")?;
    if let Some(msg) = super::stuck::topology_failure(cluster) {
        return Some(Cond::new("TopologyReconciled", false, "", "ReconcileFailed", msg));
    }
    let kit = &sim.kit;
    let v2 = kit.v2();
    let ns = s(cluster, "/metadata/namespace");
    let cname = s(cluster, "/metadata/name");
    let Some((class_ns, class_name)) = class_of(cluster) else {
        return Some(Cond::new(
            "TopologyReconciled",
            false,
            "",
            "ReconcileFailed",
            "spec.topology names no ClusterClass",
        ));
    };
    let Some(class) = kit.get(Kind::ClusterClass, &class_ns, &class_name) else {
        return Some(Cond::new(
            "TopologyReconciled",
            false,
            "",
            "ClusterClassNotReconciled",
            format!("ClusterClass {class_ns}/{class_name} not found"),
        ));
    };
    let version = desired_version(cluster);
    let cp = kit
        .referenced(cluster, "/spec/controlPlaneRef", ns)
        .map(|(_, c)| c);
    let Some(cp) = cp else {
        return Some(Cond::new(
            "TopologyReconciled",
            false,
            "",
            "ReconcilePending",
            "waiting for the control plane to be created",
        ));
    };
    let cp_machines = kit.list(
        Kind::Machine,
        ns,
        &format!("{CLUSTER_NAME_LABEL}={cname},{CONTROL_PLANE_LABEL}"),
    );
    let cp_version = s(&cp, "/spec/version");
    if cp_version != version || !cp_stable(&cp, &cp_machines, v2) && has_older(&cp_machines, &version) {
        let plan = steps(cp_version, &version, &listed_versions(Some(&class)));
        let msg = if cp_version == version {
            format!(
                "* Control plane {} is upgrading to {version}",
                s(&cp, "/metadata/name")
            )
        } else {
            format!(
                "* Control plane {} pending upgrade to {}",
                s(&cp, "/metadata/name"),
                plan.first().cloned().unwrap_or(version.clone())
            )
        };
        return Some(Cond::new(
            "TopologyReconciled",
            false,
            "",
            "ClusterUpgrading",
            format!("Cluster is upgrading to {version}\n{msg}"),
        ));
    }
    let mds = kit.list(
        Kind::MachineDeployment,
        ns,
        &format!("{CLUSTER_NAME_LABEL}={cname},{TOPOLOGY_DEPLOYMENT_NAME_LABEL}"),
    );
    let pending: Vec<String> = mds
        .iter()
        .filter(|m| {
            s(m, "/spec/template/spec/version") != version
                || !md_settled(sim, m) && has_older_md(sim, m, &version)
        })
        .map(|m| s(m, "/metadata/name").to_string())
        .collect();
    if !pending.is_empty() {
        return Some(Cond::new(
            "TopologyReconciled",
            false,
            "",
            "ClusterUpgrading",
            format!(
                "Cluster is upgrading to {version}\n* MachineDeployments {} upgrading",
                pending.join(", ")
            ),
        ));
    }
    let topo_count = cluster
        .pointer("/spec/topology/workers/machineDeployments")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if mds.len() < topo_count {
        return Some(Cond::new(
            "TopologyReconciled",
            false,
            "",
            "ReconcilePending",
            "waiting for MachineDeployments to be created",
        ));
    }
    Some(Cond::new(
        "TopologyReconciled",
        true,
        "ReconcileSucceeded",
        "",
        "",
    ))
}

fn has_older(machines: &[Value], version: &str) -> bool {
    machines.iter().any(|m| s(m, "/spec/version") != version)
}

fn has_older_md(sim: &Ctx, md: &Value, version: &str) -> bool {
    let ns = s(md, "/metadata/namespace");
    let name = s(md, "/metadata/name");
    has_older(
        &sim.kit
            .list(Kind::Machine, ns, &format!("{}={name}", DEPLOYMENT_NAME_LABEL)),
        version,
    )
}

/// The remaining upgrade steps of a topology Cluster: (control plane, workers).
pub fn upgrade_plan(
    sim: &Ctx,
    cluster: &Value,
    cp: Option<&Value>,
    mds: &[Value],
) -> (Vec<String>, Vec<String>) {
    if cluster.pointer("/spec/topology").is_none() {
        return (vec![], vec![]);
    }
    let kit = &sim.kit;
    let version = desired_version(cluster);
    let class = class_of(cluster).and_then(|(ns, n)| kit.get(Kind::ClusterClass, &ns, &n));
    let listed = listed_versions(class.as_ref());
    let ns = s(cluster, "/metadata/namespace");
    let cname = s(cluster, "/metadata/name");
    // The control plane's lowest running version counts, so the step in progress is listed.
    let cp_machines = kit.list(
        Kind::Machine,
        ns,
        &format!("{CLUSTER_NAME_LABEL}={cname},{CONTROL_PLANE_LABEL}"),
    );
    let lowest = cp_machines
        .iter()
        .map(|m| s(m, "/spec/version").to_string())
        .min_by_key(|v| release_of(v).unwrap_or((0, 0, 0)))
        .or_else(|| cp.map(|c| s(c, "/spec/version").to_string()))
        .unwrap_or_default();
    let cp_plan = steps(&lowest, &version, &listed);
    let workers_behind = mds.iter().any(|m| s(m, "/spec/template/spec/version") != version);
    let worker_plan = if workers_behind { vec![version] } else { vec![] };
    (cp_plan, worker_plan)
}
