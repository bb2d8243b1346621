//! Structural OpenAPI v3 schemas: pruning of unknown fields, defaulting and value validation,
//! as the API server applies them to custom resources (and, with the built-in schemas of this
//! crate, to the built-in kinds it serves).
//!
//! Not implemented: CEL rules (`x-kubernetes-validations`), `format` checks and the value
//! validations of `allOf`/`anyOf`/`oneOf`/`not`. Those are documented as known differences.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use crate::api::error::{Cause, field_invalid, field_not_supported, field_required};

/// `additionalProperties` of an object schema.
#[derive(Debug, Clone, Default)]
pub enum Additional {
    /// Not given: unknown properties are pruned.
    #[default]
    Unset,
    /// `true`: anything goes.
    Any,
    /// A schema every extra value must follow.
    Schema(Arc<Schema>),
}

/// A compiled structural schema node.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// `type`.
    pub ty: Option<String>,
    /// `properties`.
    pub properties: HashMap<String, Arc<Schema>>,
    /// `items`.
    pub items: Option<Arc<Schema>>,
    /// `additionalProperties`.
    pub additional: Additional,
    /// `x-kubernetes-preserve-unknown-fields`.
    pub preserve_unknown: bool,
    /// `x-kubernetes-int-or-string`.
    pub int_or_string: bool,
    /// `x-kubernetes-embedded-resource`.
    pub embedded_resource: bool,
    /// `nullable`.
    pub nullable: bool,
    /// `default`.
    pub default: Option<Value>,
    /// `enum`.
    pub enum_values: Option<Vec<Value>>,
    /// `required`.
    pub required: Vec<String>,
    /// `minimum`.
    pub minimum: Option<f64>,
    /// `maximum`.
    pub maximum: Option<f64>,
    /// `exclusiveMinimum`.
    pub exclusive_minimum: bool,
    /// `exclusiveMaximum`.
    pub exclusive_maximum: bool,
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `minProperties`.
    pub min_properties: Option<u64>,
    /// `maxProperties`.
    pub max_properties: Option<u64>,
    /// `pattern`, compiled.
    pub pattern: Option<(String, Regex)>,
    /// `x-kubernetes-list-type`.
    pub list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    pub list_map_keys: Vec<String>,
    /// `x-kubernetes-map-type`.
    pub map_type: Option<String>,
}

impl Schema {
    /// Compiles an OpenAPI v3 (JSONSchemaProps) value.
    pub fn compile(v: &Value) -> Schema {
        let Some(o) = v.as_object() else {
            return Schema {
                preserve_unknown: true,
                ..Default::default()
            };
        };
        let mut s = Schema {
            ty: o.get("type").and_then(Value::as_str).map(str::to_string),
            preserve_unknown: o
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            int_or_string: o
                .get("x-kubernetes-int-or-string")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            embedded_resource: o
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            nullable: o.get("nullable").and_then(Value::as_bool).unwrap_or(false),
            default: o.get("default").cloned(),
            enum_values: o.get("enum").and_then(Value::as_array).cloned(),
            required: o
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            minimum: o.get("minimum").and_then(Value::as_f64),
            maximum: o.get("maximum").and_then(Value::as_f64),
            exclusive_minimum: o
                .get("exclusiveMinimum")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            exclusive_maximum: o
                .get("exclusiveMaximum")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            min_length: o.get("minLength").and_then(Value::as_u64),
            max_length: o.get("maxLength").and_then(Value::as_u64),
            min_items: o.get("minItems").and_then(Value::as_u64),
            max_items: o.get("maxItems").and_then(Value::as_u64),
            min_properties: o.get("minProperties").and_then(Value::as_u64),
            max_properties: o.get("maxProperties").and_then(Value::as_u64),
            pattern: o
                .get("pattern")
                .and_then(Value::as_str)
                .and_then(|p| Regex::new(p).ok().map(|r| (p.to_string(), r))),
            list_type: o
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .map(str::to_string),
            list_map_keys: o
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            map_type: o
                .get("x-kubernetes-map-type")
                .and_then(Value::as_str)
                .map(str::to_string),
            ..Default::default()
        };
        if let Some(props) = o.get("properties").and_then(Value::as_object) {
            s.properties = props
                .iter()
                .map(|(k, v)| (k.clone(), Arc::new(Schema::compile(v))))
                .collect();
        }
        if let Some(items) = o.get("items") {
            s.items = Some(Arc::new(Schema::compile(items)));
        }
        s.additional = match o.get("additionalProperties") {
            Some(Value::Bool(true)) => Additional::Any,
            Some(v @ Value::Object(_)) => Additional::Schema(Arc::new(Schema::compile(v))),
            _ => Additional::Unset,
        };
        // A structural schema may still name the value structure only through allOf/anyOf; their
        // properties must not be pruned.
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(alts) = o.get(key).and_then(Value::as_array) {
                for alt in alts {
                    if let Some(props) = alt.get("properties").and_then(Value::as_object) {
                        for (k, v) in props {
                            s.properties
                                .entry(k.clone())
                                .or_insert_with(|| Arc::new(Schema::compile(v)));
                        }
                    }
                }
            }
        }
        s
    }

    /// A schema that keeps everything.
    pub fn permissive() -> Schema {
        Schema {
            preserve_unknown: true,
            ..Default::default()
        }
    }

    /// The schema of a named child field, if the structure knows one.
    pub fn child(&self, key: &str) -> Option<&Arc<Schema>> {
        self.properties.get(key).or(match &self.additional {
            Additional::Schema(s) => Some(s),
            _ => None,
        })
    }

    /// Whether unknown keys are kept at this node.
    fn keeps_unknown(&self) -> bool {
        self.preserve_unknown || matches!(self.additional, Additional::Any)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Removes fields the schema does not know, recording their paths. `is_root` keeps `apiVersion`,
/// `kind` and `metadata` at the top level (metadata is checked separately).
pub fn prune(value: &mut Value, schema: &Schema, path: &str, is_root: bool, unknown: &mut Vec<String>) {
    match value {
        Value::Object(map)
            if (schema.ty.as_deref() == Some("object")
                || !schema.properties.is_empty()
                || schema.ty.is_none()) =>
        {
            prune_object(map, schema, path, is_root || schema.embedded_resource, unknown);
        }
        Value::Array(items) => {
            if let Some(item_schema) = &schema.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, item_schema, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

fn prune_object(
    map: &mut Map<String, Value>,
    schema: &Schema,
    path: &str,
    resource_like: bool,
    unknown: &mut Vec<String>,
) {
    let keep_all = schema.keeps_unknown();
    let mut drop = vec![];
    for (k, v) in map.iter_mut() {
        // ObjectMeta is validated on its own; a schema's `metadata: {type: object}` must not prune it.
        if resource_like
            && (k == "metadata"
                || ((k == "apiVersion" || k == "kind") && !schema.properties.contains_key(k.as_str())))
        {
            continue;
        }
        if let Some(child) = schema.properties.get(k.as_str()) {
            prune(v, child, &join(path, k), false, unknown);
        } else if let Additional::Schema(child) = &schema.additional {
            prune(v, child, &join(path, k), false, unknown);
        } else if !keep_all {
            drop.push(k.clone());
        }
    }
    for k in drop {
        map.remove(&k);
        unknown.push(join(path, &k));
    }
}

/// Applies `default` values to missing fields, and drops `null`s the schema does not allow.
pub fn apply_defaults(value: &mut Value, schema: &Schema) {
    match value {
        Value::Object(map) => {
            for (k, child) in &schema.properties {
                match map.get_mut(k.as_str()) {
                    None => {
                        if let Some(d) = &child.default {
                            map.insert(k.clone(), d.clone());
                        }
                    }
                    Some(Value::Null) if !child.nullable => match &child.default {
                        Some(d) => {
                            map.insert(k.clone(), d.clone());
                        }
                        None => {
                            map.remove(k.as_str());
                        }
                    },
                    Some(_) => {}
                }
                if let Some(v) = map.get_mut(k.as_str()) {
                    apply_defaults(v, child);
                }
            }
            if let Additional::Schema(child) = &schema.additional {
                for (k, v) in map.iter_mut() {
                    if !schema.properties.contains_key(k.as_str()) {
                        apply_defaults(v, child);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = &schema.items {
                for item in items {
                    apply_defaults(item, child);
                }
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Validates a value against the schema, appending 422 causes.
pub fn validate(value: &Value, schema: &Schema, path: &str, causes: &mut Vec<Cause>) {
    if value.is_null() {
        if !schema.nullable && schema.ty.is_some() {
            causes.push(field_invalid(
                path,
                value,
                &format!(
                    "{path} in body must be of type {}: \"null\"",
                    schema.ty.as_deref().unwrap_or("object")
                ),
            ));
        }
        return;
    }
    if schema.int_or_string {
        if !(value.is_string() || type_name(value) == "integer") {
            causes.push(field_invalid(
                path,
                value,
                &format!(
                    "{path} in body must be of type integer,string: \"{}\"",
                    type_name(value)
                ),
            ));
        }
    } else if let Some(ty) = schema.ty.as_deref() {
        let actual = type_name(value);
        let ok = actual == ty || (ty == "number" && actual == "integer");
        if !ok {
            causes.push(field_invalid(
                path,
                value,
                &format!("{path} in body must be of type {ty}: \"{actual}\""),
            ));
            return;
        }
    }
    if let Some(allowed) = &schema.enum_values
        && !allowed.contains(value)
    {
        causes.push(field_not_supported(path, value, allowed));
    }
    match value {
        Value::Number(n) => check_number(n, value, schema, path, causes),
        Value::String(s) => check_string(s, value, schema, path, causes),
        Value::Array(items) => check_array(items, value, schema, path, causes),
        Value::Object(map) => check_object(map, schema, path, causes),
        _ => {}
    }
}

/// `minimum` and `maximum` (exclusive or not).
fn check_number(n: &serde_json::Number, value: &Value, schema: &Schema, path: &str, causes: &mut Vec<Cause>) {
    if let Some(x) = n.as_f64() {
        if let Some(min) = schema.minimum
            && (x < min || (schema.exclusive_minimum && x == min))
        {
            let rel = if schema.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            causes.push(field_invalid(
                path,
                value,
                &format!("{path} in body should be {rel} {}", fmt_num(min)),
            ));
        }
        if let Some(max) = schema.maximum
            && (x > max || (schema.exclusive_maximum && x == max))
        {
            let rel = if schema.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            causes.push(field_invalid(
                path,
                value,
                &format!("{path} in body should be {rel} {}", fmt_num(max)),
            ));
        }
    }
}

/// `minLength`, `maxLength` and `pattern`.
fn check_string(s: &str, value: &Value, schema: &Schema, path: &str, causes: &mut Vec<Cause>) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.min_length
        && len < min
    {
        causes.push(field_invalid(
            path,
            value,
            &format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(max) = schema.max_length
        && len > max
    {
        causes.push(Cause {
            reason: "FieldValueTooLong".into(),
            message: format!("Too long: may not be more than {max} bytes"),
            field: path.into(),
        });
    }
    if let Some((src, re)) = &schema.pattern
        && !re.is_match(s)
    {
        causes.push(field_invalid(
            path,
            value,
            &format!("{path} in body should match '{src}'"),
        ));
    }
}

/// `minItems`, `maxItems`, list-type uniqueness, then each item.
fn check_array(items: &[Value], value: &Value, schema: &Schema, path: &str, causes: &mut Vec<Cause>) {
    if let Some(min) = schema.min_items
        && (items.len() as u64) < min
    {
        causes.push(field_invalid(
            path,
            value,
            &format!("{path} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = schema.max_items
        && (items.len() as u64) > max
    {
        causes.push(Cause {
            reason: "FieldValueTooMany".into(),
            message: format!("Too many: {}: must have at most {max} items", items.len()),
            field: path.into(),
        });
    }
    check_list_uniqueness(items, schema, path, causes);
    if let Some(child) = &schema.items {
        for (i, item) in items.iter().enumerate() {
            validate(item, child, &format!("{path}[{i}]"), causes);
        }
    }
}

/// `required`, `minProperties`, `maxProperties`, then each property.
fn check_object(map: &serde_json::Map<String, Value>, schema: &Schema, path: &str, causes: &mut Vec<Cause>) {
    for req in &schema.required {
        if !map.contains_key(req.as_str()) {
            causes.push(field_required(&join(path, req), ""));
        }
    }
    // The API server reports the property count as the invalid value.
    if let Some(min) = schema.min_properties
        && (map.len() as u64) < min
    {
        causes.push(field_invalid(
            path,
            &Value::from(map.len()),
            &format!("{path} in body should have at least {min} properties"),
        ));
    }
    if let Some(max) = schema.max_properties
        && (map.len() as u64) > max
    {
        causes.push(field_invalid(
            path,
            &Value::from(map.len()),
            &format!("{path} in body should have at most {max} properties"),
        ));
    }
    for (k, v) in map {
        if let Some(child) = schema.properties.get(k.as_str()) {
            validate(v, child, &join(path, k), causes);
        } else if let Additional::Schema(child) = &schema.additional {
            validate(v, child, &join(path, k), causes);
        }
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

fn check_list_uniqueness(items: &[Value], schema: &Schema, path: &str, causes: &mut Vec<Cause>) {
    match schema.list_type.as_deref() {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    causes.push(Cause {
                        reason: "FieldValueDuplicate".into(),
                        message: format!("Duplicate value: {item}"),
                        field: format!("{path}[{i}]"),
                    });
                }
            }
        }
        Some("map") if !schema.list_map_keys.is_empty() => {
            let key_of = |v: &Value| -> Vec<Value> {
                schema
                    .list_map_keys
                    .iter()
                    .map(|k| v.get(k).cloned().unwrap_or(Value::Null))
                    .collect()
            };
            let keys: Vec<Vec<Value>> = items.iter().map(key_of).collect();
            for i in 0..keys.len() {
                if keys[..i].contains(&keys[i]) {
                    let shown: Map<String, Value> = schema
                        .list_map_keys
                        .iter()
                        .cloned()
                        .zip(keys[i].iter().cloned())
                        .collect();
                    causes.push(Cause {
                        reason: "FieldValueDuplicate".into(),
                        message: format!("Duplicate value: {}", Value::Object(shown)),
                        field: format!("{path}[{i}]"),
                    });
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn widget_schema() -> Schema {
        Schema::compile(&json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer", "default": 1, "minimum": 0},
                    "color": {"type": "string", "enum": ["red", "blue"]},
                    "name": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
                }},
                "status": {"type": "object", "properties": {"conditions": {
                    "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                    "items": {"type": "object", "required": ["type", "status"], "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}
                }}}
            }
        }))
    }

    #[test]
    fn prunes_unknown_and_keeps_preserved() {
        let s = widget_schema();
        let mut s = s;
        s.properties.insert(
            "metadata".into(),
            Arc::new(Schema::compile(&json!({"type": "object"}))),
        );
        let mut v = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"size": 3, "free": {"any": {"thing": 1}}, "labels": {"a": "b"}}, "extra": true});
        let mut unknown = vec![];
        prune(&mut v, &s, "", true, &mut unknown);
        assert_eq!(unknown, vec!["spec.size".to_string(), "extra".to_string()]);
        assert_eq!(v["spec"]["free"]["any"]["thing"], 1);
        assert_eq!(v["spec"]["labels"]["a"], "b");
        assert_eq!(v["metadata"]["name"], "a");
    }

    #[test]
    fn defaults_and_nulls() {
        let s = widget_schema();
        let mut v = json!({"spec": {"color": null}});
        apply_defaults(&mut v, &s);
        assert_eq!(v, json!({"spec": {"replicas": 1}}));
    }

    #[test]
    fn validation_messages() {
        let s = widget_schema();
        let v = json!({"spec": {"replicas": -1, "color": "green", "name": "ABCD", "tags": ["a", "a"], "port": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}, {"status": "x"}]}});
        let mut causes = vec![];
        validate(&v, &s, "", &mut causes);
        let msgs: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let all = msgs.join("\n");
        assert!(
            all.contains(
                "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
            ),
            "{all}"
        );
        assert!(
            all.contains("spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\""),
            "{all}"
        );
        assert!(
            all.contains("spec.name: Too long: may not be more than 3 bytes"),
            "{all}"
        );
        assert!(
            all.contains("spec.name: Invalid value: \"ABCD\": spec.name in body should match '^[a-z]+$'"),
            "{all}"
        );
        assert!(all.contains("spec.tags[1]: Duplicate value: \"a\""), "{all}");
        assert!(
            all.contains("spec.port: Invalid value: true: spec.port in body must be of type integer,string"),
            "{all}"
        );
        assert!(
            all.contains("status.conditions[1]: Duplicate value: {\"type\":\"Ready\"}"),
            "{all}"
        );
        assert!(all.contains("status.conditions[2].type: Required value"), "{all}");
        let ok = json!({"spec": {"replicas": 2, "color": "red", "port": "http"}});
        let mut none = vec![];
        validate(&ok, &s, "", &mut none);
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn type_errors() {
        let s = widget_schema();
        let mut causes = vec![];
        validate(&json!({"spec": {"replicas": "two"}}), &s, "", &mut causes);
        assert_eq!(
            causes[0].message,
            "Invalid value: \"two\": spec.replicas in body must be of type integer: \"string\""
        );
    }

    #[test]
    fn min_and_max_properties() {
        let s = Schema::compile(
            &json!({"type": "object", "properties": {"spec": {"type": "object",
            "minProperties": 1, "maxProperties": 1, "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}}}),
        );
        let mut causes = vec![];
        validate(&json!({"spec": {}}), &s, "", &mut causes);
        assert_eq!(
            causes[0].message,
            "Invalid value: 0: spec in body should have at least 1 properties"
        );
        causes.clear();
        validate(&json!({"spec": {"a": "x", "b": "y"}}), &s, "", &mut causes);
        assert_eq!(
            causes[0].message,
            "Invalid value: 2: spec in body should have at most 1 properties"
        );
    }
}
