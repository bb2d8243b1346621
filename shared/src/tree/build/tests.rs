//! Tree builder tests on fixtures of both API generations.

use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::*;
use crate::output::color::Palette;
use crate::tree::fetch::ClusterObjects;
use crate::tree::text::{ConditionFilter, RenderOptions, render};

fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

fn cond(t: &str, s: &str, reason: &str, msg: &str) -> Value {
    json!({"type": t, "status": s, "reason": reason, "message": msg})
}

fn meta(name: &str, labels: Value, owner: Option<(&str, &str)>) -> Value {
    let mut m = json!({"name": name, "namespace": "default", "labels": labels, "uid": format!("uid-{name}")});
    if let Some((k, n)) = owner {
        m["ownerReferences"] = json!([{"apiVersion": "x/v1", "kind": k, "name": n, "uid": format!("uid-{n}"), "controller": true}]);
    }
    m
}

fn machine(
    name: &str,
    owner: (&str, &str),
    cp: bool,
    ready: (&str, &str),
    extra: Vec<Value>,
) -> DynamicObject {
    let mut labels = json!({"cluster.x-k8s.io/cluster-name": "c1"});
    if cp {
        labels["cluster.x-k8s.io/control-plane"] = json!("");
    }
    let mut conds = vec![
        cond(
            "Available",
            ready.0,
            if ready.0 == "True" {
                "Available"
            } else {
                "NotAvailable"
            },
            "",
        ),
        cond(
            "Ready",
            ready.0,
            ready.1,
            if ready.0 == "True" {
                ""
            } else {
                "* NodeHealthy: Node not ready"
            },
        ),
        cond("UpToDate", "True", "UpToDate", ""),
    ];
    conds.extend(extra);
    obj(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
        "metadata": meta(name, labels, Some(owner)),
        "spec": {"clusterName": "c1", "version": "v1.33.0",
            "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevMachine", "name": name},
            "bootstrap": {"configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfig", "name": name}}},
        "status": {"conditions": conds}
    }))
}

fn provider(kind: &str, name: &str, ready: (&str, &str)) -> DynamicObject {
    let group = if kind == "DevMachine" {
        "infrastructure.cluster.x-k8s.io"
    } else {
        "bootstrap.cluster.x-k8s.io"
    };
    obj(
        json!({"apiVersion": format!("{group}/v1beta2"), "kind": kind, "metadata": meta(name, json!({"cluster.x-k8s.io/cluster-name": "c1"}), Some(("Machine", name))),
        "status": {"conditions": [cond("Ready", ready.0, ready.1, "")]}}),
    )
}

fn fixture_v1beta2() -> ClusterObjects {
    let cluster = obj(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": meta("c1", json!({}), None),
        "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevCluster", "name": "c1"},
                 "controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "KubeadmControlPlane", "name": "c1-cp"},
                 "topology": {"classRef": {"name": "quick-start"}, "version": "v1.33.0"}},
        "status": {
            "conditions": [cond("Available", "False", "NotAvailable", "* WorkersAvailable:\n  * MachineDeployment md-0: 1 available replicas, at least 2 required")],
            "controlPlane": {"desiredReplicas": 3, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "upToDateReplicas": 3, "versions": [{"version": "v1.33.0", "replicas": 3}]},
            "workers": {"desiredReplicas": 2, "replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "upToDateReplicas": 2, "versions": [{"version": "v1.33.0", "replicas": 2}]}
        }
    }));
    let infra = obj(
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "DevCluster", "metadata": meta("c1", json!({}), Some(("Cluster", "c1"))),
        "status": {"conditions": [cond("Ready", "True", "Ready", "")]}}),
    );
    let cp = obj(
        json!({"apiVersion": "controlplane.cluster.x-k8s.io/v1beta2", "kind": "KubeadmControlPlane", "metadata": meta("c1-cp", json!({}), Some(("Cluster", "c1"))),
        "spec": {"replicas": 3, "version": "v1.33.0", "machineTemplate": {"spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevMachineTemplate", "name": "cp-tmpl"}}}},
        "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "upToDateReplicas": 3, "conditions": [cond("Available", "True", "Available", "")]}}),
    );
    let md = |name: &str, replicas: i64, avail: i64| {
        obj(
            json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineDeployment", "metadata": meta(name, json!({"cluster.x-k8s.io/cluster-name": "c1"}), None),
            "spec": {"replicas": replicas, "template": {"spec": {"version": "v1.33.0",
                "bootstrap": {"configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfigTemplate", "name": format!("{name}-bt")}},
                "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevMachineTemplate", "name": format!("{name}-it")}}}},
            "status": {"replicas": replicas, "readyReplicas": avail, "availableReplicas": avail, "upToDateReplicas": replicas,
                "conditions": [cond("Available", if avail >= replicas { "True" } else { "False" }, if avail >= replicas { "Available" } else { "NotAvailable" }, "")]}}),
        )
    };
    let ms = obj(
        json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineSet", "metadata": meta("md-0-abc", json!({"cluster.x-k8s.io/cluster-name": "c1"}), Some(("MachineDeployment", "md-0"))),
        "spec": {"replicas": 2, "template": {"spec": {"version": "v1.33.0"}}}, "status": {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "upToDateReplicas": 2}}),
    );
    let mhc = obj(
        json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineHealthCheck", "metadata": meta("md-0-mhc", json!({}), None),
        "spec": {"clusterName": "c1", "selector": {"matchLabels": {"pool": "md-0"}}},
        "status": {"expectedMachines": 2, "currentHealthy": 1, "remediationsAllowed": 1, "conditions": [cond("RemediationAllowed", "True", "RemediationAllowed", "")]}}),
    );
    let mut w1 = machine(
        "md-0-abc-w1",
        ("MachineSet", "md-0-abc"),
        false,
        ("True", "Ready"),
        vec![],
    );
    let mut w2 = machine(
        "md-0-abc-w2",
        ("MachineSet", "md-0-abc"),
        false,
        ("False", "NotReady"),
        vec![cond("HealthCheckSucceeded", "False", "UnhealthyNode", "")],
    );
    for w in [&mut w1, &mut w2] {
        w.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("pool".into(), "md-0".into());
    }
    let machines = vec![
        machine(
            "c1-cp-a",
            ("KubeadmControlPlane", "c1-cp"),
            true,
            ("True", "Ready"),
            vec![],
        ),
        machine(
            "c1-cp-b",
            ("KubeadmControlPlane", "c1-cp"),
            true,
            ("True", "Ready"),
            vec![],
        ),
        machine(
            "c1-cp-c",
            ("KubeadmControlPlane", "c1-cp"),
            true,
            ("True", "Ready"),
            vec![],
        ),
        w1,
        w2,
        machine("stray", ("Nothing", "x"), false, ("True", "Ready"), vec![]),
    ];
    let mut provider_objects = vec![];
    for m in &machines {
        let n = m.metadata.name.clone().unwrap();
        let ready = if n == "md-0-abc-w2" {
            ("False", "ProvisioningFailed")
        } else {
            ("True", "Ready")
        };
        provider_objects.push(provider("DevMachine", &n, ready));
        provider_objects.push(provider("KubeadmConfig", &n, ("True", "Ready")));
    }
    ClusterObjects {
        generation: Generation::V1beta2,
        cluster,
        infra_cluster: Some(infra),
        control_plane: Some(cp),
        machines,
        machine_sets: vec![ms],
        machine_deployments: vec![md("md-0", 2, 1), md("md-empty", 0, 0)],
        machine_pools: vec![],
        health_checks: vec![mhc],
        provider_objects,
        resource_set_binding: None,
    }
}

fn text(objs: &ClusterObjects, opts: BuildOptions, conditions: &str) -> String {
    let tree = build(objs, opts);
    render(
        &tree,
        &RenderOptions {
            conditions: ConditionFilter::parse(conditions).unwrap(),
            palette: Palette::plain(),
        },
    )
}

fn squash(s: &str) -> String {
    // Column widths depend on the longest cell; compare with runs of spaces collapsed.
    s.lines()
        .map(|l| {
            l.split("  ")
                .filter(|x| !x.is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn v1beta2_tree_with_grouping_echo_workers_and_health_checks() {
    let out = text(&fixture_v1beta2(), BuildOptions::default(), "");
    let expected = "\
NAME | REPLICAS | AVAILABLE | READY | UP-TO-DATE | STATUS | REASON | SINCE | MESSAGE
Cluster default/c1, v1.33.0 | 5/5 | 4 | 4 | 5 | False | NotAvailable | * WorkersAvailable:
│ | * MachineDeployment md-0: 1 available replicas, at least 2 required
├─DevCluster default/c1 | True | Ready
├─KubeadmControlPlane default/c1-cp, v1.33.0 | 3/3 | 3 | 3 | 3 | True | Available
│ └─3 Machines..., v1.33.0 | 3 | 3 | 3 | True | Ready | See c1-cp-a, c1-cp-b, ...
├─MachineHealthCheck default/md-0-mhc | 2 | 1 | True | RemediationAllowed | Targets 2 Machines of MachineDeployment/md-0; 1 unhealthy: md-0-abc-w2; 1 remediation allowed
└─Workers
├─MachineDeployment default/md-0, v1.33.0 | 2/2 | 1 | 1 | 2 | False | NotAvailable
│ ├─Machine default/md-0-abc-w1, v1.33.0 | 1 | 1 | 1 | 1 | True | Ready
│ └─Machine default/md-0-abc-w2, v1.33.0 | 1 | 0 | 0 | 1 | False | NotReady | * NodeHealthy: Node not ready
│ └─DevMachine default/md-0-abc-w2 | False | ProvisioningFailed
├─MachineDeployment default/md-empty, v1.33.0 | 0/0 | 0 | 0 | 0 | True | Available
└─Other
└─Machine default/stray, v1.33.0 | 1 | 1 | 1 | 1 | True | Ready";
    let got = squash(&out);
    let got_lines: Vec<&str> = got.lines().collect();
    let want_lines: Vec<&str> = expected.lines().collect();
    for (i, (g, w)) in got_lines.iter().zip(want_lines.iter()).enumerate() {
        // The tree prefix of continuation rows collapses differently; compare words.
        let norm = |s: &str| {
            s.split(['│', '├', '└', '─', '|', ' '])
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(norm(g), norm(w), "line {i}\n{out}");
    }
    // The table, a blank line, then the versions footer.
    assert_eq!(got_lines.len(), want_lines.len() + 2, "{out}");
    assert!(
        out.contains("Kubernetes versions: control plane v1.33.0 (3); workers v1.33.0 (2)"),
        "{out}"
    );
    // The tree lines themselves.
    assert!(
        out.lines()
            .any(|l| l.starts_with("  │ └─Machine default/md-0-abc-w2")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("  │   └─DevMachine default/md-0-abc-w2")),
        "{out}"
    );
}

#[test]
fn health_check_targets_and_json_shape() {
    let tree = build(&fixture_v1beta2(), BuildOptions::default());
    let v = serde_json::to_value(&tree).unwrap();
    assert_eq!(v["kind"], "ClusterTree");
    assert_eq!(v["conditionsFormat"], "v1beta2");
    let mhc = v["tree"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "MachineHealthCheck")
        .unwrap();
    assert_eq!(
        mhc["healthCheck"]["targets"],
        json!(["md-0-abc-w1", "md-0-abc-w2"])
    );
    assert_eq!(mhc["healthCheck"]["unhealthy"], json!(["md-0-abc-w2"]));
    assert_eq!(mhc["healthCheck"]["owners"], json!(["MachineDeployment/md-0"]));
    let cp = &v["tree"]["children"][1];
    assert_eq!(cp["kind"], "KubeadmControlPlane");
    assert_eq!(
        cp["replicas"],
        json!({"current": 3, "desired": 3, "available": 3, "ready": 3, "upToDate": 3})
    );
    assert_eq!(cp["children"][0]["kind"], "MachineGroup");
    assert_eq!(
        cp["children"][0]["members"],
        json!(["c1-cp-a", "c1-cp-b", "c1-cp-c"])
    );
    assert_eq!(
        v["tree"]["versions"]["controlPlane"][0],
        json!({"version": "v1.33.0", "replicas": 3})
    );
    let text = render(
        &tree,
        &RenderOptions {
            conditions: ConditionFilter::default(),
            palette: Palette::plain(),
        },
    );
    assert!(
        text.contains(
            "Targets 2 Machines of MachineDeployment/md-0; 1 unhealthy: md-0-abc-w2; 1 remediation allowed"
        ),
        "{text}"
    );
}

#[test]
fn options_change_the_shape() {
    let f = fixture_v1beta2();
    let no_group = text(
        &f,
        BuildOptions {
            grouping: false,
            ..Default::default()
        },
        "",
    );
    assert!(
        no_group.contains("Machine default/c1-cp-a") && !no_group.contains("3 Machines..."),
        "{no_group}"
    );
    let echo = text(
        &f,
        BuildOptions {
            echo: true,
            ..Default::default()
        },
        "",
    );
    assert!(echo.contains("KubeadmConfig default/md-0-abc-w1"), "{echo}");
    let ms = text(
        &f,
        BuildOptions {
            show_machinesets: true,
            ..Default::default()
        },
        "",
    );
    assert!(
        ms.lines()
            .any(|l| l.contains("MachineSet default/md-0-abc, v1.33.0")),
        "{ms}"
    );
    let t = text(
        &f,
        BuildOptions {
            show_templates: true,
            ..Default::default()
        },
        "",
    );
    assert!(
        t.contains("Templates")
            && t.contains("DevMachineTemplate default/cp-tmpl")
            && t.contains("KubeadmConfigTemplate default/md-0-bt"),
        "{t}"
    );
    let c = text(&f, BuildOptions::default(), "MachineDeployment/md-0");
    let md_row = c
        .lines()
        .position(|l| l.contains("MachineDeployment default/md-0,"))
        .unwrap();
    assert!(c.lines().nth(md_row + 1).unwrap().contains("Available"), "{c}");
    assert!(
        !c.lines().nth(md_row).unwrap().contains("NotAvailable"),
        "the row's own status is moved to the condition rows: {c}"
    );
    let nz = text(&f, BuildOptions::default(), "Machine+");
    assert!(
        nz.contains("HealthCheckSucceeded")
            && !nz
                .lines()
                .any(|l| l.trim_start_matches(['│', ' ']).starts_with("UpToDate")),
        "{nz}"
    );
}

fn fixture_v1beta1() -> ClusterObjects {
    let c =
        |t: &str, s: &str, sev: &str, r: &str| json!({"type": t, "status": s, "severity": sev, "reason": r});
    let cluster = obj(
        json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": meta("old", json!({}), None),
        "spec": {"controlPlaneRef": {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "KubeadmControlPlane", "name": "old-cp"}},
        "status": {"conditions": [c("Ready", "False", "Warning", "ScalingUp")], "v1beta2": {"conditions": [cond("Available", "False", "NotAvailable", "")]}}}),
    );
    let cp = obj(
        json!({"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "KubeadmControlPlane", "metadata": meta("old-cp", json!({}), None),
        "spec": {"replicas": 3, "version": "v1.30.0"},
        "status": {"replicas": 2, "conditions": [c("Ready", "False", "Warning", "ScalingUp")], "v1beta2": {"readyReplicas": 2, "availableReplicas": 2, "upToDateReplicas": 2}}}),
    );
    let m = |name: &str, ready: &str, sev: &str, reason: &str| {
        obj(
            json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
            "metadata": meta(name, json!({"cluster.x-k8s.io/cluster-name": "old", "cluster.x-k8s.io/control-plane": ""}), Some(("KubeadmControlPlane", "old-cp"))),
            "spec": {"version": "v1.30.0"}, "status": {"conditions": [c("Ready", ready, sev, reason)]}}),
        )
    };
    ClusterObjects {
        generation: Generation::V1beta1,
        cluster,
        infra_cluster: None,
        control_plane: Some(cp),
        machines: vec![
            m("old-cp-1", "True", "", ""),
            m("old-cp-2", "True", "", ""),
            m("old-cp-3", "False", "Warning", "BootstrapFailed"),
        ],
        machine_sets: vec![],
        machine_deployments: vec![],
        machine_pools: vec![],
        health_checks: vec![],
        provider_objects: vec![],
        resource_set_binding: None,
    }
}

#[test]
fn v1beta1_columns_on_a_v1beta1_management_cluster() {
    let out = text(
        &fixture_v1beta1(),
        BuildOptions {
            mode: Generation::V1beta1,
            ..Default::default()
        },
        "",
    );
    let lines: Vec<String> = squash(&out).lines().map(str::to_string).collect();
    assert_eq!(lines[0], "NAME | READY | SEVERITY | REASON | SINCE | MESSAGE");
    assert_eq!(lines[1], "Cluster default/old | False | Warning | ScalingUp");
    assert_eq!(
        lines[2],
        "└─KubeadmControlPlane default/old-cp, v1.30.0 | False | Warning | ScalingUp"
    );
    assert_eq!(
        lines[3],
        "├─2 Machines..., v1.30.0 | True | See old-cp-1, old-cp-2"
    );
    assert_eq!(
        lines[4],
        "└─Machine default/old-cp-3, v1.30.0 | False | Warning | BootstrapFailed"
    );
    assert_eq!(lines.len(), 5, "{out}");
    // v1beta2 columns on the same objects read the status.v1beta2 counters.
    let tree = build(&fixture_v1beta1(), BuildOptions::default());
    let cp = &tree.tree.children[0];
    assert_eq!(cp.replicas.clone().unwrap().ready, Some(2));
    assert_eq!(tree.tree.status.as_ref().unwrap().type_, "Available");
}

#[test]
fn deleted_and_paused_objects_are_marked() {
    let mut f = fixture_v1beta2();
    f.machine_deployments[1].metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    );
    f.cluster.data["spec"]["paused"] = json!(true);
    let out = text(&f, BuildOptions::default(), "");
    assert!(
        out.contains("!! DELETED !! MachineDeployment default/md-empty"),
        "{out}"
    );
    assert!(out.lines().nth(1).unwrap().contains("(paused)"), "{out}");
}

/// The row's cells after the label, with runs of spaces collapsed.
fn row_of<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no row {label} in\n{out}"))
}

#[test]
fn provider_rows_show_ready_not_available() {
    let mut f = fixture_v1beta2();
    let dm = f
        .provider_objects
        .iter_mut()
        .find(|o| {
            o.metadata.name.as_deref() == Some("md-0-abc-w2")
                && o.types.as_ref().unwrap().kind == "DevMachine"
        })
        .unwrap();
    dm.data["status"]["conditions"] = json!([
        cond("Available", "False", "NotAvailable", ""),
        cond("Ready", "False", "InfraDown", "vm stopped"),
    ]);
    let out = text(&f, BuildOptions::default(), "");
    let row = squash(row_of(&out, "DevMachine default/md-0-abc-w2"));
    assert!(row.ends_with("False | InfraDown | vm stopped"), "{out}");
    // The control plane keeps Available (the control plane contract).
    f.control_plane.as_mut().unwrap().data["status"]["conditions"] = json!([
        cond("Available", "True", "Available", ""),
        cond("Ready", "False", "NotReady", ""),
    ]);
    let out = text(&f, BuildOptions::default(), "");
    assert!(
        squash(row_of(&out, "KubeadmControlPlane")).ends_with("True | Available"),
        "{out}"
    );
}

#[test]
fn v1beta1_show_conditions_keeps_ready_on_the_row() {
    let mut f = fixture_v1beta1();
    let c = json!({"type": "BootstrapReady", "status": "False", "severity": "Warning", "reason": "Waiting"});
    f.machines[2].data["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(c);
    let opts = BuildOptions {
        mode: Generation::V1beta1,
        ..Default::default()
    };
    let out = text(&f, opts, "Machine/old-cp-3");
    let lines: Vec<String> = squash(&out).lines().map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| l.contains("Machine default/old-cp-3"))
        .unwrap();
    assert!(lines[at].ends_with("False | Warning | BootstrapFailed"), "{out}");
    assert!(
        lines[at + 1].ends_with("BootstrapReady | False | Warning | Waiting"),
        "{out}"
    );
    assert_eq!(lines.len(), at + 2, "Ready is not listed again: {out}");
}

#[test]
fn group_rows_never_expand_conditions() {
    let out = text(&fixture_v1beta2(), BuildOptions::default(), "all");
    let row = squash(row_of(&out, "3 Machines..."));
    assert!(row.ends_with("True | Ready | See c1-cp-a, c1-cp-b, ..."), "{out}");
    let at = out.lines().position(|l| l.contains("3 Machines...")).unwrap();
    assert!(
        !out.lines().nth(at + 1).unwrap_or("").contains("Available"),
        "no condition rows under a group: {out}"
    );
}

#[test]
fn children_sorted_by_label_with_templates_first() {
    let mut f = fixture_v1beta2();
    // A deleted worker sorts before the live ones; "Other" before... nothing: it is under Workers.
    f.machines[3].metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
    ));
    f.infra_cluster.as_mut().unwrap().types.as_mut().unwrap().kind = "VSphereCluster".into();
    let tree = build(
        &f,
        BuildOptions {
            show_templates: true,
            ..Default::default()
        },
    );
    let labels = |n: &Node| n.children.iter().map(Node::label).collect::<Vec<_>>();
    let root = labels(&tree.tree);
    assert_eq!(
        root,
        [
            "KubeadmControlPlane default/c1-cp, v1.33.0",
            "MachineHealthCheck default/md-0-mhc",
            "VSphereCluster default/c1",
            "Workers"
        ]
    );
    let cp = &tree.tree.children[0];
    assert_eq!(labels(cp), ["Templates", "3 Machines..., v1.33.0"]);
    let workers = &tree.tree.children[3];
    let md0 = &workers.children[0];
    assert_eq!(
        labels(md0),
        [
            "Templates",
            "!! DELETED !! Machine default/md-0-abc-w1, v1.33.0",
            "Machine default/md-0-abc-w2, v1.33.0"
        ]
    );
    assert_eq!(
        labels(&md0.children[0]),
        [
            "DevMachineTemplate default/md-0-it",
            "KubeadmConfigTemplate default/md-0-bt"
        ]
    );
    assert_eq!(workers.children.last().unwrap().label(), "Other");
}

#[test]
fn machine_counters_default_to_zero_and_condition_rows_indent_like_clusterctl() {
    let mut f = fixture_v1beta2();
    f.machines[5].data["status"]["conditions"] = json!([cond("Ready", "True", "Ready", "")]);
    let out = text(&f, BuildOptions::default(), "Machine/stray");
    let row = squash(row_of(&out, "Machine default/stray"));
    assert!(row.ends_with("1 | 0 | 1 | 0"), "{out}");
    // Condition rows: the object's continuation, ten spaces, then the glyph.
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("{}└─Ready", " ".repeat(6 + 2 + 10)))),
        "{out}"
    );
}
