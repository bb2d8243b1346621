//! An object as a move writes it into the target: what the source server set is dropped, the
//! owner references point at the owners' new UIDs, and the status is kept aside to be written
//! through the status subresource after the create (the target's controllers then start from
//! what the source's saw, instead of from nothing).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Metadata the source server set; the target sets its own.
const SERVER_SET: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// The object to create in the target, and its status (to write after the create).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetObject {
    /// The object without server-set metadata, status or managedFields.
    pub object: Value,
    /// The source's status, if it had one.
    pub status: Option<Value>,
    /// The source's managedFields, restored after the create as clusterctl restores them (so
    /// field ownership under server-side apply, e.g. the topology controller's, survives).
    pub managed_fields: Option<Value>,
}

/// Prepares `source` for the target. `new_uids` maps each moved owner's source UID to its UID in
/// the target; a reference to an owner that is not there (not moved, or not yet created) is
/// left out, so the target's garbage collector never sees a dangling owner.
pub fn for_target(source: &Value, new_uids: &BTreeMap<String, String>) -> TargetObject {
    let mut object = source.clone();
    let status = object.as_object_mut().and_then(|o| o.remove("status"));
    let mut managed_fields = None;
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in SERVER_SET {
            meta.remove(*key);
        }
        managed_fields = meta.remove("managedFields");
        if meta
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
        {
            meta.remove("generateName");
        }
        repoint_owners(meta, new_uids);
    }
    TargetObject {
        object,
        status: status.filter(|s| !s.is_null()),
        managed_fields,
    }
}

/// Re-points owner references at the owners' target UIDs (keeping `controller` and
/// `blockOwnerDeletion`), dropping those whose owner has none.
fn repoint_owners(meta: &mut Map<String, Value>, new_uids: &BTreeMap<String, String>) {
    let Some(refs) = meta.get("ownerReferences").and_then(Value::as_array) else {
        return;
    };
    let kept: Vec<Value> = refs
        .iter()
        .filter_map(|r| {
            let new = new_uids.get(r.get("uid")?.as_str()?)?;
            let mut r = r.clone();
            r["uid"] = Value::String(new.clone());
            Some(r)
        })
        .collect();
    if kept.is_empty() {
        meta.remove("ownerReferences");
    } else {
        meta.insert("ownerReferences".into(), Value::Array(kept));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn server_fields_go_owners_follow_their_new_uids_and_status_waits() {
        let src = json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineSet",
            "metadata": {"name": "ms", "generateName": "ms-", "namespace": "ns", "uid": "old", "resourceVersion": "7",
                "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 3, "labels": {"a": "b"},
                "managedFields": [{"manager": "capi-topology"}],
                "ownerReferences": [
                    {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineDeployment", "name": "md", "uid": "md-old", "controller": true, "blockOwnerDeletion": true},
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "left", "uid": "not-moved"}]},
            "spec": {"replicas": 2},
            "status": {"replicas": 2}
        });
        let uids = BTreeMap::from([("md-old".to_string(), "md-new".to_string())]);
        let t = for_target(&src, &uids);
        assert_eq!(
            t.object,
            json!({
                "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineSet",
                "metadata": {"name": "ms", "namespace": "ns", "labels": {"a": "b"},
                    "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineDeployment", "name": "md", "uid": "md-new", "controller": true, "blockOwnerDeletion": true}]},
                "spec": {"replicas": 2}
            })
        );
        assert_eq!(t.status, Some(json!({"replicas": 2})));
        assert_eq!(t.managed_fields, Some(json!([{"manager": "capi-topology"}])));
    }

    #[test]
    fn an_object_whose_owners_all_stay_loses_the_references() {
        let src = json!({"metadata": {"name": "s", "ownerReferences": [{"kind": "X", "name": "x", "uid": "gone"}]}});
        let t = for_target(&src, &BTreeMap::new());
        assert_eq!(t.object, json!({"metadata": {"name": "s"}}));
        assert_eq!(t.status, None);
    }
}
