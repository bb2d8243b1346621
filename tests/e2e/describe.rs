//! `kubectl capi describe` through the real kubectl, on the sandbox and on the real API server
//! (fixture objects and their status written without controllers).

use std::time::Duration;

use capi_e2e::{Backend, Opts, TestSandbox, on_both_backends, stderr, stdout};
use capi_sandbox::api::crds::Generation;
use capi_sandbox::process::fixtures::ClusterSpec;
use serde_json::Value;

fn with_cluster(backend: Backend, spec: ClusterSpec) -> TestSandbox {
    let sb = TestSandbox::with(Opts {
        backend,
        generation: spec.generation,
        ..Default::default()
    });
    sb.load(&spec);
    sb
}

fn demo_spec() -> ClusterSpec {
    let mut spec = ClusterSpec::new("demo", "default", 3, 3);
    spec.unhealthy = vec!["demo-md-0-7d9f8c-00001".into()];
    spec.health_check = true;
    spec
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

on_both_backends! {
fn tree_through_kubectl_plugin_dispatch(backend) {
    let sb = with_cluster(backend, demo_spec());
    let o = sb.capi(&["describe", "cluster", "demo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // Rows, without the continuation lines of wrapped messages.
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.chars().take_while(|c| "│ ".contains(*c)).count() < 40)
        .collect();
    assert_eq!(
        words(lines[0]),
        [
            "NAME",
            "REPLICAS",
            "AVAILABLE",
            "READY",
            "UP-TO-DATE",
            "STATUS",
            "REASON",
            "SINCE",
            "MESSAGE"
        ]
    );
    assert_eq!(
        &words(lines[1])[..8],
        [
            "Cluster",
            "default/demo",
            "6/6",
            "5",
            "5",
            "6",
            "False",
            "NotAvailable"
        ]
    );
    assert!(lines[2].starts_with("├─DevCluster default/demo"), "{out}");
    assert!(
        lines[3].starts_with("├─KubeadmControlPlane default/demo-control-plane, v1.33.0"),
        "{out}"
    );
    assert!(
        lines[4].starts_with("│ └─3 Machines..., v1.33.0")
            && lines[4].contains("See demo-control-plane-00000, demo-control-plane-00001, ..."),
        "{out}"
    );
    // Children in clusterctl's order (by label): the MachineHealthCheck before Workers.
    assert!(
        lines[5].contains("MachineHealthCheck default/demo-workers")
            && lines[5].contains("1 unhealthy: demo-md-0-7d9f8c-00001"),
        "{out}"
    );
    assert_eq!(lines[6], "└─Workers");
    assert!(
        lines[7].contains("MachineDeployment default/demo-md-0, v1.33.0")
            && lines[7].contains("2 available replicas, at least 3 required"),
        "{out}"
    );
    assert!(
        lines[8].contains("2 Machines...")
            && lines[8].contains("See demo-md-0-7d9f8c-00000, demo-md-0-7d9f8c-00002"),
        "{out}"
    );
    assert!(
        lines[9].contains("Machine default/demo-md-0-7d9f8c-00001")
            && lines[9].contains("False")
            && lines[9].contains("NotReady"),
        "{out}"
    );
    assert!(
        out.contains("Kubernetes versions: control plane v1.33.0 (3); workers v1.33.0 (3)"),
        "{out}"
    );
    // No colour codes when stdout is not a terminal.
    assert!(!out.contains('\u{1b}'));
    // --color=always forces them.
    let o = sb.capi(&["describe", "cluster", "demo", "--color=always"]);
    assert!(stdout(&o).contains("\u{1b}["));
}
}

on_both_backends! {
fn options_grouping_echo_conditions_machinesets_templates(backend) {
    let sb = with_cluster(backend, demo_spec());
    let out = stdout(&sb.capi(&["describe", "cluster", "demo", "--grouping=false"]));
    assert_eq!(
        out.lines().filter(|l| l.contains("─Machine default/")).count(),
        6,
        "{out}"
    );
    let out = stdout(&sb.capi(&["describe", "cluster", "demo", "--echo", "--grouping=false"]));
    assert_eq!(
        out.lines().filter(|l| l.contains("DevMachine default/")).count(),
        6,
        "{out}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("KubeadmConfig default/"))
            .count(),
        6,
        "{out}"
    );
    let out = stdout(&sb.capi(&["describe", "cluster", "demo", "--show-machinesets"]));
    assert!(out.contains("MachineSet default/demo-md-0-7d9f8c"), "{out}");
    let out = stdout(&sb.capi(&["describe", "cluster", "demo", "--show-templates"]));
    assert!(
        out.contains("DevMachineTemplate default/demo-control-plane")
            && out.contains("KubeadmConfigTemplate default/demo-md-0"),
        "{out}"
    );
    let out = stdout(&sb.capi(&["describe", "cluster", "demo", "--show-conditions=Cluster"]));
    for t in [
        "InfrastructureReady",
        "ControlPlaneAvailable",
        "WorkersAvailable",
        "RollingOut",
        "Paused",
    ] {
        assert!(out.contains(t), "{t}: {out}");
    }
    let out = stdout(&sb.capi(&[
        "describe",
        "cluster",
        "demo",
        "--show-conditions=Machine+",
        "--grouping=false",
    ]));
    assert!(
        out.contains("HealthCheckSucceeded") && out.contains("NodeHealthy"),
        "{out}"
    );
    assert!(
        !out.lines().any(|l| l
            .trim_start_matches(['│', ' ', '├', '└', '─'])
            .starts_with("BootstrapConfigReady")),
        "normal conditions are hidden with +: {out}"
    );
    let o = sb.capi(&[
        "describe",
        "cluster",
        "demo",
        "--show-conditions=Machine, Cluster",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("whitespace is not allowed"), "{}", stderr(&o));
}
}

on_both_backends! {
fn json_and_yaml_share_the_documented_schema(backend) {
    let sb = with_cluster(backend, demo_spec());
    let o = sb.capi(&["describe", "cluster", "demo", "-o", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "ClusterTree");
    assert_eq!(v["conditionsFormat"], "v1beta2");
    let t = &v["tree"];
    assert_eq!(
        (t["kind"].as_str(), t["name"].as_str(), t["namespace"].as_str()),
        (Some("Cluster"), Some("demo"), Some("default"))
    );
    assert_eq!(
        t["replicas"],
        serde_json::json!({"current": 6, "desired": 6, "available": 5, "ready": 5, "upToDate": 6})
    );
    assert_eq!(t["status"]["type"], "Available");
    let workers = t["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "WorkerGroup")
        .unwrap();
    let md = &workers["children"][0];
    assert_eq!(md["kind"], "MachineDeployment");
    assert_eq!(md["children"][0]["kind"], "MachineGroup");
    assert_eq!(md["children"][0]["members"].as_array().unwrap().len(), 2);
    let yaml = stdout(&sb.capi(&["describe", "cluster", "demo", "-o", "yaml"]));
    let from_yaml: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(from_yaml, v);
}
}

on_both_backends! {
fn v1beta1_management_cluster_gets_v1beta1_columns(backend) {
    let mut spec = ClusterSpec::new("old", "default", 1, 2);
    spec.generation = Generation::V1beta1;
    spec.unhealthy = vec!["old-md-0-7d9f8c-00000".into()];
    let sb = with_cluster(backend, spec);
    let o = sb.capi(&["describe", "cluster", "old"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        words(lines[0]),
        ["NAME", "READY", "SEVERITY", "REASON", "SINCE", "MESSAGE"]
    );
    assert_eq!(
        &words(lines[1])[..5],
        [
            "Cluster",
            "default/old",
            "False",
            "Warning",
            "WaitingForAvailableMachines"
        ]
    );
    assert!(
        out.lines()
            .any(|l| l.contains("Machine default/old-md-0-7d9f8c-00000")
                && l.contains("NodeNotReady")
                && l.contains("Warning")),
        "{out}"
    );
    let v: Value =
        serde_json::from_slice(&sb.capi(&["describe", "cluster", "old", "-o", "json"]).stdout).unwrap();
    assert_eq!(v["conditionsFormat"], "v1beta1");
}
}

on_both_backends! {
fn fleet_view_of_every_cluster(backend) {
    let sb = with_cluster(backend, demo_spec());
    let mut other = ClusterSpec::new("prod-eu", "prod", 3, 5);
    other.class = Some("quick-start".into());
    sb.load(&other);
    let o = sb.capi(&["describe", "clusters", "-A"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        words(lines[0]),
        [
            "NAMESPACE",
            "NAME",
            "CLASS",
            "VERSION",
            "CONTROL",
            "PLANE",
            "WORKERS",
            "AVAILABLE",
            "PHASE",
            "AGE"
        ]
    );
    assert_eq!(
        &words(lines[1])[..7],
        ["default", "demo", "v1.33.0", "3/3", "2/3", "False", "Provisioned"]
    );
    assert_eq!(
        &words(lines[2])[..8],
        [
            "prod",
            "prod-eu",
            "quick-start",
            "v1.33.0",
            "3/3",
            "5/5",
            "True",
            "Provisioned"
        ]
    );
    // `describe cluster -A` without a name is the same view; -n limits it.
    // Compared without the AGE column: a second may tick between the two calls.
    let without_age = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| {
                let w = words(l);
                w[..w.len() - 1].iter().map(|s| s.to_string()).collect()
            })
            .collect()
    };
    assert_eq!(
        without_age(&stdout(&sb.capi(&["describe", "cluster", "-A"]))),
        without_age(&out)
    );
    let only = stdout(&sb.capi(&["describe", "clusters", "-n", "prod"]));
    assert_eq!(only.lines().count(), 2, "{only}");
    let v: Value =
        serde_json::from_slice(&sb.capi(&["describe", "clusters", "-A", "-o", "json"]).stdout).unwrap();
    assert_eq!(v["items"][1]["class"], "quick-start");
    assert_eq!(
        v["items"][0]["workers"],
        serde_json::json!({"ready": 2, "desired": 3})
    );
    let empty = sb.capi(&["describe", "clusters", "-n", "nothing-here"]);
    assert!(empty.status.success());
    assert!(stderr(&empty).contains("No clusters found in namespace \"nothing-here\""));
}
}

on_both_backends! {
fn at_most_twelve_requests_for_a_cluster_tree(backend) {
    let sb = with_cluster(backend, ClusterSpec::new("counted", "default", 3, 40));
    let before = sb.metrics();
    let o = sb
        .plugin("kubectl-capi-describe")
        .args(["cluster", "counted", "--grouping=false", "-v=6"])
        .output();
    assert!(o.status.success(), "{}", stderr(&o));
    let after = sb.metrics();
    let total = |m: &str| -> u64 {
        m.lines()
            .filter(|l| l.starts_with("apiserver_request_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    // The sandbox counts what it served. The two metric reads themselves are not counted
    // (/metrics is excluded), but the before-read's discovery by the test client is: subtract
    // nothing, compare with the bound. The real server's counter also counts
    // kube-controller-manager (its garbage collector starts informers for new CRDs when it
    // next rediscovers), so there the plugin's own `-v=6` request log is counted.
    let logged = stderr(&o).lines().filter(|l| l.contains(" milliseconds")).count() as u64;
    let made = if sb.is_real() {
        logged
    } else {
        total(&after) - total(&before)
    };
    assert!(logged > 0, "-v=6 logs each request: {}", stderr(&o));
    assert!(
        made <= 12,
        "describe made {made} requests (at most 12 allowed)\n{after}"
    );
    assert!(
        stdout(&o)
            .lines()
            .filter(|l| l.contains("─Machine default/"))
            .count()
            == 43
    );
}
}

on_both_backends! {
fn bad_input_gives_one_line_errors(backend) {
    let sb = with_cluster(backend, demo_spec());
    let o = sb.capi(&["describe", "cluster", "dmeo"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: cluster \"dmeo\" not found in namespace \"default\"; did you mean demo?\n"
    );
    let o = sb.capi(&["describe", "cluster", "demo", "-n", "elsewhere"]);
    assert_eq!(
        stderr(&o),
        "error: cluster \"demo\" not found in namespace \"elsewhere\"; it exists in namespace default (use -n default)\n"
    );
    let o = sb.capi(&["describe", "cluster"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("please specify a cluster name"));
    let o = sb.capi(&["describe", "cluster", "demo", "--context", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: context \"nope\" not found in the kubeconfig (available: capi-sandbox, capi-sandbox-readonly)"), "{}", stderr(&o));
    // A user or cluster missing from the kubeconfig is named, not reported as the server's 401.
    let o = sb.capi(&["describe", "cluster", "demo", "--user", "nosuch"]);
    assert!(stderr(&o).contains("user \"nosuch\" (--user) not found in the kubeconfig"), "{}", stderr(&o));
    let o = sb.capi(&["describe", "cluster", "demo", "--cluster", "nosuch"]);
    assert!(stderr(&o).contains("cluster \"nosuch\" (--cluster) not found in the kubeconfig"), "{}", stderr(&o));
    // Unreachable server.
    let kc = std::fs::read_to_string(&sb.kubeconfig)
        .unwrap()
        .replace(&sb.url, "https://127.0.0.1:1");
    let dead = sb.dir.path().join("dead");
    std::fs::write(&dead, kc).unwrap();
    let o = sb.capi(&[
        "describe",
        "cluster",
        "demo",
        "--kubeconfig",
        dead.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .starts_with("error: discovering the API: cannot reach the API server at https://127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    // Wrong token: 401.
    let kc = std::fs::read_to_string(&sb.kubeconfig)
        .unwrap()
        .replace(&sb.admin_token, "bogus");
    let bad = sb.dir.path().join("bad");
    std::fs::write(&bad, kc).unwrap();
    let o = sb.capi(&[
        "describe",
        "cluster",
        "demo",
        "--kubeconfig",
        bad.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("rejected the credentials (401 Unauthorized)"),
        "{}",
        stderr(&o)
    );
    // Garbage kubeconfig.
    let junk = sb.dir.path().join("junk");
    std::fs::write(&junk, "this: [is not a kubeconfig").unwrap();
    let o = sb.capi(&[
        "describe",
        "cluster",
        "demo",
        "--kubeconfig",
        junk.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: cannot read kubeconfig"),
        "{}",
        stderr(&o)
    );
    let o = sb.capi(&["describe", "cluster", "demo", "--kubeconfig", "/does/not/exist"]);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}
}

on_both_backends! {
fn not_a_cluster_api_management_cluster(backend) {
    let crds = tempfile::tempdir().unwrap();
    std::fs::write(
        crds.path().join("widget.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, kind: Widget}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n",
    )
    .unwrap();
    let sb = TestSandbox::with(Opts {
        backend,
        crds_dir: Some(crds.path().to_path_buf()),
        ..Default::default()
    });
    let o = sb.capi(&["describe", "cluster", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not a Cluster API management cluster"),
        "{}",
        stderr(&o)
    );
}
}

on_both_backends! {
fn kubeconfig_list_and_verbose_request_log(backend) {
    let sb = with_cluster(backend, demo_spec());
    let list = std::env::join_paths([
        sb.dir.path().join("missing-1"),
        sb.kubeconfig.clone(),
        sb.dir.path().join("missing-2"),
    ])
    .unwrap();
    let o = sb
        .plugin("kubectl-capi-describe")
        .env("KUBECONFIG", &list)
        .args(["cluster", "demo", "-v=6"])
        .output();
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    assert!(
        log.lines().any(|l| l.contains("GET ")
            && l.contains("/apis/cluster.x-k8s.io/v1beta2/namespaces/default/clusters/demo")
            && l.contains("200 OK in")),
        "{log}"
    );
    assert!(!log.contains(&sb.admin_token), "tokens never logged");
    let quiet = sb
        .plugin("kubectl-capi-describe")
        .args(["cluster", "demo"])
        .output();
    assert_eq!(stderr(&quiet), "");
}
}

on_both_backends! {
fn watch_redraws_on_change(backend) {
    let sb = with_cluster(backend, demo_spec());
    let mut cmd = std::process::Command::new(capi_e2e::kubectl_path());
    cmd.args(["capi", "describe", "cluster", "demo", "--watch"]);
    sb.env(&mut cmd);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sb.kubectl()
        .args([
            "patch",
            "machinedeployment",
            "demo-md-0",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"readyReplicas":3,"availableReplicas":3}}"#,
        ])
        .ok();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let out = stdout(&child.wait_with_output().unwrap());
    let frames: Vec<&str> = out.split("---\n").filter(|f| !f.is_empty()).collect();
    assert!(frames.len() >= 2, "{out}");
    let md = |f: &str| {
        f.lines()
            .find(|l| l.contains("MachineDeployment default/demo-md-0"))
            .map(|l| {
                let w = words(l);
                let at = w.iter().position(|x| *x == "v1.33.0").unwrap_or(0) + 1;
                w[at..at + 3].join(" ")
            })
            .unwrap_or_default()
    };
    assert_eq!(md(frames[0]), "3/3 2 2");
    assert_eq!(md(frames.last().unwrap()), "3/3 3 3");
}
}

on_both_backends! {
fn entry_point_lists_verbs_and_rejects_unknown_ones(backend) {
    let sb = TestSandbox::on(backend);
    let o = sb.capi(&[]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("describe") && stdout(&o).contains("sandbox"),
        "{}",
        stdout(&o)
    );
    let o = sb.capi(&["descibe"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: unknown verb \"descibe\". Did you mean \"describe\"?"),
        "{}",
        stderr(&o)
    );
    let o = sb.capi(&["version"]);
    assert_eq!(
        stdout(&o),
        format!("kubectl-capi {}\n", env!("CARGO_PKG_VERSION"))
    );
    let o = sb.capi(&["version", "--bogus"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("unexpected argument \"--bogus\""), "{}", stderr(&o));
    // Only kubectl-capi on PATH (as krew installs it): the siblings are found next to its real path.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        capi_e2e::bin_dir().join("kubectl-capi"),
        bin.path().join("kubectl-capi"),
    )
    .unwrap();
    let mut c = std::process::Command::new(capi_e2e::kubectl_path());
    c.args(["capi", "describe", "clusters", "-A"]);
    sb.env(&mut c);
    c.env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()));
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("No clusters found"), "{}", stderr(&o));
}
}

/// A server that accepts connections but never answers: the error names the timeout that expired
/// and the flag that sets it, and exits 1 (3 is for waits).
#[test]
fn a_silent_server_names_the_request_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = vec![];
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"),
    )
    .unwrap();
    let o = std::process::Command::new(capi_e2e::bin_dir().join("kubectl-capi-describe"))
        .args(["clusters", "-A", "--request-timeout", "1s", "--kubeconfig"])
        .arg(&kc)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("within the request timeout of 1s (raise it with --request-timeout)"),
        "{}",
        stderr(&o)
    );
}
