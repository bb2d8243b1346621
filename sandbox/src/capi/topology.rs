//! ClusterClass topologies: a Cluster with `spec.topology` gets its infrastructure cluster,
//! control plane, MachineDeployments, health checks and per-cluster copies of the class
//! templates created from the class. Replicas, `rollout.after` and the version follow the
//! topology; a version change moves the control plane first (through every minor the class lists
//! in `kubernetesVersions`), then the MachineDeployments, `upgrade-concurrency` at a time.

use std::time::Duration;

use capi_shared::capi::class::{class_of, listed_versions, steps};
use capi_shared::capi::object::{ObjRef, obj_ref};
use serde_json::{Value, json};

use super::kit::{
    Cond, Kind, annotation, cond_true, hash, is_deleting, label, owner_ref, s, set_ptr, suffix,
};
use super::sim::Sim;
use crate::rest::Sub;
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
    sim: &Sim,
    cluster: &Value,
    class_ns: &str,
    t: &ObjRef,
    role: &str,
) -> Result<ObjRef, String> {
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
        kit.create(&def, ns, obj, None).map_err(|e| e.message)?;
    }
    Ok(ObjRef {
        group: t.group.clone(),
        version: Some(def.storage_version.clone()),
        kind: t.kind.clone(),
        name,
    })
}

/// Creates an object of a template's kind (minus `Template`) from the template's
/// `spec.template.spec`.
fn instantiate(
    sim: &Sim,
    cluster: &Value,
    class_ns: &str,
    t: &ObjRef,
    name: &str,
    spec_patch: impl FnOnce(&mut Value),
) -> Result<ObjRef, String> {
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
            "ownerReferences": [owner_ref(cluster, true)]},
        "spec": spec,
    });
    kit.create(&def, ns, obj, None).map_err(|e| e.message)?;
    Ok(ObjRef {
        group: t.group.clone(),
        version: None,
        kind,
        name: name.to_string(),
    })
}

/// Reconciles a topology; returns when to look again. Errors are reported by
/// [`reconciled_condition`].
pub fn reconcile(sim: &mut Sim, cluster: &Value) -> Option<Duration> {
    match reconcile_inner(sim, cluster) {
        Ok(after) => after,
        Err(_) => Some(sim.scaled(1.0)),
    }
}

fn reconcile_inner(sim: &mut Sim, cluster: &Value) -> Result<Option<Duration>, String> {
    let kit = sim.kit.clone();
    let v2 = kit.v2();
    let ns = s(cluster, "/metadata/namespace").to_string();
    let cname = s(cluster, "/metadata/name").to_string();
    let cdef = kit.def(Kind::Cluster).ok_or("Cluster is not served")?;
    let (class_ns, class_name) = class_of(cluster).ok_or("spec.topology names no ClusterClass")?;
    let class = kit
        .get(Kind::ClusterClass, &class_ns, &class_name)
        .ok_or_else(|| format!("ClusterClass {class_ns}/{class_name} not found"))?;
    let version = desired_version(cluster);
    let mut requeue = None;

    // Infrastructure cluster.
    if obj_ref(cluster, "/spec/infrastructureRef").is_none() {
        let t = class
            .pointer("/spec/infrastructure")
            .and_then(template_ref)
            .ok_or("the ClusterClass has no infrastructure template")?;
        let r = instantiate(
            sim,
            cluster,
            &class_ns,
            &t,
            &format!("{cname}-{}", suffix()),
            |_| {},
        )?;
        let reference = kit.reference(&r.group, &r.kind, &r.name, &ns);
        kit.mutate(&cdef, &ns, &cname, Sub::Main, |o| {
            o["spec"]["infrastructureRef"] = reference.clone();
            true
        })
        .map_err(|e| e.message)?;
    }

    // Control plane: a per-cluster copy of the machine template, then the control plane object.
    let cp_class = class.pointer("/spec/controlPlane").cloned().unwrap_or(json!({}));
    let topo_cp = cluster.pointer("/spec/topology/controlPlane").cloned();
    let machine_infra = cp_class.get("machineInfrastructure").and_then(template_ref);
    let cp_machine_template = match &machine_infra {
        Some(t) => Some(clone_template(sim, cluster, &class_ns, t, "control-plane")?),
        None => None,
    };
    let cp_machines: Vec<Value> = kit
        .list(
            Kind::Machine,
            &ns,
            &format!("{CLUSTER_NAME_LABEL}={cname},{CONTROL_PLANE_LABEL}"),
        )
        .into_iter()
        .collect();
    let cp_ref = obj_ref(cluster, "/spec/controlPlaneRef");
    let cp_def = cp_ref.as_ref().and_then(|r| kit.def_of(&r.group, &r.kind));
    let cp = cp_def
        .as_ref()
        .zip(cp_ref.as_ref())
        .and_then(|(d, r)| kit.get_def(d, &ns, &r.name));
    let infra_ptr = super::kcp::infra_template_ptr(v2);
    let replicas = topo_cp
        .as_ref()
        .and_then(|t| t.get("replicas"))
        .and_then(Value::as_i64);
    let listed = listed_versions(Some(&class));
    let hold_cp = annotation(cluster, HOLD_UPGRADE_ANNOTATION).is_some();
    match (&cp_ref, &cp) {
        (None, _) => {
            let t = template_ref(&cp_class).ok_or("the ClusterClass has no control plane template")?;
            let first = steps("", &version, &listed)
                .first()
                .cloned()
                .unwrap_or_else(|| version.clone());
            let mt = cp_machine_template.clone();
            let ns2 = ns.clone();
            let kit2 = kit.clone();
            let after = topo_cp.as_ref().and_then(section_rollout_after);
            let r = instantiate(
                sim,
                cluster,
                &class_ns,
                &t,
                &format!("{cname}-{}", suffix()),
                |spec| {
                    spec["version"] = json!(first);
                    spec["replicas"] = json!(replicas.unwrap_or(1));
                    if let Some(mt) = &mt {
                        set_ptr(
                            spec,
                            infra_ptr.trim_start_matches("/spec"),
                            kit2.reference(&mt.group, &mt.kind, &mt.name, &ns2),
                        );
                    }
                    if let Some(a) = after {
                        set_ptr(spec, if v2 { "/rollout/after" } else { "/rolloutAfter" }, a);
                    }
                },
            )?;
            let reference = kit.reference(&r.group, &r.kind, &r.name, &ns);
            kit.mutate(&cdef, &ns, &cname, Sub::Main, |o| {
                o["spec"]["controlPlaneRef"] = reference.clone();
                true
            })
            .map_err(|e| e.message)?;
        }
        (Some(r), Some(cpo)) if !is_deleting(cpo) => {
            let d = cp_def.clone().ok_or("the control plane kind is not served")?;
            // Version: one step at a time, only when the control plane is stable.
            let current = s(cpo, "/spec/version").to_string();
            let stable = cp_stable(cpo, &cp_machines, v2);
            let next = if current != version && stable && !hold_cp {
                steps(&current, &version, &listed).first().cloned()
            } else {
                None
            };
            let mt = cp_machine_template.clone();
            let after = topo_cp.as_ref().and_then(section_rollout_after);
            let kit2 = kit.clone();
            let ns2 = ns.clone();
            kit.mutate(&d, &ns, &r.name, Sub::Main, |o| {
                let before = o.clone();
                if let Some(n) = &next {
                    o["spec"]["version"] = json!(n);
                }
                if let Some(n) = replicas {
                    o["spec"]["replicas"] = json!(n);
                }
                if let Some(mt) = &mt {
                    set_ptr(o, infra_ptr, kit2.reference(&mt.group, &mt.kind, &mt.name, &ns2));
                }
                if let Some(a) = &after {
                    set_ptr(
                        o,
                        if v2 {
                            "/spec/rollout/after"
                        } else {
                            "/spec/rolloutAfter"
                        },
                        a.clone(),
                    );
                }
                *o != before
            })
            .map_err(|e| e.message)?;
            if current != version {
                requeue = Some(sim.scaled(0.5));
            }
        }
        _ => {}
    }
    // A control plane created in this pass is read back, so new workers get its version.
    let cp = match cp {
        Some(c) => Some(c),
        None => obj_ref(
            &kit.get_def(&cdef, &ns, &cname).unwrap_or(json!({})),
            "/spec/controlPlaneRef",
        )
        .and_then(|r| {
            kit.def_of(&r.group, &r.kind)
                .and_then(|d| kit.get_def(&d, &ns, &r.name))
        }),
    };
    let cp_version = cp
        .as_ref()
        .map(|c| s(c, "/spec/version").to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| version.clone());
    let cp_done = cp
        .as_ref()
        .is_some_and(|c| cp_version == version && cp_stable(c, &cp_machines, v2));

    // Health check of the control plane.
    let mut wanted_mhcs: Vec<String> = vec![];
    if let (Some(r), Some(hc)) = (&cp_ref, health_check(&cp_class, topo_cp.as_ref(), v2)) {
        let selector = json!({"matchLabels": {CLUSTER_NAME_LABEL: cname, CONTROL_PLANE_LABEL: ""}});
        ensure_mhc(sim, cluster, &r.name, selector, hc)?;
        wanted_mhcs.push(r.name.clone());
    }

    // MachineDeployments.
    let mdef = kit
        .def(Kind::MachineDeployment)
        .ok_or("MachineDeployment is not served")?;
    let existing = kit.list_def(&mdef, &ns, &format!("{CLUSTER_NAME_LABEL}={cname}"));
    let existing: Vec<Value> = existing
        .into_iter()
        .filter(|m| label(m, TOPOLOGY_DEPLOYMENT_NAME_LABEL).is_some())
        .collect();
    let classes: Vec<Value> = class
        .pointer("/spec/workers/machineDeployments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let topo_mds: Vec<Value> = cluster
        .pointer("/spec/topology/workers/machineDeployments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let concurrency: usize = annotation(cluster, UPGRADE_CONCURRENCY_ANNOTATION)
        .and_then(|c| c.parse().ok())
        .filter(|c: &usize| *c > 0)
        .unwrap_or(1);
    let upgrading = existing
        .iter()
        .filter(|m| s(m, "/spec/template/spec/version") == version && !md_settled(sim, m))
        .count();
    let mut slots = concurrency.saturating_sub(upgrading);
    let mut held = false;
    for tmd in &topo_mds {
        let mdname = s(tmd, "/name").to_string();
        let class_name = s(tmd, "/class").to_string();
        let Some(mdclass) = classes
            .iter()
            .find(|c| s(c, "/class") == class_name || s(c, "/name") == class_name)
        else {
            return Err(format!(
                "MachineDeployment class {class_name} not found in ClusterClass {class_name}"
            ));
        };
        let (boot_t, infra_t) = md_class_refs(mdclass);
        let boot = match &boot_t {
            Some(t) => Some(clone_template(
                sim,
                cluster,
                &class_ns,
                t,
                &format!("{mdname}-bootstrap"),
            )?),
            None => None,
        };
        let infra = match &infra_t {
            Some(t) => Some(clone_template(
                sim,
                cluster,
                &class_ns,
                t,
                &format!("{mdname}-infra"),
            )?),
            None => None,
        };
        let md_annotations = tmd.pointer("/metadata/annotations").cloned().unwrap_or(json!({}));
        let deferred = md_annotations.get(DEFER_UPGRADE_ANNOTATION).is_some() || held;
        if md_annotations.get(HOLD_UPGRADE_SEQUENCE_ANNOTATION).is_some() {
            held = true;
        }
        let current = existing
            .iter()
            .find(|m| label(m, TOPOLOGY_DEPLOYMENT_NAME_LABEL) == Some(mdname.as_str()));
        let md_version = match current {
            Some(m) => {
                let v = s(m, "/spec/template/spec/version").to_string();
                if v != version && cp_done && !deferred && slots > 0 {
                    slots -= 1;
                    version.clone()
                } else {
                    v
                }
            }
            None if cp_done => version.clone(),
            None => cp_version.clone(),
        };
        if current.is_some_and(|m| s(m, "/spec/template/spec/version") != version) {
            requeue = Some(sim.scaled(0.5));
        }
        let topo_labels = json!({CLUSTER_NAME_LABEL: cname, TOPOLOGY_DEPLOYMENT_NAME_LABEL: mdname});
        let mut template_spec = json!({"clusterName": cname, "version": md_version});
        if let Some(b) = &boot {
            template_spec["bootstrap"] = json!({"configRef": kit.reference(&b.group, &b.kind, &b.name, &ns)});
        }
        if let Some(i) = &infra {
            template_spec["infrastructureRef"] = kit.reference(&i.group, &i.kind, &i.name, &ns);
        }
        if let Some(fd) = tmd.get("failureDomain") {
            template_spec["failureDomain"] = fd.clone();
        }
        let replicas = tmd.get("replicas").and_then(Value::as_i64);
        let after = section_rollout_after(tmd);
        let strategy = tmd
            .pointer("/rollout/strategy")
            .or_else(|| tmd.get("strategy"))
            .cloned();
        match current {
            None => {
                let name = format!("{cname}-{mdname}-{}", suffix());
                let mut spec = json!({
                    "clusterName": cname, "replicas": replicas.unwrap_or(1),
                    "selector": {"matchLabels": topo_labels},
                    "template": {"metadata": {"labels": topo_labels}, "spec": template_spec},
                });
                if let Some(a) = after {
                    set_ptr(&mut spec, if v2 { "/rollout/after" } else { "/rolloutAfter" }, a);
                }
                if let Some(st) = strategy {
                    set_ptr(&mut spec, if v2 { "/rollout/strategy" } else { "/strategy" }, st);
                }
                let mut labels = topo_labels.clone();
                labels[TOPOLOGY_OWNED_LABEL] = json!("");
                let obj = json!({
                    "apiVersion": mdef.api_version(&mdef.storage_version), "kind": "MachineDeployment",
                    "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": md_annotations,
                        "ownerReferences": [owner_ref(cluster, false)]},
                    "spec": spec,
                });
                kit.create(&mdef, &ns, obj, None).map_err(|e| e.message)?;
                requeue = Some(sim.scaled(0.5));
            }
            Some(m) if !is_deleting(m) => {
                kit.mutate(&mdef, &ns, s(m, "/metadata/name"), Sub::Main, |o| {
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
                        set_ptr(
                            o,
                            if v2 {
                                "/spec/rollout/after"
                            } else {
                                "/spec/rolloutAfter"
                            },
                            a.clone(),
                        );
                    }
                    *o != before
                })
                .map_err(|e| e.message)?;
            }
            _ => {}
        }
        if let Some(hc) = health_check(mdclass, Some(tmd), v2) {
            let mhc_name = current.map(|m| s(m, "/metadata/name").to_string());
            if let Some(n) = mhc_name {
                let selector = json!({"matchLabels": topo_labels});
                ensure_mhc(sim, cluster, &n, selector, hc)?;
                wanted_mhcs.push(n);
            }
        }
    }
    // MachineDeployments no longer in the topology go away.
    for m in &existing {
        let n = label(m, TOPOLOGY_DEPLOYMENT_NAME_LABEL).unwrap_or("");
        if !topo_mds.iter().any(|t| s(t, "/name") == n) && !is_deleting(m) {
            let _ = kit.delete(&mdef, &ns, s(m, "/metadata/name"));
        }
    }
    // Health checks no longer wanted go away too.
    if let Some(hdef) = kit.def(Kind::MachineHealthCheck) {
        for h in kit.list_def(
            &hdef,
            &ns,
            &format!("{CLUSTER_NAME_LABEL}={cname},{TOPOLOGY_OWNED_LABEL}"),
        ) {
            if !wanted_mhcs.iter().any(|w| *w == s(&h, "/metadata/name")) {
                let _ = kit.delete(&hdef, &ns, s(&h, "/metadata/name"));
            }
        }
    }
    Ok(requeue)
}

/// Creates or updates a topology-owned MachineHealthCheck.
fn ensure_mhc(sim: &Sim, cluster: &Value, name: &str, selector: Value, hc: Value) -> Result<(), String> {
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
            kit.create(&def, ns, obj, None).map(|_| ()).map_err(|e| e.message)
        }
        Some(existing) if existing.get("spec") != Some(&spec) => kit
            .mutate(&def, ns, name, Sub::Main, |o| {
                o["spec"] = spec.clone();
                true
            })
            .map(|_| ())
            .map_err(|e| e.message),
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
fn md_settled(sim: &Sim, md: &Value) -> bool {
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
pub fn reconciled_condition(sim: &Sim, cluster: &Value) -> Option<Cond> {
    cluster.pointer("/spec/topology")?;
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
    let cp = obj_ref(cluster, "/spec/controlPlaneRef").and_then(|r| {
        kit.def_of(&r.group, &r.kind)
            .and_then(|d| kit.get_def(&d, ns, &r.name))
    });
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

fn has_older_md(sim: &Sim, md: &Value, version: &str) -> bool {
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
    sim: &Sim,
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
