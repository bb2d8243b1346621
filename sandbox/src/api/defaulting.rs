//! The defaulting (mutating) admission webhooks of Cluster API, for the fields a user sees on a
//! new object: the rolling-update strategy of a MachineDeployment (`maxSurge: 1`,
//! `maxUnavailable: 0`) and of a KubeadmControlPlane (`maxSurge: 1`), and the cluster label a
//! MachineDeployment's selector and Machine template carry. Each generation in its own fields:
//! v1beta2 `spec.rollout.strategy`, v1beta1 `spec.strategy` (MachineDeployment) and
//! `spec.rolloutStrategy` (KubeadmControlPlane). Set only where the object says nothing.

use serde_json::{Value, json};

use crate::api::resource::ResourceDef;
use capi_shared::capi::labels::CLUSTER_NAME_LABEL;
use capi_shared::capi::object::str_at;

/// Fills in the defaults of a Cluster API object being created.
pub fn on_create(def: &ResourceDef, obj: &mut Value) {
    let v1beta1 = str_at(obj, "/apiVersion").is_some_and(|v| v.ends_with("/v1beta1"));
    match (def.group.as_str(), def.kind.as_str()) {
        ("cluster.x-k8s.io", "MachineDeployment") => {
            let ptr = if v1beta1 {
                "/spec/strategy"
            } else {
                "/spec/rollout/strategy"
            };
            default_strategy(obj, ptr, json!({"maxSurge": 1, "maxUnavailable": 0}));
            label_with_cluster(obj);
        }
        ("controlplane.cluster.x-k8s.io", "KubeadmControlPlane") => {
            let ptr = if v1beta1 {
                "/spec/rolloutStrategy"
            } else {
                "/spec/rollout/strategy"
            };
            default_strategy(obj, ptr, json!({"maxSurge": 1}));
        }
        _ => {}
    }
}

/// A `RollingUpdate` strategy at `ptr`, each of `rolling`'s fields where missing. A strategy of
/// another type is left as it is.
fn default_strategy(obj: &mut Value, ptr: &str, rolling: Value) {
    let mut at = &mut *obj;
    for key in ptr.trim_start_matches('/').split('/') {
        at = &mut at[key];
    }
    if !at.is_object() {
        *at = json!({});
    }
    if at.get("type").is_none() {
        at["type"] = json!("RollingUpdate");
    }
    if at["type"] != "RollingUpdate" {
        return;
    }
    for (k, v) in rolling.as_object().into_iter().flatten() {
        if at.pointer(&format!("/rollingUpdate/{k}")).is_none() {
            at["rollingUpdate"][k] = v.clone();
        }
    }
}

/// The MachineDeployment's selector and Machine template select and carry its cluster's label.
fn label_with_cluster(obj: &mut Value) {
    let Some(cluster) = str_at(obj, "/spec/clusterName").map(str::to_string) else {
        return;
    };
    for ptr in ["/spec/selector/matchLabels", "/spec/template/metadata/labels"] {
        let mut at = &mut *obj;
        for key in ptr.trim_start_matches('/').split('/') {
            at = &mut at[key];
        }
        if !at.is_object() {
            *at = json!({});
        }
        if at.get(CLUSTER_NAME_LABEL).is_none() {
            at[CLUSTER_NAME_LABEL] = json!(cluster);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(group: &str, kind: &str) -> ResourceDef {
        let crd = crate::api::crds::bundled(crate::api::crds::Generation::V1beta2)
            .into_iter()
            .find(|c| c["spec"]["group"] == group && c["spec"]["names"]["kind"] == kind);
        let mut d =
            crate::api::registry::def_from_crd(&crd.unwrap_or_default()).unwrap_or_else(|c| panic!("{c:?}"));
        d.kind = kind.into();
        d
    }

    #[test]
    fn a_v1beta2_machine_deployment_gets_the_rolling_update_and_its_cluster_label() {
        let mut md = json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineDeployment",
            "spec": {"clusterName": "c1", "selector": {"matchLabels": {"app": "w"}},
                "template": {"spec": {}}}});
        on_create(&def("cluster.x-k8s.io", "MachineDeployment"), &mut md);
        assert_eq!(
            md["spec"]["rollout"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
        );
        assert_eq!(
            md["spec"]["selector"]["matchLabels"],
            json!({"app": "w", CLUSTER_NAME_LABEL: "c1"})
        );
        assert_eq!(
            md["spec"]["template"]["metadata"]["labels"],
            json!({CLUSTER_NAME_LABEL: "c1"})
        );
    }

    #[test]
    fn what_the_user_set_stays_and_v1beta1_uses_its_own_fields() {
        let mut md = json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment",
            "spec": {"clusterName": "c1", "strategy": {"rollingUpdate": {"maxSurge": "25%"}}}});
        on_create(&def("cluster.x-k8s.io", "MachineDeployment"), &mut md);
        assert_eq!(
            md["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}})
        );
        assert!(md["spec"].get("rollout").is_none());
        let mut on_delete = json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineDeployment",
            "spec": {"rollout": {"strategy": {"type": "OnDelete"}}}});
        on_create(&def("cluster.x-k8s.io", "MachineDeployment"), &mut on_delete);
        assert_eq!(
            on_delete["spec"]["rollout"]["strategy"],
            json!({"type": "OnDelete"})
        );
    }

    #[test]
    fn a_control_plane_gets_a_surge_of_one_in_either_generation() {
        let kcp = def("controlplane.cluster.x-k8s.io", "KubeadmControlPlane");
        let mut v2 = json!({"apiVersion": "controlplane.cluster.x-k8s.io/v1beta2", "spec": {}});
        on_create(&kcp, &mut v2);
        assert_eq!(
            v2["spec"]["rollout"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
        );
        let mut v1 = json!({"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "spec": {}});
        on_create(&kcp, &mut v1);
        assert_eq!(
            v1["spec"]["rolloutStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
        );
    }
}
