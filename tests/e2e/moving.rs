//! `kubectl capi move`'s discovery and plan against a management cluster: the kinds from the
//! clusterctl-labelled CRDs, one LIST per kind, and the plan for a namespace and for one Cluster
//! (on the sandbox and the real API server, with the bundled CRDs).

use std::collections::BTreeSet;

use capi_e2e::{TestCluster, on_both_backends};
use capi_sandbox::process::fixtures::ClusterSpec;
use capi_shared::client::Kube;
use capi_shared::moving::discover::{discover, move_types};
use capi_shared::moving::graph::Graph;
use capi_shared::moving::plan::{Scope, plan};

/// `Kind/name` of the moved objects of `cluster` (by its label or their name).
fn moved_of(g: &Graph, moved: &BTreeSet<&String>, cluster: &str) -> BTreeSet<String> {
    g.nodes
        .values()
        .filter(|n| moved.contains(&n.uid))
        .filter(|n| {
            n.object
                .pointer("/metadata/labels/cluster.x-k8s.io~1cluster-name")
                .and_then(|v| v.as_str())
                == Some(cluster)
                || n.name == cluster
                || n.name.starts_with(&format!("{cluster}-"))
        })
        .map(|n| format!("{}/{}", g.types[n.ty].kind, n.name))
        .collect()
}

on_both_backends! {
fn discovery_reads_every_kind_once_and_plans_a_namespace_and_one_cluster(backend) {
    let sb = TestCluster::on(backend);
    sb.load(&ClusterSpec::new("a", "move", 1, 2));
    sb.load(&ClusterSpec::new("b", "move", 1, 1));
    sb.load(&ClusterSpec::new("c", "elsewhere", 1, 1));
    // Owned by name only (as kubeadm's bootstrap writes it), and a user's own Secret.
    sb.apply(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: a-kubeconfig, namespace: move}\nstringData: {value: x}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: team-notes, namespace: move}\nstringData: {value: x}\n",
    );
    let kube = Kube::from_client(sb.client(false), "default");
    let g = sb.block_on(async {
        let types = move_types(&kube).await.unwrap();
        for kind in ["Cluster", "Machine", "KubeadmControlPlane", "KubeadmConfig", "DevMachine", "Secret"] {
            assert!(types.iter().any(|t| t.kind == kind), "{kind} is not a move kind: {types:?}");
        }
        assert!(!types.iter().any(|t| t.kind == "Provider"), "the inventory is the target's own");
        discover(&kube, types, Some("move")).await.unwrap()
    });
    assert!(g.nodes.values().all(|n| n.namespace.as_deref() != Some("elsewhere")));
    let p = plan(&g, &Scope::Namespace("move".into())).unwrap();
    let moved: BTreeSet<&String> = p.moved().collect();
    let a = moved_of(&g, &moved, "a");
    for want in ["Cluster/a", "KubeadmControlPlane/a-control-plane", "MachineDeployment/a-md-0", "Secret/a-kubeconfig"] {
        assert!(a.contains(want), "{want} not moved: {a:?}");
    }
    assert!(a.iter().filter(|k| k.starts_with("Machine/")).count() == 3, "{a:?}");
    assert!(!moved_of(&g, &moved, "b").is_empty());
    let surprises: Vec<String> = p.surprises().map(|l| format!("{} {}", g.nodes[&l.uid].display(&g.types), l.reason)).collect();
    assert!(surprises.is_empty(), "left behind: {surprises:?}");
    // One Cluster: b's objects stay, as not selected.
    let one = plan(&g, &Scope::Clusters { namespace: "move".into(), names: vec!["a".into()] }).unwrap();
    let moved_one: BTreeSet<&String> = one.moved().collect();
    assert!(moved_of(&g, &moved_one, "b").is_empty());
    assert_eq!(moved_of(&g, &moved_one, "a"), a);
    assert!(one.left_behind.iter().any(|l| g.nodes[&l.uid].name == "b"));
    assert_eq!(one.surprises().count(), 0);
}
}
