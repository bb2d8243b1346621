//! The Nodes of workload clusters: the running Machines of a cluster, registered in its API
//! server ([`crate::http::workloads`]) as kubelets would. Its kubeconfig is the
//! `<cluster>-kubeconfig` Secret the simulated control plane writes.

use serde_json::{Value, json};

use super::action::{SimError, SimResult};
use crate::api::error::ApiError;
use crate::api::rest::{Sub, WriteOpts};
use crate::http::ServerState;

const MANAGER: &str = "kubelet";

/// Registers (or refreshes) the Node of a Machine in its workload cluster.
pub fn upsert_node(
    state: &ServerState,
    name: &str,
    version: &str,
    provider_id: &str,
    control_plane: bool,
    address: &str,
) -> SimResult<()> {
    let refused = |verb, source| node_refused(verb, name, source);
    let api = &state.api;
    let Some(def) = api.registry.get("", "nodes") else {
        return Ok(());
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
            api.create(&def, "v1", None, obj, &opts)
                .map_err(|e| refused("create", e))?;
            let now = crate::store::time::now_rfc3339();
            crate::controllers::mutate(api, &def, None, name, Sub::Status, MANAGER, |n| {
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
            })
            .map_err(|e| refused("update", e))?;
        }
        Some(n) => {
            // An in-place version change (rare) is reflected; health is left to whoever set it.
            if n.pointer("/status/nodeInfo/kubeletVersion")
                .and_then(Value::as_str)
                != Some(version)
            {
                crate::controllers::mutate(api, &def, None, name, Sub::Status, MANAGER, |n| {
                    n["status"]["nodeInfo"] = node_info.clone();
                    true
                })
                .map_err(|e| refused("update", e))?;
            }
        }
    }
    Ok(())
}

/// A refused write to a workload cluster's Node (the cluster's own API server).
fn node_refused(verb: &'static str, name: &str, source: ApiError) -> SimError {
    SimError {
        verb,
        kind: "Node".into(),
        namespace: String::new(),
        name: name.to_string(),
        source,
    }
}

/// Removes the Node of a Machine.
pub fn delete_node(state: &ServerState, name: &str) -> SimResult<()> {
    let Some(def) = state.api.registry.get("", "nodes") else {
        return Ok(());
    };
    match state.api.delete(&def, "v1", None, name, &Default::default()) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(node_refused("delete", name, e)),
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

/// Sets a Node's Ready condition as a kubelet would report it (the transition time moves only
/// when the status changes).
pub fn set_node_ready(
    state: &ServerState,
    name: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> SimResult<()> {
    let Some(def) = state.api.registry.get("", "nodes") else {
        return Ok(());
    };
    crate::controllers::mutate(&state.api, &def, None, name, Sub::Status, MANAGER, |n| {
        let Some(list) = n.pointer_mut("/status/conditions").and_then(Value::as_array_mut) else {
            return false;
        };
        let Some(c) = list.iter_mut().find(|c| c["type"] == "Ready") else {
            return false;
        };
        if c["status"] == status && c["reason"] == reason && c["message"] == message {
            return false;
        }
        if c["status"] != status {
            c["lastTransitionTime"] = json!(crate::store::time::now_rfc3339());
        }
        c["status"] = json!(status);
        c["reason"] = json!(reason);
        c["message"] = json!(message);
        true
    })
    .map(|_| ())
    .map_err(|e| node_refused("update", name, e))
}
