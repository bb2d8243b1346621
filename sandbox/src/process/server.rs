//! A running sandbox: boots the store (replaying `--state-dir`), creates the bootstrap objects and
//! CRDs, starts the controllers and serves HTTPS on 127.0.0.1.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::crds::{self, Generation};
use crate::api::registry::Registry;
use crate::api::rest::{Api, WriteOpts};
use crate::controllers::{self, crd::CrdController, gc::Gc, namespace::NamespaceController};
use crate::http::openapi::OpenApiCache;
use crate::http::tls::{self, Ca, Usage};
use crate::http::{ServerState, User};
use crate::store::Store;
use crate::store::persist::{Record, Wal};

/// Errors starting a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Certificates could not be made.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The configuration or state cannot be used.
    #[error("{0}")]
    Invalid(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where state survives restarts; `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    /// The Cluster API generation the bundled CRDs serve.
    pub generation: Generation,
    /// Load CRDs from this directory instead of the bundled ones.
    pub crds_dir: Option<PathBuf>,
    /// Run the simulated Cluster API controllers.
    pub controllers: bool,
    /// Delay scale of the simulated controllers (1.0 = realistic seconds, 0 = as fast as possible).
    pub speed: f64,
    /// Events kept for watches.
    pub watch_history: usize,
    /// fsync every write-ahead log record (survives OS crashes, not only process kills).
    pub fsync: bool,
    /// Start on a damaged write-ahead log, dropping the unreadable records (each logged).
    pub discard_damaged_state: bool,
    /// How often watches that ask for bookmarks get one.
    pub bookmark_every: Duration,
    /// Keep an audit log of write requests (see [`crate::http::audit`]).
    pub audit: bool,
    /// Seconds added to the Date header, to test clients that must use the server's clock.
    pub clock_skew_secs: i64,
    /// Start bare: only what a fresh Kubernetes cluster has (no Cluster API CRDs, no
    /// inventory), so that `kubectl capi init` makes it a management cluster.
    pub bare: bool,
    /// How long an HTTP/1 client may take to send a request's headers (also the idle time
    /// allowed between requests on one connection) before the connection is closed.
    pub header_read_timeout: Duration,
}

/// kube-apiserver's `ReadHeaderTimeout`.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            state_dir: None,
            generation: Generation::V1beta2,
            crds_dir: None,
            controllers: true,
            speed: 1.0,
            watch_history: 20_000,
            fsync: false,
            discard_damaged_state: false,
            bookmark_every: Duration::from_secs(60),
            audit: false,
            clock_skew_secs: 0,
            bare: false,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// Persistent identity of a sandbox: CA and tokens.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The CA.
    pub ca: Ca,
    /// Bearer token of the admin user.
    pub admin_token: String,
    /// Bearer token of the read-only user.
    pub readonly_token: String,
}

impl Credentials {
    fn generate() -> Result<Credentials, SandboxError> {
        let token = || format!("{:032x}", rand::random::<u128>());
        Ok(Credentials {
            ca: Ca::generate("capi-sandbox-ca")?,
            admin_token: token(),
            readonly_token: token(),
        })
    }

    fn to_json(&self) -> Value {
        json!({"caCert": self.ca.cert_pem, "caKey": self.ca.key_pem, "caName": self.ca.common_name, "adminToken": self.admin_token, "readonlyToken": self.readonly_token})
    }

    fn from_json(v: &Value) -> Option<Credentials> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Credentials {
            ca: Ca {
                cert_pem: s("caCert")?,
                key_pem: s("caKey")?,
                common_name: s("caName")?,
            },
            admin_token: s("adminToken")?,
            readonly_token: s("readonlyToken")?,
        })
    }
}

/// A running sandbox.
pub struct Sandbox {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The bound port.
    pub port: u16,
    /// CA and tokens.
    pub credentials: Credentials,
    /// Server state (store, registry, metrics).
    pub state: Arc<ServerState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The state directory's lock, if any.
    _lock: Option<crate::store::persist::DirLock>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("url", &self.url).finish()
    }
}

/// Names of the kubeconfig entries for a sandbox called `name` (`capi-sandbox[-NAME]`).
pub fn context_base(name: Option<&str>) -> String {
    match name.filter(|n| !n.is_empty() && *n != "default") {
        Some(n) => format!("capi-sandbox-{n}"),
        None => "capi-sandbox".to_string(),
    }
}

const BOOT: &str = "capi-sandbox";

/// Replays the state directory's write-ahead log into the store and attaches the log.
fn restore_state(store: &Store, dir: &std::path::Path, cfg: &SandboxConfig) -> Result<(), SandboxError> {
    check_generation(dir, cfg)?;
    let (wal, records) = Wal::open(dir, cfg.fsync, cfg.discard_damaged_state)
        .map_err(io(format!("opening state directory {}", dir.display())))?;
    let mut max_rv = 0;
    for r in records {
        match r {
            Record::Put { res, obj, rv } => {
                max_rv = max_rv.max(rv);
                store.load(&Arc::from(res.as_str()), obj, rv);
            }
            Record::Delete { res, key, rv } => {
                max_rv = max_rv.max(rv);
                store.unload(&Arc::from(res.as_str()), &key);
            }
        }
    }
    // Counter restarts above both the old state and the clock: watches from before the
    // restart get a clean 410 and relist.
    store.bump_to(crate::store::time::unix_millis().max(max_rv + 1));
    store.attach_wal(wal);
    Ok(())
}

/// The two users of a sandbox, by bearer token: the admin and the read-only user.
fn users(credentials: &Credentials) -> HashMap<String, User> {
    [
        (
            credentials.admin_token.clone(),
            User {
                name: "capi-sandbox-admin".into(),
                readonly: false,
            },
        ),
        (
            credentials.readonly_token.clone(),
            User {
                name: "capi-sandbox-readonly".into(),
                readonly: true,
            },
        ),
    ]
    .into_iter()
    .collect()
}

impl Sandbox {
    /// Boots and starts serving. Must be called inside a multi-threaded tokio runtime.
    pub async fn start(cfg: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let lock = match &cfg.state_dir {
            Some(dir) => Some(
                crate::store::persist::prepare_dir(dir)
                    .map_err(io(format!("opening state directory {}", dir.display())))?,
            ),
            None => None,
        };
        let credentials = match &cfg.state_dir {
            Some(dir) => load_or_create_credentials(dir)?,
            None => Credentials::generate()?,
        };
        let store = Arc::new(Store::new(crate::store::time::unix_millis(), cfg.watch_history));
        let registry = Arc::new(Registry::new());
        if let Some(dir) = &cfg.state_dir {
            restore_state(&store, dir, &cfg)?;
        }
        let api = Api::new(store.clone(), registry.clone());
        let crd_ctrl = CrdController::new(api.clone());
        // CRDs from the state directory must be served before anything else is created.
        let (_, restored) = store.snapshot(&Arc::from("apiextensions.k8s.io/customresourcedefinitions"));
        for (key, _) in restored.iter() {
            crd_ctrl.establish(&key.name);
        }
        bootstrap(&api, &cfg)?;
        let (_, crd_table) = store.snapshot(&Arc::from("apiextensions.k8s.io/customresourcedefinitions"));
        for (key, _) in crd_table.iter() {
            crd_ctrl.establish(&key.name);
        }
        seed_inventory(&api, &cfg)?;
        let mut tasks = vec![
            controllers::spawn(api.clone(), Box::new(crd_ctrl)),
            controllers::spawn(api.clone(), Box::new(Gc::new(api.clone()))),
            controllers::spawn(
                api.clone(),
                Box::new(controllers::deployment::DeploymentController::new(api.clone())),
            ),
            controllers::spawn(
                api.clone(),
                Box::new(NamespaceController::new(
                    api.clone(),
                    Some(credentials.ca.cert_pem.clone()),
                )),
            ),
        ];
        let workloads = Arc::new(crate::http::workloads::Workloads::default());
        let listener = TcpListener::bind(("127.0.0.1", cfg.port))
            .await
            .map_err(io(format!("listening on 127.0.0.1:{}", cfg.port)))?;
        let port = listener
            .local_addr()
            .map_err(io("reading the bound address"))?
            .port();
        let url = format!("https://127.0.0.1:{port}");
        let tokens = users(&credentials);
        let state = Arc::new(ServerState {
            api: api.clone(),
            openapi: OpenApiCache::default(),
            metrics: Default::default(),
            tokens: Some(tokens),
            address: format!("127.0.0.1:{port}"),
            bookmark_every: cfg.bookmark_every,
            workloads: Some(workloads.clone()),
            path_prefix: String::new(),
            audit: cfg.audit.then(Default::default),
            clock_skew_secs: cfg.clock_skew_secs,
            faults: Default::default(),
        });
        if cfg.controllers {
            tasks.extend(crate::capi::spawn_all(
                api.clone(),
                crate::capi::SimConfig {
                    speed: cfg.speed,
                    url: url.clone(),
                    server_ca: credentials.ca.cert_pem.clone(),
                    workloads: workloads.clone(),
                },
            ));
        }
        let (cert, key) = credentials.ca.issue(
            BOOT,
            &[],
            &["127.0.0.1".into(), "localhost".into()],
            Usage::Server,
            365,
        )?;
        let tls_cfg = tls::server_config(&cert, &key)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        tasks.push(tokio::spawn(serve(
            listener,
            tls_cfg,
            cfg.header_read_timeout,
            crate::http::router(state.clone()),
            shutdown_rx,
        )));
        Ok(Sandbox {
            url,
            port,
            credentials,
            state,
            shutdown,
            tasks,
            _lock: lock,
        })
    }

    /// The REST layer (for in-process tests and seeding).
    pub fn api(&self) -> &Api {
        &self.state.api
    }

    /// A standalone kubeconfig for this sandbox, with an admin and a read-only context.
    pub fn kubeconfig(&self, base: &str) -> Value {
        let mut doc = json!({"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [], "contexts": [], "current-context": base});
        for (section, name, body) in self.kubeconfig_entries(base) {
            let list = match section {
                capi_shared::kubeconfig::file::Section::Clusters => "clusters",
                capi_shared::kubeconfig::file::Section::Users => "users",
                capi_shared::kubeconfig::file::Section::Contexts => "contexts",
            };
            let body_key = &list[..list.len() - 1];
            if let Some(a) = doc[list].as_array_mut() {
                a.push(json!({"name": name, body_key: body}));
            }
        }
        doc
    }

    /// The named kubeconfig entries (cluster, two users, two contexts) for `base`.
    pub fn kubeconfig_entries(
        &self,
        base: &str,
    ) -> Vec<(capi_shared::kubeconfig::file::Section, String, Value)> {
        use capi_shared::kubeconfig::file::Section;
        vec![
            (
                Section::Clusters,
                base.to_string(),
                json!({"server": self.url, "certificate-authority-data": B64.encode(&self.credentials.ca.cert_pem)}),
            ),
            (
                Section::Users,
                format!("{base}-admin"),
                json!({"token": self.credentials.admin_token}),
            ),
            (
                Section::Users,
                format!("{base}-readonly"),
                json!({"token": self.credentials.readonly_token}),
            ),
            (
                Section::Contexts,
                base.to_string(),
                json!({"cluster": base, "user": format!("{base}-admin"), "namespace": "default"}),
            ),
            (
                Section::Contexts,
                format!("{base}-readonly"),
                json!({"cluster": base, "user": format!("{base}-readonly"), "namespace": "default"}),
            ),
        ]
    }

    /// Stops serving and the controllers.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn load_or_create_credentials(dir: &std::path::Path) -> Result<Credentials, SandboxError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating state directory {}", dir.display())))?;
    let path = dir.join("credentials.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| SandboxError::Invalid(format!("{} is corrupt: {e}", path.display())))?;
            Credentials::from_json(&v)
                .ok_or_else(|| SandboxError::Invalid(format!("{} is missing fields", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let c = Credentials::generate()?;
            let bytes = serde_json::to_vec_pretty(&c.to_json()).unwrap_or_default();
            capi_shared::kubeconfig::file::write_atomic(&path, &bytes, 0o600)
                .map_err(io(format!("writing {}", path.display())))?;
            Ok(c)
        }
        Err(e) => Err(io(format!("reading {}", path.display()))(e)),
    }
}

fn check_generation(dir: &std::path::Path, cfg: &SandboxConfig) -> Result<(), SandboxError> {
    let path = dir.join("sandbox.json");
    let want = if cfg.bare {
        "bare".to_string()
    } else if cfg.crds_dir.is_some() {
        "custom".to_string()
    } else {
        cfg.generation.as_str().to_string()
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text).unwrap_or(json!({}));
            let had = v.get("crds").and_then(Value::as_str).unwrap_or("");
            if !had.is_empty() && had != want {
                return Err(SandboxError::Invalid(format!(
                    "the state directory {} holds a sandbox created with CRDs {had:?}, but this run asks for {want:?}; start it with the same --capi-api/--crds/--bare, or use another --state-dir",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(_) => capi_shared::kubeconfig::file::write_atomic(
            &path,
            json!({"crds": want}).to_string().as_bytes(),
            0o600,
        )
        .map_err(io(format!("writing {}", path.display()))),
    }
}

fn bootstrap(api: &Api, cfg: &SandboxConfig) -> Result<(), SandboxError> {
    let opts = WriteOpts::controller(BOOT);
    let create = |group: &str, plural: &str, ns: Option<&str>, obj: Value| -> Result<(), SandboxError> {
        let def = api
            .registry
            .get(group, plural)
            .ok_or_else(|| SandboxError::Invalid(format!("resource {plural} is not served")))?;
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if api.get_stored(&def, ns, &name).is_some() {
            return Ok(());
        }
        match api.create(&def, &def.storage_version.clone(), ns, obj, &opts) {
            Ok(_) => Ok(()),
            Err(e) if e.code == 409 => Ok(()),
            Err(e) => Err(SandboxError::Invalid(format!("creating {plural}/{name}: {e}"))),
        }
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        create(
            "",
            "namespaces",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        )?;
    }
    create(
        "",
        "services",
        Some("default"),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
               "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}),
    )?;
    let (node, node_status) = management_node();
    create("", "nodes", None, node)?;
    if let Some(nodes) = api.registry.get("", "nodes") {
        let _ = controllers::mutate(
            api,
            &nodes,
            None,
            "capi-sandbox-control-plane",
            crate::api::rest::Sub::Status,
            BOOT,
            |n| {
                if n.pointer("/status/nodeInfo").is_some() {
                    return false;
                }
                n["status"] = node_status.clone();
                true
            },
        );
    }
    let crd_list = match &cfg.crds_dir {
        _ if cfg.bare => vec![],
        Some(dir) => crds::load_dir(dir).map_err(SandboxError::Invalid)?,
        None => crds::bundled(cfg.generation),
    };
    for crd in crd_list {
        create("apiextensions.k8s.io", "customresourcedefinitions", None, crd)?;
    }
    Ok(())
}

/// The management cluster's own Node (as a kind cluster has one), and its status. The real
/// stack of the tests creates the same one.
pub fn management_node() -> (Value, Value) {
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "capi-sandbox-control-plane", "labels": {"kubernetes.io/hostname": "capi-sandbox-control-plane", "node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux"}},
           "spec": {"podCIDR": "10.244.0.0/24"}});
    let status = json!({
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": crate::store::time::now_rfc3339(), "lastTransitionTime": crate::store::time::now_rfc3339()}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "capi-sandbox-control-plane"}],
        "nodeInfo": crate::capi::workload::node_system_info("capi-sandbox-control-plane", "v1.33.0", "capi-sandbox (in-memory)"),
        "capacity": {"cpu": "2", "memory": "24Gi", "pods": "110"},
        "allocatable": {"cpu": "2", "memory": "24Gi", "pods": "110"},
    });
    (node, status)
}

/// clusterctl's inventory of the providers the simulated controllers stand for, as
/// `clusterctl init` leaves it (only with the bundled CRDs, whose release it names; once the
/// Provider CRD is served; objects already there are left alone).
fn seed_inventory(api: &Api, cfg: &SandboxConfig) -> Result<(), SandboxError> {
    if cfg.crds_dir.is_some() {
        return Ok(());
    }
    let (Some(nsdef), Some(pdef)) = (
        api.registry.get("", "namespaces"),
        api.registry.get("clusterctl.cluster.x-k8s.io", "providers"),
    ) else {
        return Ok(());
    };
    let opts = WriteOpts::controller(BOOT);
    for (ns, obj) in crds::inventory(cfg.generation) {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let writes = [
            (
                &nsdef,
                None,
                ns.to_string(),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
            ),
            (&pdef, Some(ns), name, obj),
        ];
        for (def, in_ns, name, obj) in writes {
            if api.get_stored(def, in_ns, &name).is_some() {
                continue;
            }
            match api.create(def, &def.storage_version.clone(), in_ns, obj, &opts) {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => {
                    return Err(SandboxError::Invalid(format!(
                        "creating {}/{name}: {e}",
                        def.plural
                    )));
                }
            }
        }
    }
    Ok(())
}

async fn serve(
    listener: TcpListener,
    tls_cfg: Arc<rustls::ServerConfig>,
    header_read_timeout: Duration,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_cfg);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(t)) => t,
                _ => return,
            };
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default();
            let svc = TowerToHyperService::new(router.layer(axum::Extension(crate::http::PeerCerts(peer))));
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // A client that never finishes its headers (or idles) must not hold its connection
            // forever.
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            tokio::select! {
                _ = conn => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}
