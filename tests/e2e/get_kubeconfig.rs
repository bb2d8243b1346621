//! `kubectl capi get-kubeconfig`: exact printing, private files, safe concurrent merges that
//! survive being killed, clear errors, and (with the simulated controllers) a merged context that
//! reaches the workload cluster.
//!
//! Printing, files and errors run on both backends; the merge stress tests are about files (the
//! sandbox serves them) and the workload test needs the simulated controllers.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use base64::Engine;
use capi_e2e::{
    Backend, TestSandbox, bin_dir, kubectl_path, on_both_backends, on_controller_backends, stderr, stdout,
};
use capi_sandbox::http::tls::{Ca, Usage};
use capi_sandbox::process::fixtures::ClusterSpec;
use capi_shared::kubeconfig::file::{KubeconfigDoc, Section};
use serde_json::Value;

const BIN: &str = "kubectl-capi-get_kubeconfig";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A kubeconfig shaped like the ones Cluster API writes, with a client certificate valid for
/// `days` days.
fn capi_kubeconfig(name: &str, server: &str, days: i64) -> String {
    let ca = Ca::generate("kubernetes").unwrap();
    let (cert, key) = ca
        .issue("kubernetes-admin", &["system:masters"], &[], Usage::Client, days)
        .unwrap();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: {name}\ncontexts:\n- context:\n    cluster: {name}\n    user: {name}-admin\n  name: {name}-admin@{name}\ncurrent-context: {name}-admin@{name}\npreferences: {{}}\nusers:\n- name: {name}-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&ca.cert_pem),
        b64(&cert),
        b64(&key)
    )
}

/// Stores `value` as the cluster's kubeconfig Secret, as the control plane provider does.
fn put_secret(sb: &TestSandbox, name: &str, key: &str, value: &str) {
    let file = sb.dir.path().join(format!("{name}.value"));
    std::fs::write(&file, value).unwrap();
    sb.kubectl()
        .args([
            "create",
            "secret",
            "generic",
            name,
            "--type",
            "cluster.x-k8s.io/secret",
        ])
        .arg(format!("--from-file={key}={}", file.display()))
        .ok();
}

fn bare_cluster(sb: &TestSandbox, name: &str) {
    sb.apply(&format!(
        "apiVersion: cluster.x-k8s.io/v1beta2\nkind: Cluster\nmetadata:\n  name: {name}\n  namespace: default\nspec: {{paused: false}}\n"
    ));
}

/// A sandbox without controllers holding: c1 (initialised, kubeconfig valid for a year, and a
/// user kubeconfig), c2 (not initialised, no secret), c3 (secret without `value`), c4
/// (initialised, certificate expiring in 10 days).
fn fixtures_on(backend: Backend) -> (TestSandbox, String) {
    let sb = TestSandbox::on(backend);
    for name in ["c1", "c4"] {
        sb.load(&ClusterSpec::new(name, "default", 1, 0));
    }
    bare_cluster(&sb, "c2");
    bare_cluster(&sb, "c3");
    let c1 = capi_kubeconfig("c1", "https://10.0.0.1:6443", 365);
    put_secret(&sb, "c1-kubeconfig", "value", &c1);
    put_secret(
        &sb,
        "c1-user-kubeconfig",
        "value",
        &capi_kubeconfig("c1-user", "https://10.0.0.1:6443", 365),
    );
    put_secret(&sb, "c3-kubeconfig", "other", "x");
    put_secret(
        &sb,
        "c4-kubeconfig",
        "value",
        &capi_kubeconfig("c4", "https://10.0.0.4:6443", 10),
    );
    (sb, c1)
}

fn fixtures() -> (TestSandbox, String) {
    fixtures_on(Backend::Sandbox)
}

fn contexts(path: &Path) -> Vec<String> {
    let doc = KubeconfigDoc::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc.names(Section::Contexts)
}

on_both_backends! {
fn prints_exactly_what_the_secret_holds_and_writes_private_files(backend) {
    let (sb, c1) = fixtures_on(backend);
    // Through kubectl's plugin dispatch: byte for byte.
    let o = sb.capi(&["get-kubeconfig", "c1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, c1.as_bytes());
    assert_eq!(stderr(&o), "", "a certificate valid for a year gets no warning");

    // --user prefers the provider's user kubeconfig.
    let user = sb.plugin(BIN).args(["c1", "--user"]).ok();
    assert!(user.contains("name: c1-user-admin"), "{user}");
    // ...and falls back to the admin one when there is none.
    let o = sb.plugin(BIN).args(["c4", "--user"]).output();
    assert!(stdout(&o).contains("name: c4-admin"));

    // --output: 0600, even over an existing world-readable file, and the same bytes.
    let file = sb.dir.path().join("out").join("c1.kubeconfig");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "old").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let said = sb.plugin(BIN).args(["c1", "--output"]).arg(&file).ok();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), c1);
    assert_eq!(mode(&file), 0o600);
    assert!(said.starts_with(&format!("wrote {}", file.display())), "{said}");
    assert!(said.contains("client certificate expires"), "{said}");

    // --server and --context-name rewrite the copy, not the secret.
    let o = sb
        .plugin(BIN)
        .args([
            "c1",
            "--server",
            "https://tunnel.example:8443",
            "--context-name",
            "prod-c1",
        ])
        .ok();
    let doc = KubeconfigDoc::parse(&o).unwrap();
    assert_eq!(doc.current_context(), Some("prod-c1"));
    assert_eq!(
        doc.get(Section::Clusters, "prod-c1").unwrap()["server"],
        "https://tunnel.example:8443"
    );

    // Metadata as json: names, server, expiry; never credentials.
    let o = sb.plugin(BIN).args(["c1", "-o", "json"]).ok();
    let v: Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v["namespace"], "default");
    assert_eq!(v["cluster"], "c1");
    assert_eq!(v["secret"], "c1-kubeconfig");
    assert_eq!(v["context"], "c1-admin@c1");
    assert_eq!(v["server"], "https://10.0.0.1:6443");
    let days = v["daysLeft"].as_i64().unwrap();
    assert!((363..=366).contains(&days), "{days}");
    assert!(!o.contains("client-key-data") && !o.contains("LS0t"), "{o}");
    let y = sb.plugin(BIN).args(["c1", "-o", "yaml"]).ok();
    assert!(y.contains("cluster: c1\n") && !y.contains("LS0t"), "{y}");

    // The expiring certificate is reported on stderr; stdout stays the kubeconfig.
    let o = sb.plugin(BIN).arg("c4").output();
    assert!(o.status.success());
    assert!(
        stderr(&o).starts_with("warning: the client certificate of cluster default/c4 expires in "),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).starts_with("apiVersion: v1"));
}
}

on_both_backends! {
fn secrets_never_reach_the_logs(backend) {
    let (sb, c1) = fixtures_on(backend);
    let o = sb
        .plugin(BIN)
        .args(["c1", "-v=9", "--output"])
        .arg(sb.dir.path().join("k"))
        .output();
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    assert!(log.contains("GET"), "-v=9 logs the requests: {log}");
    let doc = KubeconfigDoc::parse(&c1).unwrap();
    let user = doc.get(Section::Users, "c1-admin").unwrap();
    let key = user["client-key-data"].as_str().unwrap();
    for secret in [&b64(&c1)[..40], &key[..40], &c1[c1.len() - 200..]] {
        assert!(!log.contains(secret), "secret material in the log: {secret}");
        assert!(!stdout(&o).contains(secret));
    }
    // The request and response of the secret GET are named, but their bodies are not shown.
    assert!(log.contains("c1-kubeconfig"), "{log}");
}
}

on_both_backends! {
fn errors_say_what_is_wrong(backend) {
    let (sb, _) = fixtures_on(backend);
    let e = sb.plugin(BIN).arg("nope").fails();
    assert!(
        e.starts_with("error: ") && e.contains("nope") && e.contains("not found"),
        "{e}"
    );
    let e = sb.plugin(BIN).arg("c2").fails();
    assert!(
        e.contains("cluster default/c2 has no kubeconfig yet: its control plane is not initialised"),
        "{e}"
    );
    assert!(
        e.contains("kubectl wait --for=condition=ControlPlaneInitialized cluster/c2 -n default"),
        "{e}"
    );
    let e = sb.plugin(BIN).arg("c3").fails();
    assert!(
        e.contains("Secret default/c3-kubeconfig has no \"value\" key (keys: other)"),
        "{e}"
    );
    // A user who may read Clusters but not Secrets (the sandbox's read-only user, like `view`).
    let e = sb
        .plugin(BIN)
        .args(["c1", "--context", "capi-sandbox-readonly"])
        .fails();
    assert!(
        e.contains("forbidden") && e.contains("permission to get Secrets"),
        "{e}"
    );
    // Wrong namespace: the error names it.
    let e = sb.plugin(BIN).args(["c1", "-n", "other"]).fails();
    assert!(e.contains("other/c1") || e.contains("\"other\""), "{e}");

    // Usage errors exit 2 and say what to do.
    for (args, says) in [
        (vec![], "please specify a cluster name"),
        (vec!["-A"], "choose where the kubeconfigs go"),
        (vec!["c1", "-A", "--merge"], "not both"),
        (vec!["c1", "--server", "10.0.0.1"], "is not a URL"),
        (vec!["c1", "--output-dir", "d"], "--output-dir is for --all/-A"),
        (
            vec!["-A", "--merge", "--context-name", "x"],
            "cannot be used with --all/-A",
        ),
    ] {
        let o = sb.plugin(BIN).args(&args).output();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    let o = sb.plugin(BIN).args(["c1", "--output", "x", "--merge"]).output();
    assert_eq!(o.status.code(), Some(2));

    // --all: the good ones are exported, the others are warned about, and the exit code says so.
    let dir = sb.dir.path().join("all");
    let o = sb.plugin(BIN).args(["--all", "--output-dir"]).arg(&dir).output();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["default-c1.kubeconfig", "default-c4.kubeconfig"]);
    for f in &files {
        assert_eq!(mode(&dir.join(f)), 0o600);
    }
    let e = stderr(&o);
    assert!(
        e.contains("warning: cluster default/c2 has no kubeconfig yet"),
        "{e}"
    );
    assert!(e.contains("warning: Secret default/c3-kubeconfig has no"), "{e}");
    assert!(e.contains("2 of 4 clusters have no usable kubeconfig"), "{e}");

    // A chosen context name that exists and points elsewhere: refused, file untouched.
    let into = sb.dir.path().join("taken");
    let before = "apiVersion: v1\nkind: Config\nclusters:\n- name: mine\n  cluster:\n    server: https://elsewhere\nusers:\n- name: me\n  user:\n    token: t\ncontexts:\n- name: mine\n  context:\n    cluster: mine\n    user: me\ncurrent-context: mine\n";
    std::fs::write(&into, before).unwrap();
    let o = sb
        .plugin(BIN)
        .args(["c1", "--merge", "--context-name", "mine", "--into"])
        .arg(&into)
        .output();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("context \"mine\" already exists and points elsewhere"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&into).unwrap(), before);
}
}

const EXISTING: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://prod.example:6443\n    insecure-skip-tls-verify: true\n- name: kubernetes\n  cluster:\n    server: https://other.example:6443\nusers:\n- name: kubernetes-admin\n  user:\n    token: keep-me\n- name: alice\n  user:\n    token: alice-token\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: alice\n    namespace: payments\n- name: kubernetes-admin@kubernetes\n  context:\n    cluster: kubernetes\n    user: kubernetes-admin\ncurrent-context: prod\npreferences: {}\n";

#[test]
fn concurrent_merges_keep_every_entry() {
    let (sb, _) = fixtures();
    let into = sb.dir.path().join("kube").join("config");
    std::fs::create_dir_all(into.parent().unwrap()).unwrap();
    std::fs::write(&into, EXISTING).unwrap();
    std::fs::set_permissions(&into, std::fs::Permissions::from_mode(0o640)).unwrap();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let mut c = Command::new(bin_dir().join(BIN));
            sb.env(&mut c);
            c.args(["c1", "--merge", "--context-name", &format!("ctx-{i}"), "--into"])
                .arg(&into)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).starts_with("Added context \"ctx-"), "{}", stdout(&o));
    }
    let text = std::fs::read_to_string(&into).unwrap();
    let doc = KubeconfigDoc::parse(&text).unwrap();
    let old = KubeconfigDoc::parse(EXISTING).unwrap();
    for section in [Section::Clusters, Section::Users, Section::Contexts] {
        for name in old.names(section) {
            assert_eq!(doc.get(section, &name), old.get(section, &name), "{name} changed");
        }
    }
    let ctx: BTreeSet<String> = doc.names(Section::Contexts).into_iter().collect();
    for i in 0..20 {
        assert!(ctx.contains(&format!("ctx-{i}")), "ctx-{i} lost: {ctx:?}");
        let user = doc.get(Section::Users, &format!("ctx-{i}-admin")).unwrap();
        assert!(user["client-key-data"].is_string());
    }
    assert_eq!(ctx.len(), 22);
    assert_eq!(
        doc.current_context(),
        Some("prod"),
        "merging does not switch context"
    );
    assert_eq!(doc.as_value()["preferences"], serde_json::json!({}));
    assert_eq!(mode(&into), 0o640, "the file keeps its mode");
    // A backup of the previous version, private; no lock or temporary files left behind.
    let bak = into.with_file_name("config.bak");
    assert!(KubeconfigDoc::parse(&std::fs::read_to_string(&bak).unwrap()).is_ok());
    assert_eq!(mode(&bak), 0o600);
    let left: Vec<String> = std::fs::read_dir(into.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");

    // The real kubectl reads the result.
    let out = Command::new(kubectl_path())
        .args(["config", "get-contexts", "-o", "name", "--kubeconfig"])
        .arg(&into)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: BTreeSet<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(listed, ctx);

    // The default name is <namespace>-<name>; merging the same cluster again refreshes it, a
    // different server under that name gets a suffix, and --use-context switches.
    let m = |extra: &[&str]| {
        sb.plugin(BIN)
            .args(["c1", "--merge", "--into"])
            .arg(&into)
            .args(extra)
            .ok()
    };
    assert!(m(&[]).starts_with("Added context \"default-c1\""));
    assert!(m(&[]).starts_with("Refreshed context \"default-c1\""));
    let s = m(&["--server", "https://tunnel:1", "--use-context"]);
    assert!(s.starts_with("Added context \"default-c1-2\""), "{s}");
    assert!(s.contains("switched to context \"default-c1-2\""), "{s}");
    let doc = KubeconfigDoc::parse(&std::fs::read_to_string(&into).unwrap()).unwrap();
    assert_eq!(doc.current_context(), Some("default-c1-2"));
    assert_eq!(
        doc.get(Section::Clusters, "default-c1-2").unwrap()["server"],
        "https://tunnel:1"
    );
    assert_eq!(
        doc.get(Section::Clusters, "default-c1").unwrap()["server"],
        "https://10.0.0.1:6443"
    );
}

#[test]
fn a_killed_merge_never_leaves_a_partial_file() {
    let (sb, _) = fixtures();
    // A large kubeconfig makes each merge spend measurable time reading and writing.
    let mut big = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for i in 0..3000 {
        big += &format!(
            "- name: k{i}\n  cluster:\n    server: https://k{i}.example:6443\n    certificate-authority-data: {}\n",
            "Q".repeat(300)
        );
    }
    big += "users:\n";
    for i in 0..3000 {
        big += &format!("- name: k{i}\n  user:\n    token: t{i}\n");
    }
    big += "contexts:\n";
    for i in 0..3000 {
        big += &format!("- name: k{i}\n  context:\n    cluster: k{i}\n    user: k{i}\n");
    }
    big += "current-context: k0\n";
    let into = sb.dir.path().join("big");
    std::fs::write(&into, &big).unwrap();
    let run = |ctx: &str| {
        let mut c = Command::new(bin_dir().join(BIN));
        sb.env(&mut c);
        c.args(["c1", "--merge", "--context-name", ctx, "--into"])
            .arg(&into)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let start = Instant::now();
    assert!(run("timing").wait().unwrap().success());
    let full = start.elapsed();
    let mut done: BTreeSet<String> = ["timing".to_string()].into();
    let mut killed_before_end = 0;
    let rounds = 16u32;
    for i in 0..rounds {
        let name = format!("kill-{i}");
        let mut child = run(&name);
        // Spread the kills over the whole run, into its read, merge and write.
        std::thread::sleep(full * (i + 1) / (rounds + 1));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        child.wait().unwrap();
        if !finished {
            killed_before_end += 1;
        }
        let text = std::fs::read_to_string(&into).unwrap();
        let doc = KubeconfigDoc::parse(&text)
            .unwrap_or_else(|e| panic!("round {i}: the file is not a kubeconfig any more: {e}"));
        let ctx: BTreeSet<String> = doc.names(Section::Contexts).into_iter().collect();
        for k in 0..3000 {
            assert!(ctx.contains(&format!("k{k}")), "round {i}: k{k} lost");
        }
        for d in &done {
            assert!(ctx.contains(d), "round {i}: {d} lost");
        }
        // Either the merge landed completely or not at all.
        if ctx.contains(&name) {
            assert!(doc.get(Section::Users, &format!("{name}-admin")).is_some());
            assert!(doc.get(Section::Clusters, &name).is_some());
            done.insert(name);
        }
        assert_eq!(ctx.len(), 3000 + done.len(), "round {i}");
    }
    eprintln!(
        "one merge into a 3,000-context kubeconfig took {full:?}; {killed_before_end} of {rounds} runs killed before they finished, {} landed",
        done.len() - 1
    );
    assert!(
        killed_before_end >= rounds / 2,
        "most runs were killed mid-way ({killed_before_end})"
    );
    // A lock left by a killed merge does not block the next one.
    let o = sb
        .plugin(BIN)
        .args(["c1", "--merge", "--context-name", "after", "--into"])
        .arg(&into)
        .ok();
    assert!(o.starts_with("Added context \"after\""), "{o}");
    assert!(contexts(&into).contains(&"after".to_string()));
    assert!(!into.with_file_name("big.lock").exists());
}

on_controller_backends! {
fn merged_contexts_reach_the_workload_clusters(backend) {
    let sb = crate::controllers::demo_on(backend);
    // Byte for byte what the controllers stored.
    let secret = sb.get_json(&["secret", "demo-kubeconfig"]);
    let stored = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["value"].as_str().unwrap())
        .unwrap();
    let o = sb.capi(&["get-kubeconfig", "demo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, stored);

    // Every cluster merged into a config that already holds the sandbox's own contexts.
    let into = sb.dir.path().join("merged");
    std::fs::copy(&sb.kubeconfig, &into).unwrap();
    let out = sb.plugin(BIN).args(["-A", "--merge", "--into"]).arg(&into).ok();
    assert!(out.contains("Added context \"default-demo\""), "{out}");
    assert!(out.contains("Added context \"default-edge\""), "{out}");
    let nodes = |ctx: &str| {
        let o = Command::new(kubectl_path())
            .arg(format!("--cache-dir={}", sb.dir.path().join("cache").display()))
            .args(["--kubeconfig"])
            .arg(&into)
            .args(["--context", ctx, "get", "nodes", "-o", "name"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{ctx}: {}", stderr(&o));
        stdout(&o).lines().map(str::to_string).collect::<Vec<_>>()
    };
    let demo = nodes("default-demo");
    assert_eq!(demo.len(), 8, "3 control plane + 5 worker nodes: {demo:?}");
    assert!(demo.iter().all(|n| n.starts_with("node/demo-")), "{demo:?}");
    let edge = nodes("default-edge");
    assert_eq!(edge.len(), 3, "{edge:?}");
    assert!(edge.iter().all(|n| n.starts_with("node/edge-")), "{edge:?}");
    // The management contexts are untouched and still work.
    let o = Command::new(kubectl_path())
        .args(["--kubeconfig"])
        .arg(&into)
        .args(["--context", "capi-sandbox", "get", "clusters", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&o),
        "cluster.cluster.x-k8s.io/demo\ncluster.cluster.x-k8s.io/edge\n",
        "{}",
        stderr(&o)
    );

    // --use-context makes `kubectl get nodes` go to the workload cluster.
    let single = sb.dir.path().join("single");
    sb.plugin(BIN)
        .args([
            "edge",
            "--merge",
            "--use-context",
            "--context-name",
            "edge",
            "--into",
        ])
        .arg(&single)
        .ok();
    assert_eq!(mode(&single), 0o600);
    let o = Command::new(kubectl_path())
        .arg(format!("--cache-dir={}", sb.dir.path().join("cache").display()))
        .args(["--kubeconfig"])
        .arg(&single)
        .args(["get", "nodes", "-o", "name"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 3);
}
}
