//! Cluster API's own managers on a running stack, as `clusterctl init` would install them minus
//! the pods: each provider's CRDs (conversion through its manager's webhook) and admission
//! webhooks registered at `https://127.0.0.1:PORT` with a serving certificate from the stack's
//! CA, the managers started as local processes (leader election off, ClusterClass and
//! MachinePool on), each waited for until its health endpoint says ready, then clusterctl's
//! inventory.
//!
//! The Dev provider's in-memory backend listens on fixed ports (a debug port and a range for
//! workload clusters' API servers), so only one such stack may run on a machine at a time: a
//! file lock in the temporary folder makes later ones wait.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use capi_sandbox::http::tls::Usage;

use crate::files::Files;
use crate::process::Guarded;
use crate::providers::{self, Manifests, PROVIDERS, Provider};
use crate::stack::{args, free_port};
use crate::{RealStack, StackError, StackOptions, objects};

/// How long the managers may take to become ready together.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

fn io(what: String) -> impl FnOnce(std::io::Error) -> StackError {
    move |source| StackError::Io { what, source }
}

/// Waits for the machine-wide lock of the Dev provider's fixed ports.
async fn lock() -> Result<std::fs::File, StackError> {
    let path = std::env::temp_dir().join("kubectl-capi-realstack-dev-provider.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("opening {}", path.display())))?;
    let what = format!("locking {}", path.display());
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| StackError::Io {
            what: what.clone(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(io(what))
}

/// Whether `GET http://ADDR/readyz` answers 200 (controller-runtime's health endpoint, which
/// includes the webhook server having started).
fn ready(addr: &str) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

/// One manager to start.
struct Planned {
    provider: &'static Provider,
    webhook_port: u16,
    health: String,
}

impl RealStack {
    /// Installs and starts Cluster API's managers on this stack.
    pub(crate) async fn start_cluster_api(
        &mut self,
        opts: &StackOptions,
        client: &kube::Client,
    ) -> Result<(), StackError> {
        self.lock = Some(lock().await?);
        let certs = self.webhook_certs()?;
        let kubeconfig = self.dir.join("managers.kubeconfig");
        Files::write_kubeconfig(&kubeconfig, &self.files.managers_kubeconfig(&self.url))?;
        let mut planned = vec![];
        for p in PROVIDERS {
            let planned_one = Planned {
                provider: p,
                webhook_port: free_port()?,
                health: format!("127.0.0.1:{}", free_port()?),
            };
            self.register(opts, client, &planned_one).await?;
            planned.push(planned_one);
        }
        for m in &planned {
            self.spawn_manager(opts, m, &certs, &kubeconfig)?;
        }
        self.wait_ready(&planned)?;
        let version = self.release(opts)?;
        objects::install_crds(client, vec![capi_shared::init::inventory::crd()]).await?;
        for p in PROVIDERS {
            objects::create(client, "providers", providers::inventory(p, &version)).await?;
        }
        Ok(())
    }

    /// The serving certificate every manager's webhook server uses (`tls.crt`/`tls.key`).
    fn webhook_certs(&self) -> Result<std::path::PathBuf, StackError> {
        let dir = self.dir.join("webhook-certs");
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let sans = ["127.0.0.1".to_string(), "localhost".to_string()];
        let (cert, key) = self
            .files
            .ca
            .issue("cluster-api-webhooks", &[], &sans, Usage::Server, 365)?;
        for (name, text) in [("tls.crt", cert), ("tls.key", key)] {
            let f = dir.join(name);
            std::fs::write(&f, text).map_err(io(format!("writing {}", f.display())))?;
        }
        Ok(dir)
    }

    /// The provider's namespace, CRDs (waited for until established) and webhooks.
    async fn register(
        &self,
        opts: &StackOptions,
        client: &kube::Client,
        m: &Planned,
    ) -> Result<(), StackError> {
        let p = m.provider;
        let manifests = Manifests::read(&providers::config_dir(&opts.bin, p))
            .map_err(|e| StackError::Crds(e.to_string()))?;
        let url = format!("https://127.0.0.1:{}", m.webhook_port);
        let ca = &self.files.ca.cert_pem;
        objects::namespace(client, p.namespace).await?;
        objects::install_crds(client, providers::crds(p, &manifests, &url, ca)).await?;
        for w in providers::webhooks(p, &manifests, &url, ca) {
            let plural = match w["kind"].as_str() {
                Some("MutatingWebhookConfiguration") => "mutatingwebhookconfigurations",
                _ => "validatingwebhookconfigurations",
            };
            objects::create(client, plural, w).await?;
        }
        Ok(())
    }

    fn spawn_manager(
        &mut self,
        opts: &StackOptions,
        m: &Planned,
        certs: &Path,
        kubeconfig: &Path,
    ) -> Result<(), StackError> {
        let c = &m.provider.component;
        let a = args(&[
            ("kubeconfig", kubeconfig.display().to_string()),
            ("leader-elect", "false".into()),
            ("webhook-port", m.webhook_port.to_string()),
            ("webhook-cert-dir", certs.display().to_string()),
            ("health-addr", m.health.clone()),
            // "0" turns controller-runtime's metrics server off: nothing scrapes it here.
            ("diagnostics-address", "0".into()),
            ("feature-gates", providers::FEATURE_GATES.into()),
        ]);
        // The in-memory backend serves each workload cluster's API on this address.
        let env = [
            ("POD_IP", "127.0.0.1".to_string()),
            ("KUBECONFIG", kubeconfig.display().to_string()),
        ];
        let log = self.dir.join(format!("{}.log", c.name));
        let p = Guarded::spawn_with_env(c.name, &Self::bin(opts, c.name)?, &a, &env, &log)?;
        self.procs.push(p);
        Ok(())
    }

    fn wait_ready(&mut self, planned: &[Planned]) -> Result<(), StackError> {
        let end = Instant::now() + READY_TIMEOUT;
        for m in planned {
            while !ready(&m.health) {
                if self.procs.iter_mut().any(Guarded::exited) {
                    return Err(self.died());
                }
                if Instant::now() > end {
                    return Err(self.timed_out(m.provider.component.name, READY_TIMEOUT));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// The release the managers were built from (written next to their manifests at build
    /// time), for the inventory.
    fn release(&self, opts: &StackOptions) -> Result<String, StackError> {
        let f = opts.bin.join(providers::CONFIG_DIR).join("RELEASE");
        std::fs::read_to_string(&f)
            .map(|s| s.trim().to_string())
            .map_err(io(format!(
                "reading {} (run `cargo xtask realstack build`)",
                f.display()
            )))
    }
}
