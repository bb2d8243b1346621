//! Reading fields of Cluster API objects of either generation from their JSON.

use kube::api::DynamicObject;
use serde_json::Value;

/// A reference to another object, in either generation's form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    /// API group.
    pub group: String,
    /// API version, when the reference names one (v1beta1 `apiVersion`).
    pub version: Option<String>,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
}

/// Reads a reference at a JSON pointer: `{apiGroup, kind, name}` (v1beta2) or
/// `{apiVersion, kind, name}` (v1beta1 and ClusterClass template refs).
pub fn obj_ref(v: &Value, pointer: &str) -> Option<ObjRef> {
    let r = v.pointer(pointer)?;
    let kind = r.get("kind")?.as_str()?.to_string();
    let name = r.get("name")?.as_str()?.to_string();
    if let Some(g) = r.get("apiGroup").and_then(Value::as_str) {
        return Some(ObjRef {
            group: g.to_string(),
            version: None,
            kind,
            name,
        });
    }
    let av = r.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, version) = av
        .rsplit_once('/')
        .map(|(g, v)| (g.to_string(), Some(v.to_string())))
        .unwrap_or((String::new(), Some(av.to_string())));
    Some(ObjRef {
        group,
        version,
        kind,
        name,
    })
}

/// A string at a JSON pointer.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// An integer at a JSON pointer.
pub fn i64_at(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

/// The object as one JSON value (metadata included).
pub fn to_value(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// Whether the object is being deleted.
pub fn deleting(o: &DynamicObject) -> bool {
    o.metadata.deletion_timestamp.is_some()
}

/// The controller owner reference's (kind, name), if any.
pub fn controller_owner(o: &DynamicObject) -> Option<(&str, &str)> {
    o.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| (r.kind.as_str(), r.name.as_str()))
}

/// A label value.
pub fn label<'a>(o: &'a DynamicObject, key: &str) -> Option<&'a str> {
    o.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// An annotation value.
pub fn annotation<'a>(o: &'a DynamicObject, key: &str) -> Option<&'a str> {
    o.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The group of an apiVersion (`""` for core).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_of_both_generations() {
        let v2 = json!({"spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevCluster", "name": "c"}}});
        let r = obj_ref(&v2, "/spec/infrastructureRef").unwrap();
        assert_eq!(
            (r.group.as_str(), r.version, r.kind.as_str()),
            ("infrastructure.cluster.x-k8s.io", None, "DevCluster")
        );
        let v1 = json!({"spec": {"infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "DevCluster", "name": "c"}}});
        let r = obj_ref(&v1, "/spec/infrastructureRef").unwrap();
        assert_eq!(r.version.as_deref(), Some("v1beta1"));
        assert!(obj_ref(&v1, "/spec/missing").is_none());
    }
}
