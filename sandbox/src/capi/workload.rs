//! Workload clusters: each provisioned cluster gets a small API server of its own (built-in kinds
//! only), served under `/workload/NAMESPACE/NAME/` on the sandbox's port. Its Nodes are the
//! running Machines of the cluster; its kubeconfig is the `<cluster>-kubeconfig` Secret the
//! simulated control plane writes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;

use crate::http::ServerState;
use crate::registry::Registry;
use crate::rest::{Api, Sub, WriteOpts};
use crate::store::Store;

/// The workload API servers of a sandbox.
#[derive(Debug, Default)]
pub struct Workloads {
    servers: RwLock<HashMap<(String, String), Workload>>,
    /// Per cluster: the CA (PEM) its client certificates must chain to, and its verifier.
    verifiers: RwLock<HashMap<(String, String), CaVerifier>>,
}

const MANAGER: &str = "kubelet";

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
                let store = Arc::new(Store::new(crate::time::unix_millis(), 10_000));
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
    ) -> Option<crate::tls::ClientIdentity> {
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
                let v = crate::tls::client_verifier(ca_pem).ok()?;
                self.verifiers
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, (ca_pem.to_string(), v.clone()));
                v
            }
        };
        crate::tls::verify_client_chain(verifier.as_ref(), chain)
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

/// Registers (or refreshes) the Node of a Machine in its workload cluster.
pub fn upsert_node(
    state: &ServerState,
    name: &str,
    version: &str,
    provider_id: &str,
    control_plane: bool,
    address: &str,
) {
    let api = &state.api;
    let Some(def) = api.registry.get("", "nodes") else {
        return;
    };
    let opts = WriteOpts::controller(MANAGER);
    let existing = api.get_stored(&def, None, name).map(|o| o.value());
    let mut labels =
        json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"});
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
    }
    let node_info = node_system_info(name, version, "in-memory (capi-sandbox)");
    match existing {
        None => {
            let obj = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
                "spec": {"providerID": provider_id, "podCIDR": "10.244.0.0/24"}});
            if api.create(&def, "v1", None, obj, &opts).is_err() {
                return;
            }
            let now = crate::time::now_rfc3339();
            let _ = crate::controllers::mutate(api, &def, None, name, Sub::Status, MANAGER, |n| {
                n["status"] = json!({
                    "conditions": [
                        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now},
                        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "lastHeartbeatTime": now, "lastTransitionTime": now},
                        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                        {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    ],
                    "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
                    "nodeInfo": node_info,
                    "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                    "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                });
                true
            });
        }
        Some(n) => {
            // An in-place version change (rare) is reflected; health is left to whoever set it.
            if n.pointer("/status/nodeInfo/kubeletVersion")
                .and_then(Value::as_str)
                != Some(version)
            {
                let _ = crate::controllers::mutate(api, &def, None, name, Sub::Status, MANAGER, |n| {
                    n["status"]["nodeInfo"] = node_info.clone();
                    true
                });
            }
        }
    }
}

/// Removes the Node of a Machine.
pub fn delete_node(state: &ServerState, name: &str) {
    if let Some(def) = state.api.registry.get("", "nodes") {
        let _ = state.api.delete(&def, "v1", None, name, &Default::default());
    }
}

/// The Ready condition of a Node: (status, seconds since its last transition is not tracked).
pub fn node_ready(state: &ServerState, name: &str) -> Option<String> {
    let def = state.api.registry.get("", "nodes")?;
    let n = state.api.get_stored(&def, None, name)?.value();
    n.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .map(str::to_string)
}

/// A Node's `status.nodeInfo` as a kubelet reports it: every field of NodeSystemInfo (Cluster
/// API's Machine schema requires them all), the ids derived from the node name so they are
/// stable across restarts.
pub fn node_system_info(name: &str, version: &str, os_image: &str) -> Value {
    // FNV-1a: a stable, dependency-free spread of the name over 128 bits.
    let hash = |salt: u8| -> u128 {
        let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
        for b in name.bytes().chain([salt]) {
            h ^= u128::from(b);
            h = h.wrapping_mul(0x0000000001000000000000000000013b);
        }
        h
    };
    let uuid = |h: u128| {
        let x = format!("{h:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &x[..8],
            &x[8..12],
            &x[12..16],
            &x[16..20],
            &x[20..]
        )
    };
    json!({"machineID": format!("{:032x}", hash(1)), "systemUUID": uuid(hash(2)), "bootID": uuid(hash(3)),
        "kernelVersion": "6.1.0", "osImage": os_image, "containerRuntimeVersion": "containerd://1.7.0",
        "kubeletVersion": version, "kubeProxyVersion": version, "operatingSystem": "linux", "architecture": "amd64"})
}
