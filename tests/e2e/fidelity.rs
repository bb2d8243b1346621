//! The sandbox's simulated controllers against Cluster API's real managers on one scenario:
//! `templates/demo.yaml` (a ClusterClass cluster and a hand-built one) provisioned on each, then
//! every object the plugins read reduced to facts (condition type/status/reason, label and
//! annotation keys, owner references, finalizers, the fields set under spec and status, a few
//! enumerated values) and compared per object role.
//!
//! The differences still open are listed, one per line, in `controller_differences.txt` (each
//! explained in `realstack/CONTROLLER-DIFFERENCES.md`). The test fails on a difference not listed
//! there, and on a listed one that no longer shows, so the list stays true.

use std::collections::{BTreeMap, BTreeSet};

use capi_e2e::{Backend, TestSandbox, eventually, project_root};
use serde_json::Value;

use crate::controllers::{WAIT, demo_on};

const KINDS: &[&str] = &[
    "clusters.cluster.x-k8s.io",
    "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io",
    "machinedeployments.cluster.x-k8s.io",
    "machinesets.cluster.x-k8s.io",
    "machines.cluster.x-k8s.io",
    "machinehealthchecks.cluster.x-k8s.io",
    "devclusters.infrastructure.cluster.x-k8s.io",
    "devmachines.infrastructure.cluster.x-k8s.io",
    "kubeadmconfigs.bootstrap.cluster.x-k8s.io",
    "secrets",
];

/// Values kept as facts (the rest of the fields are compared by presence only: names, times
/// and counts differ between any two runs).
const VALUED: &[&str] = &[
    "phase",
    "type",
    "provisioned",
    "controlPlaneInitialized",
    "dataSecretCreated",
    "infrastructureProvisioned",
    "bootstrapDataSecretCreated",
];

fn label<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o["metadata"]["labels"][key].as_str()
}

/// The object's role, the same on both backends: kind, cluster, and what it is for.
fn role(o: &Value) -> String {
    let kind = o["kind"].as_str().unwrap_or("");
    let cluster = label(o, "cluster.x-k8s.io/cluster-name")
        .or_else(|| o["metadata"]["name"].as_str().filter(|_| kind == "Cluster"))
        .unwrap_or("-");
    let what = if kind == "Secret" {
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        if name.starts_with(&format!("{cluster}-"))
            && !name.contains("-md-")
            && name.matches('-').count() == 1
        {
            name.trim_start_matches(&format!("{cluster}-")).to_string()
        } else {
            "bootstrap-data".to_string()
        }
    } else if label(o, "cluster.x-k8s.io/control-plane").is_some() {
        "control-plane".to_string()
    } else if label(o, "cluster.x-k8s.io/deployment-name").is_some() || kind == "MachineSet" {
        "worker".to_string()
    } else {
        String::new()
    };
    format!(
        "{kind}[{cluster}{}{what}]",
        if what.is_empty() { "" } else { "," }
    )
}

fn leaves(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if prefix.ends_with("status") && k == "conditions" || k == "managedFields" {
                    continue;
                }
                leaves(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                leaves(&format!("{prefix}[]"), x, out);
            }
        }
        _ => {
            let last = prefix.rsplit('.').next().unwrap_or("");
            if VALUED.contains(&last) {
                out.insert(format!("{prefix}={}", v.to_string().trim_matches('"')));
            } else {
                out.insert(prefix.to_string());
            }
        }
    }
}

fn facts_of(o: &Value) -> BTreeSet<String> {
    let mut f = BTreeSet::new();
    let md = &o["metadata"];
    for (k, _) in md["labels"].as_object().into_iter().flatten() {
        f.insert(format!("label {k}"));
    }
    for (k, _) in md["annotations"].as_object().into_iter().flatten() {
        if k != "kubectl.kubernetes.io/last-applied-configuration" {
            f.insert(format!("annotation {k}"));
        }
    }
    for r in md["ownerReferences"].as_array().into_iter().flatten() {
        f.insert(format!(
            "owner {} controller={} blockOwnerDeletion={}",
            r["kind"].as_str().unwrap_or(""),
            r["controller"].as_bool().unwrap_or(false),
            r["blockOwnerDeletion"].as_bool().unwrap_or(false)
        ));
    }
    for x in md["finalizers"].as_array().into_iter().flatten() {
        f.insert(format!("finalizer {}", x.as_str().unwrap_or("")));
    }
    for c in o["status"]["conditions"].as_array().into_iter().flatten() {
        f.insert(format!(
            "condition {}={} reason={}",
            c["type"].as_str().unwrap_or(""),
            c["status"].as_str().unwrap_or(""),
            c["reason"].as_str().unwrap_or("")
        ));
    }
    leaves("spec", &o["spec"], &mut f);
    leaves("status", &o["status"], &mut f);
    if o["kind"] == "Secret" {
        f.insert(format!("type {}", o["type"].as_str().unwrap_or("")));
        for (k, _) in o["data"].as_object().into_iter().flatten() {
            f.insert(format!("data {k}"));
        }
    }
    f
}

/// Every fact per role on one backend, once its clusters have settled.
fn snapshot(backend: Backend) -> BTreeMap<String, BTreeSet<String>> {
    let sb: TestSandbox = demo_on(backend);
    settle(&sb);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen = Vec::new();
    for kind in KINDS {
        let list = sb.get_json(&[kind, "-l", "cluster.x-k8s.io/cluster-name"]);
        let mut items = list["items"].as_array().cloned().unwrap_or_default();
        if *kind == "clusters.cluster.x-k8s.io" {
            items = sb.get_json(&[kind])["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        }
        for o in items {
            out.entry(role(&o)).or_default().extend(facts_of(&o));
            seen.push(o);
        }
    }
    dump(backend, &seen);
    out
}

/// With `CAPI_FIDELITY_DUMP=DIR`, writes the objects compared to `DIR/<backend>.json`: the
/// values behind the facts, for whoever settles a difference.
fn dump(backend: Backend, objects: &[Value]) {
    let Some(dir) = std::env::var_os("CAPI_FIDELITY_DUMP") else {
        return;
    };
    let path = std::path::Path::new(&dir).join(format!("{backend:?}.json").to_lowercase());
    let text = serde_json::to_string_pretty(objects).unwrap_or_default();
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
        eprintln!("CAPI_FIDELITY_DUMP: cannot write {}: {e}", path.display());
    }
}

/// Waits until the health checks have seen every Machine and every Machine is up to date: the
/// steady state both backends reach.
fn settle(sb: &TestSandbox) {
    let settled = eventually(WAIT, || {
        let hcs = sb.get_json(&["machinehealthchecks"]);
        let ms = sb.get_json(&["machines"]);
        hcs["items"].as_array().is_some_and(|a| {
            a.iter().all(|h| {
                h["status"]["expectedMachines"].as_i64().is_some()
                    && h["status"]["currentHealthy"] == h["status"]["expectedMachines"]
            })
        }) && ms["items"].as_array().is_some_and(|a| {
            a.iter().all(|m| {
                m["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "UpToDate" && c["status"] == "True")
                        && cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            })
        })
    });
    assert!(settled, "the demo clusters did not settle");
}

fn differences(
    sandbox: &BTreeMap<String, BTreeSet<String>>,
    real: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let roles: BTreeSet<&String> = sandbox.keys().chain(real.keys()).collect();
    let empty = BTreeSet::new();
    for r in roles {
        let (s, c) = (sandbox.get(r).unwrap_or(&empty), real.get(r).unwrap_or(&empty));
        if s.is_empty() || c.is_empty() {
            out.insert(format!(
                "{r}: only on {}",
                if s.is_empty() { "real" } else { "sandbox" }
            ));
            continue;
        }
        for f in c.difference(s) {
            out.insert(format!("{r}: real only: {f}"));
        }
        for f in s.difference(c) {
            out.insert(format!("{r}: sandbox only: {f}"));
        }
    }
    out
}

fn known() -> BTreeSet<String> {
    let path = project_root().join("tests/e2e/controller_differences.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

mod demo_objects {
    use super::*;

    /// Runs in the real-controllers stage (it starts both backends).
    #[test]
    fn on_real_controllers() {
        let sandbox = snapshot(Backend::Sandbox);
        let real = snapshot(Backend::Real);
        let found = differences(&sandbox, &real);
        let known = known();
        let new: Vec<&String> = found.difference(&known).collect();
        let gone: Vec<&String> = known.difference(&found).collect();
        eprintln!(
            "simulation vs Cluster API: {} differences open ({} listed)",
            found.len(),
            known.len()
        );
        assert!(
            new.is_empty() && gone.is_empty(),
            "differences not in tests/e2e/controller_differences.txt ({}):\n{}\n\nlisted but no longer found ({}):\n{}",
            new.len(),
            new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
            gone.len(),
            gone.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        );
    }
}
