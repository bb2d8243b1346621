//! `kubectl capi move` end to end through the real kubectl: between two sandboxes, to and from
//! directories, with injected failures and kills.

use std::collections::BTreeMap;

use capi_e2e::{TestCluster, stderr, stdout};
use capi_sandbox::process::fixtures::ClusterSpec;
use serde_json::Value;

/// Every object of `resource` in `ns` (all namespaces when empty), as JSON.
fn items(sb: &TestCluster, resource: &str, ns: &str) -> Vec<Value> {
    let mut args = vec![resource, "-o", "json"];
    if ns.is_empty() {
        args.push("-A");
    } else {
        args.extend(["-n", ns]);
    }
    sb.get_json(&args)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn names(sb: &TestCluster, resource: &str, ns: &str) -> Vec<String> {
    let mut n: Vec<String> = items(sb, resource, ns)
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    n.sort();
    n
}

/// The Cluster API kinds a fixture cluster has, as kubectl resource names.
const KINDS: &[&str] = &[
    "clusters.cluster.x-k8s.io",
    "machinedeployments.cluster.x-k8s.io",
    "machinesets.cluster.x-k8s.io",
    "machines.cluster.x-k8s.io",
    "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io",
    "kubeadmconfigs.bootstrap.cluster.x-k8s.io",
    "devmachines.infrastructure.cluster.x-k8s.io",
    "devclusters.infrastructure.cluster.x-k8s.io",
    "secrets",
];

/// Every owner reference in `ns` of `sb` points at an object that exists there with that UID.
fn assert_owners_resolve(sb: &TestCluster, ns: &str) {
    let mut uids: BTreeMap<String, String> = BTreeMap::new();
    let mut all = vec![];
    for k in KINDS {
        for o in items(sb, k, ns) {
            uids.insert(
                o["metadata"]["uid"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or(k),
                    o["metadata"]["name"].as_str().unwrap()
                ),
            );
            all.push(o);
        }
    }
    let mut refs = 0;
    for o in &all {
        for r in o["metadata"]["ownerReferences"].as_array().into_iter().flatten() {
            let uid = r["uid"].as_str().unwrap();
            assert!(
                uids.contains_key(uid),
                "{} {} owner {} {} ({uid}) is not in the target",
                o["kind"],
                o["metadata"]["name"],
                r["kind"],
                r["name"]
            );
            refs += 1;
        }
    }
    assert!(refs > 10, "only {refs} owner references checked");
}

fn describe(sb: &TestCluster, ns: &str, name: &str) -> String {
    let o = sb.capi(&["describe", "cluster", name, "-n", ns]);
    assert!(o.status.success(), "describe failed: {}", stderr(&o));
    stdout(&o)
}

fn kubeconfig(sb: &TestCluster) -> &str {
    sb.kubeconfig.to_str().unwrap()
}

#[test]
fn a_namespace_moves_between_two_sandboxes_and_looks_the_same_there() {
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    src.load(&ClusterSpec::new("a", "prod", 1, 2));
    src.load(&ClusterSpec::new("b", "prod", 1, 1));
    src.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: team-notes, namespace: prod}\nstringData: {value: x}\n");
    let before = describe(&src, "prod", "a");
    let o = src.capi(&["move", "-n", "prod", "--to-kubeconfig", kubeconfig(&dst)]);
    let err = stderr(&o);
    assert!(o.status.success(), "move failed: {err}");
    assert!(err.contains("pausing 2 Cluster(s)"), "{err}");
    assert!(stdout(&o).starts_with("moved "), "{}", stdout(&o));
    // The source keeps only what is not Cluster API's.
    assert!(names(&src, "clusters.cluster.x-k8s.io", "prod").is_empty());
    assert!(names(&src, "machines.cluster.x-k8s.io", "prod").is_empty());
    assert_eq!(names(&src, "secrets", "prod"), ["team-notes"]);
    assert_eq!(names(&dst, "clusters.cluster.x-k8s.io", "prod"), ["a", "b"]);
    assert_eq!(names(&dst, "machines.cluster.x-k8s.io", "prod").len(), 5);
    assert_owners_resolve(&dst, "prod");
    for c in items(&dst, "clusters.cluster.x-k8s.io", "prod") {
        assert!(
            c["spec"].get("paused").is_none_or(|p| p == false),
            "still paused: {c}"
        );
        assert!(
            c["metadata"]["annotations"]
                .get("capi.kubectl.x-k8s.io/paused-by-move")
                .is_none()
        );
    }
    assert_eq!(describe(&dst, "prod", "a"), before);
}
