//! `kubectl capi upgrade` through the real kubectl, against the sandbox's simulated controllers
//! and admission webhooks: a hand-built cluster upgraded object by object (template copies,
//! control plane, then workers; old templates cleaned up), in both API generations; an
//! interrupted apply resumed; a topology upgraded through spec.topology.version; refusals that
//! write nothing (the audit log proves it); the provider plan from a local repository.
//!
//! The provider plan runs on both backends; the cluster upgrades wait on controllers and webhooks
//! and run on the sandbox's simulated ones and on Cluster API's real managers (where the Dev
//! provider has no in-memory MachinePools, so the hand-built cluster has none there).

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use capi_e2e::{
    Opts, TestSandbox, bin_dir, eventually, on_both_backends, on_controller_backends, stderr, stdout,
};
use capi_sandbox::api::crds::Generation;

use crate::controllers::WAIT;
use serde_json::Value;

fn up(sb: &TestSandbox, args: &[&str]) -> std::process::Output {
    sb.capi(&[&["upgrade"][..], args].concat())
}

fn ok(sb: &TestSandbox, args: &[&str]) -> String {
    let o = up(sb, args);
    assert!(
        o.status.success(),
        "upgrade {args:?}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
    stdout(&o)
}

/// The versions of a cluster's live Machines.
fn machine_versions(sb: &TestSandbox, cluster: &str) -> BTreeSet<String> {
    let v = sb.get_json(&[
        "machines",
        "-l",
        &format!("cluster.x-k8s.io/cluster-name={cluster}"),
    ]);
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["metadata"]["deletionTimestamp"].is_null())
        .map(|m| m["spec"]["version"].as_str().unwrap_or("").to_string())
        .collect()
}

fn template_names(sb: &TestSandbox) -> BTreeSet<String> {
    let v = sb.get_json(&["devmachinetemplates"]);
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn cp_template(sb: &TestSandbox, kcp: &str) -> String {
    let v = sb.get_json(&["kcp", kcp]);
    let t = &v["spec"]["machineTemplate"];
    t.pointer("/spec/infrastructureRef/name")
        .or_else(|| t.pointer("/infrastructureRef/name"))
        .and_then(Value::as_str)
        .unwrap()
        .to_string()
}

fn md_field(sb: &TestSandbox, md: &str, ptr: &str) -> String {
    sb.get_json(&["md", md])
        .pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn writes(sb: &TestSandbox) -> Vec<Value> {
    sb.audit()
        .into_iter()
        .filter(|e| e["responseStatus"]["code"].as_u64().is_some_and(|c| c < 300))
        .collect()
}

on_controller_backends! {
fn hand_built_cluster_upgrades_object_by_object_and_cleans_up(backend) {
    let sb = crate::controllers::demo_with(Opts {
        backend,
        audit: true,
        ..Default::default()
    });
    // A MachinePool too (the sandbox runs its instances without Machines, as most providers
    // do). Cluster API's Dev provider has no in-memory MachinePool backend (DevMachinePool
    // runs only in Docker), so on the real controllers the cluster has none.
    let pool = !sb.is_real();
    if pool {
        let o = sb.kubectl().args(["apply", "-f", "-"]).stdin_str(EDGE_POOL);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(eventually(Duration::from_secs(300), || {
            sb.get_json(&["mp", "edge-mp-0"])["status"]["upToDateReplicas"] == 2
        }));
    }
    // NAME, cluster NAME and cluster/NAME all name the cluster.
    let plan = ok(&sb, &["plan", "edge", "--to", "v1.34.0"]);
    for want in [
        "KubeadmControlPlane/edge-control-plane  v1.33.0 -> v1.34.0  pending",
        "template DevMachineTemplate edge-control-plane -> edge-control-plane-v1-34-0",
        "DevMachineTemplate/edge-md-0-v1-34-0 (copy of edge-md-0)",
        "[ok]   versionSkew",
    ] {
        assert!(plan.contains(want), "{want:?} in\n{plan}");
    }
    if pool {
        for want in [
            "3. MachinePools",
            "MachinePool/edge-mp-0  v1.33.0 -> v1.34.0  pending",
        ] {
            assert!(plan.contains(want), "{want:?} in\n{plan}");
        }
    }
    // A server dry run: the API server and its webhooks see every write; nothing is stored.
    sb.clear_audit();
    let out = ok(
        &sb,
        &["apply", "cluster/edge", "--to", "v1.34.0", "--dry-run=server"],
    );
    assert!(out.contains("server dry run"), "{out}");
    let audited = writes(&sb);
    let expected = if pool { 5 } else { 4 };
    assert_eq!(
        audited.len(),
        expected,
        "2 creates + a patch per control plane, MachineDeployment and MachinePool: {audited:#?}"
    );
    assert!(
        audited
            .iter()
            .all(|e| e["requestURI"].as_str().unwrap().contains("dryRun=All"))
    );
    assert!(!template_names(&sb).contains("edge-md-0-v1-34-0"));
    assert_eq!(
        md_field(&sb, "edge-md-0", "/spec/template/spec/version"),
        "v1.33.0"
    );

    // The real thing, with a machine image set on the copies and the old templates removed.
    sb.clear_audit();
    let o = up(
        &sb,
        &[
            "apply",
            "cluster",
            "edge",
            "--to",
            "v1.34.0",
            "--set",
            "spec.template.spec.backend.inMemory.node.provisioning.startupDuration=1s",
            "--cleanup-templates",
            "--timeout",
            "10m",
        ],
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("Cluster default/edge upgraded to v1.34.0"), "{out}");
    assert!(out.contains("DevMachineTemplate/edge-md-0 deleted"), "{out}");
    let steps = if pool {
        ["[1/3] control plane", "[2/3] MachineDeployments", "[3/3] MachinePools"].as_slice()
    } else {
        ["[1/2] control plane", "[2/2] MachineDeployments"].as_slice()
    };
    for step in steps {
        assert!(err.contains(step), "{step}: {err}");
    }
    if pool {
        let mp = sb.get_json(&["mp", "edge-mp-0"]);
        assert_eq!(mp["spec"]["template"]["spec"]["version"], "v1.34.0");
        assert_eq!(mp["status"]["upToDateReplicas"], 2, "{:#}", mp["status"]);
        // The simulated pool scales too, so `scale --wait` on a MachinePool finishes.
        let o = sb.capi(&[
            "scale",
            "mp/edge-mp-0",
            "--replicas",
            "1",
            "--wait",
            "--timeout",
            "5m",
        ]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        assert_eq!(sb.get_json(&["mp", "edge-mp-0"])["status"]["replicas"], 1);
    }
    assert!(
        err.contains("[####################] 2/2 up to date  done"),
        "{err}"
    );
    assert_eq!(
        machine_versions(&sb, "edge"),
        BTreeSet::from(["v1.34.0".to_string()])
    );
    assert_eq!(
        cp_template(&sb, "edge-control-plane"),
        "edge-control-plane-v1-34-0"
    );
    assert_eq!(
        md_field(&sb, "edge-md-0", "/spec/template/spec/infrastructureRef/name"),
        "edge-md-0-v1-34-0"
    );
    let names = template_names(&sb);
    assert!(
        !names.contains("edge-md-0") && !names.contains("edge-control-plane"),
        "{names:?}"
    );
    let copy = sb.get_json(&["devmachinetemplate", "edge-md-0-v1-34-0"]);
    assert_eq!(
        copy["spec"]["template"]["spec"]["backend"]["inMemory"]["node"]["provisioning"]["startupDuration"],
        "1s"
    );
    assert_eq!(copy["metadata"]["ownerReferences"][0]["kind"], "Cluster");
    assert_eq!(
        copy["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"],
        "edge"
    );
    assert_eq!(
        copy["metadata"]["annotations"]["kubectl-capi.io/upgraded-from"],
        "edge-md-0"
    );
    // The control plane moved version and template in one request.
    let cp_patches: Vec<Value> = writes(&sb)
        .into_iter()
        .filter(|e| e["verb"] == "patch" && e["objectRef"]["resource"] == "kubeadmcontrolplanes")
        .collect();
    assert_eq!(cp_patches.len(), 1, "{cp_patches:#?}");
    assert_eq!(cp_patches[0]["requestObject"]["spec"]["version"], "v1.34.0");
    // The outgoing MachineDeployment revision was recorded for rollout undo.
    let history = stdout(&sb.capi(&["rollout", "history", "md/edge-md-0"]));
    assert!(history.contains("DevMachineTemplate/edge-md-0"), "{history}");
    // Once the last statuses have caught up (on Cluster API's managers a MachineDeployment's
    // status is recomputed a moment after its drained MachineSet goes, which the run above may
    // not wait for), running it again finds nothing left to do, and writes nothing.
    let settled = eventually(WAIT, || {
        let o = up(&sb, &["plan", "edge", "--to", "v1.34.0", "-o", "json"]);
        serde_json::from_slice::<Value>(&o.stdout).is_ok_and(|p| p["complete"] == true)
    });
    assert!(settled, "the upgrade plan never became complete after the apply");
    sb.clear_audit();
    let again = ok(&sb, &["apply", "cluster", "edge", "--to", "v1.34.0"]);
    assert!(again.contains("already runs v1.34.0 everywhere"), "{again}");
    assert!(writes(&sb).is_empty(), "{:#?}", writes(&sb));
}
}

const EDGE_POOL: &str = r#"
apiVersion: cluster.x-k8s.io/v1beta2
kind: MachinePool
metadata: {name: edge-mp-0, namespace: default, labels: {cluster.x-k8s.io/cluster-name: edge}}
spec:
  clusterName: edge
  replicas: 2
  template:
    spec:
      clusterName: edge
      version: v1.33.0
      bootstrap:
        configRef: {apiGroup: bootstrap.cluster.x-k8s.io, kind: KubeadmConfig, name: edge-mp-0}
      infrastructureRef: {apiGroup: infrastructure.cluster.x-k8s.io, kind: DevMachinePool, name: edge-mp-0}
"#;

on_controller_backends! {
fn refusals_change_nothing(backend) {
    let sb = crate::controllers::demo_with(Opts {
        backend,
        audit: true,
        ..Default::default()
    });
    // Make a worker run ahead of the control plane (by hand, as happens).
    sb.kubectl()
        .args(["patch", "md", "edge-md-0", "--type", "merge", "-p"])
        .arg(r#"{"spec":{"template":{"spec":{"version":"v1.34.0"}}}}"#)
        .ok();
    sb.clear_audit();
    let cases: &[(&[&str], &str)] = &[
        (&["cluster", "edge", "--to", "v1.35.0"], "minorSteps"),
        (&["cluster", "edge", "--to", "v1.32.0"], "noDowngrade"),
        (&["cluster", "edge", "--to", "v1.33.1"], "workersNotAhead"),
        (&["cluster", "demo", "--to", "v1.35.0"], "classVersions"),
        (&["cluster", "demo", "--to", "v1.32.4"], "noDowngrade"),
    ];
    for (args, check) in cases {
        for verb in ["plan", "apply"] {
            let o = up(&sb, &[&[verb][..], args].concat());
            assert_eq!(
                o.status.code(),
                Some(1),
                "{verb} {args:?}: {}{}",
                stdout(&o),
                stderr(&o)
            );
            let text = format!("{}{}", stdout(&o), stderr(&o));
            assert!(
                text.contains(&format!("{check}: ")) || text.contains(&format!("[FAIL] {check}")),
                "{verb} {args:?}: {text}"
            );
        }
    }
    assert!(
        writes(&sb).is_empty(),
        "refused before any change: {:#?}",
        writes(&sb)
    );
    // The API server's own guards (the Cluster API webhooks) agree.
    let e = sb
        .kubectl()
        .args(["patch", "kcp", "edge-control-plane", "--type", "merge", "-p"])
        .arg(r#"{"spec":{"version":"v1.35.0"}}"#)
        .fails();
    assert!(
        e.contains("cannot update Kubernetes version from v1.33.0 to v1.35.0"),
        "{e}"
    );
    // Usage errors exit 2 and name the problem.
    for (args, says) in [
        (
            vec!["plan", "cluster", "edge", "--to", "latest"],
            "not a Kubernetes version",
        ),
        (
            vec!["plan", "md/edge-md-0", "--to", "v1.34.0"],
            "give cluster NAME",
        ),
        (
            vec!["plan", "cluster", "--to", "v1.34.0"],
            "needs the cluster's name",
        ),
        (
            vec![
                "apply",
                "cluster",
                "edge",
                "--to",
                "v1.34.0",
                "--set",
                "metadata.name=x",
            ],
            "under spec",
        ),
        (
            vec![
                "apply",
                "cluster",
                "edge",
                "--to",
                "v1.34.0",
                "--concurrency",
                "0",
            ],
            "concurrency",
        ),
    ] {
        let o = up(&sb, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    let o = up(&sb, &["plan", "cluster", "edgy", "--to", "v1.34.0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("did you mean edge"), "{}", stderr(&o));
    // The refusal names its way out, and that way is allowed: the control plane goes up to the
    // workers' version.
    let o = up(&sb, &["plan", "cluster", "edge", "--to", "v1.33.1"]);
    assert!(
        stdout(&o).contains("kubectl capi upgrade apply cluster edge -n default --to v1.34.0")
            || stderr(&o).contains("kubectl capi upgrade apply cluster edge -n default --to v1.34.0"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    ok(
        &sb,
        &["apply", "cluster", "edge", "--to", "v1.34.0", "--timeout", "10m"],
    );
    let v = sb.get_json(&["kcp", "edge-control-plane"]);
    assert_eq!(v["spec"]["version"], "v1.34.0");
    assert_eq!(
        machine_versions(&sb, "edge"),
        BTreeSet::from(["v1.34.0".to_string()])
    );
}
}

on_controller_backends! {
fn interrupted_apply_continues_where_it_stopped(backend) {
    // Slow enough controllers that the control plane's rollout takes a few seconds.
    let sb = crate::controllers::demo_with(Opts {
        backend,
        speed: 0.5,
        ..Default::default()
    });
    let mut c = Command::new(bin_dir().join("kubectl-capi-upgrade"));
    sb.env(&mut c);
    let mut child = c
        .args(["apply", "cluster", "edge", "--to", "v1.34.0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moved = eventually(Duration::from_secs(300), || {
        sb.get_json(&["kcp", "edge-control-plane"])["spec"]["version"] == "v1.34.0"
    });
    child.kill().unwrap();
    let _ = child.wait();
    assert!(moved, "the control plane was patched");
    assert_eq!(
        md_field(&sb, "edge-md-0", "/spec/template/spec/version"),
        "v1.33.0",
        "interrupted before the workers"
    );
    // A plan now shows the control plane under way and the workers pending.
    let plan = ok(&sb, &["plan", "cluster", "edge", "--to", "v1.34.0"]);
    assert!(
        plan.contains("MachineDeployment/edge-md-0  v1.33.0 -> v1.34.0  pending"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "[ok]   controlPlaneStable  KubeadmControlPlane/edge-control-plane is already at v1.34.0"
        ),
        "{plan}"
    );
    // --wait=false does what can be done now and says how to go on.
    let out = ok(
        &sb,
        &["apply", "cluster", "edge", "--to", "v1.34.0", "--wait=false"],
    );
    assert!(out.contains("run the same command again"), "{out}");
    let out = ok(
        &sb,
        &["apply", "cluster", "edge", "--to", "v1.34.0", "--timeout", "10m"],
    );
    assert!(out.contains("upgraded to v1.34.0"), "{out}");
    assert_eq!(
        machine_versions(&sb, "edge"),
        BTreeSet::from(["v1.34.0".to_string()])
    );
    // The copy made by the interrupted run was found again, not duplicated.
    let copies: Vec<String> = template_names(&sb)
        .into_iter()
        .filter(|n| n.starts_with("edge-control-plane"))
        .collect();
    assert_eq!(copies, vec!["edge-control-plane", "edge-control-plane-v1-34-0"]);
}
}

on_controller_backends! {
fn topology_cluster_upgrades_through_its_version(backend) {
    let sb = crate::controllers::demo_on(backend);
    let plan = ok(&sb, &["plan", "cluster", "demo", "--to", "v1.34.0", "-o", "json"]);
    let p: Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(p["mode"], "topology");
    assert_eq!(p["allowed"], true);
    assert_eq!(p["newTemplates"], serde_json::json!([]));
    let text = ok(&sb, &["plan", "cluster", "demo", "--to", "v1.34.0"]);
    assert!(text.contains("  3. MachineDeployments"), "{text}");
    let o = up(
        &sb,
        &[
            "apply",
            "cluster",
            "demo",
            "--to",
            "v1.34.0",
            "-o",
            "yaml",
            "--timeout",
            "10m",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Progress is numbered as the plan's steps, and no bar starts full before the controller
    // has seen the new version.
    let err = stderr(&o);
    for h in [
        "[1/3] Cluster topology",
        "[2/3] control plane",
        "[3/3] MachineDeployments",
    ] {
        assert!(err.contains(h), "{h}: {err}");
    }
    for l in err.lines().filter(|l| l.contains("waiting for spec update")) {
        assert!(!l.contains("] 3/3 up to date"), "{err}");
    }
    let out: Value = serde_saphyr::from_str(&stdout(&o)).unwrap();
    assert_eq!(out["complete"], true);
    assert_eq!(out["patched"], serde_json::json!(["Cluster/demo"]));
    assert_eq!(
        sb.get_json(&["cluster", "demo"])["spec"]["topology"]["version"],
        "v1.34.0"
    );
    assert_eq!(
        machine_versions(&sb, "demo"),
        BTreeSet::from(["v1.34.0".to_string()])
    );
}
}

const EDGE_V1BETA1: &str = r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: DevCluster
metadata: {name: old, namespace: default}
spec: {backend: {inMemory: {}}}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: DevMachineTemplate
metadata: {name: old-cp, namespace: default}
spec: {template: {spec: {backend: {inMemory: {}}}}}
---
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: KubeadmControlPlane
metadata: {name: old-cp, namespace: default}
spec:
  replicas: 1
  version: v1.33.0
  machineTemplate:
    infrastructureRef: {apiVersion: infrastructure.cluster.x-k8s.io/v1beta1, kind: DevMachineTemplate, name: old-cp}
  kubeadmConfigSpec: {clusterConfiguration: {apiServer: {certSANs: [localhost]}}}
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata: {name: old, namespace: default}
spec:
  controlPlaneRef: {apiVersion: controlplane.cluster.x-k8s.io/v1beta1, kind: KubeadmControlPlane, name: old-cp}
  infrastructureRef: {apiVersion: infrastructure.cluster.x-k8s.io/v1beta1, kind: DevCluster, name: old}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: DevMachineTemplate
metadata: {name: old-md, namespace: default}
spec: {template: {spec: {backend: {inMemory: {}}}}}
---
apiVersion: bootstrap.cluster.x-k8s.io/v1beta1
kind: KubeadmConfigTemplate
metadata: {name: old-md, namespace: default}
spec: {template: {spec: {joinConfiguration: {nodeRegistration: {criSocket: "unix:///var/run/containerd/containerd.sock"}}}}}
"#;

fn md_v1beta1(name: &str) -> String {
    format!(
        r#"
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineDeployment
metadata: {{name: {name}, namespace: default}}
spec:
  clusterName: old
  replicas: 1
  selector: {{matchLabels: {{cluster.x-k8s.io/cluster-name: old}}}}
  template:
    spec:
      clusterName: old
      version: v1.33.0
      bootstrap:
        configRef: {{apiVersion: bootstrap.cluster.x-k8s.io/v1beta1, kind: KubeadmConfigTemplate, name: old-md}}
      infrastructureRef: {{apiVersion: infrastructure.cluster.x-k8s.io/v1beta1, kind: DevMachineTemplate, name: old-md}}
"#
    )
}

#[test]
fn v1beta1_cluster_with_shared_templates_and_concurrency() {
    let sb = TestSandbox::with(Opts {
        generation: Generation::V1beta1,
        controllers: true,
        speed: 0.0,
        ..Default::default()
    });
    let all = format!(
        "{EDGE_V1BETA1}---{}---{}",
        md_v1beta1("old-md-a"),
        md_v1beta1("old-md-b")
    );
    sb.kubectl().args(["create", "-f", "-"]).stdin_str(&all);
    assert!(eventually(Duration::from_secs(60), || machine_versions(
        &sb, "old"
    )
    .len()
        == 1
        && sb.get_json(&[
            "machines",
            "-l",
            "cluster.x-k8s.io/cluster-name=old"
        ])["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["status"]["phase"] == "Running")
            .count()
            == 3));
    let plan = ok(&sb, &["plan", "cluster", "old", "--to", "v1.34.0", "-o", "json"]);
    let p: Value = serde_json::from_str(&plan).unwrap();
    // Two MachineDeployments share one template: one copy.
    assert_eq!(p["newTemplates"].as_array().unwrap().len(), 2, "{plan}");
    let out = ok(
        &sb,
        &[
            "apply",
            "cluster",
            "old",
            "--to",
            "v1.34.0",
            "--concurrency",
            "2",
            "--cleanup-templates",
            "--timeout",
            "2m",
        ],
    );
    assert!(out.contains("upgraded to v1.34.0"), "{out}");
    assert_eq!(
        machine_versions(&sb, "old"),
        BTreeSet::from(["v1.34.0".to_string()])
    );
    assert_eq!(cp_template(&sb, "old-cp"), "old-cp-v1-34-0");
    for md in ["old-md-a", "old-md-b"] {
        assert_eq!(
            md_field(&sb, md, "/spec/template/spec/infrastructureRef/name"),
            "old-md-v1-34-0"
        );
    }
    // v1beta1 keeps drained MachineSets (revisionHistoryLimit), which still name the old
    // template: it is kept, and the output says why.
    assert!(
        out.contains("DevMachineTemplate/old-md kept: referenced by MachineSet/"),
        "{out}"
    );
    assert!(out.contains("DevMachineTemplate/old-cp deleted"), "{out}");
}

on_both_backends! {
fn provider_plan_from_a_local_repository(backend) {
    let sb = TestSandbox::on(backend);
    let repo = tempfile::tempdir().unwrap();
    let meta = "apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n- {major: 1, minor: 14, contract: v1beta2}\n- {major: 1, minor: 15, contract: v1beta2}\n";
    for (label, versions) in [
        ("cluster-api", &["v1.14.0", "v1.14.3", "v1.15.0-rc.0"][..]),
        ("bootstrap-kubeadm", &["v1.14.3"][..]),
        ("control-plane-kubeadm", &["v1.14.0"][..]),
    ] {
        for v in versions {
            let d = repo.path().join(label).join(v);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("metadata.yaml"), meta).unwrap();
        }
    }
    let r = repo.path().to_str().unwrap();
    let out = ok(&sb, &["providers", "plan", "--repository", r]);
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("cluster-api")[3..], ["v1.14.0", "v1.14.3"], "{out}");
    assert_eq!(row("bootstrap-kubeadm")[3..], ["v1.14.0", "v1.14.3"], "{out}");
    assert!(out.contains("Already up to date"), "{out}");
    assert!(
        out.contains("(not in the repository)"),
        "infrastructure-docker has no folder: {out}"
    );
    assert!(
        out.contains("clusterctl upgrade apply --contract v1beta2"),
        "{out}"
    );
    let json: Value =
        serde_json::from_str(&ok(&sb, &["providers", "plan", "--repository", r, "-o", "json"])).unwrap();
    assert_eq!(json[0]["contract"], "v1beta2");
    let o = up(&sb, &["providers", "plan", "--repository", "/nonexistent/repo"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no provider repository at /nonexistent/repo"),
        "{}",
        stderr(&o)
    );
}
}
