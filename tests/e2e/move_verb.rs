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
    assert!(refs >= 8, "only {refs} owner references checked");
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

/// `kubectl capi move ARGS` from `src`.
fn run_move(src: &TestCluster, args: &[&str]) -> std::process::Output {
    let mut a = vec!["move"];
    a.extend_from_slice(args);
    src.capi(&a)
}

fn is_paused(c: &Value) -> bool {
    c["spec"]["paused"] == true
        || c["metadata"]["annotations"]
            .get("cluster.x-k8s.io/paused")
            .is_some()
}

/// The ClusterClass `sandbox` and its templates in `ns`, the templates owned by the class as
/// Cluster API's ClusterClass controller makes them.
fn apply_class(sb: &TestCluster, ns: &str) {
    let text = std::fs::read_to_string(capi_e2e::project_root().join("templates/clusterclass-sandbox.yaml"))
        .unwrap();
    sb.kubectl().args(["create", "namespace", ns]).ok();
    sb.kubectl().args(["apply", "-n", ns, "-f", "-"]).stdin_str(&text);
    let class = sb.get_json(&[
        "clusterclasses.cluster.x-k8s.io",
        "sandbox",
        "-n",
        ns,
        "-o",
        "json",
    ]);
    let uid = class["metadata"]["uid"].as_str().unwrap();
    for (res, name) in [
        (
            "devclustertemplates.infrastructure.cluster.x-k8s.io",
            "sandbox-cluster",
        ),
        (
            "kubeadmcontrolplanetemplates.controlplane.cluster.x-k8s.io",
            "sandbox-control-plane",
        ),
        (
            "devmachinetemplates.infrastructure.cluster.x-k8s.io",
            "sandbox-control-plane",
        ),
        (
            "devmachinetemplates.infrastructure.cluster.x-k8s.io",
            "sandbox-worker",
        ),
        (
            "kubeadmconfigtemplates.bootstrap.cluster.x-k8s.io",
            "sandbox-worker",
        ),
    ] {
        let patch = format!(
            r#"{{"metadata":{{"ownerReferences":[{{"apiVersion":"cluster.x-k8s.io/v1beta2","kind":"ClusterClass","name":"sandbox","uid":"{uid}"}}]}}}}"#
        );
        sb.kubectl()
            .args(["patch", res, name, "-n", ns, "--type=merge", "-p", &patch])
            .ok();
    }
}

fn topology(name: &str, ns: &str) -> ClusterSpec {
    let mut s = ClusterSpec::new(name, ns, 1, 1);
    s.class = Some("sandbox".into());
    s
}

#[test]
fn one_cluster_of_three_moves_with_its_class_which_stays_for_the_others() {
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    apply_class(&src, "shared");
    for n in ["a", "b", "c"] {
        src.load(&topology(n, "shared"));
    }
    let plan = stdout(&run_move(
        &src,
        &[
            "--dry-run",
            "-n",
            "shared",
            "--cluster",
            "a",
            "--to-kubeconfig",
            kubeconfig(&dst),
        ],
    ));
    assert!(
        plan.contains("ClusterClass.cluster.x-k8s.io shared/sandbox  (copied; stays in the source)"),
        "{plan}"
    );
    assert!(
        plan.contains("Cluster.cluster.x-k8s.io shared/b: belongs to Cluster b, which is not moved"),
        "{plan}"
    );
    let o = run_move(
        &src,
        &[
            "-n",
            "shared",
            "--cluster",
            "a",
            "--to-kubeconfig",
            kubeconfig(&dst),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(&src, "clusters.cluster.x-k8s.io", "shared"), ["b", "c"]);
    assert_eq!(names(&dst, "clusters.cluster.x-k8s.io", "shared"), ["a"]);
    assert_eq!(
        names(&dst, "clusterclasses.cluster.x-k8s.io", "shared"),
        ["sandbox"]
    );
    assert_eq!(
        names(&src, "clusterclasses.cluster.x-k8s.io", "shared"),
        ["sandbox"]
    );
    let templates = names(
        &dst,
        "devmachinetemplates.infrastructure.cluster.x-k8s.io",
        "shared",
    );
    assert_eq!(
        templates,
        [
            "a-control-plane",
            "a-md-0",
            "sandbox-control-plane",
            "sandbox-worker"
        ]
    );
    let kept = names(
        &src,
        "devmachinetemplates.infrastructure.cluster.x-k8s.io",
        "shared",
    );
    assert!(
        kept.contains(&"sandbox-worker".to_string()) && !kept.iter().any(|n| n.starts_with("a-")),
        "{kept:?}"
    );
    // b's and c's machines stay; a's moved; the class is resumed on both sides.
    let src_machines = names(&src, "machines.cluster.x-k8s.io", "shared");
    assert!(
        src_machines.iter().all(|m| !m.starts_with("a-")),
        "{src_machines:?}"
    );
    assert!(!src_machines.is_empty());
    let dst_machines = names(&dst, "machines.cluster.x-k8s.io", "shared");
    assert!(
        !dst_machines.is_empty() && dst_machines.iter().all(|m| m.starts_with("a-")),
        "{dst_machines:?}"
    );
    for sb in [&src, &dst] {
        for c in items(sb, "clusterclasses.cluster.x-k8s.io", "shared") {
            assert!(!is_paused(&c), "{c}");
        }
        for c in items(sb, "clusters.cluster.x-k8s.io", "shared") {
            assert!(!is_paused(&c), "{c}");
        }
    }
    assert_owners_resolve(&dst, "shared");
}

#[test]
fn every_namespace_moves_with_dash_a() {
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    src.load(&ClusterSpec::new("a", "one", 1, 1));
    src.load(&ClusterSpec::new("b", "two", 1, 1));
    let o = run_move(&src, &["-A", "--to-kubeconfig", kubeconfig(&dst), "-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["kind"], "MoveResult");
    assert_eq!(summary["created"], summary["objects"]);
    assert_eq!(summary["deletedFromSource"], summary["objects"]);
    assert_eq!(names(&dst, "clusters.cluster.x-k8s.io", ""), ["a", "b"]);
    assert!(names(&src, "clusters.cluster.x-k8s.io", "").is_empty());
}

#[test]
fn the_dry_run_prints_the_plan_and_changes_nothing() {
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    src.load(&ClusterSpec::new("a", "prod", 1, 2));
    let o = run_move(
        &src,
        &[
            "--dry-run",
            "-n",
            "prod",
            "--to-kubeconfig",
            kubeconfig(&dst),
            "-o",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["kind"], "MovePlan");
    let steps = plan["steps"].as_array().unwrap();
    // The step of the first `kind` whose name contains `part`.
    let step_of = |kind: &str, part: &str| {
        steps
            .iter()
            .position(|s| {
                s["objects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["kind"] == kind && o["name"].as_str().unwrap().contains(part))
            })
            .unwrap_or_else(|| panic!("{kind} *{part}* not in the plan: {plan}"))
    };
    assert_eq!(step_of("Cluster", "a"), 0);
    assert!(step_of("MachineDeployment", "md-0") < step_of("MachineSet", "md-0"));
    assert!(step_of("MachineSet", "md-0") < step_of("Machine", "md-0"));
    assert!(step_of("KubeadmControlPlane", "control-plane") < step_of("Machine", "control-plane"));
    assert_eq!(plan["problems"], serde_json::json!([]));
    let count: usize = steps.iter().map(|s| s["objects"].as_array().unwrap().len()).sum();
    assert_eq!(plan["count"], count);
    // Nothing changed on either side.
    for c in items(&src, "clusters.cluster.x-k8s.io", "prod") {
        assert!(!is_paused(&c));
    }
    assert!(names(&dst, "clusters.cluster.x-k8s.io", "").is_empty());
    // Text too, without a target.
    let text = stdout(&run_move(&src, &["--dry-run", "-n", "prod"]));
    assert!(
        text.starts_with(&format!(
            "Move plan: {count} object(s) in {} step(s)",
            steps.len()
        )),
        "{text}"
    );
}

#[test]
fn objects_left_behind_are_refused_unless_allowed() {
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    src.load(&ClusterSpec::new("a", "prod", 1, 1));
    src.apply("apiVersion: infrastructure.cluster.x-k8s.io/v1beta2\nkind: DevMachineTemplate\nmetadata: {name: orphan, namespace: prod}\nspec: {template: {spec: {backend: {inMemory: {}}}}}\n");
    let o = run_move(&src, &["-n", "prod", "--to-kubeconfig", kubeconfig(&dst)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("1 object(s) of moved kinds would be left behind"),
        "{err}"
    );
    assert!(
        err.contains(
            "DevMachineTemplate.infrastructure.cluster.x-k8s.io prod/orphan: nothing that moves owns it"
        ),
        "{err}"
    );
    assert!(err.contains("--allow-left-behind"), "{err}");
    for c in items(&src, "clusters.cluster.x-k8s.io", "prod") {
        assert!(!is_paused(&c));
    }
    let o = run_move(
        &src,
        &[
            "-n",
            "prod",
            "--to-kubeconfig",
            kubeconfig(&dst),
            "--allow-left-behind",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(&dst, "clusters.cluster.x-k8s.io", "prod"), ["a"]);
    assert_eq!(
        names(
            &src,
            "devmachinetemplates.infrastructure.cluster.x-k8s.io",
            "prod"
        ),
        ["orphan"]
    );
}

#[test]
fn moving_nothing_is_an_error() {
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    let o = run_move(&src, &["-n", "empty", "--to-kubeconfig", kubeconfig(&dst)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("nothing to move in namespace empty"),
        "{}",
        stderr(&o)
    );
    let o = run_move(
        &src,
        &[
            "-n",
            "empty",
            "--cluster",
            "nope",
            "--to-kubeconfig",
            kubeconfig(&dst),
        ],
    );
    assert!(
        stderr(&o).contains("Cluster empty/nope not found"),
        "{}",
        stderr(&o)
    );
}

/// The move refuses with `want` in its message and changes nothing.
fn assert_refused(src: &TestCluster, dst: &TestCluster, want: &str) {
    let o = run_move(src, &["-n", "prod", "--to-kubeconfig", kubeconfig(dst)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("the move cannot start"), "{err}");
    assert!(err.contains(want), "{want:?} not in: {err}");
    assert!(names(dst, "clusters.cluster.x-k8s.io", "prod").is_empty());
    let marked = items(src, "clusters.cluster.x-k8s.io", "prod")
        .into_iter()
        .filter(|c| {
            c["metadata"]["annotations"]
                .get("capi.kubectl.x-k8s.io/paused-by-move")
                .is_some()
        })
        .count();
    assert_eq!(marked, 0, "a refused move paused something");
}

#[test]
fn each_preflight_problem_refuses_the_move_before_anything_changes() {
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    src.load(&ClusterSpec::new("a", "prod", 1, 1));
    // A provider the target lacks.
    let providers = items(&dst, "providers.clusterctl.cluster.x-k8s.io", "");
    let infra = providers
        .iter()
        .find(|p| p["type"] == "InfrastructureProvider")
        .unwrap();
    let (pname, pns) = (
        infra["metadata"]["name"].as_str().unwrap(),
        infra["metadata"]["namespace"].as_str().unwrap(),
    );
    dst.kubectl()
        .args([
            "delete",
            "providers.clusterctl.cluster.x-k8s.io",
            pname,
            "-n",
            pns,
        ])
        .ok();
    assert_refused(
        &src,
        &dst,
        &format!("provider {pname} (InfrastructureProvider) is not installed in the target"),
    );
    // An older one.
    let older = serde_json::json!({"apiVersion": "clusterctl.cluster.x-k8s.io/v1alpha3", "kind": "Provider",
        "metadata": {"name": pname, "namespace": pns}, "type": "InfrastructureProvider", "providerName": infra["providerName"], "version": "v0.0.1"});
    dst.kubectl()
        .args(["apply", "-f", "-"])
        .stdin_str(&older.to_string());
    assert_refused(
        &src,
        &dst,
        &format!("provider {pname} is v0.0.1 in the target, older than"),
    );
    dst.kubectl()
        .args(["apply", "-f", "-"])
        .stdin_str(&infra.to_string());
    // A kind the target does not serve.
    dst.kubectl()
        .args(["delete", "crd", "devmachines.infrastructure.cluster.x-k8s.io"])
        .ok();
    assert_refused(
        &src,
        &dst,
        "the target does not serve DevMachine (infrastructure.cluster.x-k8s.io/v1beta2)",
    );
    let dst = TestCluster::start();
    // A Machine without a Node.
    let m = names(&src, "machines.cluster.x-k8s.io", "prod")[0].clone();
    src.remove_node_ref("prod", &m);
    assert_refused(
        &src,
        &dst,
        &format!("Machine prod/{m} is not provisioned: it has no Node"),
    );
    let o = run_move(
        &src,
        &["-n", "prod", "--to-kubeconfig", kubeconfig(&dst), "--force"],
    );
    assert!(o.status.success(), "--force moves it anyway: {}", stderr(&o));
    // Paused by someone else.
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    src.load(&ClusterSpec::new("a", "prod", 1, 1));
    src.kubectl()
        .args([
            "patch",
            "clusters.cluster.x-k8s.io",
            "a",
            "-n",
            "prod",
            "--type=merge",
            "-p",
            r#"{"spec":{"paused":true}}"#,
        ])
        .ok();
    assert_refused(&src, &dst, "Cluster prod/a is paused, not by a move of this tool");
}

fn fault(
    verb: &str,
    resource: &str,
    after: usize,
    effect: capi_sandbox::http::faults::Effect,
) -> capi_sandbox::http::faults::Fault {
    capi_sandbox::http::faults::Fault {
        verb: verb.into(),
        resource: resource.into(),
        after,
        effect,
    }
}

fn marked(sb: &TestCluster, ns: &str) -> usize {
    items(sb, "clusters.cluster.x-k8s.io", ns)
        .iter()
        .filter(|c| {
            c["metadata"]["annotations"]
                .get("capi.kubectl.x-k8s.io/paused-by-move")
                .is_some()
        })
        .count()
}

#[test]
fn a_failure_while_copying_rolls_back_and_resumes_the_source() {
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    src.load(&ClusterSpec::new("a", "prod", 1, 3));
    let before = names(&src, "machines.cluster.x-k8s.io", "prod");
    dst.sandbox().state.faults.inject(fault(
        "create",
        "machines",
        2,
        capi_sandbox::http::faults::Effect::Fail,
    ));
    let o = run_move(&src, &["-n", "prod", "--to-kubeconfig", kubeconfig(&dst)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("injected fault"), "{err}");
    assert!(err.contains("rolled back: deleted the"), "{err}");
    assert!(
        err.contains(
            "resumed 1 Cluster(s)/ClusterClass(es) in the source; nothing was deleted from the source"
        ),
        "{err}"
    );
    for k in KINDS.iter().filter(|k| **k != "secrets") {
        assert!(
            names(&dst, k, "prod").is_empty(),
            "{k} left in the target: {:?}",
            names(&dst, k, "prod")
        );
    }
    assert_eq!(names(&src, "machines.cluster.x-k8s.io", "prod"), before);
    assert_eq!(marked(&src, "prod"), 0);
    for c in items(&src, "clusters.cluster.x-k8s.io", "prod") {
        assert!(!is_paused(&c), "{c}");
    }
    // The cause gone, the same command moves.
    dst.sandbox().state.faults.clear();
    let o = run_move(&src, &["-n", "prod", "--to-kubeconfig", kubeconfig(&dst)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(&dst, "machines.cluster.x-k8s.io", "prod"), before);
}

/// Starts a move, waits until `on`'s faults hold one of its requests, and kills it (SIGKILL).
fn kill_move_when_held(src: &TestCluster, on: &TestCluster, args: &[&str]) {
    let mut c = src.plugin("kubectl-capi-move").args(args).0;
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let held = capi_e2e::eventually(std::time::Duration::from_secs(60), || {
        on.sandbox().state.faults.bitten() > 0
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(held, "the move never reached the held request");
    on.sandbox().state.faults.clear();
}

#[test]
fn a_move_killed_at_any_point_is_finished_by_running_it_again() {
    use capi_sandbox::http::faults::Effect::Hang;
    // (where the kill happens, on which side, the fault)
    let points = [
        ("copying Machines", true, fault("create", "machines", 1, Hang)),
        (
            "deleting Machines from the source",
            false,
            fault("delete", "machines", 1, Hang),
        ),
        ("resuming the target", true, fault("patch", "clusters", 0, Hang)),
    ];
    for (point, in_target, f) in points {
        let (src, dst) = (TestCluster::start(), TestCluster::start());
        src.load(&ClusterSpec::new("a", "prod", 1, 2));
        let want = names(&src, "machines.cluster.x-k8s.io", "prod");
        let args = ["-n", "prod", "--to-kubeconfig", kubeconfig(&dst)];
        let on = if in_target { &dst } else { &src };
        on.sandbox().state.faults.inject(f);
        kill_move_when_held(&src, on, &args);
        // Nothing is in neither cluster.
        let mut both: Vec<String> = names(&src, "machines.cluster.x-k8s.io", "prod");
        both.extend(names(&dst, "machines.cluster.x-k8s.io", "prod"));
        for m in &want {
            assert!(both.contains(m), "{point}: Machine {m} is in neither cluster");
        }
        let o = run_move(&src, &args);
        assert!(o.status.success(), "{point}: the re-run failed: {}", stderr(&o));
        assert!(
            stdout(&o).contains("finished the interrupted move"),
            "{point}: {}",
            stdout(&o)
        );
        assert_eq!(names(&dst, "machines.cluster.x-k8s.io", "prod"), want, "{point}");
        assert!(
            names(&src, "clusters.cluster.x-k8s.io", "prod").is_empty(),
            "{point}"
        );
        assert!(
            names(&src, "machines.cluster.x-k8s.io", "prod").is_empty(),
            "{point}"
        );
        for c in items(&dst, "clusters.cluster.x-k8s.io", "prod") {
            assert!(!is_paused(&c), "{point}: {c}");
        }
        assert_eq!(marked(&dst, "prod"), 0, "{point}");
        assert_owners_resolve(&dst, "prod");
    }
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_backup_restores_into_a_fresh_sandbox_as_it_was() {
    let src = TestCluster::start();
    src.load(&ClusterSpec::new("a", "prod", 1, 2));
    src.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: a-kubeconfig, namespace: prod}\nstringData: {value: x}\n");
    let before = describe(&src, "prod", "a");
    let dir = src.dir.path().join("backups/prod");
    let d = dir.to_str().unwrap();
    let o = run_move(&src, &["-n", "prod", "--to-directory", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("manifest.yaml").is_file());
    let manifest: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("manifest.yaml")).unwrap()).unwrap();
    assert_eq!(manifest["formatVersion"], 1);
    let listed = manifest["objects"].as_array().unwrap();
    assert!(listed.iter().any(|o| o["kind"] == "Cluster"
        && o["group"] == "cluster.x-k8s.io"
        && o["file"] == "cluster.cluster.x-k8s.io_prod_a.yaml"));
    assert_eq!(mode(&dir.join("secret_prod_a-kubeconfig.yaml")), 0o600);
    assert_eq!(mode(&dir.join("cluster.cluster.x-k8s.io_prod_a.yaml")), 0o644);
    // The source keeps everything, resumed.
    assert_eq!(describe(&src, "prod", "a"), before);
    assert_eq!(marked(&src, "prod"), 0);
    for c in items(&src, "clusters.cluster.x-k8s.io", "prod") {
        assert!(!is_paused(&c));
    }
    // A full directory is not overwritten unless asked.
    let o = run_move(&src, &["-n", "prod", "--to-directory", d]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    let o = run_move(&src, &["-n", "prod", "--to-directory", d, "--overwrite"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Restore into a fresh sandbox: the plan first (nothing written), then the same cluster, resumed.
    let fresh = TestCluster::start();
    let plan = stdout(&run_move(&fresh, &["--from-directory", d, "--dry-run"]));
    assert!(
        plan.starts_with(&format!("Move plan: {} object(s)", listed.len())),
        "{plan}"
    );
    assert!(names(&fresh, "clusters.cluster.x-k8s.io", "prod").is_empty());
    let o = run_move(&fresh, &["--from-directory", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(describe(&fresh, "prod", "a"), before);
    assert_owners_resolve(&fresh, "prod");
    for c in items(&fresh, "clusters.cluster.x-k8s.io", "prod") {
        assert!(!is_paused(&c), "{c}");
    }
    // Again: everything is there already and left as it is.
    let o = run_move(&fresh, &["--from-directory", d, "-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["created"], 0);
    assert_eq!(r["leftAsTheyWere"], r["objects"]);
}

#[test]
fn a_clusterctl_backup_directory_restores() {
    let src = TestCluster::start();
    src.load(&ClusterSpec::new("a", "prod", 1, 1));
    let before = describe(&src, "prod", "a");
    // clusterctl's layout: <Kind>_<Namespace>_<Name>.yaml holding JSON; Clusters saved paused.
    let dir = src.dir.path().join("clusterctl-backup");
    std::fs::create_dir(&dir).unwrap();
    let mut files = 0;
    for k in KINDS {
        for mut o in items(&src, k, "prod") {
            if o["kind"] == "Cluster" {
                o["spec"]["paused"] = Value::Bool(true);
            }
            let name = format!(
                "{}_{}_{}.yaml",
                o["kind"].as_str().unwrap(),
                "prod",
                o["metadata"]["name"].as_str().unwrap()
            );
            std::fs::write(dir.join(name), serde_json::to_string(&o).unwrap()).unwrap();
            files += 1;
        }
    }
    let fresh = TestCluster::start();
    let o = run_move(&fresh, &["--from-directory", dir.to_str().unwrap(), "-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["created"], files);
    assert_owners_resolve(&fresh, "prod");
    assert_eq!(describe(&fresh, "prod", "a"), before);
    for c in items(&fresh, "clusters.cluster.x-k8s.io", "prod") {
        assert!(!is_paused(&c), "{c}");
    }
}

#[test]
fn bad_flags_and_unreachable_targets_are_named() {
    let src = TestCluster::start();
    src.load(&ClusterSpec::new("a", "prod", 1, 1));
    let usage = |args: &[&str], want: &str| {
        let o = run_move(&src, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{args:?}: {want:?} not in {}",
            stderr(&o)
        );
    };
    usage(&["-n", "prod"], "say where to move to");
    usage(
        &["--to-directory", "x", "--to-kubeconfig", "y"],
        "cannot be used with",
    );
    usage(&["-A", "--cluster", "a", "--dry-run"], "cannot be used with");
    usage(&["--overwrite", "--dry-run"], "--to-directory");
    usage(&["--from-directory", "x", "-A"], "cannot be used with");
    usage(&["--from-directory", "/nonexistent/backup"], "no such directory");
    usage(
        &["--to-kubeconfig", kubeconfig(&src), "-n", "prod"],
        "the same API server",
    );
    usage(&["--timeout", "soon", "--dry-run"], "soon");
    // A target nobody answers at.
    let dead = src.dir.path().join("dead.kubeconfig");
    std::fs::write(&dead, "apiVersion: v1\nkind: Config\nclusters: [{name: d, cluster: {server: 'https://127.0.0.1:9'}}]\nusers: [{name: d, user: {token: t}}]\ncontexts: [{name: d, context: {cluster: d, user: d}}]\ncurrent-context: d\n").unwrap();
    let o = run_move(&src, &["-n", "prod", "--to-kubeconfig", dead.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("cannot reach the API server at https://127.0.0.1:9"),
        "{err}"
    );
    assert_eq!(
        marked(&src, "prod"),
        0,
        "nothing may be paused when the target is unreachable"
    );
    let o = run_move(
        &src,
        &["-n", "prod", "--to-kubeconfig", "/nonexistent/kubeconfig"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/kubeconfig"), "{}", stderr(&o));
}

capi_e2e::on_both_backends! {
/// There and back again: from a sandbox to `backend` and from there to a fresh sandbox, with a
/// server-side apply manager's fields kept, statuses written and every owner re-pointed.
fn a_move_there_and_back_keeps_statuses_owners_and_field_managers(backend) {
    let (src, mid, end) = (TestCluster::start(), TestCluster::on(backend), TestCluster::start());
    src.load(&ClusterSpec::new("a", "prod", 1, 2));
    // A field owned through server-side apply, as the topology controller owns its fields.
    src.kubectl()
        .args(["apply", "--server-side", "--field-manager=capi-topology", "-f", "-"])
        .stdin_str("apiVersion: cluster.x-k8s.io/v1beta2\nkind: Cluster\nmetadata: {name: a, namespace: prod, labels: {owned-by: topology}}\n");
    let before = describe(&src, "prod", "a");
    for (from, to) in [(&src, &mid), (&mid, &end)] {
        let o = run_move(from, &["-n", "prod", "--to-kubeconfig", kubeconfig(to)]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_owners_resolve(to, "prod");
        assert!(names(from, "machines.cluster.x-k8s.io", "prod").is_empty());
        let c = to.get_json(&["clusters.cluster.x-k8s.io", "a", "-n", "prod", "-o", "json", "--show-managed-fields"]);
        let managers: Vec<(&str, &str)> = c["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["manager"].as_str().unwrap(), m["operation"].as_str().unwrap()))
            .collect();
        assert!(managers.contains(&("capi-topology", "Apply")), "{managers:?}");
        // The move's own entry, if any, is what resuming left: an emptied annotations map.
        for m in c["metadata"]["managedFields"].as_array().unwrap() {
            if m["manager"] == "kubectl-capi-move" {
                assert_eq!(m["fieldsV1"], serde_json::json!({"f:metadata": {"f:annotations": {}}}), "the move took fields over: {m}");
            }
        }
        for m in items(to, "machines.cluster.x-k8s.io", "prod") {
            assert!(m["status"]["nodeRef"].is_object(), "status not restored: {m}");
        }
    }
    assert_eq!(describe(&end, "prod", "a"), before);
}
}

#[test]
fn block_move_annotations_are_waited_for_under_one_timeout() {
    use std::io::BufRead;
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    src.load(&ClusterSpec::new("a", "prod", 1, 2));
    let dms = names(&src, "devmachines.infrastructure.cluster.x-k8s.io", "prod");
    for dm in &dms[..2] {
        src.kubectl()
            .args([
                "annotate",
                "devmachines.infrastructure.cluster.x-k8s.io",
                dm,
                "-n",
                "prod",
                "clusterctl.cluster.x-k8s.io/block-move=",
            ])
            .ok();
    }
    // Never released: exit 3 naming both, rolled back.
    let o = run_move(
        &src,
        &[
            "-n",
            "prod",
            "--to-kubeconfig",
            kubeconfig(&dst),
            "--timeout",
            "2s",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("waiting up to 2s for 2 object(s)"), "{err}");
    for dm in &dms[..2] {
        assert!(err.contains(&format!("DevMachine prod/{dm}")), "{err}");
    }
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(marked(&src, "prod"), 0);
    // Released while the move waits: it goes on.
    let mut c = src
        .plugin("kubectl-capi-move")
        .args(["-n", "prod", "--to-kubeconfig", kubeconfig(&dst)])
        .0;
    c.stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let waiting = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("waiting up to"));
    assert!(waiting.is_some(), "the move did not wait");
    for dm in &dms[..2] {
        src.kubectl()
            .args([
                "annotate",
                "devmachines.infrastructure.cluster.x-k8s.io",
                dm,
                "-n",
                "prod",
                "clusterctl.cluster.x-k8s.io/block-move-",
            ])
            .ok();
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    assert_eq!(
        names(&dst, "devmachines.infrastructure.cluster.x-k8s.io", "prod"),
        dms
    );
}

/// The real clusterctl (built with the real API server's tools, hence the name's filter).
fn clusterctl(sb: &TestCluster, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(capi_e2e::realstack_bin().join("clusterctl"));
    c.args(args).args(["--kubeconfig", kubeconfig(sb)]);
    sb.env(&mut c);
    c.output().unwrap()
}

/// Objects moved by either tool are interchangeable: a real `clusterctl move --to-directory`
/// backup restores with ours, and what ours moved, clusterctl moves on.
#[test]
fn clusterctl_interchange_on_real_apiserver_toolchain() {
    let src = TestCluster::start();
    src.load(&ClusterSpec::new("a", "prod", 1, 2));
    let before = describe(&src, "prod", "a");
    let dir = src.dir.path().join("clusterctl-made");
    std::fs::create_dir(&dir).unwrap();
    let o = clusterctl(
        &src,
        &["move", "-n", "prod", "--to-directory", dir.to_str().unwrap()],
    );
    assert!(
        o.status.success(),
        "clusterctl move --to-directory: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(std::fs::read_dir(&dir).unwrap().count() > 10);
    // Ours restores clusterctl's backup.
    let restored = TestCluster::start();
    let o = run_move(&restored, &["--from-directory", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_owners_resolve(&restored, "prod");
    assert_eq!(describe(&restored, "prod", "a"), before);
    // Ours moves it on, then clusterctl moves what ours moved.
    let (ours, theirs) = (TestCluster::start(), TestCluster::start());
    let o = run_move(&restored, &["-n", "prod", "--to-kubeconfig", kubeconfig(&ours)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(describe(&ours, "prod", "a"), before);
    let o = clusterctl(
        &ours,
        &["move", "-n", "prod", "--to-kubeconfig", kubeconfig(&theirs)],
    );
    assert!(
        o.status.success(),
        "clusterctl move: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(names(&ours, "machines.cluster.x-k8s.io", "prod").is_empty());
    assert_owners_resolve(&theirs, "prod");
    // clusterctl writes no statuses, so only the tree's objects are the same.
    let tree = |t: &str| -> Vec<String> {
        t.lines()
            .skip(1)
            .map(|l| l.split("  ").next().unwrap_or("").trim_end().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with("Kubernetes versions"))
            .collect()
    };
    assert_eq!(tree(&describe(&theirs, "prod", "a")), tree(&before));
    assert!(
        items(&theirs, "machines.cluster.x-k8s.io", "prod")
            .iter()
            .all(|m| m["status"]["nodeRef"].is_null())
    );
}

#[test]
fn ctrl_c_while_copying_rolls_back() {
    let (src, dst) = (TestCluster::start(), TestCluster::start());
    src.load(&ClusterSpec::new("a", "prod", 1, 2));
    dst.sandbox().state.faults.inject(fault(
        "create",
        "machines",
        1,
        capi_sandbox::http::faults::Effect::Hang,
    ));
    let mut c = src
        .plugin("kubectl-capi-move")
        .args(["-n", "prod", "--to-kubeconfig", kubeconfig(&dst)])
        .0;
    c.stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let child = c.spawn().unwrap();
    let held = capi_e2e::eventually(std::time::Duration::from_secs(60), || {
        dst.sandbox().state.faults.bitten() > 0
    });
    assert!(held, "the move never reached the held request");
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("interrupted (Ctrl-C)") && err.contains("rolled back"),
        "{err}"
    );
    assert!(names(&dst, "clusters.cluster.x-k8s.io", "prod").is_empty());
    assert_eq!(marked(&src, "prod"), 0);
}

#[test]
fn a_v1beta1_management_cluster_moves_too() {
    use capi_sandbox::api::crds::Generation;
    let on = || {
        capi_e2e::TestCluster::with(capi_e2e::Opts {
            generation: Generation::V1beta1,
            ..Default::default()
        })
    };
    let (src, dst) = (on(), on());
    let mut spec = ClusterSpec::new("old", "legacy", 1, 2);
    spec.generation = Generation::V1beta1;
    src.load(&spec);
    let before = describe(&src, "legacy", "old");
    let o = run_move(&src, &["-n", "legacy", "--to-kubeconfig", kubeconfig(&dst)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(&dst, "machines.cluster.x-k8s.io", "legacy").len(), 3);
    assert!(names(&src, "machines.cluster.x-k8s.io", "legacy").is_empty());
    assert_owners_resolve(&dst, "legacy");
    assert_eq!(describe(&dst, "legacy", "old"), before);
}
