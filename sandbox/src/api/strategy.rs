//! Kind-specific rules applied on create and update, as the API server's registry strategies do:
//! Secret `stringData`, immutability, Namespace finalizers and phase, Service cluster IPs, CRD
//! validation and status initialisation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::api::error::{ApiError, ApiResult, Cause, field_forbidden, field_invalid, field_required};
use crate::api::resource::{Builtin, ResourceDef};

fn invalid(def: &ResourceDef, name: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid(&def.kind, &def.group, name, causes)
}

fn name_of(v: &Value) -> String {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn valid_data_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && k != "."
        && k != ".."
}

fn check_keys(obj: &Value, field: &str, causes: &mut Vec<Cause>) {
    if let Some(m) = obj.get(field).and_then(Value::as_object) {
        for k in m.keys() {
            if !valid_data_key(k) {
                causes.push(field_invalid(
                    &format!("{field}[{k}]"),
                    &json!(k),
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                ));
            }
        }
    }
}

/// The JSON type name Go's decoder reports for a value that is not a string.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null | Value::String(_) => "string",
    }
}

/// String maps of built-in kinds (`data`, `stringData`) refuse other values the way the API
/// server's decoder does: 400 before anything else is checked.
fn check_string_map(obj: &Value, kind: &str, field: &str) -> ApiResult<()> {
    let Some(map) = obj.get(field).and_then(Value::as_object) else {
        return Ok(());
    };
    match map.values().find(|v| !v.is_string() && !v.is_null()) {
        Some(v) => Err(ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: json: cannot unmarshal {} into Go struct field {kind}.{field} of type string",
            json_type(v)
        ))),
        None => Ok(()),
    }
}

/// Normalises Secret data: merges `stringData` into `data` and checks base64.
fn normalise_secret(def: &ResourceDef, obj: &mut Value) -> ApiResult<()> {
    check_string_map(obj, "Secret", "stringData")?;
    let Some(m) = obj.as_object_mut() else {
        return Ok(());
    };
    if let Some(Value::Object(data)) = m.get("data") {
        for v in data.values() {
            let Some(s) = v.as_str() else {
                return Err(ApiError::bad_request(
                    "Secret in version \"v1\" cannot be handled as a Secret: data values must be base64 strings",
                ));
            };
            if let Err(e) = B64.decode(s) {
                return Err(ApiError::bad_request(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data: {e}"
                )));
            }
        }
    }
    if let Some(Value::Object(sd)) = m.remove("stringData") {
        let data = m.entry("data").or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Value::Object(d) = data {
            for (k, v) in sd {
                d.insert(k, Value::String(B64.encode(v.as_str().unwrap_or("").as_bytes())));
            }
        }
    }
    if !m.contains_key("type") || m.get("type") == Some(&Value::String(String::new())) {
        m.insert("type".into(), json!("Opaque"));
    }
    let mut causes = vec![];
    check_keys(obj, "data", &mut causes);
    let total: usize = obj
        .get("data")
        .and_then(Value::as_object)
        .map(|d| {
            d.iter()
                .map(|(k, v)| k.len() + v.as_str().map(|s| s.len() * 3 / 4).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    if total > 1024 * 1024 {
        causes.push(Cause {
            reason: "FieldValueTooLong".into(),
            message: "Too long: may not be more than 1048576 bytes".into(),
            field: "data".into(),
        });
    }
    if obj.get("type").and_then(Value::as_str) == Some("kubernetes.io/tls") {
        for k in ["tls.crt", "tls.key"] {
            if obj.pointer(&format!("/data/{}", k.replace('/', "~1"))).is_none() {
                causes.push(field_required(&format!("data[{k}]"), ""));
            }
        }
    }
    if !causes.is_empty() {
        return Err(invalid(def, &name_of(obj), causes));
    }
    Ok(())
}

fn check_configmap(def: &ResourceDef, obj: &Value) -> ApiResult<()> {
    check_string_map(obj, "ConfigMap", "data")?;
    let mut causes = vec![];
    check_keys(obj, "data", &mut causes);
    check_keys(obj, "binaryData", &mut causes);
    if let (Some(d), Some(b)) = (
        obj.get("data").and_then(Value::as_object),
        obj.get("binaryData").and_then(Value::as_object),
    ) {
        for k in d.keys() {
            if b.contains_key(k) {
                causes.push(field_invalid(
                    &format!("data[{k}]"),
                    &json!(k),
                    "duplicate of key present in binaryData",
                ));
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(def, &name_of(obj), causes))
    }
}

/// Rules on create. `obj` already has its metadata filled in.
pub fn on_create(def: &ResourceDef, obj: &mut Value) -> ApiResult<()> {
    match def.builtin {
        Some(Builtin::Secret) => normalise_secret(def, obj)?,
        Some(Builtin::ConfigMap) => check_configmap(def, obj)?,
        Some(Builtin::Namespace) => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            label_namespace(obj);
        }
        Some(Builtin::Service) => {
            if obj.pointer("/spec/clusterIP").is_none() {
                let ip = format!(
                    "10.96.{}.{}",
                    rand::random::<u8>(),
                    1 + rand::random::<u8>() % 254
                );
                obj["spec"]["clusterIP"] = json!(ip);
                obj["spec"]["clusterIPs"] = json!([ip]);
            }
            if obj.pointer("/spec/type").is_none() {
                obj["spec"]["type"] = json!("ClusterIP");
            }
        }
        Some(Builtin::Crd) => {
            let parsed =
                crate::api::registry::def_from_crd(obj).map_err(|c| invalid(def, &name_of(obj), c))?;
            let fins = obj["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !fins.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
                let mut f = fins;
                f.push(json!(CRD_CLEANUP_FINALIZER));
                obj["metadata"]["finalizers"] = Value::Array(f);
            }
            obj["status"] = json!({
                "acceptedNames": {"kind": "", "plural": ""},
                "conditions": [],
                "storedVersions": [parsed.storage_version],
            });
        }
        Some(Builtin::Deployment) => {
            if obj.pointer("/spec/replicas").is_none() && obj["spec"].is_object() {
                obj["spec"]["replicas"] = json!(1);
            }
        }
        Some(Builtin::Event) | Some(Builtin::Node) | Some(Builtin::Stored) | None => {}
    }
    Ok(())
}

/// Every namespace carries `kubernetes.io/metadata.name=<name>`, set by the server on create and
/// update (so selectors by name work), whatever the client sent.
fn label_namespace(obj: &mut Value) {
    let name = name_of(obj);
    if !obj["metadata"]["labels"].is_object() {
        obj["metadata"]["labels"] = json!({});
    }
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
}

/// The finalizer a CRD carries until its instances are cleaned up.
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn immutable_cause(field: &str) -> Cause {
    field_forbidden(field, "field is immutable when `immutable` is set")
}

/// Rules on update of the main resource or a subresource.
pub fn on_update(def: &ResourceDef, old: &Value, new: &mut Value) -> ApiResult<()> {
    match def.builtin {
        Some(Builtin::Secret) => {
            normalise_secret(def, new)?;
            let mut causes = vec![];
            if old.get("type") != new.get("type") {
                causes.push(field_invalid(
                    "type",
                    new.get("type").unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
            if old.get("immutable").and_then(Value::as_bool) == Some(true) {
                if old.get("data") != new.get("data") {
                    causes.push(immutable_cause("data"));
                }
                if new.get("immutable").and_then(Value::as_bool) != Some(true) {
                    causes.push(field_forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
            if !causes.is_empty() {
                return Err(invalid(def, &name_of(new), causes));
            }
        }
        Some(Builtin::ConfigMap) => {
            check_configmap(def, new)?;
            if old.get("immutable").and_then(Value::as_bool) == Some(true) {
                let mut causes = vec![];
                for f in ["data", "binaryData"] {
                    if old.get(f) != new.get(f) {
                        causes.push(immutable_cause(f));
                    }
                }
                if new.get("immutable").and_then(Value::as_bool) != Some(true) {
                    causes.push(field_forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
                if !causes.is_empty() {
                    return Err(invalid(def, &name_of(new), causes));
                }
            }
        }
        Some(Builtin::Namespace) => label_namespace(new),
        Some(Builtin::Crd) => {
            crate::api::registry::def_from_crd(new).map_err(|c| invalid(def, &name_of(new), c))?;
            if old.pointer("/spec/scope") != new.pointer("/spec/scope")
                && old.pointer("/spec/scope").is_some()
            {
                return Err(invalid(
                    def,
                    &name_of(new),
                    vec![field_invalid(
                        "spec.scope",
                        new.pointer("/spec/scope").unwrap_or(&Value::Null),
                        "field is immutable",
                    )],
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::builtins;

    fn def(b: Builtin) -> ResourceDef {
        builtins::all()
            .into_iter()
            .find(|d| d.builtin == Some(b))
            .unwrap()
    }

    #[test]
    fn secret_string_data_and_base64() {
        let d = def(Builtin::Secret);
        let mut s = json!({"metadata": {"name": "s"}, "stringData": {"pw": "hunter2"}});
        on_create(&d, &mut s).unwrap();
        assert_eq!(s["data"]["pw"], "aHVudGVyMg==");
        assert_eq!(s["type"], "Opaque");
        assert!(s.get("stringData").is_none());
        let mut bad = json!({"metadata": {"name": "s"}, "data": {"x": "%%%"}});
        assert_eq!(on_create(&d, &mut bad).unwrap_err().code, 400);
        let mut tls = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {}});
        assert_eq!(on_create(&d, &mut tls).unwrap_err().code, 422);
        let mut changed = s.clone();
        changed["type"] = json!("x");
        assert_eq!(on_update(&d, &s, &mut changed).unwrap_err().code, 422);
    }

    #[test]
    fn immutable_configmap() {
        let d = def(Builtin::ConfigMap);
        let old = json!({"metadata": {"name": "c"}, "data": {"a": "1"}, "immutable": true});
        let mut new = json!({"metadata": {"name": "c"}, "data": {"a": "2"}, "immutable": true});
        assert_eq!(on_update(&d, &old, &mut new).unwrap_err().code, 422);
    }
}
