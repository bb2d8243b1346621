//! The tree of `kubectl capi describe cluster` next to the real `clusterctl describe cluster`
//! (v1.14.2, built from its Go module: realstack/) on small fixtures, on the real kube-apiserver and
//! on the sandbox: the same rows in the same places (objects, groups, echo decisions), with the same
//! counters and row conditions. What differs is listed in `DELIBERATE` and documented in the
//! README (describe section); anything else fails the test.

use capi_e2e::{Backend, TestCluster, realstack_bin};
use capi_sandbox::process::fixtures::{self, ClusterSpec};
use serde_json::{Value, json};

/// Rows only we print (documented in the README as beyond clusterctl).
const OURS_ONLY: &[&str] = &["MachineHealthCheck "];

/// One row of a tree, reduced to what both tools must agree on.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    /// Tree depth (the prefix before the label, in characters).
    depth: usize,
    /// The label, without the `, vX.Y.Z` version suffix (ours adds it to groups too).
    label: String,
    /// REPLICAS, AVAILABLE, READY, UP-TO-DATE, STATUS, REASON (v1beta1 layout: READY,
    /// SEVERITY, REASON).
    cells: Vec<String>,
}

/// Column starts (in characters) of a header line, found by their names: the v1beta2 layout
/// (REPLICAS .. SINCE) or the v1beta1 one (READY, SEVERITY, REASON, SINCE).
fn columns(header: &str) -> Vec<usize> {
    let names: &[&str] = if header.contains(" REPLICAS") {
        &[
            "REPLICAS",
            "AVAILABLE",
            "READY",
            "UP",
            "STATUS",
            "REASON",
            "SINCE",
        ]
    } else {
        &["READY", "SEVERITY", "REASON", "SINCE"]
    };
    names
        .iter()
        .map(|h| {
            let byte = header
                .find(&format!(" {h}"))
                .map(|i| i + 1)
                .unwrap_or_else(|| panic!("no {h} in {header}"));
            header[..byte].chars().count()
        })
        .collect()
}

fn rows(out: &str) -> Vec<Row> {
    let mut lines = out.lines();
    let cols = columns(lines.next().unwrap_or(""));
    let mut rows = vec![];
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        let cell = |a: usize, b: usize| -> String {
            chars
                .get(a.min(chars.len())..b.min(chars.len()))
                .map(|c| c.iter().collect::<String>())
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let name: String = chars[..cols[0].min(chars.len())]
            .iter()
            .collect::<String>()
            .trim_end()
            .to_string();
        if name.is_empty() || name.chars().all(|c| "│ ".contains(c)) {
            continue; // a message's continuation line
        }
        if line.starts_with("Kubernetes versions:") {
            continue;
        }
        let depth = name.chars().take_while(|c| "│├└─ ".contains(*c)).count();
        let label: String = name.chars().skip(depth).collect();
        let label = match label.rsplit_once(", v") {
            Some((l, _)) => l.to_string(),
            None => label,
        };
        let cells = (0..cols.len() - 1).map(|i| cell(cols[i], cols[i + 1])).collect();
        rows.push(Row { depth, label, cells });
    }
    rows
}

fn compare(sb: &TestCluster, name: &str, flags: &[&str]) {
    let mut args = vec!["describe", "cluster", name];
    args.extend_from_slice(flags);
    let clusterctl = realstack_bin().join("clusterctl");
    let mut c = std::process::Command::new(&clusterctl);
    c.args(&args);
    sb.env(&mut c);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "clusterctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8_lossy(&out.stdout).into_owned();
    let o = sb.capi(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ours = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut ours_rows = rows(&ours);
    // Our extra rows, and everything under them.
    let mut skip_below = None;
    ours_rows.retain(|r| {
        if let Some(d) = skip_below {
            if r.depth > d {
                return false;
            }
            skip_below = None;
        }
        if OURS_ONLY.iter().any(|p| r.label.starts_with(p)) {
            skip_below = Some(r.depth);
            return false;
        }
        true
    });
    let theirs_rows = rows(&theirs);
    // Our tree ends its last visible branch differently when a row of ours follows it, so
    // compare depth, label and cells, not the drawing.
    assert_eq!(
        ours_rows, theirs_rows,
        "{:?} on {:?}\n--- kubectl capi\n{ours}\n--- clusterctl\n{theirs}",
        flags, sb.backend
    );
}

/// A cluster with what clusterctl's own tree tests exercise: an infrastructure machine whose
/// Ready says more than its Available, a Machine without Available/UpToDate conditions, a
/// deleting Machine, a Machine no controller owns, an empty MachineDeployment and two
/// ClusterResourceSets.
fn edge_objects() -> Vec<(String, String, Value, Option<Value>)> {
    let mut spec = ClusterSpec::new("edge", "default", 1, 3);
    spec.deployments.push(("md-1".into(), 0));
    let mut objs = fixtures::cluster_objects(&spec);
    let w = |i: usize| format!("edge-md-0-7d9f8c-{i:05}");
    let mut orphan = None;
    for (_, plural, obj, status) in objs.iter_mut() {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let Some(st) = status.as_mut() else { continue };
        match (plural.as_str(), name.as_str()) {
            ("machines", n) if n == w(0) => {
                st["conditions"] = json!([
                    cond(
                        "Available",
                        "False",
                        "NotAvailable",
                        "* Ready: condition is False"
                    ),
                    cond("Ready", "False", "NotReady", "* InfrastructureReady: vm stopped"),
                    cond("UpToDate", "True", "UpToDate", ""),
                ]);
            }
            ("devmachines", n) if n == w(0) => {
                st["conditions"] = json!([
                    cond("Available", "False", "NotAvailable", ""),
                    cond("Ready", "False", "InfraDown", "vm stopped"),
                ]);
            }
            ("machines", n) if n == w(1) => {
                st["conditions"] = json!([cond("Ready", "True", "Ready", "")]);
                let mut o = obj.clone();
                o["metadata"]["name"] = json!("edge-orphan");
                o["metadata"].as_object_mut().map(|m| m.remove("ownerReferences"));
                o["spec"]["infrastructureRef"]["name"] = json!("edge-orphan");
                o["spec"]["bootstrap"]["configRef"]["name"] = json!("edge-orphan");
                orphan = Some((
                    "cluster.x-k8s.io".to_string(),
                    "machines".to_string(),
                    o,
                    Some(st.clone()),
                ));
            }
            ("machines", n) if n == w(2) => {
                obj["metadata"]["finalizers"] = json!(["capi-e2e.test/hold"]);
            }
            _ => {}
        }
    }
    objs.extend(orphan);
    objs.push((
        "addons.cluster.x-k8s.io".into(),
        "clusterresourcesetbindings".into(),
        json!({"apiVersion": "addons.cluster.x-k8s.io/v1beta2", "kind": "ClusterResourceSetBinding",
            "metadata": {"name": "edge", "namespace": "default", "labels": {"cluster.x-k8s.io/cluster-name": "edge"}},
            "spec": {"clusterName": "edge", "bindings": [{"clusterResourceSetName": "crs-b"}, {"clusterResourceSetName": "crs-a"}]}}),
        None,
    ));
    objs
}

fn cond(t: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": t, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1})
}

fn fixtures(backend: Backend) -> TestCluster {
    let sb = TestCluster::on(backend);
    let mut demo = ClusterSpec::new("demo", "default", 3, 3);
    demo.unhealthy = vec!["demo-md-0-7d9f8c-00001".into()];
    demo.health_check = true;
    sb.load(&demo);
    let mut two = ClusterSpec::new("two", "default", 1, 0);
    two.deployments = vec![("md-0".into(), 2), ("md-1".into(), 1)];
    two.unhealthy = vec!["two-control-plane-00000".into()];
    sb.load(&two);
    sb.load_objects("default", edge_objects());
    sb.kubectl()
        .args(["delete", "machine", "edge-md-0-7d9f8c-00002", "--wait=false"])
        .ok();
    sb
}

/// Every layout option, alone and with conditions shown.
const FLAG_SETS: &[&[&str]] = &[
    &[],
    &["--grouping=false"],
    &["--echo"],
    &["--show-conditions", "all"],
    &["--show-conditions", "Machine+,KubeadmControlPlane"],
    &["--show-templates"],
    &["--show-resourcesets"],
    &["--show-machinesets", "--show-conditions", "MachineSet"],
    &["--v1beta2=false"],
    &["--v1beta2=false", "--show-conditions", "all", "--grouping=false"],
];

#[test]
fn trees_match_clusterctl_on_real_apiserver_and_sandbox() {
    for backend in [Backend::Real, Backend::Sandbox] {
        let sb = fixtures(backend);
        for name in ["demo", "two", "edge"] {
            for flags in FLAG_SETS {
                compare(&sb, name, flags);
            }
        }
    }
}
