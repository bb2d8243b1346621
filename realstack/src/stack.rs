//! A real management cluster on loopback, started the way envtest starts one: etcd with a data
//! directory of its own, kube-apiserver on a free port with TLS from its own CA, static token
//! users and RBAC, the audit log on request, kube-controller-manager with the controllers every
//! real cluster runs for its objects (garbage collector, namespace deletion, role aggregation),
//! then the Cluster API CRDs and clusterctl's inventory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::files::Files;
use crate::objects;
use crate::process::Guarded;
use crate::{StackError, StackOptions};

/// A running stack. Dropping it stops every process and removes its directory (unless it was
/// given one).
pub struct RealStack {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// Credentials and file paths.
    pub files: Files,
    /// The stack's directory (logs, certificates, kubeconfig).
    pub dir: PathBuf,
    /// The kubeconfig for tests and users (contexts `capi-sandbox` and `capi-sandbox-readonly`).
    pub kubeconfig: PathBuf,
    /// The audit log, when enabled.
    pub audit_log: Option<PathBuf>,
    pub(crate) procs: Vec<Guarded>,
    /// Held while Cluster API's managers run (see [`crate::managers`]).
    pub(crate) lock: Option<std::fs::File>,
    _tmp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for RealStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealStack").field("url", &self.url).finish()
    }
}

pub(crate) fn free_port() -> Result<u16, StackError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|source| StackError::Io {
        what: "finding a free loopback port".into(),
        source,
    })?;
    l.local_addr().map(|a| a.port()).map_err(|source| StackError::Io {
        what: "reading a bound port".into(),
        source,
    })
}

pub(crate) fn args(list: &[(&str, String)]) -> Vec<String> {
    list.iter().map(|(k, v)| format!("--{k}={v}")).collect()
}

impl RealStack {
    /// Starts a stack (etcd, kube-apiserver, kube-controller-manager), then loads what the
    /// options ask for. Fails with the component's log tail when one does not come up.
    pub async fn start(opts: StackOptions) -> Result<RealStack, StackError> {
        let (tmp, dir) = match &opts.dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|source| StackError::Io {
                    what: format!("creating {}", d.display()),
                    source,
                })?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("capi-realstack-")
                    .tempdir()
                    .map_err(|source| StackError::Io {
                        what: "creating a temporary directory".into(),
                        source,
                    })?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let files = Files::generate(&dir)?;
        let mut stack = RealStack {
            url: String::new(),
            files,
            kubeconfig: dir.join("kubeconfig"),
            audit_log: opts.audit.then(|| dir.join("audit.log")),
            dir,
            procs: vec![],
            lock: None,
            _tmp: tmp,
        };
        let etcd = stack.start_etcd(&opts)?;
        stack.start_apiserver(&opts, &etcd).await?;
        let doc = stack.files.kubeconfig("capi-sandbox", &stack.url);
        Files::write_kubeconfig(&stack.kubeconfig, &doc)?;
        stack.start_controller_manager(&opts)?;
        let client = stack.client(false).await?;
        objects::bootstrap(&client, &opts).await?;
        if opts.cluster_api {
            stack.start_cluster_api(&opts, &client).await?;
        }
        Ok(stack)
    }

    pub(crate) fn bin(opts: &StackOptions, name: &str) -> Result<PathBuf, StackError> {
        let p = opts.bin.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(StackError::NotBuilt(p))
        }
    }

    fn start_etcd(&mut self, opts: &StackOptions) -> Result<String, StackError> {
        let (client, peer) = (free_port()?, free_port()?);
        let data = self.dir.join("etcd-data");
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let a = args(&[
            ("name", "default".into()),
            ("data-dir", data.display().to_string()),
            ("listen-client-urls", client_url.clone()),
            ("advertise-client-urls", client_url.clone()),
            ("listen-peer-urls", peer_url.clone()),
            ("initial-advertise-peer-urls", peer_url.clone()),
            ("initial-cluster", format!("default={peer_url}")),
            // Test data: speed over durability, as envtest runs it.
            ("unsafe-no-fsync", "true".into()),
            ("log-level", "warn".into()),
        ]);
        let p = Guarded::spawn("etcd", &Self::bin(opts, "etcd")?, &a, &self.dir.join("etcd.log"))?;
        self.procs.push(p);
        self.wait_until("etcd", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", client)).is_ok()
        })?;
        Ok(client_url)
    }

    async fn start_apiserver(&mut self, opts: &StackOptions, etcd: &str) -> Result<(), StackError> {
        let port = free_port()?;
        self.url = format!("https://127.0.0.1:{port}");
        let f = &self.files;
        let path = |p: &Path| p.display().to_string();
        let mut list = vec![
            ("etcd-servers", etcd.to_string()),
            ("bind-address", "127.0.0.1".into()),
            ("advertise-address", "127.0.0.1".into()),
            ("secure-port", port.to_string()),
            ("cert-dir", path(&self.dir.join("certs"))),
            ("tls-cert-file", path(&f.serving.0)),
            ("tls-private-key-file", path(&f.serving.1)),
            ("client-ca-file", path(&f.ca_file)),
            ("service-account-issuer", self.url.clone()),
            ("service-account-key-file", path(&f.sa_key.1)),
            ("service-account-signing-key-file", path(&f.sa_key.0)),
            ("service-cluster-ip-range", "10.96.0.0/24".into()),
            ("authorization-mode", "RBAC".into()),
            ("token-auth-file", path(&f.tokens)),
            ("allow-privileged", "true".into()),
            ("profiling", "false".into()),
            ("v", "1".into()),
        ];
        if let Some(log) = &self.audit_log {
            list.extend([
                ("audit-policy-file", path(&f.audit_policy)),
                ("audit-log-path", path(log)),
                ("audit-log-format", "json".into()),
                // Each event is written before the response: a test reads it right after.
                ("audit-log-mode", "blocking-strict".into()),
            ]);
        }
        let bin = Self::bin(opts, "kube-apiserver")?;
        let p = Guarded::spawn(
            "kube-apiserver",
            &bin,
            &args(&list),
            &self.dir.join("kube-apiserver.log"),
        )?;
        self.procs.push(p);
        let client = self.client(false).await?;
        let end = Instant::now() + opts.start_timeout;
        loop {
            if self.procs.iter_mut().any(Guarded::exited) {
                return Err(self.died());
            }
            if crate::objects::ready(&client).await {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(self.timed_out("kube-apiserver", opts.start_timeout));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn start_controller_manager(&mut self, opts: &StackOptions) -> Result<(), StackError> {
        let a = args(&[
            ("kubeconfig", self.kubeconfig.display().to_string()),
            ("controllers", crate::CONTROLLERS.join(",")),
            ("leader-elect", "false".into()),
            ("root-ca-file", self.files.ca_file.display().to_string()),
            // No serving port: nothing reads its metrics here.
            ("secure-port", "0".into()),
            ("v", "1".into()),
        ]);
        let bin = Self::bin(opts, "kube-controller-manager")?;
        let p = Guarded::spawn(
            "kube-controller-manager",
            &bin,
            &a,
            &self.dir.join("kube-controller-manager.log"),
        )?;
        self.procs.push(p);
        Ok(())
    }

    fn wait_until(
        &mut self,
        what: &str,
        limit: Duration,
        mut ok: impl FnMut() -> bool,
    ) -> Result<(), StackError> {
        let end = Instant::now() + limit;
        while !ok() {
            if self.procs.iter_mut().any(Guarded::exited) {
                return Err(self.died());
            }
            if Instant::now() > end {
                return Err(self.timed_out(what, limit));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    pub(crate) fn died(&mut self) -> StackError {
        let p = self.procs.iter_mut().find_map(|p| p.exited().then_some(p));
        match p {
            Some(p) => StackError::Died {
                name: p.name().to_string(),
                log: p.log_tail(30),
            },
            None => StackError::Died {
                name: "a component".into(),
                log: String::new(),
            },
        }
    }

    pub(crate) fn timed_out(&self, what: &str, limit: Duration) -> StackError {
        let log = self
            .procs
            .iter()
            .find(|p| p.name() == what)
            .map(|p| p.log_tail(30))
            .unwrap_or_default();
        StackError::NotReady {
            name: what.to_string(),
            seconds: limit.as_secs(),
            log,
        }
    }

    /// A kube client for the admin (or read-only) user.
    pub async fn client(&self, readonly: bool) -> Result<kube::Client, StackError> {
        let doc = self.files.kubeconfig("capi-sandbox", &self.url);
        let kc: kube::config::Kubeconfig =
            serde_json::from_value(doc).map_err(|e| StackError::Client(e.to_string()))?;
        let ctx = if readonly {
            "capi-sandbox-readonly"
        } else {
            "capi-sandbox"
        };
        let o = kube::config::KubeConfigOptions {
            context: Some(ctx.into()),
            ..Default::default()
        };
        let cfg = kube::Config::from_custom_kubeconfig(kc, &o)
            .await
            .map_err(|e| StackError::Client(e.to_string()))?;
        kube::Client::try_from(cfg).map_err(|e| StackError::Client(e.to_string()))
    }

    /// The kubeconfig document (contexts `BASE` and `BASE-readonly`).
    pub fn kubeconfig_doc(&self, base: &str) -> Value {
        self.files.kubeconfig(base, &self.url)
    }

    /// The audit events written so far (`ResponseComplete` stage, JSON lines), oldest first.
    pub fn audit_events(&self) -> Vec<Value> {
        let Some(path) = &self.audit_log else {
            return vec![];
        };
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["stage"] == "ResponseComplete")
            .collect()
    }

    /// Stops every process (controller manager, API server, etcd: the reverse of their start).
    pub fn stop(&mut self) {
        while let Some(mut p) = self.procs.pop() {
            p.stop(Duration::from_secs(5));
        }
    }
}

impl Drop for RealStack {
    fn drop(&mut self) {
        self.stop();
    }
}
