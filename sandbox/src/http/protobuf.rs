//! Decoding of Protobuf request bodies. `kubectl create namespace|configmap|secret` send built-in
//! objects as `application/vnd.kubernetes.protobuf`: the `k8s\0` magic, then a `runtime.Unknown`
//! envelope holding apiVersion, kind and the encoded object. This module turns those into the
//! JSON the rest of the server works with. Responses are always JSON.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value, json};

use crate::api::error::{ApiError, ApiResult};

const MAGIC: &[u8] = b"k8s\0";

fn time(t: &Option<meta::Time>) -> Option<Value> {
    let secs = t.as_ref()?.seconds?;
    jiff::Timestamp::from_second(secs)
        .ok()
        .map(|ts| json!(crate::store::time::format_ts(ts)))
}

fn object_meta(m: Option<meta::ObjectMeta>) -> Value {
    let Some(m) = m else { return json!({}) };
    let mut o = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    put("name", m.name.map(Value::from));
    put("generateName", m.generate_name.map(Value::from));
    put("namespace", m.namespace.map(Value::from));
    put("uid", m.uid.map(Value::from));
    put("resourceVersion", m.resource_version.map(Value::from));
    put("generation", m.generation.map(Value::from));
    put("creationTimestamp", time(&m.creation_timestamp));
    if !m.labels.is_empty() {
        put("labels", Some(json!(m.labels)));
    }
    if !m.annotations.is_empty() {
        put("annotations", Some(json!(m.annotations)));
    }
    if !m.finalizers.is_empty() {
        put("finalizers", Some(json!(m.finalizers)));
    }
    if !m.owner_references.is_empty() {
        let refs: Vec<Value> = m
            .owner_references
            .iter()
            .map(|r| {
                let mut x =
                    json!({"apiVersion": r.api_version, "kind": r.kind, "name": r.name, "uid": r.uid});
                if let Some(c) = r.controller {
                    x["controller"] = json!(c);
                }
                if let Some(b) = r.block_owner_deletion {
                    x["blockOwnerDeletion"] = json!(b);
                }
                x
            })
            .collect();
        put("ownerReferences", Some(Value::Array(refs)));
    }
    Value::Object(o)
}

/// Decodes a Protobuf body into the JSON object it encodes.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let rest = body.strip_prefix(MAGIC).ok_or_else(|| {
        ApiError::bad_request("the protobuf body does not start with the Kubernetes envelope magic")
    })?;
    let unknown = Unknown::decode(rest)
        .map_err(|e| ApiError::bad_request(format!("invalid protobuf envelope: {e}")))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let bad = |e: prost::DecodeError| ApiError::bad_request(format!("invalid protobuf {kind}: {e}"));
    let mut obj = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => {
            let ns = core::Namespace::decode(raw.as_slice()).map_err(bad)?;
            let mut v = json!({"metadata": object_meta(ns.metadata)});
            if let Some(spec) = ns.spec
                && !spec.finalizers.is_empty()
            {
                v["spec"] = json!({"finalizers": spec.finalizers});
            }
            v
        }
        ("v1", "ConfigMap") => {
            let cm = core::ConfigMap::decode(raw.as_slice()).map_err(bad)?;
            let mut v = json!({"metadata": object_meta(cm.metadata)});
            if !cm.data.is_empty() {
                v["data"] = json!(cm.data);
            }
            if !cm.binary_data.is_empty() {
                let b: Map<String, Value> = cm
                    .binary_data
                    .into_iter()
                    .map(|(k, v)| (k, json!(B64.encode(v))))
                    .collect();
                v["binaryData"] = Value::Object(b);
            }
            if let Some(i) = cm.immutable {
                v["immutable"] = json!(i);
            }
            v
        }
        ("v1", "Secret") => {
            let s = core::Secret::decode(raw.as_slice()).map_err(bad)?;
            let mut v = json!({"metadata": object_meta(s.metadata)});
            if !s.data.is_empty() {
                let d: Map<String, Value> = s
                    .data
                    .into_iter()
                    .map(|(k, v)| (k, json!(B64.encode(v))))
                    .collect();
                v["data"] = Value::Object(d);
            }
            if !s.string_data.is_empty() {
                v["stringData"] = json!(s.string_data);
            }
            if let Some(t) = s.r#type {
                v["type"] = json!(t);
            }
            if let Some(i) = s.immutable {
                v["immutable"] = json!(i);
            }
            v
        }
        _ => {
            return Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (protobuf bodies of {api_version}, Kind={kind} are not supported by this server; send JSON)"
            )));
        }
    };
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

/// Encodes a body the way client-go does (used by tests).
#[cfg(test)]
pub fn encode_for_test(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let env = Unknown {
        type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(env.encode_to_vec());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_secret_and_configmap() {
        let secret = core::Secret {
            metadata: Some(meta::ObjectMeta {
                name: Some("s1".into()),
                namespace: Some("t1".into()),
                ..Default::default()
            }),
            data: [("pw".to_string(), b"hunter2".to_vec())].into_iter().collect(),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let v = decode(&encode_for_test("v1", "Secret", secret.encode_to_vec())).unwrap();
        assert_eq!(v["data"]["pw"], "aHVudGVyMg==");
        assert_eq!(v["metadata"]["name"], "s1");
        assert_eq!(v["kind"], "Secret");
        let cm = core::ConfigMap {
            metadata: Some(meta::ObjectMeta {
                name: Some("c1".into()),
                ..Default::default()
            }),
            data: [("a".to_string(), "1".to_string())].into_iter().collect(),
            ..Default::default()
        };
        let v = decode(&encode_for_test("v1", "ConfigMap", cm.encode_to_vec())).unwrap();
        assert_eq!(v["data"]["a"], "1");
        assert!(decode(b"garbage").is_err());
        assert_eq!(
            decode(&encode_for_test("apps/v1", "Deployment", vec![]))
                .unwrap_err()
                .code,
            415
        );
    }
}
