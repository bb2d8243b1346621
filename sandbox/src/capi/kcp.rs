//! KubeadmControlPlane: creates control plane Machines (with their KubeadmConfigs and
//! infrastructure machines cloned from the machine template) one at a time, scales up and down,
//! rolls out one Machine at a time when the version, the infrastructure template or
//! `rollout.after` changes, remediates Machines a health check marked, keeps counters, versions
//! and conditions, and publishes the workload cluster's kubeconfig and CA secrets once
//! initialised.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use capi_shared::capi::object::obj_ref;
use serde_json::{Value, json};

use super::action::{Action, SimResult};
use super::ctx::Ctx;
use super::kit::{
    Cond, Counters, Kind, MachineCounts, annotation, cond_true, count_true, is_deleting, label, owner_ref, s,
    suffix,
};
use super::machine::cluster_paused;
use crate::api::resource::ResourceDef;
use crate::http::tls::{Ca, Usage};
use capi_shared::capi::labels::{
    CLONED_FROM_GROUPKIND_ANNOTATION, CLONED_FROM_NAME_ANNOTATION, CLUSTER_NAME_LABEL, CONTROL_PLANE_LABEL,
    CONTROL_PLANE_NAME_LABEL, KCP_CLEANUP_HOOK_ANNOTATION, PAUSED_ANNOTATION, SECRET_TYPE,
};
use capi_shared::version::release_of;

const FINALIZER: &str = "kubeadm.controlplane.cluster.x-k8s.io";

/// The machine template's infrastructure reference of a KubeadmControlPlane, either generation.
pub fn infra_template_ptr(v2: bool) -> &'static str {
    if v2 {
        "/spec/machineTemplate/spec/infrastructureRef"
    } else {
        "/spec/machineTemplate/infrastructureRef"
    }
}

/// `rollout.after` (v1beta2) or `rolloutAfter` (v1beta1).
pub fn rollout_after(o: &Value) -> Option<String> {
    o.pointer("/spec/rollout/after")
        .or_else(|| o.pointer("/spec/rolloutAfter"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Whether a rollout.after time has passed and the machine predates it.
pub fn rolled_after(after: Option<&str>, machine: &Value) -> bool {
    let Some(after) = after.and_then(crate::store::time::parse) else {
        return false;
    };
    if after > jiff::Timestamp::now() {
        return false;
    }
    crate::store::time::parse(s(machine, "/metadata/creationTimestamp")).is_some_and(|c| c < after)
}

/// Clones an infrastructure template into an infrastructure machine named `name`.
pub fn clone_infra(
    sim: &Ctx,
    ns: &str,
    template: &capi_shared::capi::object::ObjRef,
    name: &str,
    labels: &Value,
    owner: &Value,
) -> SimResult<Option<Value>> {
    let kit = &sim.kit;
    let kind = template.kind.trim_end_matches("Template").to_string();
    let found = kit.def_of(&template.group, &template.kind).and_then(|tdef| {
        let t = kit.get_def(&tdef, ns, &template.name)?;
        Some((t, kit.def_of(&template.group, &kind)?))
    });
    let Some((t, def)) = found else { return Ok(None) };
    let spec = t.pointer("/spec/template/spec").cloned().unwrap_or(json!({}));
    let obj = json!({
        "apiVersion": def.api_version(&def.storage_version), "kind": kind,
        "metadata": {"name": name, "namespace": ns, "labels": labels,
            "annotations": {CLONED_FROM_NAME_ANNOTATION: template.name, CLONED_FROM_GROUPKIND_ANNOTATION: format!("{}.{}", template.kind, template.group)},
            "ownerReferences": [owner_ref(owner, true)]},
        "spec": spec,
    });
    kit.create(&def, ns, obj, None).map(Some)
}

/// The template an infrastructure machine was cloned from.
pub fn cloned_from(sim: &Ctx, ns: &str, machine: &Value) -> Option<String> {
    let r = obj_ref(machine, "/spec/infrastructureRef")?;
    let d = sim.kit.def_of(&r.group, &r.kind)?;
    let o = sim.kit.get_def(&d, ns, &r.name)?;
    annotation(&o, CLONED_FROM_NAME_ANNOTATION).map(str::to_string)
}

fn machine_ready(m: &Value, v2: bool) -> bool {
    cond_true(m, v2, true, "Ready")
}

fn needs_remediation(m: &Value, v2: bool) -> bool {
    let ptr = if v2 {
        "/status/conditions"
    } else {
        "/status/v1beta2/conditions"
    };
    m.pointer(ptr).and_then(Value::as_array).is_some_and(|a| {
        a.iter()
            .any(|c| c["type"] == "OwnerRemediated" && c["status"] == "False")
    })
}

/// Reconciles one KubeadmControlPlane.
pub fn reconcile(sim: &mut Ctx, ns: &str, name: &str) -> SimResult {
    let kit = sim.kit.clone();
    let v2 = kit.v2();
    let (Some(def), Some(mdef)) = (kit.def(Kind::KubeadmControlPlane), kit.def(Kind::Machine)) else {
        return Ok(Action::AwaitChange);
    };
    let Some(kcp) = kit.get_def(&def, ns, name) else {
        return Ok(Action::AwaitChange);
    };
    let cluster_name = label(&kcp, CLUSTER_NAME_LABEL)
        .map(str::to_string)
        .or_else(|| {
            super::kit::controller_owner(&kcp)
                .filter(|(k, _)| k == "Cluster")
                .map(|(_, n)| n)
        })
        .unwrap_or_default();
    let cluster = kit.get(Kind::Cluster, ns, &cluster_name);
    let selector = format!("{CLUSTER_NAME_LABEL}={cluster_name},{CONTROL_PLANE_NAME_LABEL}={name}");
    let machines = kit.list_def(&mdef, ns, &selector);
    if is_deleting(&kcp) {
        for m in &machines {
            if !is_deleting(m) {
                kit.delete(&mdef, ns, s(m, "/metadata/name"))?;
            }
        }
        write_status(sim, &kcp, &machines, None, &cluster_name)?;
        if machines.is_empty() {
            kit.remove_finalizer(&def, ns, name, FINALIZER)?;
            return Ok(Action::AwaitChange);
        }
        return Ok(Action::requeue(Duration::from_millis(50)));
    }
    kit.ensure_finalizer(&def, ns, name, FINALIZER)?;
    let Some(cluster) = cluster else {
        return Ok(Action::requeue(sim.scaled(1.0)));
    };
    if cluster_paused(Some(&cluster)) || annotation(&kcp, PAUSED_ANNOTATION).is_some() {
        return Ok(Action::AwaitChange);
    }
    let desired = kcp
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let version = s(&kcp, "/spec/version").to_string();
    let template = obj_ref(&kcp, infra_template_ptr(v2));
    if let Some(t) = &template {
        kit.own_template(t, ns, &cluster)?;
    }
    let after = rollout_after(&kcp);
    let active: Vec<&Value> = machines.iter().filter(|m| !is_deleting(m)).collect();
    let deleting = machines.len() - active.len();
    let up_to_date = |m: &Value| -> bool {
        s(m, "/spec/version") == version
            && template
                .as_ref()
                .is_none_or(|t| cloned_from(sim, ns, m).is_none_or(|c| c == t.name))
            && !rolled_after(after.as_deref(), m)
    };
    let outdated: Vec<&Value> = active.iter().copied().filter(|m| !up_to_date(m)).collect();
    let all_ready = active.iter().all(|m| machine_ready(m, v2));
    let infra_ready = super::machine::cluster_infra_ready(&cluster);
    // Mark each machine up to date or not (the owner sets UpToDate).
    for m in &active {
        super::machine::set_up_to_date(
            sim,
            m,
            up_to_date(m),
            "* Version, infrastructure template or rollout.after changed",
        )?;
    }
    // Remediation: replace one marked machine at a time, keeping etcd quorum.
    if deleting == 0
        && let Some(bad) = active.iter().find(|m| needs_remediation(m, v2))
    {
        let healthy = active.iter().filter(|m| machine_ready(m, v2)).count();
        if active.len() == 1 || healthy > desired / 2 {
            kit.delete(&mdef, ns, s(bad, "/metadata/name"))?;
            return Ok(Action::requeue(Duration::from_millis(20)));
        }
    }
    if infra_ready && deleting == 0 && all_ready {
        if active.len() < desired || (!outdated.is_empty() && active.len() <= desired) {
            // Scale up, or surge one up-to-date machine for the rollout.
            create_machine(sim, &kcp, &cluster, &template, active.is_empty())?;
        } else if active.len() > desired {
            // Scale down (or finish a rollout step): outdated first, then the oldest.
            let mut candidates: Vec<&Value> = if outdated.is_empty() {
                active.clone()
            } else {
                outdated.clone()
            };
            candidates.sort_by_key(|m| s(m, "/metadata/creationTimestamp").to_string());
            if let Some(victim) = candidates.first() {
                kit.delete(&mdef, ns, s(victim, "/metadata/name"))?;
            }
        }
    }
    // Counted from the spec just compared, not from the Machines' UpToDate conditions as read
    // (set above, after the read): a changed version must never look rolled out.
    let fresh = active.len() - outdated.len();
    let initialized = write_status(sim, &kcp, &machines, Some(fresh as i64), &cluster_name)?;
    if initialized {
        ensure_secrets(sim, &kcp, &cluster)?;
    }
    if active.len() != desired || !outdated.is_empty() || !all_ready || deleting > 0 {
        return Ok(Action::requeue(sim.scaled(0.5)));
    }
    Ok(Action::AwaitChange)
}

/// Whether KubeadmControlPlane turns on kubeadm's `ControlPlaneKubeletLocalMode` for a
/// version: from Kubernetes v1.31, where the gate exists, it does for every control-plane config.
fn kubelet_local_mode(version: &str) -> bool {
    release_of(version).is_some_and(|(major, minor, _)| (major, minor) >= (1, 31))
}

fn create_machine(
    sim: &Ctx,
    kcp: &Value,
    cluster: &Value,
    template: &Option<capi_shared::capi::object::ObjRef>,
    first: bool,
) -> SimResult<()> {
    let kit = &sim.kit;
    let ns = s(kcp, "/metadata/namespace").to_string();
    let kcp_name = s(kcp, "/metadata/name").to_string();
    let cluster_name = s(cluster, "/metadata/name").to_string();
    let name = format!("{kcp_name}-{}", suffix());
    let mut labels = kcp
        .pointer("/spec/machineTemplate/metadata/labels")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    labels[CLUSTER_NAME_LABEL] = json!(cluster_name);
    labels[CONTROL_PLANE_LABEL] = json!("");
    labels[CONTROL_PLANE_NAME_LABEL] = json!(kcp_name);
    let (Some(mdef), Some(bdef)) = (kit.def(Kind::Machine), kit.def(Kind::KubeadmConfig)) else {
        return Ok(());
    };
    let mut infra_ref = Value::Null;
    if let Some(t) = template {
        if clone_infra(sim, &ns, t, &name, &labels, kcp)?.is_none() {
            return Ok(());
        }
        infra_ref = kit.reference(&t.group, t.kind.trim_end_matches("Template"), &name, &ns);
    }
    let spec = kcp
        .pointer("/spec/kubeadmConfigSpec")
        .cloned()
        .unwrap_or(json!({}));
    let mut boot_spec = json!({});
    for k in [
        "clusterConfiguration",
        "files",
        "preKubeadmCommands",
        "postKubeadmCommands",
        "users",
        "ntp",
        "format",
    ] {
        if let Some(v) = spec.get(k) {
            boot_spec[k] = v.clone();
        }
    }
    // The first Machine inits, the others join; an empty configuration is left out (as Cluster
    // API leaves it: the schema wants at least one field in it).
    let key = if first {
        "initConfiguration"
    } else {
        "joinConfiguration"
    };
    if let Some(c) = spec
        .get(key)
        .filter(|c| c.as_object().is_some_and(|o| !o.is_empty()))
    {
        boot_spec[key] = c.clone();
    }
    // A joining control-plane Machine says so (kubeadm joins it as a control-plane node).
    if !first && boot_spec.pointer("/joinConfiguration/controlPlane").is_none() {
        boot_spec["joinConfiguration"]["controlPlane"] = json!({});
    }
    if kubelet_local_mode(s(kcp, "/spec/version")) {
        boot_spec["clusterConfiguration"]["featureGates"]["ControlPlaneKubeletLocalMode"] = json!(true);
    }
    let boot = json!({"apiVersion": bdef.api_version(&bdef.storage_version), "kind": "KubeadmConfig",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner_ref(kcp, true)]}, "spec": boot_spec});
    kit.create(&bdef, &ns, boot, None)?;
    // v1beta2 lists failure domains, v1beta1 maps them by name; only control plane ones count.
    let failure_domains: Vec<String> = match cluster.pointer("/status/failureDomains") {
        Some(Value::Array(a)) => a
            .iter()
            .filter(|f| f.get("controlPlane").and_then(Value::as_bool) != Some(false))
            .filter_map(|f| f.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
        Some(Value::Object(m)) => m
            .iter()
            .filter(|(_, f)| f.get("controlPlane").and_then(Value::as_bool) != Some(false))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => vec![],
    };
    let mut mspec = json!({
        "clusterName": cluster_name,
        "version": kcp["spec"]["version"],
        "bootstrap": {"configRef": kit.reference("bootstrap.cluster.x-k8s.io", "KubeadmConfig", &name, &ns)},
        "infrastructureRef": infra_ref,
    });
    // Spread like KCP does: the failure domain with the fewest of this control plane's machines.
    let selector = format!("{CONTROL_PLANE_NAME_LABEL}={}", s(kcp, "/metadata/name"));
    let existing = kit.list(Kind::Machine, &ns, &selector);
    let fd = failure_domains.iter().min_by_key(|fd| {
        existing
            .iter()
            .filter(|m| !is_deleting(m) && s(m, "/spec/failureDomain") == fd.as_str())
            .count()
    });
    if let Some(fd) = fd {
        mspec["failureDomain"] = json!(fd);
    }
    mspec["readinessGates"] = super::machine::KCP_MACHINE_CONDITIONS
        .iter()
        .map(|(t, _)| json!({"conditionType": t}))
        .collect();
    super::machine::default_deletion(&mut mspec, kit.v2());
    let machine = json!({"apiVersion": mdef.api_version(&mdef.storage_version), "kind": "Machine",
        "metadata": {"name": name, "namespace": ns, "labels": labels,
            "annotations": {KCP_CLEANUP_HOOK_ANNOTATION: ""},
            "ownerReferences": [owner_ref(kcp, true)]}, "spec": mspec});
    kit.create(&mdef, &ns, machine, None)?;
    Ok(())
}

/// Writes counters, versions and conditions; returns whether the control plane is initialised.
/// `up_to_date` overrides the count read from the Machines' UpToDate conditions.
fn write_status(
    sim: &Ctx,
    kcp: &Value,
    machines: &[Value],
    up_to_date: Option<i64>,
    cluster_name: &str,
) -> SimResult<bool> {
    let kit = &sim.kit;
    let v2 = kit.v2();
    let Some(def) = kit.def(Kind::KubeadmControlPlane) else {
        return Ok(false);
    };
    let ns = s(kcp, "/metadata/namespace").to_string();
    let name = s(kcp, "/metadata/name").to_string();
    let desired = kcp.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let replicas = machines.len() as i64;
    let ready = machines.iter().filter(|m| machine_ready(m, v2)).count() as i64;
    let available = count_true(machines, v2, "Available");
    let up_to_date = up_to_date.unwrap_or_else(|| {
        machines
            .iter()
            .filter(|m| !is_deleting(m) && cond_true(m, v2, true, "UpToDate"))
            .count() as i64
    });
    let was_initialized = kcp
        .pointer("/status/initialization/controlPlaneInitialized")
        .and_then(Value::as_bool)
        == Some(true)
        || kcp.pointer("/status/initialized").and_then(Value::as_bool) == Some(true);
    let initialized = was_initialized || ready > 0;
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    for m in machines {
        *versions.entry(s(m, "/spec/version").to_string()).or_default() += 1;
    }
    let lowest = versions.keys().min_by_key(|v| release_of(v)).cloned();
    let quorum = ready > desired / 2;
    let conds = conditions(&Tally {
        desired,
        replicas,
        ready,
        up_to_date,
        initialized,
        deleting: is_deleting(kcp),
    });
    let generation = kcp.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    kit.update_status(&def, &ns, &name, |st, _| {
        kit.set_counters(
            st,
            "KubeadmControlPlane",
            Counters {
                replicas,
                ready,
                available,
                up_to_date,
            },
        );
        st["selector"] = json!(format!(
            "{CLUSTER_NAME_LABEL}={cluster_name},{CONTROL_PLANE_LABEL}"
        ));
        st["observedGeneration"] = generation.clone();
        if let Some(l) = &lowest {
            st["version"] = json!(l);
        }
        if v2 {
            st["initialization"] = json!({"controlPlaneInitialized": initialized});
            super::kit::set_versions(st, "versions", &versions);
        } else {
            st["initialized"] = json!(initialized);
            st["ready"] = json!(initialized && quorum);
        }
        kit.set_conditions(st, conds.clone(), "KubeadmControlPlane");
    })?;
    Ok(initialized)
}

/// A control plane's numbers, as its status reports them.
#[derive(Clone, Copy)]
struct Tally {
    desired: i64,
    replicas: i64,
    ready: i64,
    up_to_date: i64,
    initialized: bool,
    deleting: bool,
}

/// A KubeadmControlPlane's conditions in the order Cluster API writes them.
fn conditions(t: &Tally) -> Vec<Cond> {
    let Tally {
        desired,
        replicas,
        ready,
        up_to_date,
        initialized,
        deleting,
    } = *t;
    let rolling = up_to_date < replicas;
    let quorum = ready > desired / 2;
    let [machines_ready, machines_up_to_date, rolling_out] =
        Cond::replicas(&MachineCounts::machines(replicas, ready, up_to_date), rolling);
    vec![
        Cond::new(
            "Available",
            initialized && quorum && !deleting,
            "Available",
            "NotAvailable",
            format!(
                "* EtcdClusterHealthy: {ready} of {desired} members healthy, quorum needs {}",
                desired / 2 + 1
            ),
        ),
        Cond::new(
            "Initialized",
            initialized,
            "Initialized",
            "NotInitialized",
            "waiting for the first control plane machine",
        ),
        Cond::new("CertificatesAvailable", true, "Available", "NotAvailable", ""),
        Cond::new(
            "EtcdClusterHealthy",
            initialized && quorum,
            "Healthy",
            "NotHealthy",
            "not enough healthy etcd members",
        ),
        Cond::new(
            "ControlPlaneComponentsHealthy",
            initialized && ready == replicas,
            "Healthy",
            "NotHealthy",
            "some control plane components are not healthy",
        ),
        machines_ready,
        machines_up_to_date,
        rolling_out,
        Cond::flag(
            "ScalingUp",
            replicas < desired && !deleting,
            "ScalingUp",
            "NotScalingUp",
            format!("Scaling up from {replicas} to {desired} replicas"),
        ),
        Cond::flag(
            "ScalingDown",
            replicas > desired || deleting,
            "ScalingDown",
            "NotScalingDown",
            format!("Scaling down from {replicas} to {desired} replicas"),
        ),
        Cond::off("Remediating"),
        Cond::flag(
            "Deleting",
            deleting,
            "Deleting",
            "NotDeleting",
            "deleting control plane machines",
        ),
        Cond::off("Paused"),
    ]
}

/// Writes the cluster's certificate Secrets (`-ca`, `-etcd`, `-proxy`: a CA each; `-sa`: a key
/// pair) where missing, as kubeadm's bootstrap does, then `<cluster>-kubeconfig`: a
/// `system:masters` client certificate issued by the cluster's own CA (an existing `-ca`, such as
/// one the user supplied, is used), for the workload API server.
fn ensure_secrets(sim: &Ctx, kcp: &Value, cluster: &Value) -> SimResult<()> {
    let kit = &sim.kit;
    let Some(sdef) = kit.def(Kind::Secret) else {
        return Ok(());
    };
    let ns = s(kcp, "/metadata/namespace").to_string();
    let cluster_name = s(cluster, "/metadata/name").to_string();
    let kname = format!("{cluster_name}-kubeconfig");
    if kit.get_def(&sdef, &ns, &kname).is_some() {
        return Ok(());
    }
    let owner = owner_ref(kcp, true);
    let secret = |name: &str, data: Value| {
        json!({"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": name, "namespace": ns, "labels": {CLUSTER_NAME_LABEL: cluster_name}, "ownerReferences": [owner]},
            "data": data})
    };
    for suffix in ["ca", "etcd", "proxy", "sa"] {
        let n = format!("{cluster_name}-{suffix}");
        if kit.get_def(&sdef, &ns, &n).is_some() {
            continue;
        }
        let Some(data) = key_material(suffix) else {
            return Ok(());
        };
        kit.create(&sdef, &ns, secret(&n, data), None)?;
    }
    let Some(ca) = cluster_ca(kit, &sdef, &ns, &cluster_name) else {
        tracing::warn!(cluster = %cluster_name, "the cluster's -ca secret holds no usable CA");
        return Ok(());
    };
    let Ok((cert, key)) = ca.issue("kubernetes-admin", &["system:masters"], &[], Usage::Client, 365) else {
        return Ok(());
    };
    let server = format!("{}/workload/{ns}/{cluster_name}", sim.cfg.url);
    let user = format!("{cluster_name}-admin");
    let context = format!("{user}@{cluster_name}");
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": B64.encode(&sim.cfg.server_ca)}}],
        "users": [{"name": user, "user": {"client-certificate-data": B64.encode(&cert), "client-key-data": B64.encode(&key)}}],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
    });
    let text = serde_saphyr::to_string(&kubeconfig).unwrap_or_default();
    kit.create(
        &sdef,
        &ns,
        secret(&kname, json!({"value": B64.encode(text)})),
        None,
    )?;
    sim.cfg.workloads.ensure(&ns, &cluster_name, &sim.cfg.url);
    Ok(())
}

/// New key material for a certificate Secret: a CA of its own for `ca`, `etcd` and `proxy`
/// (kubeadm's cluster, etcd and front-proxy CAs), the service-account key pair for `sa`.
fn key_material(suffix: &str) -> Option<Value> {
    if suffix == "sa" {
        let key = rcgen::KeyPair::generate().ok()?;
        return Some(
            json!({"tls.crt": B64.encode(key.public_key_pem()), "tls.key": B64.encode(key.serialize_pem())}),
        );
    }
    let common_name = match suffix {
        "etcd" => "etcd-ca",
        "proxy" => "front-proxy-ca",
        _ => "kubernetes",
    };
    let ca = Ca::generate(common_name).ok()?;
    Some(json!({"tls.crt": B64.encode(&ca.cert_pem), "tls.key": B64.encode(&ca.key_pem)}))
}

/// The CA in a cluster's `-ca` Secret.
fn cluster_ca(kit: &super::kit::Kit, sdef: &ResourceDef, ns: &str, cluster: &str) -> Option<Ca> {
    let secret = kit.get_def(sdef, ns, &format!("{cluster}-ca"))?;
    let field = |k: &str| {
        let bytes = B64.decode(secret["data"][k].as_str()?).ok()?;
        String::from_utf8(bytes).ok()
    };
    let cert_pem = field("tls.crt")?;
    let common_name = crate::http::tls::common_name_of_pem(&cert_pem)?;
    Some(Ca {
        key_pem: field("tls.key")?,
        cert_pem,
        common_name,
    })
}
