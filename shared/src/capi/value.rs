//! Accessors for Kubernetes objects held as JSON values (the sandbox's store, the plugins'
//! dynamic reads): metadata fields, owners, and strings at a pointer.

use serde_json::{Value, json};

/// The string at a JSON pointer, `""` when absent or not a string.
pub fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The object's name.
pub fn name(v: &Value) -> String {
    s(v, "/metadata/name").to_string()
}

/// Whether the object is being deleted (`metadata.deletionTimestamp` set).
pub fn is_deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp")
        .is_some_and(|d| !d.is_null())
}

/// The object's finalizers.
pub fn finalizers(v: &Value) -> Vec<String> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// A label's value.
pub fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// An annotation's value.
pub fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/annotations")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// The controller owner's (kind, name).
pub fn controller_owner(v: &Value) -> Option<(String, String)> {
    v.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| (s(r, "/kind").to_string(), s(r, "/name").to_string()))
}

/// An owner reference to `owner`; a controller reference also blocks the owner's deletion.
pub fn owner_ref(owner: &Value, controller: bool) -> Value {
    let mut r = json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]});
    if controller {
        r["controller"] = json!(true);
        r["blockOwnerDeletion"] = json!(true);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_accessors_read_what_is_there_and_nothing_else() {
        let v = json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineSet",
            "metadata": {"name": "ms", "uid": "u1", "labels": {"a": "1"}, "annotations": {"b": "2"},
                "finalizers": ["f"], "deletionTimestamp": null,
                "ownerReferences": [{"kind": "X", "name": "x"}, {"kind": "MachineDeployment", "name": "md", "controller": true}]}});
        assert_eq!(
            (name(&v), s(&v, "/kind"), s(&v, "/nope")),
            ("ms".to_string(), "MachineSet", "")
        );
        assert_eq!(
            (label(&v, "a"), label(&v, "b"), annotation(&v, "b")),
            (Some("1"), None, Some("2"))
        );
        assert_eq!(finalizers(&v), vec!["f".to_string()]);
        assert!(!is_deleting(&v));
        assert_eq!(
            controller_owner(&v),
            Some(("MachineDeployment".into(), "md".into()))
        );
        let r = owner_ref(&v, true);
        assert_eq!(
            (r["uid"].as_str(), r["blockOwnerDeletion"].as_bool()),
            (Some("u1"), Some(true))
        );
        assert!(owner_ref(&v, false).get("controller").is_none());
    }
}
