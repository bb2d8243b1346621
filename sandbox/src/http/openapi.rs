//! OpenAPI v3 documents generated from the served resources: `/openapi/v3` (the index) and one
//! document per group-version with paths, operations (PATCH advertises `fieldValidation`, which
//! kubectl's validation requires) and component schemas (CRD `openAPIV3Schema`s, so that
//! `kubectl explain` works).

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use crate::api::builtins::object_meta_schema;
use crate::api::registry::Registry;
use crate::api::resource::ResourceDef;

const META_REF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The schema component name of a kind (`io.x-k8s.cluster.v1beta2.Cluster`).
pub fn schema_name(def: &ResourceDef, version: &str) -> String {
    match (def.group.as_str(), def.builtin) {
        ("", _) => format!("io.k8s.api.core.{version}.{}", def.kind),
        ("apiextensions.k8s.io", Some(_)) => format!(
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{}",
            def.kind
        ),
        (g, _) => {
            let mut parts: Vec<&str> = g.split('.').collect();
            parts.reverse();
            format!("{}.{version}.{}", parts.join("."), def.kind)
        }
    }
}

fn param(name: &str, location: &str, description: &str, required: bool) -> Value {
    json!({"name": name, "in": location, "description": description, "required": required, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params(with_force: bool) -> Vec<Value> {
    let mut p = vec![
        param(
            "dryRun",
            "query",
            "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
            false,
        ),
        param(
            "fieldManager",
            "query",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
            false,
        ),
        param(
            "fieldValidation",
            "query",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn (default) - Strict",
            false,
        ),
    ];
    if with_force {
        p.push(json!({"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people.", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    p
}

fn response(schema_ref: &str) -> Value {
    json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_ref}")}}, "application/yaml": {"schema": {"$ref": format!("#/components/schemas/{schema_ref}")}}}}})
}

fn operations(def: &ResourceDef, version: &str, paths: &mut Map<String, Value>) {
    let prefix = if def.group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{}/{version}", def.group)
    };
    let gvk = json!({"group": def.group, "version": version, "kind": def.kind});
    let sname = schema_name(def, version);
    let body = json!({"content": {"*/*": {"schema": {"$ref": format!("#/components/schemas/{sname}")}}}, "required": true});
    let mut patch_types = Map::new();
    let patch_schema =
        json!({"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}});
    for t in [
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ] {
        patch_types.insert(t.into(), patch_schema.clone());
    }
    if !def.is_custom() {
        patch_types.insert(
            "application/strategic-merge-patch+json".into(),
            patch_schema.clone(),
        );
    }
    let scope = if def.namespaced { "Namespaced" } else { "" };
    let (collection, item) = if def.namespaced {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", def.plural),
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", def.plural),
        )
    } else {
        (
            format!("{prefix}/{}", def.plural),
            format!("{prefix}/{}/{{name}}", def.plural),
        )
    };
    let mut path_params = vec![];
    if def.namespaced {
        path_params.push(param(
            "namespace",
            "path",
            "object name and auth scope, such as for teams and projects",
            true,
        ));
    }
    let op = |action: &str, id: &str, extra: Value| {
        let mut o = json!({
            "operationId": format!("{id}{scope}{}", def.kind),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "responses": response(&sname),
        });
        if let (Some(o), Value::Object(e)) = (o.as_object_mut(), extra) {
            o.extend(e);
        }
        o
    };
    let mut item_params = path_params.clone();
    item_params.insert(
        0,
        param("name", "path", &format!("name of the {}", def.kind), true),
    );
    paths.insert(
        item.clone(),
        json!({
            "parameters": item_params,
            "get": op("get", "read", json!({})),
            "put": op("put", "replace", json!({"parameters": write_params(false), "requestBody": body})),
            "patch": op("patch", "patch", json!({"parameters": write_params(true), "requestBody": {"content": Value::Object(patch_types.clone()), "required": true}})),
            "delete": op("delete", "delete", json!({"parameters": [param("dryRun", "query", "dry run", false), param("propagationPolicy", "query", "Whether and how garbage collection will be performed.", false)]})),
        }),
    );
    paths.insert(
        collection,
        json!({
            "parameters": path_params,
            "get": op("list", "list", json!({"parameters": [param("labelSelector", "query", "A selector to restrict the list of returned objects by their labels.", false), param("fieldSelector", "query", "A selector to restrict the list of returned objects by their fields.", false), param("limit", "query", "limit is a maximum number of responses to return for a list call.", false), param("continue", "query", "The continue option should be set when retrieving more results from the server.", false), param("watch", "query", "Watch for changes to the described resources.", false)]})),
            "post": op("post", "create", json!({"parameters": write_params(false), "requestBody": body})),
        }),
    );
    let Some(v) = def.version(version) else { return };
    for (sub, enabled) in [("status", v.status), ("scale", v.scale.is_some())] {
        if !enabled {
            continue;
        }
        let mut o = json!({
            "parameters": {},
            "get": op("get", &format!("read{sub}"), json!({})),
            "put": op("put", &format!("replace{sub}"), json!({"parameters": write_params(false), "requestBody": body})),
            "patch": op("patch", &format!("patch{sub}"), json!({"parameters": write_params(true), "requestBody": {"content": Value::Object(patch_types.clone()), "required": true}})),
        });
        o["parameters"] = paths
            .get(&item)
            .and_then(|p| p.get("parameters"))
            .cloned()
            .unwrap_or(json!([]));
        if sub == "scale" {
            let scale_gvk = json!({"group": "autoscaling", "version": "v1", "kind": "Scale"});
            for m in ["get", "put", "patch"] {
                o[m]["x-kubernetes-group-version-kind"] = scale_gvk.clone();
                o[m]["responses"] = response("io.k8s.api.autoscaling.v1.Scale");
            }
        }
        paths.insert(format!("{item}/{sub}"), o);
    }
}

fn kind_schema(def: &ResourceDef, version: &str) -> Value {
    let mut s = def
        .version(version)
        .map(|v| v.raw_schema.clone())
        .unwrap_or(json!({"type": "object"}));
    if !s.is_object() {
        s = json!({"type": "object"});
    }
    let props = s.as_object_mut().and_then(|o| {
        if !o.contains_key("properties") {
            o.insert("properties".into(), json!({}));
        }
        o.get_mut("properties").and_then(Value::as_object_mut)
    });
    if let Some(props) = props {
        props.insert(
            "metadata".into(),
            json!({"allOf": [{"$ref": format!("#/components/schemas/{META_REF}")}], "default": {}, "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
        );
        props.entry("apiVersion").or_insert(json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
        props.entry("kind").or_insert(json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
    }
    s["x-kubernetes-group-version-kind"] =
        json!([{"group": def.group, "version": version, "kind": def.kind}]);
    if s.get("description").is_none() {
        s["description"] = json!(format!(
            "{} is a {} resource.",
            def.kind,
            if def.group.is_empty() {
                "core".to_string()
            } else {
                def.group.clone()
            }
        ));
    }
    s
}

/// The document for one group-version.
pub fn document(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs = reg.in_group_version(group, version);
    if defs.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for d in &defs {
        operations(d, version, &mut paths);
        schemas.insert(schema_name(d, version), kind_schema(d, version));
    }
    schemas.insert(META_REF.into(), object_meta_schema());
    schemas.insert("io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(), json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}));
    schemas.insert(
        "io.k8s.api.autoscaling.v1.Scale".into(),
        json!({"type": "object", "description": "Scale represents a scaling request for a resource.",
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "metadata": {"allOf": [{"$ref": format!("#/components/schemas/{META_REF}")}]},
                "spec": {"type": "object", "properties": {"replicas": {"type": "integer", "format": "int32"}}},
                "status": {"type": "object", "properties": {"replicas": {"type": "integer", "format": "int32"}, "selector": {"type": "string"}}}},
            "x-kubernetes-group-version-kind": [{"group": "autoscaling", "version": "v1", "kind": "Scale"}]}),
    );
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": Value::Object(paths),
        "components": {"schemas": Value::Object(schemas)},
    }))
}

/// Documents by path, with their hashes.
type Docs = BTreeMap<String, (String, Bytes)>;

/// Cached documents, rebuilt when the registry changes.
#[derive(Debug, Default)]
pub struct OpenApiCache {
    inner: Mutex<Option<(u64, Docs)>>,
}

impl OpenApiCache {
    fn ensure(&self, reg: &Registry) -> BTreeMap<String, (String, Bytes)> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let generation = reg.generation();
        if let Some((g, docs)) = guard.as_ref()
            && *g == generation
        {
            return docs.clone();
        }
        let mut docs = BTreeMap::new();
        for (group, versions) in reg.groups() {
            for v in versions {
                if let Some(doc) = document(reg, &group, &v) {
                    let bytes = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
                    let hash = format!("{:X}", Sha512::digest(&bytes));
                    let path = if group.is_empty() {
                        format!("api/{v}")
                    } else {
                        format!("apis/{group}/{v}")
                    };
                    docs.insert(path, (hash, bytes));
                }
            }
        }
        *guard = Some((generation, docs.clone()));
        docs
    }

    /// `GET /openapi/v3`.
    pub fn index(&self, reg: &Registry) -> Value {
        let docs = self.ensure(reg);
        let paths: Map<String, Value> = docs
            .iter()
            .map(|(p, (h, _))| {
                (
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={h}")}),
                )
            })
            .collect();
        json!({"paths": Value::Object(paths)})
    }

    /// `GET /openapi/v3/<path>`: the document and its hash.
    pub fn get(&self, reg: &Registry, path: &str) -> Option<(String, Bytes)> {
        self.ensure(reg).get(path.trim_matches('/')).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_doc_advertises_field_validation() {
        let reg = Registry::new();
        let doc = document(&reg, "", "v1").unwrap();
        let ns_patch = &doc["paths"]["/api/v1/namespaces/{name}"]["patch"];
        assert_eq!(ns_patch["x-kubernetes-group-version-kind"]["kind"], "Namespace");
        assert!(
            ns_patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(
            doc["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"]["x-kubernetes-group-version-kind"]
                .is_array()
        );
        let cache = OpenApiCache::default();
        let idx = cache.index(&reg);
        assert!(
            idx["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/api/v1?hash=")
        );
        assert!(cache.get(&reg, "apis/apiextensions.k8s.io/v1").is_some());
    }
}
