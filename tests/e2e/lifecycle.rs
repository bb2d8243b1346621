//! `kubectl capi generate`, `scale` and `delete` through the real kubectl against the sandbox
//! (with its simulated controllers where the outcome depends on them).
//!
//! `generate` runs on both backends; scale and delete wait on controllers and run on the sandbox's
//! simulated ones and on Cluster API's real managers (`writes.rs` covers their writes on both).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use capi_e2e::{Opts, TestSandbox, eventually, on_both_backends, on_controller_backends, stderr, stdout};
use capi_sandbox::api::crds::Generation;
use serde_json::Value;

use crate::controllers::WAIT;

fn items(sb: &TestSandbox, args: &[&str]) -> Vec<Value> {
    sb.get_json(args)["items"].as_array().cloned().unwrap_or_default()
}

fn md_of(sb: &TestSandbox, cluster: &str, topology_name: &str) -> Value {
    items(
        sb,
        &[
            "machinedeployments",
            "-l",
            &format!("cluster.x-k8s.io/cluster-name={cluster},topology.cluster.x-k8s.io/deployment-name={topology_name}"),
        ],
    )
    .pop()
    .expect("the topology MachineDeployment exists")
}

fn running_machines(sb: &TestSandbox, selector: &str) -> usize {
    items(sb, &["machines", "-l", selector])
        .iter()
        .filter(|m| m["status"]["phase"] == "Running" && m["metadata"]["deletionTimestamp"].is_null())
        .count()
}

// ---------------------------------------------------------------- generate

const TEMPLATE: &str = "apiVersion: cluster.x-k8s.io/v1beta2\nkind: Cluster\nmetadata:\n  name: ${CLUSTER_NAME}\n  namespace: ${NAMESPACE}\n  labels:\n    region: ${REGION}\n    zone: ${ZONE:=zone-a}\n    upper: ${CLUSTER_NAME^^}\n    short: ${CLUSTER_NAME:0:3}\n    domain: ${DOMAIN##*.}\nspec:\n  topology:\n    classRef:\n      name: sandbox\n    version: ${KUBERNETES_VERSION}\n    controlPlane:\n      replicas: ${CONTROL_PLANE_MACHINE_COUNT}\n    workers:\n      machineDeployments:\n      - class: default-worker\n        name: md-0\n        replicas: ${WORKER_MACHINE_COUNT}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${CLUSTER_NAME}-settings\ndata:\n  owner: \"${OWNER}\"\n";

on_both_backends! {
fn generate_substitutes_every_form_and_lists_what_is_missing(backend) {
    let sb = TestSandbox::on(backend);
    let dir = sb.dir.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster-template-small.yaml"), TEMPLATE).unwrap();
    let config = sb.dir.path().join("clusterctl.yaml");
    std::fs::write(
        &config,
        "REGION: from-config\nOWNER: config-owner\nproviders: []\n",
    )
    .unwrap();
    let gen_ = |args: &[&str]| {
        sb.plugin("kubectl-capi-generate")
            .args(["cluster"])
            .args(args)
            .env("DOMAIN", "a.b.example.com")
            .output()
    };
    // Missing variables: all listed at once, nothing on stdout, exit 2.
    let o = gen_(&["web1", "--from", dir.to_str().unwrap(), "--flavor", "small"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("value for variables [KUBERNETES_VERSION, OWNER, REGION] is not set")
            && stderr(&o).contains("KUBERNETES_VERSION: set it with --kubernetes-version")
            && stderr(&o).contains("REGION: set REGION=... in the environment"),
        "{}",
        stderr(&o)
    );
    // --list-variables shows required and optional ones with their values.
    let o = gen_(&[
        "web1",
        "--from",
        dir.to_str().unwrap(),
        "--flavor",
        "small",
        "--list-variables",
    ]);
    let list = stdout(&o);
    assert!(list.starts_with("Required Variables:\n"), "{list}");
    assert!(
        list.contains("CLUSTER_NAME") && list.contains("(set to \"web1\")"),
        "{list}"
    );
    assert!(list.contains("REGION") && list.contains("(NOT SET)"), "{list}");
    assert!(
        list.contains("Optional Variables:\n") && list.contains("(defaults to \"zone-a\")"),
        "{list}"
    );

    // Flags, then environment, then the config file; the namespace reaches every object.
    let o = sb
        .plugin("kubectl-capi-generate")
        .args([
            "cluster",
            "web1",
            "--from",
            dir.to_str().unwrap(),
            "--flavor",
            "small",
        ])
        .args([
            "--kubernetes-version",
            "v1.33.0",
            "--worker-machine-count",
            "2",
            "-n",
            "team-a",
        ])
        .arg("--config")
        .arg(&config)
        .env("DOMAIN", "a.b.example.com")
        .env("REGION", "from-env")
        .ok();
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(&o).unwrap();
    assert_eq!(docs.len(), 2);
    let c = &docs[0];
    assert_eq!(c["metadata"]["namespace"], "team-a");
    assert_eq!(c["metadata"]["labels"]["region"], "from-env");
    assert_eq!(c["metadata"]["labels"]["zone"], "zone-a");
    assert_eq!(c["metadata"]["labels"]["upper"], "WEB1");
    assert_eq!(c["metadata"]["labels"]["short"], "web");
    assert_eq!(c["metadata"]["labels"]["domain"], "com");
    assert_eq!(c["spec"]["topology"]["version"], "v1.33.0");
    assert_eq!(c["spec"]["topology"]["controlPlane"]["replicas"], 1);
    assert_eq!(
        c["spec"]["topology"]["workers"]["machineDeployments"][0]["replicas"],
        2
    );
    assert_eq!(
        docs[1]["metadata"]["namespace"], "team-a",
        "namespace added where the template had none"
    );
    assert_eq!(docs[1]["data"]["owner"], "config-owner");

    // The output is what kubectl apply accepts (server-side dry run of every object).
    sb.kubectl().args(["create", "namespace", "team-a"]).ok();
    let applied = sb
        .kubectl()
        .args(["apply", "--dry-run=server", "-f", "-"])
        .stdin_str(&o);
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert!(
        stdout(&applied).contains("cluster.cluster.x-k8s.io/web1 created (server dry run)"),
        "{}",
        stdout(&applied)
    );

    // Standard input, and --write-to with mode 0600.
    let out = sb.dir.path().join("web2.yaml");
    let o = sb
        .plugin("kubectl-capi-generate")
        .args([
            "cluster",
            "web2",
            "--from",
            "-",
            "--kubernetes-version",
            "v1.33.0",
            "--write-to",
        ])
        .arg(&out)
        .env("REGION", "r")
        .env("OWNER", "o")
        .env("DOMAIN", "d")
        .stdin_str(TEMPLATE);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(&out).unwrap().contains("name: web2\n"));

    // Bad inputs: each named, exit 2 (usage) or 1 (a source that cannot be read).
    for (args, code, says) in [
        (
            vec!["Bad_Name", "--from", "-"],
            2,
            "cluster name \"Bad_Name\" is not valid",
        ),
        (
            vec!["web1", "--from", dir.to_str().unwrap(), "--flavor", "nope"],
            1,
            "flavors there: small",
        ),
        (
            vec!["web1", "--from", "ftp://example.com/t.yaml"],
            2,
            "ftp:// scheme is not supported",
        ),
        (
            vec!["web1", "--from", "-", "--kubernetes-version", "1.33"],
            2,
            "is not a version like v1.33.0",
        ),
        (
            vec!["web1", "--from", "https://127.0.0.1:1/t.yaml"],
            1,
            "downloading https://127.0.0.1:1/t.yaml",
        ),
    ] {
        let o = sb
            .plugin("kubectl-capi-generate")
            .args(["cluster"])
            .args(&args)
            .stdin_str("");
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}
}

#[test]
fn generate_renders_the_upstream_templates_and_they_provision() {
    let Some(shared) = capi_e2e::shared_dir() else {
        capi_e2e::skip(
            "generate_renders_the_upstream_templates_and_they_provision: ../shared/capi-templates is not present beside the project",
        );
        return;
    };
    let sb = TestSandbox::with(Opts {
        controllers: true,
        ..Default::default()
    });
    let repo = shared.join("capi-templates").join("v1.14");
    let repo = repo.to_str().unwrap();
    // Through kubectl's plugin dispatch; the ClusterClass is added because the sandbox lacks it.
    let o = sb.capi(&[
        "generate",
        "cluster",
        "mem",
        "--from",
        repo,
        "--flavor",
        "in-memory",
        "--kubernetes-version",
        "v1.33.0",
        "--control-plane-machine-count",
        "1",
        "--worker-machine-count",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("adding ClusterClass default/in-memory from clusterclass-in-memory.yaml"),
        "{}",
        stderr(&o)
    );
    let yaml = stdout(&o);
    assert!(yaml.contains("kind: ClusterClass"));
    let applied = sb.kubectl().args(["apply", "-f", "-"]).stdin_str(&yaml);
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert!(
        eventually(WAIT, || running_machines(
            &sb,
            "cluster.x-k8s.io/cluster-name=mem"
        ) == 3),
        "1 control plane and 2 worker machines run"
    );
    // The class now exists: a second cluster's YAML does not carry it again.
    let o = sb.capi(&[
        "generate",
        "cluster",
        "mem2",
        "--from",
        repo,
        "--flavor",
        "in-memory",
        "--kubernetes-version",
        "v1.33.0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("kind: ClusterClass"));
    assert!(
        stderr(&o).contains("exists on the management cluster"),
        "{}",
        stderr(&o)
    );
    // Every upstream flavor of both releases renders and the API server accepts it.
    for (release, generation) in [("v1.14", Generation::V1beta2), ("v1.10", Generation::V1beta1)] {
        let sb = TestSandbox::with(Opts {
            generation,
            ..Default::default()
        });
        let repo = shared.join("capi-templates").join(release);
        for flavor in ["in-memory", "development", "development-mp"] {
            let o = sb
                .plugin("kubectl-capi-generate")
                .args(["cluster", "c1", "--from"])
                .arg(&repo)
                .args([
                    "--flavor",
                    flavor,
                    "--kubernetes-version",
                    "v1.33.0",
                    "--no-class",
                ])
                .ok();
            let applied = sb
                .kubectl()
                .args(["apply", "--dry-run=server", "-f", "-"])
                .stdin_str(&o);
            assert!(
                applied.status.success(),
                "{release} {flavor}: {}",
                stderr(&applied)
            );
        }
    }
}

// ---------------------------------------------------------------- scale

on_controller_backends! {
fn scale_sticks_on_hand_built_and_topology_clusters(backend) {
    let sb = crate::controllers::demo_on(backend);
    // Hand-built: the scale subresource, then --wait until the machines run.
    let o = sb.capi(&[
        "scale",
        "md/edge-md-0",
        "--replicas",
        "3",
        "--wait",
        "--timeout",
        "300s",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "machinedeployment.cluster.x-k8s.io/edge-md-0 scaled from 2 to 3\n"
    );
    assert!(
        stderr(&o).ends_with("machinedeployment.cluster.x-k8s.io/edge-md-0: 3 of 3 replicas ready\n"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        running_machines(&sb, "cluster.x-k8s.io/deployment-name=edge-md-0"),
        3
    );
    if !sb.is_real() {
        assert!(sb.metrics().lines().any(|l| l.contains("verb=\"PATCH\"")
            && l.contains("resource=\"machinedeployments\"")
            && l.contains("subresource=\"scale\"")));
    }

    // Topology-managed: patched in Cluster.spec.topology, so the controller keeps it.
    let md = md_of(&sb, "demo", "md-0");
    let md_name = md["metadata"]["name"].as_str().unwrap().to_string();
    let o = sb.capi(&[
        "scale",
        "machinedeployment",
        &md_name,
        "--replicas",
        "1",
        "--wait",
        "--timeout",
        "300s",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "machinedeployment.cluster.x-k8s.io/{md_name} scaled from 3 to 1 through Cluster default/demo (spec.topology.workers.machineDeployments.0.replicas)\n"
        )
    );
    let cluster = sb.get_json(&["cluster", "demo"]);
    assert_eq!(
        cluster["spec"]["topology"]["workers"]["machineDeployments"][0]["replicas"],
        1
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        md_of(&sb, "demo", "md-0")["spec"]["replicas"],
        1,
        "the topology controller kept it"
    );
    assert!(eventually(WAIT, || running_machines(
        &sb,
        &format!("cluster.x-k8s.io/deployment-name={md_name}")
    ) == 1));

    // Server dry run changes nothing.
    let o = sb.capi(&["scale", "md/edge-md-0", "--replicas", "5", "--dry-run=server"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with("scaled from 3 to 5 (server dry run)\n"),
        "{}",
        stdout(&o)
    );
    assert_eq!(sb.get_json(&["md", "edge-md-0"])["spec"]["replicas"], 3);

    // Stacked etcd: an even control plane is refused before anything changes.
    let kcp = sb.get_json(&["cluster", "demo"])["spec"]["controlPlaneRef"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let o = sb.capi(&["scale", "kcp", &kcp, "--replicas", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("runs stacked etcd") && stderr(&o).contains("Use 1 or 3"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        sb.get_json(&["cluster", "demo"])["spec"]["topology"]["controlPlane"]["replicas"],
        3
    );

    // Autoscaler bounds: outside refused, inside warned about.
    sb.kubectl()
        .args(["annotate", "md", "edge-md-0"])
        .args([
            "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size=1",
            "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size=4",
        ])
        .ok();
    let o = sb.capi(&["scale", "md/edge-md-0", "--replicas", "6"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("within [1, 4]"), "{}", stderr(&o));
    let o = sb.capi(&["scale", "md/edge-md-0", "--replicas", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with(
            "warning: machinedeployment.cluster.x-k8s.io/edge-md-0 is managed by the cluster autoscaler"
        ),
        "{}",
        stderr(&o)
    );

    // Errors.
    for (args, code, says) in [
        (
            vec!["md/nope", "--replicas", "1"],
            1,
            "machinedeployment.cluster.x-k8s.io/nope not found in namespace \"default\"",
        ),
        (vec!["widget/x", "--replicas", "1"], 2, "unknown type \"widget\""),
        (
            vec!["md/edge-md-0", "--replicas", "-1"],
            2,
            "--replicas must be between 0 and 2147483647",
        ),
        (vec!["md/edge-md-0"], 2, "--replicas"),
    ] {
        let o = sb.capi(&[&["scale"][..], &args].concat());
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}
}

// ---------------------------------------------------------------- delete

on_controller_backends! {
fn delete_asks_waits_and_names_what_blocks(backend) {
    let sb = crate::controllers::demo_on(backend);
    // No terminal and no --yes: refused, nothing deleted.
    let o = sb.capi(&["delete", "cluster", "edge"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pass --yes"), "{}", stderr(&o));
    // On a terminal it asks, showing what will go; anything but y/yes cancels.
    if std::path::Path::new("/usr/bin/script").exists() {
        let o = capi_e2e::kubectl_path();
        let mut c = std::process::Command::new("/usr/bin/script");
        sb.env(&mut c);
        c.args(["-qec"])
            .arg(format!("{} capi delete cluster edge", o.display()))
            .arg("/dev/null");
        let out = capi_e2e::Cmd(c).stdin_str("n\n");
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            text.contains("Delete Cluster default/edge (context \"capi-sandbox\") and everything it owns: "),
            "{text}"
        );
        assert!(text.contains("Machine") && text.contains("[y/N]"), "{text}");
        assert!(text.contains("deletion cancelled; nothing was deleted"), "{text}");
        assert!(sb.get_json(&["cluster", "edge"])["metadata"]["deletionTimestamp"].is_null());
    } else {
        capi_e2e::skip("the interactive confirmation check: /usr/bin/script (util-linux) is not installed");
    }
    // Server dry run: nothing deleted.
    let o = sb.capi(&["delete", "cluster", "edge", "--dry-run=server"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "cluster.cluster.x-k8s.io/edge would be deleted (server dry run)\n"
    );
    assert!(sb.get_json(&["cluster", "edge"])["metadata"]["deletionTimestamp"].is_null());

    // A healthy cluster: --wait follows it to the end. A pre-drain hook on one of its workers
    // holds nothing: Cluster API neither drains nor runs those hooks while the Cluster is deleted.
    let worker = items(
        &sb,
        &["machines", "-l", "cluster.x-k8s.io/cluster-name=edge,cluster.x-k8s.io/deployment-name"],
    );
    let worker = worker[0]["metadata"]["name"].as_str().unwrap();
    sb.kubectl()
        .args(["annotate", "machine", worker, "pre-drain.delete.hook.machine.cluster.x-k8s.io/backup="])
        .ok();
    let o = sb.capi(&["delete", "cluster", "edge", "--yes", "--wait", "--timeout", "300s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "cluster.cluster.x-k8s.io/edge deletion requested\ncluster.cluster.x-k8s.io/edge deleted\n"
    );
    assert!(
        stderr(&o).starts_with("waiting for the deletion: "),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("Machine"), "{}", stderr(&o));
    assert!(items(&sb, &["machines", "-l", "cluster.x-k8s.io/cluster-name=edge"]).is_empty());
    let gone = sb.kubectl().args(["get", "cluster", "edge"]).fails();
    assert!(gone.contains("NotFound"), "{gone}");

    // Deletion hooks and a finalizer someone else holds, on one worker. Deleted by itself, the
    // Machine waits for its pre-drain hook, then (drained) for its pre-terminate one, each named
    // in Cluster API's words.
    let machine = items(
        &sb,
        &[
            "machines",
            "-l",
            "cluster.x-k8s.io/cluster-name=demo,cluster.x-k8s.io/deployment-name",
        ],
    )
    .first()
    .map(|m| m["metadata"]["name"].as_str().unwrap().to_string())
    .unwrap();
    sb.kubectl()
        .args(["patch", "machine", &machine, "--type=json", "-p"])
        .arg(r#"[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/hold"}]"#)
        .ok();
    let pre_drain = "pre-drain.delete.hook.machine.cluster.x-k8s.io/backup";
    let pre_terminate = "pre-terminate.delete.hook.machine.cluster.x-k8s.io/snapshot";
    sb.kubectl()
        .args(["annotate", "machine", &machine])
        .args([format!("{pre_drain}="), format!("{pre_terminate}=")])
        .ok();
    sb.kubectl()
        .args(["delete", "machine", &machine, "--wait=false"])
        .ok();
    for (reason, hook, words) in [
        ("WaitingForPreDrainHook", pre_drain, "pre-drain"),
        ("WaitingForPreTerminateHook", pre_terminate, "pre-terminate"),
    ] {
        let want = format!("Waiting for {words} hooks to succeed (hooks: {hook})");
        let mut seen = Value::Null;
        let held = eventually(WAIT, || {
            seen = deleting_condition(&sb, &machine);
            seen["status"] == "True" && seen["reason"] == reason && seen["message"] == want.as_str()
        });
        assert!(held, "waiting for {reason}, the Machine's Deleting condition: {seen:#}");
        if hook == pre_drain {
            sb.kubectl()
                .args(["annotate", "machine", &machine, &format!("{pre_drain}-")])
                .ok();
        }
    }
    // The cluster's deletion stalls on it: reported, naming the object and why.
    let o = sb.capi(&[
        "delete",
        "cluster",
        "demo",
        "--yes",
        "--wait",
        "--timeout",
        "12s",
        "--stall-after",
        "3s",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("the deletion has not progressed for 3s"), "{e}");
    assert!(
        e.contains(&format!("Machine/{machine} is held by finalizers [")),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "example.com/hold]; Deleting True: Waiting for pre-terminate hooks to succeed (hooks: {pre_terminate})"
        )),
        "{e}"
    );
    assert!(e.contains("is still being deleted after 12s"), "{e}");
    sb.kubectl()
        .args(["annotate", "machine", &machine, &format!("{pre_terminate}-")])
        .ok();
    // Running again picks up the deletion in progress; releasing the finalizer lets it finish.
    let mut again = std::process::Command::new(capi_e2e::kubectl_path());
    sb.env(&mut again);
    let again = again
        .args(["capi", "delete", "cluster", "demo", "--wait", "--timeout", "300s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let held = sb.get_json(&["machine", &machine])["metadata"]["finalizers"].clone();
    let i = held
        .as_array()
        .unwrap()
        .iter()
        .position(|f| f == "example.com/hold")
        .unwrap();
    sb.kubectl()
        .args(["patch", "machine", &machine, "--type=json", "-p"])
        .arg(format!(
            r#"[{{"op":"test","path":"/metadata/finalizers/{i}","value":"example.com/hold"}},{{"op":"remove","path":"/metadata/finalizers/{i}"}}]"#
        ))
        .ok();
    let o = again.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with("cluster.cluster.x-k8s.io/demo deleted\n"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).starts_with("Cluster default/demo is already being deleted"),
        "{}",
        stderr(&o)
    );
    assert!(
        sb.kubectl()
            .args(["get", "cluster", "demo"])
            .fails()
            .contains("NotFound")
    );
    // And an unknown cluster is named.
    let o = sb.capi(&["delete", "cluster", "nope", "--yes"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}
}

/// A Machine's v1beta2 `Deleting` condition (`null` when it has none).
fn deleting_condition(sb: &TestSandbox, machine: &str) -> Value {
    let m = sb.get_json(&["machines.v1beta2.cluster.x-k8s.io", machine]);
    m["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Deleting"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The REPLICAS column of the hand-built control plane's line in a `describe` frame.
fn edge_cp_replicas(frame: &str) -> Option<String> {
    let line = frame
        .lines()
        .find(|l| l.contains("KubeadmControlPlane default/edge-control-plane"))?;
    let w: Vec<&str> = line.split_whitespace().collect();
    let at = w.iter().position(|x| x.starts_with("v1."))?;
    w.get(at + 1).map(|s| s.to_string())
}

on_controller_backends! {
fn control_plane_scale_waits_and_describe_watch_follows(backend) {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let sb = crate::controllers::demo_on(backend);
    // `describe --watch` runs through both scalings; a thread drains its output so a long
    // series of frames never blocks it on a full pipe.
    let mut cmd = std::process::Command::new(capi_e2e::kubectl_path());
    cmd.args(["capi", "describe", "cluster", "edge", "--watch"]);
    sb.env(&mut cmd);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stdout.take().unwrap();
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let frames = || -> Vec<String> {
        seen.lock()
            .unwrap()
            .split("---\n")
            .filter(|f| !f.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    assert!(eventually(WAIT, || frames().first().and_then(|f| edge_cp_replicas(f)).is_some()));
    assert_eq!(edge_cp_replicas(&frames()[0]).as_deref(), Some("1/1"), "{}", frames()[0]);
    for (to, from) in [(3, 1), (1, 3)] {
        let o = sb.capi(&[
            "scale",
            "kcp/edge-control-plane",
            "--replicas",
            &to.to_string(),
            "--wait",
            "--timeout",
            "10m",
        ]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        assert!(
            stdout(&o).contains(&format!("edge-control-plane scaled from {from} to {to}")),
            "{}",
            stdout(&o)
        );
        let kcp = sb.get_json(&["kcp", "edge-control-plane"]);
        assert_eq!(kcp["status"]["replicas"], to, "{:#}", kcp["status"]);
        assert_eq!(kcp["status"]["readyReplicas"], to, "{:#}", kcp["status"]);
        let want = format!("{to}/{to}");
        // The watch redraws from the controllers' own status changes.
        assert!(
            eventually(Duration::from_secs(60), || frames()
                .last()
                .and_then(|f| edge_cp_replicas(f))
                .is_some_and(|r| r == want)),
            "no frame with {want}: {:?}",
            frames().last()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let all = frames();
    assert!(all.len() >= 3, "frames: {}", all.len());
    assert!(
        all.iter().any(|f| edge_cp_replicas(f).as_deref() == Some("3/3")),
        "the scaled-up control plane was drawn"
    );
}
}
