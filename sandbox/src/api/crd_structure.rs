//! The structure of the upstream Cluster API CRD schemas (v1.14 for `v1beta2`, v1.10 for
//! `v1beta1`): field names, types, formats, required fields, list/map semantics and value
//! limits, without descriptions or CEL rules. Extracted by `cargo xtask crd-structure` from
//! the upstream CRDs (Apache-2.0, kubernetes-sigs/cluster-api). The bundled CRDs lay their own
//! descriptions over it ([`overlay`]), so unknown fields are pruned and, under
//! `fieldValidation=Strict`, rejected exactly where a real management cluster does.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use capi_shared::capi::Generation;

fn parsed(g: Generation) -> &'static Map<String, Value> {
    static V1BETA1: OnceLock<Map<String, Value>> = OnceLock::new();
    static V1BETA2: OnceLock<Map<String, Value>> = OnceLock::new();
    let (cell, text) = match g {
        Generation::V1beta1 => (&V1BETA1, include_str!("crd_structure/v1beta1.json")),
        Generation::V1beta2 => (&V1BETA2, include_str!("crd_structure/v1beta2.json")),
    };
    // The files are generated and checked by tests; an unreadable one means no structure.
    cell.get_or_init(|| serde_json::from_str(text).unwrap_or_default())
}

/// The upstream structure of a CRD (`plural.group`) in a generation, if upstream has it.
pub fn upstream(g: Generation, crd_name: &str) -> Option<&'static Value> {
    parsed(g).get(crd_name)
}

/// The upstream structure with our descriptions laid over it: every field upstream has (and
/// only those), each described by ours where ours describes it.
pub fn overlay(up: &Value, ours: &Value) -> Value {
    let Value::Object(u) = up else {
        return up.clone();
    };
    let mut out = u.clone();
    if let Some(d) = ours.get("description") {
        out.insert("description".into(), d.clone());
    }
    if let Some(Value::Object(props)) = u.get("properties") {
        let ours_props = ours.get("properties");
        let merged: Map<String, Value> = props
            .iter()
            .map(|(name, sub)| {
                let o = ours_props.and_then(|p| p.get(name)).unwrap_or(&Value::Null);
                (name.clone(), overlay(sub, o))
            })
            .collect();
        out.insert("properties".into(), Value::Object(merged));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub @ Value::Object(_)) = u.get(key) {
            let o = ours.get(key).unwrap_or(&Value::Null);
            out.insert(key.into(), overlay(sub, o));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_generations_parse_and_close_the_cluster_spec() {
        for g in [Generation::V1beta1, Generation::V1beta2] {
            let c = upstream(g, "clusters.cluster.x-k8s.io").expect("clusters structure");
            let spec = &c["properties"]["spec"];
            assert!(spec["properties"]["controlPlaneRef"].is_object(), "{g:?}");
            assert!(
                spec.get("x-kubernetes-preserve-unknown-fields").is_none(),
                "{g:?}"
            );
        }
    }

    #[test]
    fn overlay_keeps_upstream_fields_and_our_words() {
        let up = serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}});
        let ours = serde_json::json!({"description": "top", "properties": {"a": {"description": "field a"}, "extra": {"type": "string"}}});
        let got = overlay(&up, &ours);
        assert_eq!(got["description"], "top");
        assert_eq!(
            got["properties"]["a"],
            serde_json::json!({"type": "string", "description": "field a"})
        );
        assert!(got["properties"]["b"].get("description").is_none());
        assert!(
            got["properties"].get("extra").is_none(),
            "fields upstream lacks are not served"
        );
    }
}
