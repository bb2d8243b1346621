//! The real management cluster used as the referee in tests: pinned Go builds of kube-apiserver,
//! kube-controller-manager, etcd and clusterctl, and a harness that starts the first three on
//! loopback the way envtest does.
//!
//! Layers: [`pins`] (what is built) → [`build`] (building it) → [`process`] (children that die
//! with us) → [`files`] (certificates, tokens, kubeconfigs) → [`stack`] (starting and stopping)
//! → [`objects`] (what is loaded through the API).

pub mod build;
pub mod files;
pub mod managers;
pub mod objects;
pub mod pins;
pub mod process;
pub mod providers;
pub mod stack;

use std::path::PathBuf;
use std::time::Duration;

pub use capi_sandbox::api::crds::Generation;
pub use stack::RealStack;

/// The kube-controller-manager controllers run: the ones every real cluster has for the objects
/// this project works with (owner-reference cascades, namespace deletion, the `view` role's
/// aggregation, `kube-root-ca.crt` in every namespace).
pub const CONTROLLERS: &[&str] = &[
    "garbage-collector-controller",
    "namespace-controller",
    "clusterrole-aggregation-controller",
    "root-ca-certificate-publisher-controller",
];

/// Which Cluster API CRDs a stack loads.
#[derive(Debug, Clone)]
pub enum CrdSet {
    /// The sandbox's bundled CRDs of one generation (with clusterctl's inventory).
    Bundled(Generation),
    /// Every CRD in a folder (e.g. the upstream ones in `../shared/capi-crds`).
    Dir(PathBuf),
    /// None: a bare cluster.
    None,
}

/// How to start a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The folder of built binaries (`target/realstack/bin`).
    pub bin: PathBuf,
    /// Where to keep its files; a temporary directory (removed on drop) when `None`.
    pub dir: Option<PathBuf>,
    /// CRDs to load.
    pub crds: CrdSet,
    /// Also create clusterctl's inventory (with [`CrdSet::Bundled`]).
    pub inventory: bool,
    /// Keep the audit log of writes.
    pub audit: bool,
    /// How long kube-apiserver may take to become ready.
    pub start_timeout: Duration,
    /// Run Cluster API's real managers (core, kubeadm bootstrap and control plane, the Dev
    /// infrastructure provider) with their own CRDs, webhooks and inventory; use with
    /// [`CrdSet::None`].
    pub cluster_api: bool,
}

impl StackOptions {
    /// Bundled v1beta2 CRDs and the inventory, no audit log, binaries in `bin`.
    pub fn new(bin: PathBuf) -> StackOptions {
        StackOptions {
            bin,
            dir: None,
            crds: CrdSet::Bundled(Generation::V1beta2),
            inventory: true,
            audit: false,
            start_timeout: Duration::from_secs(120),
            cluster_api: false,
        }
    }
}

/// Why a stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A binary is missing.
    #[error("{} is not built: run `cargo xtask realstack build` (needs Go)", .0.display())]
    NotBuilt(PathBuf),
    /// A file operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Starting a process failed.
    #[error(transparent)]
    Spawn(#[from] process::SpawnError),
    /// Certificates could not be made.
    #[error("generating certificates")]
    Tls(#[from] capi_sandbox::http::tls::TlsError),
    /// A component exited during start-up.
    #[error("{name} exited during start-up; the end of its log:\n{log}")]
    Died {
        /// The component.
        name: String,
        /// The end of its log.
        log: String,
    },
    /// A component did not become ready in time.
    #[error("{name} was not ready after {seconds} s; the end of its log:\n{log}")]
    NotReady {
        /// The component.
        name: String,
        /// The limit.
        seconds: u64,
        /// The end of its log.
        log: String,
    },
    /// The kube client could not be built.
    #[error("building a client: {0}")]
    Client(String),
    /// A CRD folder could not be read.
    #[error("reading CRDs: {0}")]
    Crds(String),
    /// A bootstrap request failed.
    #[error("{what}")]
    Bootstrap {
        /// What was being done.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}
