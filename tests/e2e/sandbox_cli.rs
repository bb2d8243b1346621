//! `kubectl capi sandbox start|stop|status|serve` as users run them.
//!
//! Sandbox only: these test the sandbox's own command line.

use std::path::Path;
use std::process::{Command, Output};

use capi_e2e::{bin_dir, kubectl_path, stderr, stdout};
use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn kubeconfig(&self) -> std::path::PathBuf {
        self.dir.path().join("config")
    }
    fn cmd(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin_dir()];
        dirs.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap())
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .env("CAPI_SANDBOX_HOME", self.dir.path().join("sandboxes"));
        c
    }
    fn sandbox(&self, args: &[&str]) -> Output {
        self.cmd(&bin_dir().join("kubectl-capi-sandbox"))
            .args(args)
            .output()
            .unwrap()
    }
    fn kubectl(&self, args: &[&str]) -> Output {
        self.cmd(&kubectl_path())
            .arg(format!("--cache-dir={}", self.dir.path().join("cache").display()))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Never leave a background server behind.
        for name in ["default", "second", "durable"] {
            let _ = self.sandbox(&["stop", "--name", name]);
        }
    }
}

const EXISTING: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: 'https://prod.example.com:6443'}\nusers:\n- name: prod-admin\n  user: {token: secret-prod}\ncontexts:\n- name: prod\n  context: {cluster: prod, user: prod-admin}\ncurrent-context: prod\n";

#[test]
fn start_merges_context_status_and_stop_cleans_up() {
    let env = Env::new();
    std::fs::write(env.kubeconfig(), EXISTING).unwrap();
    let out = env.sandbox(&["start", "--no-controllers"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Sandbox \"default\" is running at https://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("Contexts \"capi-sandbox\" and \"capi-sandbox-readonly\" added to"),
        "{text}"
    );
    let cfg: Value = serde_saphyr::from_str(&std::fs::read_to_string(env.kubeconfig()).unwrap()).unwrap();
    let ctx_names: Vec<&str> = cfg["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(ctx_names, ["prod", "capi-sandbox", "capi-sandbox-readonly"]);
    assert_eq!(cfg["current-context"], "capi-sandbox");
    assert_eq!(
        cfg["users"][0]["user"]["token"], "secret-prod",
        "existing entries untouched"
    );
    let o = env.kubectl(&["get", "ns", "default", "-o", "name"]);
    assert_eq!(stdout(&o), "namespace/default\n", "{}", stderr(&o));
    // A second start of the same name is refused.
    let again = env.sandbox(&["start"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already running"), "{}", stderr(&again));
    let st = env.sandbox(&["status", "-o", "json"]);
    let list: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(list[0]["name"], "default");
    assert_eq!(list[0]["running"], true);
    let stop = env.sandbox(&["stop"]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert!(stdout(&stop).contains("stopped"), "{}", stdout(&stop));
    let cfg: Value = serde_saphyr::from_str(&std::fs::read_to_string(env.kubeconfig()).unwrap()).unwrap();
    let ctx_names: Vec<&str> = cfg["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(ctx_names, ["prod"]);
    assert_eq!(cfg["clusters"].as_array().unwrap().len(), 1);
    let st = env.sandbox(&["status"]);
    assert!(
        stdout(&st).contains("No sandboxes") || !stdout(&st).contains("running"),
        "{}",
        stdout(&st)
    );
}

#[test]
fn standalone_kubeconfig_named_sandbox_and_readonly_context() {
    let env = Env::new();
    let kc = env.dir.path().join("standalone");
    let out = env.sandbox(&[
        "start",
        "--name",
        "second",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--no-controllers",
        "--capi-api",
        "v1beta1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!env.kubeconfig().exists(), "the user's kubeconfig is not touched");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&kc).unwrap().permissions()) & 0o777;
    assert_eq!(mode, 0o600);
    let k = |args: &[&str]| env.kubectl(&[&["--kubeconfig", kc.to_str().unwrap()], args].concat());
    let o = k(&[
        "--context",
        "capi-sandbox-second",
        "api-resources",
        "--api-group=cluster.x-k8s.io",
        "-o",
        "name",
    ]);
    assert!(stdout(&o).contains("clusters.cluster.x-k8s.io"), "{}", stderr(&o));
    let o = k(&[
        "--context",
        "capi-sandbox-second",
        "get",
        "--raw",
        "/apis/cluster.x-k8s.io",
    ]);
    assert!(
        stdout(&o).contains("\"preferredVersion\":{\"groupVersion\":\"cluster.x-k8s.io/v1beta1\""),
        "{}",
        stdout(&o)
    );
    let o = k(&["--context", "capi-sandbox-second-readonly", "create", "ns", "x"]);
    assert!(stderr(&o).contains("Forbidden"), "{}", stderr(&o));
    assert!(env.sandbox(&["stop", "--name", "second"]).status.success());
}

#[test]
fn state_survives_kill_9_and_restart() {
    let env = Env::new();
    let state = env.dir.path().join("state");
    let kc = env.dir.path().join("durable-kc");
    let start = |env: &Env| {
        env.sandbox(&[
            "start",
            "--name",
            "durable",
            "--state-dir",
            state.to_str().unwrap(),
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--no-controllers",
        ])
    };
    let out = start(&env);
    assert!(out.status.success(), "{}", stderr(&out));
    let k = |env: &Env, args: &[&str]| env.kubectl(&[&["--kubeconfig", kc.to_str().unwrap()], args].concat());
    assert!(k(&env, &["create", "ns", "keep"]).status.success());
    for i in 0..20 {
        let o = k(
            &env,
            &[
                "create",
                "configmap",
                &format!("c{i}"),
                "-n",
                "keep",
                &format!("--from-literal=i={i}"),
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = k(&env, &["label", "cm", "c7", "-n", "keep", "acknowledged=yes"]);
    assert!(o.status.success());
    let list: Value = serde_json::from_slice(&env.sandbox(&["status", "-o", "json"]).stdout).unwrap();
    let pid = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "durable")
        .unwrap()["pid"]
        .as_i64()
        .unwrap() as i32;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = start(&env);
    assert!(out.status.success(), "restart: {}", stderr(&out));
    // Same kubeconfig still works (same CA, tokens and port) and every acknowledged write is back.
    let o = k(&env, &["get", "cm", "-n", "keep", "-o", "name"]);
    assert_eq!(
        stdout(&o)
            .lines()
            .filter(|l| l.starts_with("configmap/c"))
            .count(),
        20,
        "{}",
        stderr(&o)
    );
    let o = k(
        &env,
        &[
            "get",
            "cm",
            "c7",
            "-n",
            "keep",
            "-o",
            "jsonpath={.metadata.labels.acknowledged} {.data.i}",
        ],
    );
    assert_eq!(stdout(&o), "yes 7");
    // The CRDs came back established.
    let o = k(&env, &["get", "clusters", "-A"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A different API generation on the same state is refused with an explanation.
    assert!(env.sandbox(&["stop", "--name", "durable"]).status.success());
    let o = env.sandbox(&[
        "start",
        "--name",
        "durable",
        "--state-dir",
        state.to_str().unwrap(),
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--capi-api",
        "v1beta1",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("holds a sandbox created with CRDs \"v1beta2\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let env = Env::new();
    let o = env.sandbox(&["start", "--name", "Bad_Name"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid sandbox name"), "{}", stderr(&o));
    let o = env.sandbox(&["start", "--crds", "/nonexistent/dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a directory"), "{}", stderr(&o));
    let o = env.sandbox(&["start", "--capi-api", "v1alpha4"]);
    assert_eq!(o.status.code(), Some(2));
    let o = env.sandbox(&["stop", "--name", "ghost"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no sandbox named \"ghost\""),
        "{}",
        stderr(&o)
    );
}

/// PIDs are reused (and the recorded one survives a reboot): a stranger holding the recorded pid
/// is neither reported as the sandbox, nor blocks a start, nor gets signalled by `stop`.
#[test]
fn a_recorded_pid_of_another_process_is_never_trusted_or_signalled() {
    let env = Env::new();
    let mut stranger = Command::new("sleep").arg("60").spawn().unwrap();
    let run = env.dir.path().join("sandboxes").join("default");
    std::fs::create_dir_all(&run).unwrap();
    // The run directory records the stranger's pid, as a sandbox gone since a reboot would.
    let pid = stranger.id();
    let record = || {
        std::fs::write(
            run.join("ready.json"),
            format!(r#"{{"pid": {pid}, "url": "https://127.0.0.1:1", "context": "capi-sandbox"}}"#),
        )
        .unwrap()
    };
    record();
    let status = env.sandbox(&["status", "-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(v[0]["running"], false, "{v}");
    let out = env.sandbox(&["stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("was not running"), "{}", stdout(&out));
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "the stranger was signalled"
    );
    record();
    // A state directory whose log ends in a torn line (a crash mid-write): dropped, and said so.
    let state = env.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("wal.jsonl"), "{\"rv\":1,\"res\":\"/configm").unwrap();
    let out = env.sandbox(&[
        "start",
        "--no-controllers",
        "--state-dir",
        state.to_str().unwrap_or_default(),
    ]);
    assert!(
        out.status.success(),
        "start is not blocked by the stranger: {}",
        stderr(&out)
    );
    // Its log (a file, not a terminal) says so, in plain text.
    let log = std::fs::read_to_string(run.join("sandbox.log")).unwrap_or_default();
    assert!(log.contains("dropped a torn final line"), "{log:?}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
    // A stopped server's log ends with a complete line saying so.
    assert!(env.sandbox(&["stop"]).status.success());
    let log = std::fs::read_to_string(run.join("sandbox.log")).unwrap_or_default();
    assert!(log.ends_with("sandbox \"default\" stopped\n"), "{log:?}");
    let _ = stranger.kill();
    let _ = stranger.wait();
}

/// The server dies during `scale --wait`: the loss is reported as it happens, the wait keeps
/// retrying, and it ends (exit 3) saying the server was unreachable, not with a stale state.
#[test]
fn a_wait_reports_a_lost_server_and_ends_saying_so() {
    let env = Env::new();
    let out = env.sandbox(&["start", "--no-controllers"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = "apiVersion: cluster.x-k8s.io/v1beta2\nkind: MachineDeployment\nmetadata: {name: md-0, namespace: default}\nspec:\n  clusterName: c1\n  replicas: 1\n  selector: {matchLabels: {a: b}}\n  template:\n    spec: {clusterName: c1, bootstrap: {dataSecretName: x}, infrastructureRef: {apiGroup: infrastructure.cluster.x-k8s.io, kind: DevMachineTemplate, name: t}}\n";
    let mut apply = env.cmd(&kubectl_path());
    apply
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = apply.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), md.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    // No controllers: the wait can only end at its timeout.
    let wait = env
        .cmd(&bin_dir().join("kubectl-capi-scale"))
        .args(["md/md-0", "--replicas", "2", "--wait", "--timeout", "8s"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = env.sandbox(&["stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = wait.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("lost the connection to the API server"), "{err}");
    assert!(
        err.contains("the API server was unreachable when the wait ran out"),
        "{err}"
    );
}

/// A start that cannot write its kubeconfig (the path is a directory) fails and leaves no server
/// behind: the next start works.
#[test]
fn a_failed_start_leaves_no_server_behind() {
    let env = Env::new();
    let dir = env.dir.path().join("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let out = env.sandbox(&[
        "start",
        "--no-controllers",
        "--kubeconfig",
        dir.to_str().unwrap_or_default(),
    ]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let status = env.sandbox(&["status", "-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&status)).unwrap_or(Value::Null);
    assert!(
        v.as_array()
            .is_none_or(|a| a.iter().all(|i| i["running"] == false)),
        "{v}"
    );
    let out = env.sandbox(&["start", "--no-controllers"]);
    assert!(out.status.success(), "the next start works: {}", stderr(&out));
}
