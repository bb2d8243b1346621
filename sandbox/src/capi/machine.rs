//! Machines, with the bootstrap config and infrastructure machine they reference: bootstrap data
//! once the cluster allows it, provisioning, the Node joining the workload cluster, phases
//! (Pending, Provisioning, Provisioned, Running, Deleting), conditions, and teardown.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use capi_shared::capi::object::obj_ref;
use serde_json::{Value, json};

use super::action::{Action, SimResult};
use super::ctx::{Ctx, delay};
use super::deletion_hooks::{self, Point};
use super::kit::{
    Cond, Kind, annotation, controller_owner, is_deleting, label, owner_ref, s, set_ptr, v1beta1_json,
};
use super::{dev_provider, stuck, workload};
use crate::api::resource::ResourceDef;
use crate::api::rest::Sub;
use capi_shared::capi::labels::{
    CERTIFICATES_EXPIRY_ANNOTATION, CLUSTER_NAME_LABEL, CONTROL_PLANE_LABEL, KCP_CLEANUP_HOOK_ANNOTATION,
    PAUSED_ANNOTATION, SECRET_TYPE,
};
use capi_shared::capi::{Condition, v1beta1_conditions};

const FINALIZER: &str = "machine.cluster.x-k8s.io";

/// The conditions KubeadmControlPlane sets on its Machines (with their reason when True),
/// which are also its Machines' readiness gates (managed etcd).
pub const KCP_MACHINE_CONDITIONS: [(&str, &str); 5] = [
    ("APIServerPodHealthy", "Running"),
    ("ControllerManagerPodHealthy", "Running"),
    ("SchedulerPodHealthy", "Running"),
    ("EtcdPodHealthy", "Running"),
    ("EtcdMemberHealthy", "Healthy"),
];

/// Whether an infrastructure object (cluster or machine) reports provisioned, either contract.
pub fn provisioned(o: &Value) -> bool {
    o.pointer("/status/initialization/provisioned")
        .and_then(Value::as_bool)
        == Some(true)
        || o.pointer("/status/ready").and_then(Value::as_bool) == Some(true)
}

/// Whether a bootstrap config has its data, either contract.
fn bootstrap_ready(o: &Value) -> bool {
    o.pointer("/status/initialization/dataSecretCreated")
        .and_then(Value::as_bool)
        == Some(true)
        || o.pointer("/status/ready").and_then(Value::as_bool) == Some(true)
}

/// Sets conditions (type, reason), all True, and `Paused=False`, of a provider object in its
/// contract's places: a v1beta2 object has metav1 conditions in `status.conditions` and the
/// v1beta1 ones Cluster API derives from them (the shared table) under
/// `status.deprecated.v1beta1`; a v1beta1 object has the v1beta1 ones in `status.conditions`
/// and the metav1 ones in `status.v1beta2.conditions`. Kinds the table does not know keep a
/// v1beta1 twin of every condition.
fn set_true_conditions(obj: &Value, st: &mut Value, conds: &[(&str, &str)]) {
    let now = crate::store::time::now_rfc3339();
    let condition = |t: &str, status: &str, reason: &str| Condition {
        type_: t.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        ..Default::default()
    };
    let mut new: Vec<Condition> = conds.iter().map(|(t, r)| condition(t, "True", r)).collect();
    new.push(condition("Paused", "False", "NotPaused"));
    let kind = s(obj, "/kind");
    let old: Vec<Condition> = if v1beta1_conditions::rules(kind).is_empty() {
        conds.iter().map(|(t, _)| condition(t, "True", "")).collect()
    } else {
        v1beta1_conditions::derive(kind, &new)
    };
    let new: Vec<Value> = new
        .iter()
        .map(|c| json!({"type": c.type_, "status": c.status, "reason": c.reason, "message": "", "lastTransitionTime": now}))
        .collect();
    let (new_ptr, old_ptr) = if s(obj, "/apiVersion").ends_with("/v1beta1") {
        ("/v1beta2/conditions", "/conditions")
    } else {
        ("/conditions", "/deprecated/v1beta1/conditions")
    };
    let prev = st.pointer(old_ptr).cloned().unwrap_or(json!([]));
    set_ptr(st, new_ptr, Value::Array(new));
    if !old.is_empty() {
        set_ptr(st, old_ptr, v1beta1_json(&old, &prev));
    }
}

/// The conditions (type, reason) a provisioned infrastructure object reports: the Dev
/// provider's in-memory backend one per simulated stage (none on its DevCluster), other
/// providers `Ready` and `Provisioned`.
fn provider_conditions(o: &Value) -> Vec<(&'static str, &'static str)> {
    match s(o, "/kind") {
        "DevCluster" => vec![],
        "DevMachine" => {
            let mut c = vec![
                ("Ready", "Ready"),
                ("VMProvisioned", "Provisioned"),
                ("NodeProvisioned", "Provisioned"),
            ];
            if label(o, CONTROL_PLANE_LABEL).is_some() {
                c.extend([
                    ("EtcdProvisioned", "Provisioned"),
                    ("APIServerProvisioned", "Provisioned"),
                ]);
            }
            c
        }
        _ => vec![("Ready", "Ready"), ("Provisioned", "Provisioned")],
    }
}

/// Cluster API's default of how long a Machine's deletion waits for its Node (10 s), which its
/// webhook sets on every new Machine whose spec says nothing.
pub fn default_deletion(spec: &mut Value, v2: bool) {
    if v2 {
        if spec.pointer("/deletion/nodeDeletionTimeoutSeconds").is_none() {
            set_ptr(spec, "/deletion/nodeDeletionTimeoutSeconds", json!(10));
        }
    } else if spec.get("nodeDeletionTimeout").is_none() {
        spec["nodeDeletionTimeout"] = json!("10s");
    }
}

/// Status of a provisioned infrastructure object, in both contracts' fields.
pub fn provisioned_status(old: &Value, extra: Value) -> Value {
    let mut st = old.get("status").cloned().unwrap_or(json!({}));
    st["initialization"] = json!({"provisioned": true});
    st["ready"] = json!(true);
    set_true_conditions(old, &mut st, &provider_conditions(old));
    if let (Some(st), Some(extra)) = (st.as_object_mut(), extra.as_object()) {
        st.extend(extra.clone());
    }
    st
}

/// Whether a cluster (and, for control-plane objects, nothing else) is paused.
pub fn cluster_paused(cluster: Option<&Value>) -> bool {
    cluster.is_some_and(|c| {
        c.pointer("/spec/paused").and_then(Value::as_bool) == Some(true)
            || annotation(c, PAUSED_ANNOTATION).is_some()
    })
}

/// Whether the cluster's infrastructure is provisioned, either generation.
pub fn cluster_infra_ready(c: &Value) -> bool {
    c.pointer("/status/initialization/infrastructureProvisioned")
        .and_then(Value::as_bool)
        == Some(true)
        || c.pointer("/status/infrastructureReady").and_then(Value::as_bool) == Some(true)
}

/// Whether the cluster's control plane is initialised, either generation.
pub fn cluster_cp_initialized(c: &Value) -> bool {
    c.pointer("/status/initialization/controlPlaneInitialized")
        .and_then(Value::as_bool)
        == Some(true)
        || c.pointer("/status/controlPlaneReady").and_then(Value::as_bool) == Some(true)
}

fn ip_of(name: &str) -> String {
    let h = super::kit::hash(&json!(name));
    let b: Vec<u8> = h.bytes().collect();
    format!("10.{}.{}.{}", b[0] % 250, b[1] % 250, 2 + b[2] % 250)
}

/// Reconciles one Machine.
pub fn reconcile(sim: &mut Ctx, ns: &str, name: &str) -> SimResult {
    let Some(mut p) = MachinePass::new(sim, ns, name) else {
        return Ok(Action::AwaitChange);
    };
    if is_deleting(&p.m) {
        return p.delete();
    }
    let (kit, def) = (p.sim.kit.clone(), p.def.clone());
    kit.ensure_finalizer(&def, ns, name, FINALIZER)?;
    if label(&p.m, CLUSTER_NAME_LABEL) != Some(p.cluster_name.as_str()) && !p.cluster_name.is_empty() {
        kit.mutate(&def, ns, name, Sub::Main, |o| {
            o["metadata"]["labels"][CLUSTER_NAME_LABEL] = json!(p.cluster_name);
            true
        })?;
    }
    if cluster_paused(p.cluster.as_ref()) || annotation(&p.m, PAUSED_ANNOTATION).is_some() {
        write_paused(p.sim, &p.m)?;
        return Ok(Action::AwaitChange);
    }
    p.adopt_providers()?;
    let boot_ok = p.bootstrap()?;
    let infra_ok = p.provision_infrastructure(boot_ok)?;
    let node_ready = p.join_node(infra_ok)?;
    let phase = match (&node_ready, infra_ok, boot_ok) {
        (Some(_), _, _) => Phase::Running,
        (None, true, _) => Phase::Provisioned,
        (None, false, true) => Phase::Provisioning,
        _ => Phase::Pending,
    };
    write_status(p.sim, &p.m, phase, node_ready.as_deref())?;
    p.copy_certificates_expiry()?;
    Ok(Action::requeue(match phase {
        // Node health lives in the workload cluster, which sends no events here: look again
        // from time to time.
        Phase::Running => p.sim.scaled(5.0).max(Duration::from_millis(500)),
        _ => p.wait.unwrap_or(p.sim.scaled(0.5)),
    }))
}

/// One pass over a Machine: it, its cluster, its bootstrap config and infrastructure machine
/// (with their definitions), and the soonest time a stage becomes due.
struct MachinePass<'a> {
    sim: &'a mut Ctx,
    def: std::sync::Arc<ResourceDef>,
    m: Value,
    ns: String,
    name: String,
    uid: String,
    cluster_name: String,
    cluster: Option<Value>,
    is_cp: bool,
    infra: Option<(std::sync::Arc<ResourceDef>, Value)>,
    boot: Option<(std::sync::Arc<ResourceDef>, Value)>,
    wait: Option<Duration>,
}

impl<'a> MachinePass<'a> {
    fn new(sim: &'a mut Ctx, ns: &str, name: &str) -> Option<MachinePass<'a>> {
        let kit = sim.kit.clone();
        let def = kit.def(Kind::Machine)?;
        let m = kit.get_def(&def, ns, name)?;
        let cluster_name = s(&m, "/spec/clusterName").to_string();
        let provider = |ptr: &str| {
            let r = obj_ref(&m, ptr)?;
            let d = kit.def_of(&r.group, &r.kind)?;
            let o = kit.get_def(&d, ns, &r.name)?;
            Some((d, o))
        };
        Some(MachinePass {
            infra: provider("/spec/infrastructureRef"),
            boot: provider("/spec/bootstrap/configRef"),
            uid: s(&m, "/metadata/uid").to_string(),
            cluster: kit.get(Kind::Cluster, ns, &cluster_name),
            is_cp: label(&m, CONTROL_PLANE_LABEL).is_some(),
            ns: ns.to_string(),
            name: name.to_string(),
            wait: None,
            sim,
            def,
            m,
            cluster_name,
        })
    }

    /// A control-plane Machine reports when its certificates expire, from its bootstrap config.
    fn copy_certificates_expiry(&self) -> SimResult<()> {
        let expiry = self
            .boot
            .as_ref()
            .and_then(|(_, b)| annotation(b, CERTIFICATES_EXPIRY_ANNOTATION))
            .filter(|_| self.is_cp);
        let Some(expiry) = expiry else {
            return Ok(());
        };
        if s(&self.m, "/status/certificatesExpiryDate") == expiry {
            return Ok(());
        }
        self.sim
            .kit
            .update_status(&self.def, &self.ns, &self.name, |st, _| {
                st["certificatesExpiryDate"] = json!(expiry);
            })?;
        Ok(())
    }

    fn soonest(&mut self, d: Duration) {
        self.wait = Some(self.wait.map_or(d, |w| w.min(d)));
    }

    fn provider_id(&self) -> String {
        format!("in-memory://{}/{}", self.ns, self.name)
    }

    /// Deleting: pre-drain hooks and the drain may hold it; then the Node leaves,
    /// KubeadmControlPlane releases its hook, other pre-terminate hooks may hold it, the
    /// infrastructure machine and bootstrap config are deleted, then the finalizer goes.
    fn delete(&mut self) -> SimResult {
        let (ns, name) = (self.ns.clone(), self.name.clone());
        if self.node_deletion_allowed() {
            if let Some(msg) = deletion_hooks::holding(&self.m, Point::PreDrain, &[]) {
                return self.hold(Point::PreDrain.reason(), &msg);
            }
            if let Some(msg) = stuck::drain_blocked(&self.m) {
                return self.hold("DrainingNode", msg);
            }
        }
        if let Err(left) = self.sim.elapsed(&self.uid, "delete", delay::DELETE) {
            write_status(self.sim, &self.m, Phase::Deleting, None)?;
            return Ok(Action::requeue(left));
        }
        if let Some(ws) = self.sim.cfg.workloads.get(&ns, &self.cluster_name) {
            workload::delete_node(&ws, &name)?;
        }
        // KubeadmControlPlane lets go of its hook once the Machine's etcd member is gone.
        if annotation(&self.m, KCP_CLEANUP_HOOK_ANNOTATION).is_some() {
            self.sim.kit.mutate(&self.def, &ns, &name, Sub::Main, |o| {
                o["metadata"]["annotations"]
                    .as_object_mut()
                    .is_some_and(|a| a.remove(KCP_CLEANUP_HOOK_ANNOTATION).is_some())
            })?;
        }
        if let Some(msg) =
            deletion_hooks::holding(&self.m, Point::PreTerminate, &[KCP_CLEANUP_HOOK_ANNOTATION])
        {
            return self.hold(Point::PreTerminate.reason(), &msg);
        }
        write_status(self.sim, &self.m, Phase::Deleting, None)?;
        let kit = &self.sim.kit;
        let mut waiting = false;
        for (d, o) in self.infra.iter().chain(self.boot.iter()) {
            waiting = true;
            if is_deleting(o) {
                dev_provider::reconcile(kit, d, o)?;
            } else {
                kit.delete(d, &ns, s(o, "/metadata/name"))?;
            }
        }
        if waiting {
            return Ok(Action::requeue(Duration::from_millis(20)));
        }
        kit.remove_finalizer(&self.def, &ns, &name, FINALIZER)?;
        Ok(Action::AwaitChange)
    }

    /// Whether Cluster API drains this Machine's Node before deleting it (and so honours its
    /// pre-drain hooks): not while the Cluster or its control plane is being deleted, not
    /// without a Node, and not once no control-plane Machine is left.
    fn node_deletion_allowed(&self) -> bool {
        let Some(cluster) = self.cluster.as_ref().filter(|c| !is_deleting(c)) else {
            return false;
        };
        if self.m.pointer("/status/nodeRef").is_none() {
            return false;
        }
        let kit = &self.sim.kit;
        let control_plane = kit.referenced(cluster, "/spec/controlPlaneRef", &self.ns);
        if control_plane.is_some_and(|(_, c)| is_deleting(&c)) {
            return false;
        }
        let selector = format!("{CLUSTER_NAME_LABEL}={},{CONTROL_PLANE_LABEL}", self.cluster_name);
        kit.list(Kind::Machine, &self.ns, &selector)
            .iter()
            .any(|m| !is_deleting(m))
    }

    /// Holds a deletion at `reason` until the Machine changes: the Deleting phase is written
    /// once, then only the held condition (which then no longer changes, so the hold is quiet).
    fn hold(&self, reason: &str, message: &str) -> SimResult {
        if s(&self.m, "/status/phase") != Phase::Deleting.as_str() {
            write_status(self.sim, &self.m, Phase::Deleting, None)?;
        }
        let want = stuck::Want {
            t: "Deleting",
            status: "True",
            reason,
            message,
        };
        stuck::set_condition(&self.sim.kit, &self.def, &self.ns, &self.name, want)?;
        Ok(Action::AwaitChange)
    }

    /// The Machine adopts its bootstrap config and infrastructure machine.
    fn adopt_providers(&self) -> SimResult<()> {
        let kit = &self.sim.kit;
        for (d, o) in self.infra.iter().chain(self.boot.iter()) {
            if controller_owner(o).is_none_or(|(k, _)| k != "Machine")
                || label(o, CLUSTER_NAME_LABEL).is_none()
            {
                let owner = owner_ref(&self.m, true);
                kit.mutate(d, &self.ns, s(o, "/metadata/name"), Sub::Main, |x| {
                    x["metadata"]["ownerReferences"] = json!([owner]);
                    x["metadata"]["labels"][CLUSTER_NAME_LABEL] = json!(self.cluster_name);
                    true
                })?;
            }
        }
        if let Some((d, i)) = &self.infra {
            dev_provider::reconcile(kit, d, i)?;
        }
        Ok(())
    }

    /// Bootstrap data: control plane machines once the infrastructure is up, workers once the
    /// control plane is initialised. Whether the Machine has it.
    fn bootstrap(&mut self) -> SimResult<bool> {
        let has_data = !s(&self.m, "/spec/bootstrap/dataSecretName").is_empty();
        if has_data || self.boot.as_ref().is_some_and(|(_, b)| bootstrap_ready(b)) {
            return Ok(true);
        }
        let Some((d, b)) = self.boot.clone() else {
            return Ok(false);
        };
        let allowed = self.cluster.as_ref().is_some_and(|c| {
            if self.is_cp {
                cluster_infra_ready(c)
            } else {
                cluster_cp_initialized(c)
            }
        });
        if !allowed {
            let later = self.sim.scaled(0.5);
            self.soonest(later);
            return Ok(false);
        }
        if let Err(left) = self.sim.elapsed(&self.uid, "bootstrap", delay::BOOTSTRAP) {
            self.soonest(left);
            return Ok(false);
        }
        let bname = s(&b, "/metadata/name").to_string();
        let endpoint = self.cluster.as_ref().map(api_endpoint).unwrap_or_default();
        write_bootstrap(self.sim, &d, &b, &self.m, &self.cluster_name)?;
        fill_kubeadm_spec(self.sim, &d, &b, self.is_cp, &endpoint)?;
        self.sim
            .kit
            .mutate(&self.def, &self.ns, &self.name, Sub::Main, |o| {
                if !s(o, "/spec/bootstrap/dataSecretName").is_empty() {
                    return false;
                }
                o["spec"]["bootstrap"]["dataSecretName"] = json!(bname);
                true
            })?;
        Ok(true)
    }

    /// The infrastructure machine is provisioned (provider ID, address) once bootstrap data
    /// exists; the Machine takes its provider ID. Whether it is provisioned.
    fn provision_infrastructure(&mut self, boot_ok: bool) -> SimResult<bool> {
        if let (Some(msg), Some((d, i))) = (stuck::infrastructure_failure(&self.m), self.infra.as_ref()) {
            let iname = s(i, "/metadata/name").to_string();
            stuck::set_condition(
                &self.sim.kit,
                d,
                &self.ns,
                &iname,
                stuck::Want {
                    t: "Ready",
                    status: "False",
                    reason: "ProvisioningFailed",
                    message: msg,
                },
            )?;
            return Ok(false);
        }
        let mut infra_ok = self.infra.as_ref().is_some_and(|(_, i)| provisioned(i));
        if boot_ok
            && !infra_ok
            && let Some((d, i)) = self.infra.clone()
        {
            match self.sim.elapsed(&self.uid, "infra", delay::INFRA_MACHINE) {
                Ok(()) => {
                    self.write_infra_provisioned(&d, &i)?;
                    infra_ok = true;
                }
                Err(left) => self.soonest(left),
            }
        }
        let in_memory = self.infra.as_ref().is_some_and(|(_, i)| dev_provider::serves(i));
        let unmarked = in_memory && annotation(&self.m, dev_provider::BOOTSTRAPPED_ANNOTATION).is_none();
        if infra_ok && (s(&self.m, "/spec/providerID").is_empty() || unmarked) {
            let pid = self.provider_id();
            self.sim
                .kit
                .mutate(&self.def, &self.ns, &self.name, Sub::Main, |o| {
                    o["spec"]["providerID"] = json!(pid);
                    if in_memory {
                        o["metadata"]["annotations"][dev_provider::BOOTSTRAPPED_ANNOTATION] = json!("");
                    }
                    true
                })?;
        }
        Ok(infra_ok)
    }

    fn write_infra_provisioned(&self, d: &ResourceDef, i: &Value) -> SimResult<()> {
        let kit = &self.sim.kit;
        let iname = s(i, "/metadata/name");
        let pid = self.provider_id();
        kit.mutate(d, &self.ns, iname, Sub::Main, |o| {
            if s(o, "/spec/providerID") == pid {
                return false;
            }
            o["spec"]["providerID"] = json!(pid);
            true
        })?;
        let addr = ip_of(&self.name);
        kit.mutate(d, &self.ns, iname, Sub::Status, |o| {
            o["status"] =
                provisioned_status(o, json!({"addresses": [{"type": "InternalIP", "address": addr}]}));
            true
        })?;
        Ok(())
    }

    /// The Node joins the workload cluster once the infrastructure is up (and is kept at the
    /// Machine's version). The Node's Ready status, once it has joined.
    fn join_node(&mut self, infra_ok: bool) -> SimResult<Option<String>> {
        let workloads = self.sim.cfg.workloads.clone();
        let (name, pid, ip) = (self.name.clone(), self.provider_id(), ip_of(&self.name));
        let version = s(&self.m, "/spec/version").to_string();
        let ws = workloads.get(&self.ns, &self.cluster_name);
        let node_ready = ws.as_ref().and_then(|w| workload::node_ready(w, &name));
        if stuck::no_node(&self.m) {
            if let (Some(w), true) = (ws.as_ref(), node_ready.is_some()) {
                workload::delete_node(w, &name)?;
            }
            return Ok(None);
        }
        if infra_ok && node_ready.is_none() {
            if let Err(left) = self.sim.elapsed(&self.uid, "node", delay::NODE) {
                self.soonest(left);
                return Ok(None);
            }
            let ws = workloads.ensure(&self.ns, &self.cluster_name, &self.sim.cfg.url);
            workload::upsert_node(&ws, &name, &version, &pid, self.is_cp, &ip)?;
            return Ok(workload::node_ready(&ws, &name));
        }
        if let (Some(w), true) = (ws.as_ref(), node_ready.is_some()) {
            workload::upsert_node(w, &name, &version, &pid, self.is_cp, &ip)?;
            if let Some(msg) = stuck::node_not_ready(&self.m) {
                workload::set_node_ready(w, &name, "False", stuck::NOT_READY_REASON, msg)?;
            }
            return Ok(workload::node_ready(w, &name));
        }
        Ok(node_ready)
    }
}

/// The bootstrap data Secret of a KubeadmConfig, as the kubeadm bootstrap provider writes it:
/// named after the config, owned by it, labelled with the cluster.
pub fn bootstrap_secret(ns: &str, name: &str, cluster: &str, owner: Value) -> Value {
    let data = format!("## bootstrap data of {name} (simulated by capi-sandbox)\n#cloud-config\n");
    json!({"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
        "metadata": {"name": name, "namespace": ns, "labels": {CLUSTER_NAME_LABEL: cluster}, "ownerReferences": [owner]},
        "data": {"value": B64.encode(data), "format": B64.encode("cloud-config")}})
}

fn write_bootstrap(
    sim: &Ctx,
    def: &crate::api::resource::ResourceDef,
    b: &Value,
    m: &Value,
    cluster: &str,
) -> SimResult<()> {
    let kit = &sim.kit;
    let ns = s(m, "/metadata/namespace").to_string();
    let bname = s(b, "/metadata/name").to_string();
    if let Some(sdef) = kit.def(Kind::Secret)
        && kit.get_def(&sdef, &ns, &bname).is_none()
    {
        // The kubeadm bootstrap controller makes its config the Secret's controller without
        // blocking the config's deletion on it.
        let mut owner = owner_ref(b, true);
        owner["blockOwnerDeletion"] = json!(false);
        let secret = bootstrap_secret(&ns, &bname, cluster, owner);
        kit.create(&sdef, &ns, secret, None)?;
    }
    kit.mutate(def, &ns, &bname, Sub::Status, |o| {
        let mut st = o.get("status").cloned().unwrap_or(json!({}));
        st["dataSecretName"] = json!(bname);
        st["observedGeneration"] = o.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
        st["initialization"] = json!({"dataSecretCreated": true});
        st["ready"] = json!(true);
        set_true_conditions(
            o,
            &mut st,
            &[
                ("Ready", "Ready"),
                ("CertificatesAvailable", "Available"),
                ("DataSecretAvailable", "Available"),
            ],
        );
        o["status"] = st;
        true
    })?;
    Ok(())
}

/// The cluster's API endpoint as kubeadm takes it, `host:port`.
fn api_endpoint(cluster: &Value) -> String {
    let ep = cluster
        .pointer("/spec/controlPlaneEndpoint")
        .unwrap_or(&Value::Null);
    match (s(ep, "/host"), ep.get("port").and_then(Value::as_i64)) {
        ("", _) => String::new(),
        (h, Some(p)) => format!("{h}:{p}"),
        (h, None) => h.to_string(),
    }
}

/// Lowercase hex of the SHA-256 of `seed`.
fn sha256_hex(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(seed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the kubeadm bootstrap controller writes into a KubeadmConfig's spec when it renders the
/// data: the init configuration gets the cluster's endpoint; a joining one (every worker, every
/// control-plane Machine after the first) the bootstrap token discovery: endpoint, CA hash and
/// a token (`[a-z0-9]{6}.[a-z0-9]{16}`, derived from the config so passes agree). A control
/// plane's configs also get their certificates' expiry, a year on, as KubeadmControlPlane
/// annotates them.
fn fill_kubeadm_spec(sim: &Ctx, def: &ResourceDef, b: &Value, is_cp: bool, endpoint: &str) -> SimResult<()> {
    if s(b, "/kind") != "KubeadmConfig" {
        return Ok(());
    }
    let ns = s(b, "/metadata/namespace").to_string();
    let name = s(b, "/metadata/name").to_string();
    let joining = !is_cp || b.pointer("/spec/joinConfiguration").is_some();
    let seed = sha256_hex(s(b, "/metadata/uid"));
    let token = format!("{}.{}", &seed[..6], &seed[6..22]);
    let ca_hash = format!(
        "sha256:{}",
        sha256_hex(&format!("{ns}/{}", label(b, CLUSTER_NAME_LABEL).unwrap_or("")))
    );
    let expiry =
        crate::store::time::format_ts(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365));
    sim.kit.mutate(def, &ns, &name, Sub::Main, |o| {
        let before = o.clone();
        if !endpoint.is_empty() {
            if joining {
                let d = &mut o["spec"]["joinConfiguration"]["discovery"]["bootstrapToken"];
                if d.get("token").is_none() {
                    *d = json!({"apiServerEndpoint": endpoint, "caCertHashes": [ca_hash], "token": token});
                }
            } else if o
                .pointer("/spec/clusterConfiguration/controlPlaneEndpoint")
                .is_none()
            {
                o["spec"]["clusterConfiguration"]["controlPlaneEndpoint"] = json!(endpoint);
            }
        }
        if is_cp && annotation(o, CERTIFICATES_EXPIRY_ANNOTATION).is_none() {
            o["metadata"]["annotations"][CERTIFICATES_EXPIRY_ANNOTATION] = json!(expiry);
        }
        *o != before
    })?;
    Ok(())
}

/// Lifecycle phases of a Machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for bootstrap data.
    Pending,
    /// Bootstrap data ready, infrastructure provisioning.
    Provisioning,
    /// Infrastructure ready, waiting for the Node.
    Provisioned,
    /// The Node is up.
    Running,
    /// Being deleted.
    Deleting,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Provisioning => "Provisioning",
            Phase::Provisioned => "Provisioned",
            Phase::Running => "Running",
            Phase::Deleting => "Deleting",
        }
    }
}

fn carried(m: &Value, v2: bool, t: &str) -> Option<Cond> {
    let ptr = if v2 {
        "/status/conditions"
    } else {
        "/status/v1beta2/conditions"
    };
    let c = m.pointer(ptr)?.as_array()?.iter().find(|c| c["type"] == t)?;
    let status = match c["status"].as_str()? {
        "True" => "True",
        "False" => "False",
        _ => "Unknown",
    };
    Some(Cond {
        t: leak(t),
        status,
        reason: s(c, "/reason").to_string(),
        message: s(c, "/message").to_string(),
    })
}

fn leak(t: &str) -> &'static str {
    match t {
        "UpToDate" => "UpToDate",
        "HealthCheckSucceeded" => "HealthCheckSucceeded",
        "OwnerRemediated" => "OwnerRemediated",
        _ => "Unknown",
    }
}

fn write_paused(sim: &Ctx, m: &Value) -> SimResult<()> {
    let kit = &sim.kit;
    let Some(def) = kit.def(Kind::Machine) else {
        return Ok(());
    };
    let v2 = kit.v2();
    kit.mutate(&def, s(m, "/metadata/namespace"), s(m, "/metadata/name"), Sub::Status, |o| {
        let ptr = if v2 { "/status/conditions" } else { "/status/v1beta2/conditions" };
        let Some(list) = o.pointer_mut(ptr).and_then(Value::as_array_mut) else { return false };
        let Some(p) = list.iter_mut().find(|c| c["type"] == "Paused") else { return false };
        if p["status"] == "True" {
            return false;
        }
        *p = json!({"type": "Paused", "status": "True", "reason": "Paused", "message": "", "lastTransitionTime": crate::store::time::now_rfc3339()});
        true
    })?;
    Ok(())
}

/// Which stages of a Machine's life are done, as its status reports them.
struct Stages {
    boot_ok: bool,
    infra_ok: bool,
    node_ok: bool,
    health_ok: bool,
    deleting: bool,
}

impl Stages {
    fn of(m: &Value, phase: Phase, node_ready: Option<&str>, health: Option<&Cond>) -> Stages {
        Stages {
            infra_ok: matches!(phase, Phase::Provisioned | Phase::Running)
                || (phase == Phase::Deleting && m.pointer("/status/nodeRef").is_some()),
            boot_ok: !matches!(phase, Phase::Pending) || !s(m, "/spec/bootstrap/dataSecretName").is_empty(),
            node_ok: node_ready == Some("True"),
            health_ok: health.is_none_or(|h| h.status != "False"),
            deleting: phase == Phase::Deleting,
        }
    }

    fn ready(&self) -> bool {
        self.boot_ok && self.infra_ok && self.node_ok && self.health_ok && !self.deleting
    }

    /// Why the Machine is not Ready: one `* Condition: why` line per stage not done.
    fn not_ready_reasons(&self, name: &str, node_ready: Option<&str>, health: Option<&Cond>) -> Vec<String> {
        let mut reasons = vec![];
        if !self.boot_ok {
            reasons.push("* BootstrapConfigReady: waiting for bootstrap data".to_string());
        }
        if !self.infra_ok {
            reasons.push(
                "* InfrastructureReady: waiting for the infrastructure machine to be provisioned".to_string(),
            );
        }
        if self.infra_ok && node_ready.is_none() && !self.deleting {
            reasons.push("* NodeHealthy: waiting for a Node with spec.providerID to join".to_string());
        } else if node_ready.is_some() && !self.node_ok {
            reasons.push(format!("* NodeHealthy: Node {name} is not ready"));
        }
        if !self.health_ok {
            reasons.push(format!(
                "* HealthCheckSucceeded: {}",
                health.map(|h| h.message.clone()).unwrap_or_default()
            ));
        }
        if self.deleting {
            reasons.push("* Deleting: Machine deletion in progress".to_string());
        }
        reasons
    }
}

/// NodeReady and NodeHealthy: from the Node's Ready condition once it joined, Unknown before.
fn node_conditions(node_ready: Option<&str>, name: &str) -> [Cond; 2] {
    match node_ready {
        Some(r) => [
            Cond::new(
                "NodeReady",
                r == "True",
                "NodeReady",
                "NodeNotReady",
                format!("Node Ready condition is {r}"),
            ),
            Cond::new(
                "NodeHealthy",
                r == "True",
                "NodeHealthy",
                "NodeNotHealthy",
                format!("Node {name} is not ready"),
            ),
        ],
        None => [
            Cond::unknown("NodeReady", "NodeDoesNotExist", "waiting for a Node to join"),
            Cond::unknown("NodeHealthy", "NodeDoesNotExist", "waiting for a Node to join"),
        ],
    }
}

/// What KubeadmControlPlane reports on its Machines once their Node is ready: the static pods'
/// and the etcd member's health (its readiness gates) and the kubeadm labels and taints set.
fn control_plane_conditions(node_ready: Option<&str>) -> Vec<Cond> {
    let up = node_ready == Some("True");
    let mut conds: Vec<Cond> = KCP_MACHINE_CONDITIONS
        .iter()
        .map(|(t, reason)| {
            if up {
                Cond::new(t, true, reason, "", "")
            } else {
                Cond::unknown(t, "InspectionFailed", "Waiting for the Node to be ready")
            }
        })
        .collect();
    conds.push(match node_ready {
        Some(_) => Cond::new("NodeKubeadmLabelsAndTaintsSet", true, "Set", "", ""),
        None => Cond::unknown(
            "NodeKubeadmLabelsAndTaintsSet",
            "NodeDoesNotExist",
            "waiting for a Node to join",
        ),
    });
    conds
}

/// A Machine's conditions in the order Cluster API writes them.
fn conditions(m: &Value, v2: bool, stages: &Stages, node_ready: Option<&str>, name: &str) -> Vec<Cond> {
    let health = carried(m, v2, "HealthCheckSucceeded");
    let ready = stages.ready();
    let reasons = stages.not_ready_reasons(name, node_ready, health.as_ref());
    let mut conds = vec![
        Cond::new(
            "Available",
            ready,
            "Available",
            "NotAvailable",
            "* Ready: condition is not True",
        ),
        Cond::new("Ready", ready, "Ready", "NotReady", reasons.join("\n")),
        carried(m, v2, "UpToDate")
            .unwrap_or_else(|| Cond::new("UpToDate", true, "UpToDate", "NotUpToDate", "")),
        Cond::new(
            "BootstrapConfigReady",
            stages.boot_ok,
            "Ready",
            "NotReady",
            "waiting for bootstrap data",
        ),
        Cond::new(
            "InfrastructureReady",
            stages.infra_ok,
            "Ready",
            "NotReady",
            "waiting for the infrastructure machine",
        ),
    ];
    conds.extend(node_conditions(node_ready, name));
    if label(m, CONTROL_PLANE_LABEL).is_some() {
        conds.extend(control_plane_conditions(node_ready));
    }
    conds.extend(health);
    conds.extend(carried(m, v2, "OwnerRemediated"));
    conds.push(Cond::off("Updating"));
    conds.push(Cond::flag(
        "Deleting",
        stages.deleting,
        "Deleting",
        "NotDeleting",
        "Machine deletion in progress",
    ));
    conds.push(Cond::off("Paused"));
    conds
}

fn write_status(sim: &Ctx, m: &Value, phase: Phase, node_ready: Option<&str>) -> SimResult<()> {
    let kit = &sim.kit;
    let Some(def) = kit.def(Kind::Machine) else {
        return Ok(());
    };
    let v2 = kit.v2();
    let ns = s(m, "/metadata/namespace").to_string();
    let name = s(m, "/metadata/name").to_string();
    let health = carried(m, v2, "HealthCheckSucceeded");
    let stages = Stages::of(m, phase, node_ready, health.as_ref());
    let Stages {
        boot_ok,
        infra_ok,
        deleting,
        ..
    } = stages;
    let conds = conditions(m, v2, &stages, node_ready, &name);
    let ws = sim.cfg.workloads.get(&ns, s(m, "/spec/clusterName"));
    let node_info = ws.as_ref().and_then(|w| {
        let d = w.api.registry.get("", "nodes")?;
        w.api.get_stored(&d, None, &name).map(|n| n.value())
    });
    let generation = m.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    kit.update_status(&def, &ns, &name, |st, o| {
        if st["phase"] != phase.as_str() {
            st["lastUpdated"] = json!(crate::store::time::now_rfc3339());
        }
        st["phase"] = json!(phase.as_str());
        st["observedGeneration"] = generation.clone();
        if v2 {
            st["initialization"] =
                json!({"bootstrapDataSecretCreated": boot_ok, "infrastructureProvisioned": infra_ok});
        } else {
            st["bootstrapReady"] = json!(boot_ok);
            st["infrastructureReady"] = json!(infra_ok);
        }
        if let Some(n) = &node_info {
            st["nodeRef"] = if v2 {
                json!({"name": name})
            } else {
                json!({"apiVersion": "v1", "kind": "Node", "name": name, "uid": n["metadata"]["uid"]})
            };
            st["nodeInfo"] = n.pointer("/status/nodeInfo").cloned().unwrap_or(json!({}));
            st["addresses"] = n.pointer("/status/addresses").cloned().unwrap_or(json!([]));
        } else if !deleting && let Some(o) = st.as_object_mut() {
            o.remove("nodeRef");
        }
        if let Some(fd) = o.pointer("/spec/failureDomain").and_then(Value::as_str) {
            st["failureDomain"] = json!(fd);
        }
        kit.set_conditions(st, conds.clone(), "Machine");
    })?;
    Ok(())
}

/// Sets a Machine's `UpToDate` condition (in the served generation's list) when it changes;
/// `why_not` is the message of `False`.
pub fn set_up_to_date(sim: &Ctx, m: &Value, ok: bool, why_not: &str) -> SimResult<()> {
    let kit = &sim.kit;
    let rel = if kit.v2() {
        "/conditions"
    } else {
        "/v1beta2/conditions"
    };
    let now = m
        .pointer(&format!("/status{rel}"))
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|c| c["type"] == "UpToDate"))
        .and_then(|c| c["status"].as_str());
    if now == Some(if ok { "True" } else { "False" }) {
        return Ok(());
    }
    let Some(def) = kit.def(Kind::Machine) else {
        return Ok(());
    };
    kit.mutate(&def, s(m, "/metadata/namespace"), s(m, "/metadata/name"), Sub::Status, |o| {
        let mut st = o.get("status").cloned().unwrap_or(json!({}));
        let mut list: Vec<Value> = st.pointer(rel).and_then(Value::as_array).cloned().unwrap_or_default();
        let (status, reason, message) = if ok { ("True", "UpToDate", "") } else { ("False", "NotUpToDate", why_not) };
        let c = json!({"type": "UpToDate", "status": status, "reason": reason, "message": message, "lastTransitionTime": crate::store::time::now_rfc3339()});
        match list.iter_mut().find(|x| x["type"] == "UpToDate") {
            Some(x) => *x = c,
            None => list.push(c),
        }
        super::kit::set_ptr(&mut st, rel, Value::Array(list));
        o["status"] = st;
        true
    })?;
    Ok(())
}
