//! Server-side printing: `meta.k8s.io/v1` Table responses, with CRD printer columns evaluated by
//! JSONPath and cells typed as the API server types them.

use serde_json::{Value, json};

use crate::api::resource::{ColumnDef, ColumnSource, ResourceDef};

/// What each row's `object` holds (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// PartialObjectMetadata (default).
    #[default]
    Metadata,
    /// The full object.
    Object,
    /// Nothing.
    None,
}

impl IncludeObject {
    /// From the query parameter.
    pub fn parse(s: Option<&str>) -> IncludeObject {
        match s {
            Some("Object") => IncludeObject::Object,
            Some("None") => IncludeObject::None,
            _ => IncludeObject::Metadata,
        }
    }
}

/// The columns of a resource's table at a version: `Name` first, then the declared ones.
pub fn columns(def: &ResourceDef, version: &str) -> Vec<ColumnDef> {
    let mut cols = vec![ColumnDef::name_column()];
    if let Some(v) = def.version(version) {
        cols.extend(v.columns.iter().cloned());
    }
    cols
}

fn cell(col: &ColumnDef, obj: &Value) -> Value {
    let raw = match &col.source {
        ColumnSource::Name => return obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
        ColumnSource::Computed(f) => f(obj),
        ColumnSource::Path(p) => match p.first(obj) {
            Some(v) => v.clone(),
            None => return Value::Null,
        },
    };
    match col.ty.as_str() {
        "integer" => match &raw {
            Value::Number(n) => n.as_i64().map(Value::from).unwrap_or(Value::Null),
            Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "number" => match &raw {
            Value::Number(_) => raw,
            _ => Value::Null,
        },
        "boolean" => match &raw {
            Value::Bool(_) => raw,
            _ => Value::Null,
        },
        "date" => match &raw {
            Value::String(s) => {
                if matches!(col.source, ColumnSource::Computed(_)) {
                    raw.clone()
                } else {
                    match crate::store::time::age_of(s) {
                        Some(a) => json!(a),
                        None => json!("<invalid>"),
                    }
                }
            }
            Value::Null => Value::Null,
            _ => json!("<invalid>"),
        },
        _ => match raw {
            Value::String(_) | Value::Null => raw,
            Value::Number(n) => json!(n.to_string()),
            Value::Bool(b) => json!(b.to_string()),
            other => json!(other.to_string()),
        },
    }
}

/// PartialObjectMetadata of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// One table row.
pub fn row(cols: &[ColumnDef], obj: &Value, include: IncludeObject) -> Value {
    let cells: Vec<Value> = cols.iter().map(|c| cell(c, obj)).collect();
    let mut r = json!({"cells": cells});
    match include {
        IncludeObject::Metadata => r["object"] = partial_metadata(obj),
        IncludeObject::Object => r["object"] = obj.clone(),
        IncludeObject::None => {}
    }
    r
}

/// A Table of objects. `with_definitions` is false for watch events after the first.
pub fn table(
    cols: &[ColumnDef],
    objs: &[Value],
    include: IncludeObject,
    rv: Option<String>,
    continue_token: Option<String>,
    remaining: Option<usize>,
    with_definitions: bool,
) -> Value {
    let mut meta = json!({});
    if let Some(rv) = rv {
        meta["resourceVersion"] = json!(rv);
    }
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        meta["remainingItemCount"] = json!(r);
    }
    let defs: Vec<Value> = if with_definitions {
        cols.iter().map(ColumnDef::definition).collect()
    } else {
        vec![]
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": defs,
        "rows": objs.iter().map(|o| row(cols, o, include)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::jsonpath::JsonPath;

    #[test]
    fn typed_cells() {
        let col = |ty: &str, path: &str| ColumnDef {
            name: "c".into(),
            ty: ty.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            source: ColumnSource::Path(JsonPath::parse(path).unwrap()),
        };
        let obj = json!({"metadata": {"name": "w1", "creationTimestamp": "2000-01-01T00:00:00Z"},
            "spec": {"replicas": 3, "on": true, "n": 1.5},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(cell(&col("integer", ".spec.replicas"), &obj), json!(3));
        assert_eq!(cell(&col("string", ".spec.replicas"), &obj), json!("3"));
        assert_eq!(cell(&col("boolean", ".spec.on"), &obj), json!(true));
        assert_eq!(cell(&col("number", ".spec.n"), &obj), json!(1.5));
        assert_eq!(
            cell(
                &col("string", ".status.conditions[?(@.type==\"Ready\")].status"),
                &obj
            ),
            json!("True")
        );
        assert_eq!(cell(&col("string", ".status.missing"), &obj), Value::Null);
        assert!(
            cell(&col("date", ".metadata.creationTimestamp"), &obj)
                .as_str()
                .unwrap()
                .ends_with('y')
        );
        assert_eq!(cell(&col("date", ".spec.on"), &obj), json!("<invalid>"));
        let t = table(
            &[ColumnDef::name_column()],
            &[obj],
            IncludeObject::Metadata,
            Some("5".into()),
            None,
            None,
            true,
        );
        assert_eq!(t["rows"][0]["cells"][0], "w1");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
    }
}
