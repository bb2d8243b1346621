//! `kubectl capi rollout` through the real kubectl. Without controllers, the sandbox's audit log
//! shows exactly what each command sent (which object, which patch type, which fields); with
//! them, restarts replace Machines, pause holds a template change back, undo brings templates
//! back, and a topology-managed restart is not reverted.
//!
//! The controller-free tests run on both backends (on the real one the server's clock is this
//! machine's, so the skew check is the sandbox's); those with controllers on the sandbox's
//! simulated ones and on Cluster API's real managers.

use std::time::Duration;

use capi_e2e::{
    Backend, Opts, TestSandbox, eventually, on_both_backends, on_controller_backends, patch_kind, stderr,
    stdout,
};
use capi_sandbox::api::crds::Generation;
use capi_sandbox::process::fixtures::ClusterSpec;
use serde_json::{Value, json};

use crate::controllers::WAIT;

/// A cluster with the audit log on: `edge` (hand-built) and `prod/prod-eu` (topology). On the
/// sandbox the server's clock is skewed by `skew` seconds; the real server's clock is the machine's.
fn audited(backend: Backend, generation: Generation, skew: i64) -> TestSandbox {
    let sb = TestSandbox::with(Opts {
        backend,
        generation,
        audit: true,
        clock_skew_secs: if backend == Backend::Real { 0 } else { skew },
        ..Default::default()
    });
    let mut edge = ClusterSpec::new("edge", "default", 1, 2);
    edge.generation = generation;
    let mut class = ClusterSpec::new("prod-eu", "prod", 3, 2);
    class.generation = generation;
    class.class = Some("quick-start".into());
    sb.load(&edge);
    sb.load(&class);
    sb
}

/// The PATCH requests audited since the last clear.
fn patches(sb: &TestSandbox) -> Vec<Value> {
    sb.audit().into_iter().filter(|e| e["verb"] == "patch").collect()
}

fn one_patch(sb: &TestSandbox) -> Value {
    let p = patches(sb);
    assert_eq!(p.len(), 1, "exactly one PATCH: {p:#?}");
    sb.clear_audit();
    p.into_iter().next().unwrap()
}

fn secs_from_now(t: &str) -> i64 {
    let t: jiff::Timestamp = t.parse().unwrap();
    t.as_second() - jiff::Timestamp::now().as_second()
}

fn run(sb: &TestSandbox, args: &[&str]) -> std::process::Output {
    sb.capi(&[&["rollout"][..], args].concat())
}

on_both_backends! {
fn restart_pause_resume_send_exact_patches_in_both_generations(backend) {
    for generation in [Generation::V1beta2, Generation::V1beta1] {
        let v2 = generation == Generation::V1beta2;
        // The server's clock runs two hours ahead of this machine's.
        let sb = audited(backend, generation, 7200);
        sb.clear_audit();
        let o = run(&sb, &["restart", "md/edge-md-0"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let p = one_patch(&sb);
        assert_eq!(p["objectRef"]["resource"], "machinedeployments");
        assert_eq!(p["objectRef"]["name"], "edge-md-0");
        assert_eq!(p["objectRef"]["subresource"], Value::Null);
        assert!(
            patch_kind(&p) == "merge"
        );
        let at = if v2 {
            p["requestObject"]["spec"]["rollout"]["after"].clone()
        } else {
            p["requestObject"]["spec"]["rolloutAfter"].clone()
        };
        let expected = if v2 {
            json!({"spec": {"rollout": {"after": at}}})
        } else {
            json!({"spec": {"rolloutAfter": at}})
        };
        assert_eq!(p["requestObject"], expected, "{generation:?}");
        let ahead = secs_from_now(at.as_str().unwrap());
        assert!(
            // The sandbox's clock runs two hours ahead; the real server's is this machine's.
            if sb.is_real() { (-100..100).contains(&ahead) } else { (7100..7300).contains(&ahead) },
            "the server's clock was used: {ahead}s ahead"
        );
        assert!(stdout(&o).contains("machinedeployment.cluster.x-k8s.io/edge-md-0 restarted"));

        // A control plane: the same field, on the KubeadmControlPlane.
        let o = run(&sb, &["restart", "kcp", "edge-control-plane"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let p = one_patch(&sb);
        assert_eq!(p["objectRef"]["resource"], "kubeadmcontrolplanes");
        let field = if v2 {
            "/spec/rollout/after"
        } else {
            "/spec/rolloutAfter"
        };
        assert!(p["requestObject"].pointer(field).is_some(), "{p}");

        // Topology-managed: through the Cluster (v1beta2), or the object itself (v1beta1,
        // whose topology has no per-object rollout.after).
        sb.kubectl()
            .args(["label", "-n", "prod", "md/prod-eu-md-0"])
            .args([
                "topology.cluster.x-k8s.io/owned=",
                "topology.cluster.x-k8s.io/deployment-name=md-0",
            ])
            .ok();
        sb.clear_audit();
        let o = run(&sb, &["restart", "-n", "prod", "md/prod-eu-md-0"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let p = one_patch(&sb);
        if v2 {
            assert_eq!(p["objectRef"]["resource"], "clusters");
            assert_eq!(p["objectRef"]["name"], "prod-eu");
            assert!(
                patch_kind(&p) == "json"
            );
            let at = p["requestObject"][1]["value"]["after"].clone();
            assert_eq!(
                p["requestObject"],
                json!([
                    {"op": "test", "path": "/spec/topology/workers/machineDeployments/0/name", "value": "md-0"},
                    {"op": "add", "path": "/spec/topology/workers/machineDeployments/0/rollout", "value": {"after": at}},
                ])
            );
            let c = sb.get_json(&["-n", "prod", "cluster", "prod-eu"]);
            assert_eq!(
                c["spec"]["topology"]["workers"]["machineDeployments"][0]["rollout"]["after"],
                at
            );
            assert!(
                stdout(&o).contains("through Cluster prod/prod-eu"),
                "{}",
                stdout(&o)
            );
        } else {
            assert_eq!(p["objectRef"]["resource"], "machinedeployments");
            assert!(p["requestObject"]["spec"]["rolloutAfter"].is_string());
            assert!(stderr(&o).contains("note:"), "{}", stderr(&o));
        }

        // --dry-run=server sends dryRun=All and changes nothing.
        let before = sb.get_json(&["md", "edge-md-0"]);
        let o = run(&sb, &["restart", "md/edge-md-0", "--dry-run=server"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("(server dry run)"));
        let p = one_patch(&sb);
        assert!(p["requestURI"].as_str().unwrap().contains("dryRun=All"), "{p}");
        assert_eq!(
            sb.get_json(&["md", "edge-md-0"])["metadata"]["resourceVersion"],
            before["metadata"]["resourceVersion"]
        );

        // pause / resume: spec.paused for a MachineDeployment, idempotent.
        let o = run(&sb, &["pause", "md/edge-md-0"]);
        assert!(o.status.success());
        assert_eq!(one_patch(&sb)["requestObject"], json!({"spec": {"paused": true}}));
        let o = run(&sb, &["pause", "md/edge-md-0"]);
        assert!(o.status.success());
        assert!(stdout(&o).contains("is already paused"), "{}", stdout(&o));
        assert!(patches(&sb).is_empty(), "no write for an idempotent pause");
        let o = run(&sb, &["restart", "md/edge-md-0"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("is paused; run `kubectl capi rollout resume"),
            "{}",
            stderr(&o)
        );
        assert!(patches(&sb).is_empty());
        let o = run(&sb, &["resume", "md/edge-md-0"]);
        assert!(o.status.success());
        assert_eq!(
            one_patch(&sb)["requestObject"],
            json!({"spec": {"paused": false}})
        );
        assert!(stdout(&run(&sb, &["resume", "md/edge-md-0"])).contains("is not paused"));

        // A control plane: the paused annotation.
        assert!(run(&sb, &["pause", "kcp/edge-control-plane"]).status.success());
        assert_eq!(
            one_patch(&sb)["requestObject"],
            json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": "true"}}})
        );
        let kcp = sb.get_json(&["kcp", "edge-control-plane"]);
        assert_eq!(kcp["metadata"]["annotations"]["cluster.x-k8s.io/paused"], "true");
        assert!(run(&sb, &["resume", "kcp/edge-control-plane"]).status.success());
        assert_eq!(
            one_patch(&sb)["requestObject"],
            json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": null}}})
        );
        let kcp = sb.get_json(&["kcp", "edge-control-plane"]);
        assert!(
            kcp["metadata"]["annotations"]
                .get("cluster.x-k8s.io/paused")
                .is_none()
        );

        // cluster/NAME is the control plane and every MachineDeployment.
        let o = run(&sb, &["pause", "cluster/edge"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let targets: Vec<String> = patches(&sb)
            .iter()
            .map(|p| {
                format!(
                    "{}/{}",
                    p["objectRef"]["resource"].as_str().unwrap(),
                    p["objectRef"]["name"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            targets,
            [
                "kubeadmcontrolplanes/edge-control-plane",
                "machinedeployments/edge-md-0"
            ]
        );
        sb.clear_audit();
    }
}
}

on_both_backends! {
fn status_history_undo_and_errors_without_controllers(backend) {
    let sb = audited(backend, Generation::V1beta2, 0);
    // A finished rollout answers at once.
    let o = run(&sb, &["status", "md/edge-md-0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "machinedeployment \"edge-md-0\" successfully rolled out\n"
    );
    let o = run(&sb, &["status", "md/edge-md-0", "-o", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["complete"].clone(), v["desired"].clone()),
        (json!(true), json!(2))
    );
    // A change nobody reconciles: --watch=false answers once; watching times out with exit 3.
    assert!(run(&sb, &["restart", "md/edge-md-0"]).status.success());
    let o = run(&sb, &["status", "md/edge-md-0", "--watch=false"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("spec update to be observed"),
        "{}",
        stdout(&o)
    );
    let o = run(&sb, &["status", "md/edge-md-0", "--timeout", "2s"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("timed out after 2s"), "{}", stderr(&o));

    // History of the fixture: one MachineSet at revision 1; nothing earlier to undo to.
    let o = run(&sb, &["history", "md/edge-md-0", "-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["revisions"][0]["revision"], 1);
    assert_eq!(v["revisions"][0]["machineSet"], "edge-md-0-7d9f8c");
    assert_eq!(v["revisions"][0]["infrastructureRef"]["name"], "edge-md-0");
    let o = run(&sb, &["undo", "md/edge-md-0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no earlier revision can be restored"),
        "{}",
        stderr(&o)
    );
    let o = run(&sb, &["history", "kcp/edge-control-plane"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("only MachineDeployments have revisions"));

    // Bad input: usage errors exit 2, missing objects 1, each with one clear line.
    for (args, code, says) in [
        (&["restart"][..], 2, "required"),
        (&["restart", "md/a", "b"], 2, "mixing"),
        (&["restart", "widget/a"], 2, "unknown type"),
        (&["restart", "md/missing"], 1, "not found"),
        (&["restart", "mp/pool"], 1, "MachinePools have no rollout trigger"),
        (
            &["undo", "md/edge-md-0", "--to-revision", "7"],
            1,
            "no revision 7",
        ),
        (&["status", "md/edge-md-0", "--timeout", "soon"], 2, "soon"),
        (&["restart", "cluster/nope"], 1, "not found"),
    ] {
        let o = run(&sb, args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}
}

// ------------------------------------------------------------ with the simulated controllers

fn machine_names(sb: &TestSandbox, selector: &str) -> Vec<String> {
    let v = sb.get_json(&["machines", "-l", selector]);
    let mut n: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["metadata"]["deletionTimestamp"].is_null())
        .map(|m| m["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

fn copy_template(sb: &TestSandbox, from: &str, to: &str) {
    let mut t = sb.get_json(&["devmachinetemplate", from]);
    let meta = t["metadata"].as_object_mut().unwrap();
    for k in [
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "managedFields",
        "generation",
    ] {
        meta.remove(k);
    }
    t["metadata"]["name"] = json!(to);
    let out = sb.kubectl().args(["create", "-f", "-"]).stdin_str(&t.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
}

fn set_md_template(sb: &TestSandbox, md: &str, template: &str) {
    sb.kubectl()
        .args(["patch", "md", md, "--type", "merge", "-p"])
        .arg(json!({"spec": {"template": {"spec": {"infrastructureRef": {"name": template}}}}}).to_string())
        .ok();
}

fn md_template(sb: &TestSandbox, md: &str) -> String {
    sb.get_json(&["md", md])["spec"]["template"]["spec"]["infrastructureRef"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits until the MachineDeployment `md` owns a single MachineSet (the drained ones deleted).
fn wait_for_one_machine_set(sb: &TestSandbox, md: &str) {
    let sel = format!("cluster.x-k8s.io/deployment-name={md}");
    assert!(
        eventually(WAIT, || sb.get_json(&["ms", "-l", &sel])["items"]
            .as_array()
            .is_some_and(|a| a.len() == 1)),
        "{md} still has more than one MachineSet after {WAIT:?}"
    );
}

fn status_ok(sb: &TestSandbox, what: &str) -> String {
    let o = run(sb, &["status", what, "--timeout", "300s"]);
    assert!(
        o.status.success(),
        "rollout status {what}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

on_controller_backends! {
fn restart_pause_resume_and_topology_with_controllers(backend) {
    let sb = crate::controllers::demo_on(backend);
    let sel = "cluster.x-k8s.io/deployment-name=edge-md-0";
    let before = machine_names(&sb, sel);
    assert_eq!(before.len(), 2);
    let o = run(&sb, &["restart", "md/edge-md-0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = status_ok(&sb, "md/edge-md-0");
    assert!(
        out.ends_with("machinedeployment \"edge-md-0\" successfully rolled out\n"),
        "{out}"
    );
    let after = machine_names(&sb, sel);
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|m| !before.contains(m)),
        "every Machine replaced: {before:?} -> {after:?}; rollout status said: {out}"
    );

    // Paused: a template change does not roll; resumed, it does.
    assert!(run(&sb, &["pause", "md/edge-md-0"]).status.success());
    copy_template(&sb, "edge-md-0", "edge-md-0-b");
    set_md_template(&sb, "edge-md-0", "edge-md-0-b");
    std::thread::sleep(Duration::from_millis(1500));
    let sets = sb.get_json(&["ms", "-l", sel]);
    assert!(
        sets["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|ms| ms["spec"]["template"]["spec"]["infrastructureRef"]["name"] == "edge-md-0"),
        "no MachineSet for the new template while paused"
    );
    let o = run(&sb, &["status", "md/edge-md-0", "--watch=false"]);
    assert!(stdout(&o).contains("is paused"), "{}", stdout(&o));
    let o = run(&sb, &["status", "md/edge-md-0", "--timeout", "2s"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("is paused"), "{}", stderr(&o));
    assert!(run(&sb, &["resume", "md/edge-md-0"]).status.success());
    status_ok(&sb, "md/edge-md-0");
    let v = sb.get_json(&["ms", "-l", sel]);
    let current: Vec<&Value> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ms| ms["spec"]["replicas"] == 2)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(
        current[0]["spec"]["template"]["spec"]["infrastructureRef"]["name"],
        "edge-md-0-b"
    );
    // Cluster API v1.11+ drops the drained MachineSet: nothing to undo to, said clearly.
    wait_for_one_machine_set(&sb, "edge-md-0");
    let o = run(&sb, &["undo", "md/edge-md-0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no earlier revision can be restored"),
        "{}",
        stderr(&o)
    );

    // Topology-managed: restarted through the Cluster, and the change stays.
    let c = sb.get_json(&["cluster", "demo"]);
    let md0 =
        sb.get_json(&["md", "-l", "topology.cluster.x-k8s.io/deployment-name=md-0"])["items"][0]["metadata"]
            ["name"]
            .as_str()
            .unwrap()
            .to_string();
    let o = run(&sb, &["restart", &format!("md/{md0}")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c2 = sb.get_json(&["cluster", "demo"]);
    let at = c2["spec"]["topology"]["workers"]["machineDeployments"][0]["rollout"]["after"].clone();
    assert!(at.is_string(), "{:#}", c2["spec"]["topology"]);
    assert_ne!(
        c["metadata"]["resourceVersion"],
        c2["metadata"]["resourceVersion"]
    );
    status_ok(&sb, &format!("md/{md0}"));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        sb.get_json(&["md", &md0])["spec"]["rollout"]["after"],
        at,
        "not reverted"
    );
    assert_eq!(
        sb.get_json(&["cluster", "demo"])["spec"]["topology"]["workers"]["machineDeployments"][0]["rollout"]
            ["after"],
        at
    );
    // The whole cluster at once.
    assert!(run(&sb, &["restart", "cluster/demo"]).status.success());
    let out = status_ok(&sb, "cluster/demo");
    assert_eq!(out.matches("successfully rolled out").count(), 3, "{out}");
}
}

const EDGE_V1BETA1: &str = r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: DevCluster
metadata: {name: edge, namespace: default}
spec: {backend: {inMemory: {}}}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: DevMachineTemplate
metadata: {name: edge-control-plane, namespace: default}
spec: {template: {spec: {backend: {inMemory: {}}}}}
---
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: KubeadmControlPlane
metadata: {name: edge-control-plane, namespace: default}
spec:
  replicas: 1
  version: v1.33.0
  machineTemplate:
    infrastructureRef: {apiVersion: infrastructure.cluster.x-k8s.io/v1beta1, kind: DevMachineTemplate, name: edge-control-plane}
  kubeadmConfigSpec: {clusterConfiguration: {apiServer: {certSANs: [localhost]}}}
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata: {name: edge, namespace: default}
spec:
  controlPlaneRef: {apiVersion: controlplane.cluster.x-k8s.io/v1beta1, kind: KubeadmControlPlane, name: edge-control-plane}
  infrastructureRef: {apiVersion: infrastructure.cluster.x-k8s.io/v1beta1, kind: DevCluster, name: edge}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: DevMachineTemplate
metadata: {name: edge-md-0, namespace: default}
spec: {template: {spec: {backend: {inMemory: {}}}}}
---
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: KubeadmConfigTemplate
metadata: {name: edge-md-0, namespace: default}
spec: {template: {spec: {joinConfiguration: {nodeRegistration: {criSocket: "unix:///var/run/containerd/containerd.sock"}}}}}
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineDeployment
metadata: {name: edge-md-0, namespace: default}
spec:
  clusterName: edge
  replicas: 2
  selector: {matchLabels: {cluster.x-k8s.io/cluster-name: edge}}
  template:
    spec:
      clusterName: edge
      version: v1.33.0
      bootstrap:
        configRef: {apiVersion: bootstrap.cluster.x-k8s.io/v1beta1, kind: KubeadmConfigTemplate, name: edge-md-0}
      infrastructureRef: {apiVersion: infrastructure.cluster.x-k8s.io/v1beta1, kind: DevMachineTemplate, name: edge-md-0}
"#;

on_controller_backends! {
fn undo_from_machine_sets_and_from_records_v1beta1(backend) {
    let sb = TestSandbox::with(Opts {
        backend,
        generation: Generation::V1beta1,
        controllers: true,
        speed: 0.0,
        ..Default::default()
    });
    // --save-config, as `kubectl apply` would: the Dev provider v1.14.2 panics on a DevCluster
    // without annotations (CONTROLLER-DIFFERENCES.md).
    let o = sb
        .kubectl()
        .args(["create", "--save-config", "-f", "-"])
        .stdin_str(EDGE_V1BETA1);
    assert!(o.status.success(), "{}", stderr(&o));
    status_ok(&sb, "cluster/edge");
    copy_template(&sb, "edge-md-0", "edge-md-0-b");
    set_md_template(&sb, "edge-md-0", "edge-md-0-b");
    status_ok(&sb, "md/edge-md-0");
    if backend == Backend::Real {
        // Cluster API v1.11+ deletes drained MachineSets whatever the API version says
        // (`revisionHistoryLimit` is gone from v1beta2): the sandbox's v1beta1 generation plays a
        // v1.10 management cluster, which keeps them (CONTROLLER-DIFFERENCES.md).
        wait_for_one_machine_set(&sb, "edge-md-0");
        let o = run(&sb, &["undo", "md/edge-md-0"]);
        assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
        assert!(
            stderr(&o).contains("no earlier revision can be restored"),
            "{}",
            stderr(&o)
        );
        return;
    }
    // v1beta1 keeps one drained MachineSet (revisionHistoryLimit 1): revision 1 is still there.
    let o = run(&sb, &["history", "md/edge-md-0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value =
        serde_json::from_slice(&run(&sb, &["history", "md/edge-md-0", "-o", "json"]).stdout).unwrap();
    let revs = v["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 2, "{v:#}");
    assert_eq!(
        (revs[0]["revision"].clone(), revs[0]["source"].clone()),
        (json!(1), json!("MachineSet"))
    );
    assert_eq!(revs[1]["current"], true);
    assert_eq!(revs[1]["infrastructureRef"]["name"], "edge-md-0-b");
    let table = stdout(&o);
    assert!(table.lines().next().unwrap().starts_with("REVISION"), "{table}");
    assert!(table.contains("DevMachineTemplate/edge-md-0-b"), "{table}");

    // Undo: back to revision 1's template, from its MachineSet.
    let o = run(&sb, &["undo", "md/edge-md-0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("rolled back to revision 1"), "{}", stdout(&o));
    status_ok(&sb, "md/edge-md-0");
    assert_eq!(md_template(&sb, "edge-md-0"), "edge-md-0");
    // The outgoing revision was recorded in the same request.
    let md = sb.get_json(&["md", "edge-md-0"]);
    let recs: Value = serde_json::from_str(
        md["metadata"]["annotations"]["kubectl-capi.io/revision-history"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(recs[0]["infrastructureRef"]["name"], "edge-md-0-b");

    // With no history kept, the record alone brings revision 2's template back.
    sb.kubectl()
        .args([
            "patch",
            "md",
            "edge-md-0",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"revisionHistoryLimit":0}}"#,
        ])
        .ok();
    wait_for_one_machine_set(&sb, "edge-md-0");
    let v: Value =
        serde_json::from_slice(&run(&sb, &["history", "md/edge-md-0", "-o", "json"]).stdout).unwrap();
    let rec = v["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == "record")
        .cloned();
    assert!(rec.is_some(), "{v:#}");
    let o = run(&sb, &["undo", "md/edge-md-0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    status_ok(&sb, "md/edge-md-0");
    assert_eq!(md_template(&sb, "edge-md-0"), "edge-md-0-b");
    let ms = sb.get_json(&["ms", "-l", "cluster.x-k8s.io/deployment-name=edge-md-0"]);
    assert!(ms["items"].as_array().unwrap().iter().any(
        |m| m["spec"]["template"]["spec"]["infrastructureRef"]["name"] == "edge-md-0-b"
            && m["status"]["readyReplicas"] == 2
    ));

    // A revision whose template is gone is refused before anything changes.
    sb.kubectl()
        .args(["delete", "devmachinetemplate", "edge-md-0"])
        .ok();
    let before = sb.get_json(&["md", "edge-md-0"]);
    let o = run(&sb, &["undo", "md/edge-md-0"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("no longer exists"), "{}", stderr(&o));
    assert_eq!(
        sb.get_json(&["md", "edge-md-0"])["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}
}
