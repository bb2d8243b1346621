//! The workload clusters' API servers: each provisioned cluster gets a small API server of its
//! own (built-in kinds only, with a namespace controller), served under
//! `/workload/NAMESPACE/NAME/` on the sandbox's port, and opened only by client certificates of
//! that cluster's CA.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;
use serde_json::json;

use super::ServerState;
use crate::api::registry::Registry;
use crate::api::rest::{Api, WriteOpts};
use crate::store::Store;

/// The workload API servers of a sandbox.
#[derive(Debug, Default)]
pub struct Workloads {
    servers: RwLock<HashMap<(String, String), Workload>>,
    /// Per cluster: the CA (PEM) its client certificates must chain to, and its verifier.
    verifiers: RwLock<HashMap<(String, String), CaVerifier>>,
}

/// A CA (PEM) and the verifier of the client certificates it issued.
type CaVerifier = (String, Arc<dyn ClientCertVerifier>);

/// One workload cluster's API server and the controller that finishes its namespace deletions
/// (stopped with it).
#[derive(Debug)]
struct Workload {
    state: Arc<ServerState>,
    namespaces: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Workload {
    fn drop(&mut self) {
        if let Some(task) = &self.namespaces {
            task.abort();
        }
    }
}

impl Workloads {
    /// The API server of a workload cluster, if it runs.
    pub fn get(&self, ns: &str, name: &str) -> Option<Arc<ServerState>> {
        self.servers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(ns.to_string(), name.to_string()))
            .map(|w| w.state.clone())
    }

    /// Starts (or returns) the API server of a workload cluster.
    pub fn ensure(&self, ns: &str, name: &str, address: &str) -> Arc<ServerState> {
        if let Some(s) = self.get(ns, name) {
            return s;
        }
        let mut map = self.servers.write().unwrap_or_else(|p| p.into_inner());
        map.entry((ns.to_string(), name.to_string()))
            .or_insert_with(|| {
                let store = Arc::new(Store::new(crate::store::time::unix_millis(), 10_000));
                let api = Api::new(store, Arc::new(Registry::new()));
                let nsdef = api.registry.get("", "namespaces");
                if let Some(nsdef) = nsdef {
                    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                        let _ = api.create(&nsdef, "v1", None, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}), &WriteOpts::controller("kube-apiserver"));
                    }
                }
                if let Some(svc) = api.registry.get("", "services") {
                    let _ = api.create(
                        &svc,
                        "v1",
                        Some("default"),
                        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"},
                               "spec": {"clusterIP": "10.128.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}),
                        &WriteOpts::controller("kube-apiserver"),
                    );
                }
                // Without it a namespace deleted on the workload cluster stays Terminating.
                let namespaces = tokio::runtime::Handle::try_current().ok().map(|_| {
                    crate::controllers::spawn(
                        api.clone(),
                        Box::new(crate::controllers::namespace::NamespaceController::new(api.clone(), None)),
                    )
                });
                let state = Arc::new(ServerState {
                    api,
                    openapi: Default::default(),
                    metrics: Default::default(),
                    tokens: None,
                    address: address.to_string(),
                    bookmark_every: Duration::from_secs(60),
                    workloads: None,
                    path_prefix: format!("/workload/{ns}/{name}"),
                    audit: None,
                    clock_skew_secs: 0,
                    faults: Default::default(),
                });
                Workload { state, namespaces }
            })
            .state
            .clone()
    }

    /// Who a client certificate chain is on workload cluster `ns/name`, whose CA is `ca_pem`
    /// (its `<cluster>-ca` Secret): `None` unless that CA issued the certificate, so one
    /// cluster's credentials never open another.
    pub fn client_identity(
        &self,
        ns: &str,
        name: &str,
        ca_pem: &str,
        chain: &[CertificateDer<'static>],
    ) -> Option<crate::http::tls::ClientIdentity> {
        let key = (ns.to_string(), name.to_string());
        let cached = self
            .verifiers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|(pem, _)| pem == ca_pem)
            .map(|(_, v)| v.clone());
        let verifier = match cached {
            Some(v) => v,
            None => {
                let v = crate::http::tls::client_verifier(ca_pem).ok()?;
                self.verifiers
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, (ca_pem.to_string(), v.clone()));
                v
            }
        };
        crate::http::tls::verify_client_chain(verifier.as_ref(), chain)
    }

    /// Stops the API server of a deleted workload cluster.
    pub fn remove(&self, ns: &str, name: &str) {
        self.servers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(ns.to_string(), name.to_string()));
        self.verifiers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(ns.to_string(), name.to_string()));
    }

    /// Number of running workload API servers.
    pub fn len(&self) -> usize {
        self.servers.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
