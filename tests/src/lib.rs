//! Test harness: a management cluster for one test, either the sandbox hosted in the test
//! process (its own runtime thread) or the real stack (kube-apiserver, etcd and
//! kube-controller-manager built from their Go modules, see `realstack/`), a kubeconfig in a
//! temporary directory, and command builders for the real `kubectl` and the plugin binaries.
//! [`on_both_backends!`] turns one test definition into one test per backend.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use capi_realstack::RealStack;
use capi_sandbox::api::crds::Generation;
use capi_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

/// The binaries the end-to-end tests run.
pub const REQUIRED_BINS: &[&str] = &[
    "kubectl-capi",
    "kubectl-capi-sandbox",
    "kubectl-capi-describe",
    "kubectl-capi-get_kubeconfig",
    "kubectl-capi-generate",
    "kubectl-capi-scale",
    "kubectl-capi-delete",
    "kubectl-capi-rollout",
    "kubectl-capi-upgrade",
    "kubectl-capi-move",
    "kubectl-capi-diagnose",
    "kubectl-capi-init",
];

/// The directory holding the workspace's binaries (`target/debug`), checked to contain them.
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // The test binary lives in target/<profile>/deps/.
        let exe = std::env::current_exe().expect("current exe");
        let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
        for b in REQUIRED_BINS {
            assert!(
                dir.join(b).exists(),
                "{} not found in {}: build the binaries first (`cargo xtask test` does, or `cargo build --workspace --bins`)",
                b,
                dir.display()
            );
        }
        dir
    })
    .clone()
}

/// The real kubectl (PATH, then /usr/bin/kubectl).
pub fn kubectl_path() -> PathBuf {
    static K: OnceLock<PathBuf> = OnceLock::new();
    K.get_or_init(|| {
        let from_path = std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join("kubectl")).find(|c| c.is_file()));
        from_path
            .or_else(|| Some(PathBuf::from("/usr/bin/kubectl")).filter(|p| p.exists()))
            .expect("kubectl is required for the end-to-end tests (.ci/run installs it with apt-get when missing)")
    })
    .clone()
}

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The project's in-memory sandbox.
    Sandbox,
    /// The real kube-apiserver (with etcd and kube-controller-manager) on loopback.
    Real,
}

/// One test definition, run on both backends: `mod NAME { fn on_sandbox; fn on_real_apiserver }`.
/// `cargo xtask test` filters out `on_real_apiserver` (saying so) only where Go is missing.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* fn $name:ident($backend:ident) $body:block) => {
        $crate::per_backend_tests! { on_real_apiserver; $(#[$meta])* fn $name($backend) $body }
    };
}

/// One test definition that waits on Cluster API's controllers, run on the sandbox's simulated
/// ones and on Cluster API's real managers (on the real kube-apiserver):
/// `mod NAME { fn on_sandbox; fn on_real_controllers }`. The body starts its cluster with
/// `Opts { backend, controllers: true, .. }`. `cargo xtask test` runs the real ones in a stage
/// of their own, one at a time (the Dev provider's in-memory backend uses fixed ports).
#[macro_export]
macro_rules! on_controller_backends {
    ($(#[$meta:meta])* fn $name:ident($backend:ident) $body:block) => {
        $crate::per_backend_tests! { on_real_controllers; $(#[$meta])* fn $name($backend) $body }
    };
}

/// The module both macros above expand to; `$real` names the test on the real stack, so a
/// filter (`--skip on_real_controllers`) picks a stage.
#[doc(hidden)]
#[macro_export]
macro_rules! per_backend_tests {
    ($real:ident; $(#[$meta:meta])* fn $name:ident($backend:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($backend: $crate::Backend) $body
            #[test]
            fn on_sandbox() {
                body($crate::Backend::Sandbox)
            }
            #[test]
            fn $real() {
                body($crate::Backend::Real)
            }
        }
    };
}

/// Options of a test cluster.
#[derive(Clone, Debug)]
pub struct Opts {
    /// The server; the sandbox-only options below are refused on the real one.
    pub backend: Backend,
    pub generation: Generation,
    pub controllers: bool,
    pub speed: f64,
    pub state_dir: Option<PathBuf>,
    pub crds_dir: Option<PathBuf>,
    pub watch_history: Option<usize>,
    /// Keep an audit log of writes (read with [`TestSandbox::audit`]).
    pub audit: bool,
    /// Seconds added to the server's Date header.
    pub clock_skew_secs: i64,
    /// A fresh cluster: no Cluster API CRDs, no inventory (what `kubectl capi init` starts from).
    pub bare: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            backend: Backend::Sandbox,
            generation: Generation::V1beta2,
            controllers: false,
            speed: 0.0,
            state_dir: None,
            crds_dir: None,
            watch_history: None,
            audit: false,
            clock_skew_secs: 0,
            bare: false,
        }
    }
}

impl Opts {
    /// The defaults on `backend`.
    pub fn on(backend: Backend) -> Opts {
        Opts {
            backend,
            ..Default::default()
        }
    }
}

/// A management cluster for one test (the sandbox or the real stack), with its kubeconfig on
/// disk.
pub struct TestCluster {
    pub backend: Backend,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub admin_token: String,
    pub readonly_token: String,
    pub ca_pem: String,
    rt: Option<tokio::runtime::Runtime>,
    sandbox: Option<Sandbox>,
    real: Option<RealStack>,
    /// Audit events of the real server before this index are not the test's.
    audit_from: std::cell::Cell<usize>,
}

/// The folder of the real stack's binaries (`CAPI_REALSTACK_BIN`, else `target/realstack/bin`),
/// or a panic that says how to build them: a test on the real backend never passes without it.
pub fn realstack_bin() -> PathBuf {
    let dir = std::env::var_os("CAPI_REALSTACK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target/realstack/bin"));
    assert!(
        dir.join("kube-apiserver").is_file(),
        "the real-server backend needs kube-apiserver, etcd and kube-controller-manager in {}: run `cargo xtask realstack build` (needs Go), or leave these tests out with `--skip on_real_apiserver`",
        dir.display()
    );
    dir
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

impl TestCluster {
    pub fn start() -> TestCluster {
        Self::with(Opts::default())
    }

    /// The default cluster on `backend`.
    pub fn on(backend: Backend) -> TestCluster {
        Self::with(Opts::on(backend))
    }

    pub fn with(opts: Opts) -> TestCluster {
        match opts.backend {
            Backend::Sandbox => Self::sandboxed(opts),
            Backend::Real => Self::real(opts),
        }
    }

    fn real(opts: Opts) -> TestCluster {
        assert!(
            opts.state_dir.is_none() && opts.watch_history.is_none() && opts.clock_skew_secs == 0,
            "state_dir, watch_history and clock_skew_secs are sandbox options"
        );
        let rt = runtime();
        let mut so = capi_realstack::StackOptions::new(realstack_bin());
        so.audit = opts.audit;
        let own_crds = opts.crds_dir.is_none();
        so.crds = match opts.crds_dir {
            _ if opts.bare => capi_realstack::CrdSet::None,
            Some(d) => capi_realstack::CrdSet::Dir(d),
            None => capi_realstack::CrdSet::Bundled(opts.generation),
        };
        if opts.controllers {
            // Cluster API's real managers bring their own CRDs (serving v1beta2 and, through
            // conversion, v1beta1), webhooks and inventory.
            assert!(
                own_crds && !opts.bare,
                "Cluster API's managers install their own CRDs"
            );
            so.crds = capi_realstack::CrdSet::None;
            so.cluster_api = true;
        }
        let stack = rt.block_on(RealStack::start(so)).unwrap_or_else(|e| {
            panic!(
                "the real stack did not start: {}",
                xtask::realstack::error_chain(&e)
            )
        });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            serde_saphyr::to_string(&stack.kubeconfig_doc("capi-sandbox")).unwrap(),
        )
        .unwrap();
        let from = stack.audit_events().len();
        TestCluster {
            backend: Backend::Real,
            url: stack.url.clone(),
            admin_token: stack.files.admin_token.clone(),
            readonly_token: stack.files.readonly_token.clone(),
            ca_pem: stack.files.ca.cert_pem.clone(),
            dir,
            kubeconfig,
            rt: Some(rt),
            sandbox: None,
            real: Some(stack),
            audit_from: std::cell::Cell::new(from),
        }
    }

    fn sandboxed(opts: Opts) -> TestCluster {
        let rt = runtime();
        let cfg = SandboxConfig {
            generation: opts.generation,
            controllers: opts.controllers,
            speed: opts.speed,
            state_dir: opts.state_dir,
            crds_dir: opts.crds_dir,
            bookmark_every: Duration::from_secs(1),
            watch_history: opts.watch_history.unwrap_or(20_000),
            audit: opts.audit,
            clock_skew_secs: opts.clock_skew_secs,
            bare: opts.bare,
            ..Default::default()
        };
        let sandbox = rt.block_on(Sandbox::start(cfg)).expect("sandbox starts");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let kc = serde_saphyr::to_string(&sandbox.kubeconfig("capi-sandbox")).unwrap();
        std::fs::write(&kubeconfig, kc).unwrap();
        TestCluster {
            backend: Backend::Sandbox,
            url: sandbox.url.clone(),
            admin_token: sandbox.credentials.admin_token.clone(),
            readonly_token: sandbox.credentials.readonly_token.clone(),
            ca_pem: sandbox.credentials.ca.cert_pem.clone(),
            dir,
            kubeconfig,
            rt: Some(rt),
            sandbox: Some(sandbox),
            real: None,
            audit_from: std::cell::Cell::new(0),
        }
    }

    /// The sandbox (a test that calls this runs on the sandbox only).
    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox
            .as_ref()
            .expect("this part of the test needs the sandbox (it is not the real API server)")
    }

    /// Whether this is the real API server.
    pub fn is_real(&self) -> bool {
        self.backend == Backend::Real
    }

    /// Loads a fixture cluster (objects with their status, no controllers needed): straight
    /// into the sandbox's store, or through the real server's API. Either way the writes are
    /// not in the audit log the test reads.
    pub fn load(&self, spec: &capi_sandbox::process::fixtures::ClusterSpec) -> usize {
        self.load_objects(
            &spec.namespace,
            capi_sandbox::process::fixtures::cluster_objects(spec),
        )
    }

    /// Loads fixture objects (group, plural, object, status), e.g. a fixture cluster's
    /// objects changed by a test, the same way as [`TestCluster::load`].
    pub fn load_objects(
        &self,
        namespace: &str,
        objects: Vec<(String, String, Value, Option<Value>)>,
    ) -> usize {
        match &self.real {
            None => capi_sandbox::process::fixtures::load_objects(self.sandbox().api(), namespace, objects)
                .unwrap_or_else(|e| panic!("loading fixture objects into {namespace}: {e:?}")),
            Some(stack) => {
                let client = self.client(false);
                let n = self
                    .block_on(capi_realstack::objects::load(&client, namespace, objects))
                    .unwrap_or_else(|e| panic!("loading fixture objects into {namespace}: {e:?}"));
                self.audit_from.set(stack.audit_events().len());
                n
            }
        }
    }

    /// Runs a future on the sandbox's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.as_ref().unwrap().block_on(f)
    }

    /// A kubectl command with this sandbox's kubeconfig, a private cache dir and the plugin
    /// binaries first on PATH.
    pub fn kubectl(&self) -> Cmd {
        let mut c = Command::new(kubectl_path());
        c.arg(format!("--cache-dir={}", self.dir.path().join("cache").display()));
        self.env(&mut c);
        Cmd(c)
    }

    /// A `kubectl capi ...` invocation through the real kubectl plugin dispatch.
    pub fn capi(&self, args: &[&str]) -> Output {
        let mut c = Command::new(kubectl_path());
        c.arg("capi").args(args);
        self.env(&mut c);
        c.output().unwrap()
    }

    /// Runs one of the plugin binaries directly.
    pub fn plugin(&self, bin: &str) -> Cmd {
        let mut c = Command::new(bin_dir().join(bin));
        self.env(&mut c);
        Cmd(c)
    }

    pub fn env(&self, c: &mut Command) {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin_dir()];
        dirs.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap());
        c.env("KUBECONFIG", &self.kubeconfig);
        c.env("HOME", self.dir.path());
        c.env("NO_COLOR", "1");
        c.env_remove("CAPI_SANDBOX_HOME");
    }

    /// A kube client for this sandbox (admin or read-only user), built from the kubeconfig.
    pub fn client(&self, readonly: bool) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let ctx = if readonly {
            "capi-sandbox-readonly"
        } else {
            "capi-sandbox"
        };
        let opts = kube::config::KubeConfigOptions {
            context: Some(ctx.into()),
            ..Default::default()
        };
        self.block_on(async {
            let cfg = kube::Config::from_custom_kubeconfig(kc, &opts).await.unwrap();
            kube::Client::try_from(cfg).unwrap()
        })
    }

    /// Applies YAML through kubectl (server-side, so any kind works), panicking on failure.
    pub fn apply(&self, yaml: &str) {
        let out = self
            .kubectl()
            .args(["apply", "--server-side", "-f", "-"])
            .stdin_str(yaml);
        assert!(
            out.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Reads an object as JSON through kubectl.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let out = self.kubectl().args(["get", "-o", "json"]).args(args).output();
        assert!(
            out.status.success(),
            "kubectl get {:?} failed: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Takes a Machine's Node away (removes `status.nodeRef`), as if it never joined.
    pub fn remove_node_ref(&self, ns: &str, machine: &str) {
        self.kubectl()
            .args([
                "patch",
                "machines.cluster.x-k8s.io",
                machine,
                "-n",
                ns,
                "--subresource=status",
                "--type=json",
                "-p",
            ])
            .arg(r#"[{"op":"remove","path":"/status/nodeRef"}]"#)
            .ok();
    }

    /// `curl`-like raw request with the admin token (via the kube client's HTTP stack).
    pub fn raw(&self, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>) {
        let client = self.client(false);
        let mut req = http::Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let req = req.body(body).unwrap();
        self.block_on(async {
            let resp = client.send(req.map(kube::client::Body::from)).await.unwrap();
            let status = resp.status().as_u16();
            let bytes = http_body_collect(resp.into_body()).await;
            (status, bytes)
        })
    }

    /// A raw GET with the given bearer token, or none at all (an anonymous request).
    pub fn raw_as(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let mut cfg = kube::Config::new(self.url.parse().unwrap());
        cfg.accept_invalid_certs = true;
        cfg.auth_info.token = token.map(|t| t.to_string().into());
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        self.block_on(async {
            let client = kube::Client::try_from(cfg).unwrap();
            let resp = client.send(req.map(kube::client::Body::from)).await.unwrap();
            let status = resp.status().as_u16();
            (status, http_body_collect(resp.into_body()).await)
        })
    }

    /// The Prometheus request counters.
    pub fn metrics(&self) -> String {
        String::from_utf8(self.raw("GET", "/metrics", None, vec![]).1).unwrap()
    }

    /// The audited write requests so far (started with `Opts { audit: true }`): the sandbox's
    /// log, or the real server's audit log (`--audit-log-path`) from the test's start.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        if let Some(stack) = &self.real {
            assert!(
                stack.audit_log.is_some(),
                "the server was started without an audit log"
            );
            return stack
                .audit_events()
                .split_off(self.audit_from.get().min(stack.audit_events().len()));
        }
        self.sandbox()
            .state
            .audit
            .as_ref()
            .expect("the sandbox was started without an audit log")
            .events()
    }

    /// Forgets the audited requests so far.
    pub fn clear_audit(&self) {
        if let Some(stack) = &self.real {
            self.audit_from.set(stack.audit_events().len());
            return;
        }
        if let Some(a) = &self.sandbox().state.audit {
            a.clear();
        }
    }
}

/// The kinds of write an audit event stands for, comparable across backends: the real audit
/// log has no Content-Type, so a patch's type is told from its body where the sandbox's log
/// does not say (`json` for a JSON patch array, `merge` for an object).
pub fn patch_kind(event: &Value) -> &'static str {
    match event["contentType"].as_str() {
        Some(ct) if ct.contains("json-patch") => "json",
        Some(ct) if ct.contains("merge-patch") => "merge",
        Some(ct) if ct.contains("strategic") => "strategic",
        Some(ct) if ct.contains("apply-patch") => "apply",
        _ if event["requestObject"].is_array() => "json",
        _ => "merge",
    }
}

async fn http_body_collect(body: kube::client::Body) -> Vec<u8> {
    use http_body_util::BodyExt;
    body.collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default()
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(mut stack) = self.real.take() {
            stack.stop();
        }
        // The simulated controllers must only write what the (upstream-structured) schemas
        // accept; a refused write means the simulation drifted from Cluster API.
        let rejected = self
            .sandbox
            .as_ref()
            .and_then(|sb| sb.api().rejected_writes.lock().ok().map(|l| l.clone()))
            .unwrap_or_default();
        if let (Some(rt), Some(sb)) = (self.rt.take(), self.sandbox.take()) {
            rt.block_on(sb.shutdown());
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        if !rejected.is_empty() && !std::thread::panicking() {
            panic!(
                "the simulated controllers wrote what the API server refused:\n  {}",
                rejected.join("\n  ")
            );
        }
    }
}

/// A command with output helpers.
pub struct Cmd(pub Command);

impl Cmd {
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.0.arg(a);
        self
    }
    pub fn args<I, S>(mut self, a: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.0.args(a);
        self
    }
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.0.env(k, v);
        self
    }
    pub fn output(mut self) -> Output {
        self.0.output().unwrap()
    }
    pub fn stdin_str(mut self, input: &str) -> Output {
        use std::io::Write;
        self.0
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = self.0.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
    /// Runs and asserts success, returning stdout.
    pub fn ok(self) -> String {
        let desc = format!("{:?}", self.0);
        let out = self.output();
        assert!(
            out.status.success(),
            "{desc} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    /// Runs and asserts failure, returning stderr.
    pub fn fails(self) -> String {
        let desc = format!("{:?}", self.0);
        let out = self.output();
        assert!(
            !out.status.success(),
            "{desc} unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

/// Polls until `f` returns true or the timeout passes (for asynchronous controllers).
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// stdout as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shared reference directory beside the project, if present.
pub fn shared_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .parent()?
        .join("shared");
    root.join("capi-crds").is_dir().then_some(root)
}

/// The project root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Reports a skipped test or check. Written straight to the process's stderr, past the test
/// harness's output capture, so a skip is visible in every run, passing or not.
/// With `CI` set nothing may be skipped (CI has `../shared` and Go): the test fails instead.
pub fn skip(message: &str) {
    use std::io::Write;
    if std::env::var_os("CI").is_some() {
        panic!("{message} (CI is set, and CI never skips)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {message}");
}

/// The name the sandbox-only tests used for [`TestCluster`].
pub type TestSandbox = TestCluster;
