//! Field ownership (`metadata.managedFields`) and server-side apply.
//!
//! Each write records which fields its manager set, in the FieldsV1 format (`f:` fields, `k:`
//! list-map keys, `v:` set values, `.` for the item itself). An apply merges the applied
//! configuration into the live object following the schema (granular maps, `map` and `set` lists,
//! atomic everything else), refuses to change values another manager owns unless forced, and
//! removes fields this manager applied before but no longer applies when nobody else owns them.
//!
//! Simplifications: ownership is tracked on the object's JSON shape at the storage version; the
//! fields of `metadata` tracked are labels, annotations, finalizers and ownerReferences, as the
//! real server does for apply configurations.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::api::schema::Schema;

/// One element of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pe {
    /// A struct field or map key.
    Field(String),
    /// A list-map item, by its key fields (JSON object with sorted keys).
    Key(String),
    /// A set item, by its JSON value.
    Val(String),
}

/// A field path.
pub type Path = Vec<Pe>;
/// A set of owned paths.
pub type FieldSet = BTreeSet<Path>;

/// Which part of an object a write concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything except status (the main resource of a kind with a status subresource).
    MainWithoutStatus,
    /// Everything (kinds without a status subresource).
    All,
    /// Only status (the status subresource).
    StatusOnly,
}

fn granular_object(schema: Option<&Schema>) -> bool {
    schema.is_none_or(|s| s.map_type.as_deref() != Some("atomic"))
}

fn list_type(schema: Option<&Schema>) -> Option<&str> {
    schema.and_then(|s| s.list_type.as_deref())
}

fn key_of(item: &Value, keys: &[String]) -> Option<String> {
    let mut pairs: Vec<(&String, Value)> = keys
        .iter()
        .filter_map(|k| item.get(k).map(|v| (k, v.clone())))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.clone(), v);
    }
    Some(Value::Object(m).to_string())
}

fn child_schema<'s>(schema: Option<&'s Schema>, key: &str) -> Option<&'s Schema> {
    schema.and_then(|s| s.child(key)).map(|a| a.as_ref())
}

fn collect(value: &Value, schema: Option<&Schema>, prefix: &mut Path, out: &mut FieldSet) {
    let Value::Object(map) = value else { return };
    for (k, v) in map {
        let child = child_schema(schema, k);
        prefix.push(Pe::Field(k.clone()));
        collect_value(v, child, prefix, out);
        prefix.pop();
    }
}

fn collect_value(v: &Value, child: Option<&Schema>, prefix: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() && granular_object(child) => collect(v, child, prefix, out),
        Value::Array(items) if !items.is_empty() && list_type(child) == Some("map") => {
            let keys = child.map(|s| s.list_map_keys.clone()).unwrap_or_default();
            let item_schema = child.and_then(|s| s.items.as_deref());
            for item in items {
                match key_of(item, &keys) {
                    Some(k) => {
                        prefix.push(Pe::Key(k));
                        out.insert(prefix.clone());
                        collect(item, item_schema, prefix, out);
                        prefix.pop();
                    }
                    None => {
                        out.insert(prefix.clone());
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && list_type(child) == Some("set") => {
            for item in items {
                prefix.push(Pe::Val(item.to_string()));
                out.insert(prefix.clone());
                prefix.pop();
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

/// The fields set by `obj` in the given scope.
pub fn field_set(obj: &Value, schema: &Schema, scope: Scope) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = obj.as_object() else { return out };
    let mut prefix = vec![];
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                if scope == Scope::StatusOnly {
                    continue;
                }
                let meta_schema = crate::api::builtins::object_meta_schema();
                let meta_schema = Schema::compile(&meta_schema);
                for mk in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(mv) = v.get(mk) {
                        prefix.push(Pe::Field("metadata".into()));
                        prefix.push(Pe::Field(mk.into()));
                        collect_value(
                            mv,
                            meta_schema.child(mk).map(|a| a.as_ref()),
                            &mut prefix,
                            &mut out,
                        );
                        prefix.clear();
                    }
                }
            }
            "status" if scope == Scope::MainWithoutStatus => {}
            _ if scope == Scope::StatusOnly && k != "status" => {}
            _ => {
                prefix.push(Pe::Field(k.clone()));
                collect_value(v, schema.child(k).map(|a| a.as_ref()), &mut prefix, &mut out);
                prefix.clear();
            }
        }
    }
    out
}

/// The value at a path, if present.
pub fn get_at<'v>(root: &'v Value, path: &[Pe]) -> Option<&'v Value> {
    let mut cur = root;
    for pe in path {
        cur = match pe {
            Pe::Field(f) => cur.get(f)?,
            Pe::Key(k) => {
                let want: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array()?
                    .iter()
                    .find(|item| want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)))?
            }
            Pe::Val(v) => {
                let want: Value = serde_json::from_str(v).ok()?;
                cur.as_array()?.iter().find(|item| **item == want)?
            }
        };
    }
    Some(cur)
}

/// Removes the value at a path; returns whether something was removed.
pub fn remove_at(root: &mut Value, path: &[Pe]) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let mut cur = root;
    for pe in parent_path {
        let next = match pe {
            Pe::Field(f) => cur.get_mut(f),
            Pe::Key(k) => {
                let Ok(want) = serde_json::from_str::<Map<String, Value>>(k) else {
                    return false;
                };
                cur.as_array_mut().and_then(|a| {
                    a.iter_mut()
                        .find(|item| want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)))
                })
            }
            Pe::Val(_) => None,
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match last {
        Pe::Field(f) => cur.as_object_mut().is_some_and(|m| m.remove(f).is_some()),
        Pe::Key(k) => {
            let Ok(want) = serde_json::from_str::<Map<String, Value>>(k) else {
                return false;
            };
            let Some(arr) = cur.as_array_mut() else {
                return false;
            };
            let before = arr.len();
            arr.retain(|item| !want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)));
            before != arr.len()
        }
        Pe::Val(v) => {
            let Ok(want) = serde_json::from_str::<Value>(v) else {
                return false;
            };
            let Some(arr) = cur.as_array_mut() else {
                return false;
            };
            let before = arr.len();
            arr.retain(|item| *item != want);
            before != arr.len()
        }
    }
}

/// Encodes a field set as FieldsV1 JSON.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for (i, pe) in path.iter().enumerate() {
            let key = match pe {
                Pe::Field(f) => format!("f:{f}"),
                Pe::Key(k) => format!("k:{k}"),
                Pe::Val(v) => format!("v:{v}"),
            };
            let entry = cur.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(m) = entry else { break };
            cur = m;
            if i == path.len() - 1 && matches!(pe, Pe::Key(_)) {
                cur.insert(".".into(), json!({}));
            }
        }
    }
    Value::Object(root)
}

/// Decodes FieldsV1 JSON.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn walk(v: &Value, prefix: &mut Path, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        for (k, child) in m {
            if k == "." {
                out.insert(prefix.clone());
                continue;
            }
            let pe = if let Some(f) = k.strip_prefix("f:") {
                Pe::Field(f.into())
            } else if let Some(x) = k.strip_prefix("k:") {
                Pe::Key(x.into())
            } else if let Some(x) = k.strip_prefix("v:") {
                Pe::Val(x.into())
            } else {
                continue;
            };
            prefix.push(pe);
            if child.as_object().is_some_and(|c| c.is_empty()) {
                out.insert(prefix.clone());
            } else {
                walk(child, prefix, out);
            }
            prefix.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut vec![], &mut out);
    out
}

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion of the write.
    pub api_version: String,
    /// Time of the last change.
    pub time: String,
    /// Owned fields.
    pub fields: FieldSet,
    /// `status` for status-subresource writes.
    pub subresource: String,
}

impl Entry {
    fn same_slot(&self, manager: &str, operation: &str, api_version: &str, subresource: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.api_version == api_version
            && self.subresource == subresource
    }
}

/// Reads `metadata.managedFields`.
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    Entry {
                        manager: s("manager"),
                        operation: s("operation"),
                        api_version: s("apiVersion"),
                        time: s("time"),
                        fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                        subresource: s("subresource"),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `metadata.managedFields` (omitting it when empty).
pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut m = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                m["subresource"] = json!(e.subresource);
            }
            m
        })
        .collect();
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// Records a non-apply write by `manager`: changed fields become its own, removed fields are
/// dropped from every entry. `base` is the managedFields to start from.
#[allow(clippy::too_many_arguments)]
pub fn record_update(
    base: Vec<Entry>,
    old: Option<&Value>,
    new: &Value,
    schema: &Schema,
    scope: Scope,
    manager: &str,
    api_version: &str,
    subresource: &str,
    now: &str,
) -> Vec<Entry> {
    let new_set = field_set(new, schema, scope);
    let old_set = old.map(|o| field_set(o, schema, scope)).unwrap_or_default();
    let changed: FieldSet = new_set
        .iter()
        .filter(|p| match old {
            None => true,
            Some(o) => {
                !old_set.contains(*p)
                    || (!matches!(p.last(), Some(Pe::Key(_))) && get_at(o, p) != get_at(new, p))
            }
        })
        .cloned()
        .collect();
    let removed: FieldSet = old_set.difference(&new_set).cloned().collect();
    let mut entries = base;
    if changed.is_empty() && removed.is_empty() {
        return entries;
    }
    let mut found = false;
    for e in entries.iter_mut() {
        let mine = e.same_slot(manager, "Update", api_version, subresource);
        e.fields.retain(|p| !removed.contains(p));
        if mine {
            e.fields.extend(changed.iter().cloned());
            e.time = now.to_string();
            found = true;
        } else {
            e.fields.retain(|p| !changed.contains(p));
        }
    }
    if !found && !changed.is_empty() {
        entries.push(Entry {
            manager: manager.into(),
            operation: "Update".into(),
            api_version: api_version.into(),
            time: now.into(),
            fields: changed,
            subresource: subresource.into(),
        });
    }
    entries.retain(|e| !e.fields.is_empty());
    entries
}

/// An apply that would change fields owned by other managers.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflicts(pub Vec<(String, String, String)>);

impl Conflicts {
    /// The message the real server sends.
    pub fn message(&self) -> String {
        let n = self.0.len();
        let list = self
            .0
            .iter()
            .map(|(m, av, p)| format!("conflict with \"{m}\" using {av}: {p}"))
            .collect::<Vec<_>>()
            .join("\n- ");
        if n == 1 {
            format!("Apply failed with 1 conflict: {list}")
        } else {
            format!("Apply failed with {n} conflicts: \n- {list}")
        }
    }
}

/// Renders a path the way conflict messages show it (`.spec.replicas`).
pub fn path_string(p: &[Pe]) -> String {
    let mut s = String::new();
    for pe in p {
        match pe {
            Pe::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::Key(k) => {
                s.push('[');
                s.push_str(&k.trim_start_matches('{').trim_end_matches('}').replace(':', "="));
                s.push(']');
            }
            Pe::Val(v) => {
                s.push_str("[=");
                s.push_str(v);
                s.push(']');
            }
        }
    }
    s
}

fn merge_applied(live: &mut Value, applied: &Value, schema: Option<&Schema>) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if granular_object(schema) => {
            for (k, av) in a {
                let child = child_schema(schema, k);
                match l.get_mut(k) {
                    Some(lv) if (lv.is_object() && av.is_object()) || (lv.is_array() && av.is_array()) => {
                        merge_applied(lv, av, child)
                    }
                    _ => {
                        l.insert(k.clone(), av.clone());
                    }
                }
            }
        }
        (l @ Value::Array(_), Value::Array(a)) if list_type(schema) == Some("map") => {
            let keys = schema.map(|s| s.list_map_keys.clone()).unwrap_or_default();
            let item_schema = schema.and_then(|s| s.items.as_deref());
            let Value::Array(larr) = l else { return };
            for item in a {
                let k = key_of(item, &keys);
                match larr.iter_mut().find(|li| k.is_some() && key_of(li, &keys) == k) {
                    Some(li) => merge_applied(li, item, item_schema),
                    None => larr.push(item.clone()),
                }
            }
        }
        (l @ Value::Array(_), Value::Array(a)) if list_type(schema) == Some("set") => {
            let Value::Array(larr) = l else { return };
            for item in a {
                if !larr.contains(item) {
                    larr.push(item.clone());
                }
            }
        }
        (l, a) => *l = a.clone(),
    }
}

/// The outcome of a server-side apply.
#[derive(Debug)]
pub struct Applied {
    /// The merged object (managedFields updated).
    pub object: Value,
}

/// Server-side apply of `applied` (already pruned to the schema) onto `live` (`None` creates).
#[allow(clippy::too_many_arguments)]
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    schema: &Schema,
    scope: Scope,
    manager: &str,
    api_version: &str,
    subresource: &str,
    force: bool,
    now: &str,
) -> Result<Applied, Conflicts> {
    let mut entries = live.map(read_entries).unwrap_or_default();
    let applied_set = field_set(applied, schema, scope);
    let mut object = live.cloned().unwrap_or_else(|| json!({}));
    if let Some(live) = live {
        let mut conflicts = vec![];
        for e in entries.iter() {
            if e.same_slot(manager, "Apply", api_version, subresource)
                || (e.manager == manager && e.operation == "Apply")
            {
                continue;
            }
            for p in applied_set.intersection(&e.fields) {
                if matches!(p.last(), Some(Pe::Key(_) | Pe::Val(_))) {
                    continue;
                }
                if get_at(live, p) != get_at(applied, p) {
                    conflicts.push((e.manager.clone(), e.api_version.clone(), path_string(p)));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            conflicts.sort();
            conflicts.dedup();
            return Err(Conflicts(conflicts));
        }
        if force {
            for e in entries.iter_mut() {
                if !(e.manager == manager && e.operation == "Apply") {
                    e.fields.retain(|p| {
                        !applied_set.contains(p)
                            || matches!(p.last(), Some(Pe::Key(_) | Pe::Val(_)))
                            || get_at(live, p) == get_at(applied, p)
                    });
                }
            }
        }
    }
    // Keep identity fields of the live object; merge the rest.
    let mut to_merge = applied.clone();
    if let Some(m) = to_merge.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    merge_applied(&mut object, &to_merge, Some(&wrap_meta(schema)));
    // Remove what this manager applied before and no longer applies, unless someone else owns it.
    let previous: FieldSet = entries
        .iter()
        .filter(|e| e.manager == manager && e.operation == "Apply" && e.subresource == subresource)
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let others: FieldSet = entries
        .iter()
        .filter(|e| !(e.manager == manager && e.operation == "Apply" && e.subresource == subresource))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let mut stale: Vec<&Path> = previous
        .difference(&applied_set)
        .filter(|p| !others.contains(*p))
        .collect();
    stale.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in stale {
        // An item still owned through a child of someone else's stays.
        if others.iter().any(|o| o.len() > p.len() && o.starts_with(p)) {
            continue;
        }
        remove_at(&mut object, p);
    }
    entries.retain(|e| !(e.manager == manager && e.operation == "Apply" && e.subresource == subresource));
    entries.push(Entry {
        manager: manager.into(),
        operation: "Apply".into(),
        api_version: api_version.into(),
        time: now.into(),
        fields: applied_set,
        subresource: subresource.into(),
    });
    entries.retain(|e| !e.fields.is_empty());
    write_entries(&mut object, &entries);
    Ok(Applied { object })
}

/// The root schema with ObjectMeta's list semantics added, so metadata merges correctly.
fn wrap_meta(schema: &Schema) -> Schema {
    let mut s = schema.clone();
    s.properties.insert(
        "metadata".into(),
        std::sync::Arc::new(Schema::compile(&crate::api::builtins::object_meta_schema())),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::compile(&json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"}, "color": {"type": "string"},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}
            }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}))
    }

    #[test]
    fn fields_v1_round_trip() {
        let obj = json!({"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"replicas": 1, "tags": ["t"], "ports": [{"name": "http", "port": 80}]}, "status": {"x": 1}});
        let set = field_set(&obj, &schema(), Scope::MainWithoutStatus);
        let v1 = to_fields_v1(&set);
        assert_eq!(v1["f:metadata"]["f:labels"]["f:a"], json!({}));
        assert_eq!(v1["f:spec"]["f:ports"]["k:{\"name\":\"http\"}"]["."], json!({}));
        assert_eq!(v1["f:spec"]["f:tags"]["v:\"t\""], json!({}));
        assert!(v1.get("f:status").is_none());
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_conflicts_force_and_removal() {
        let s = schema();
        let now = "2026-01-01T00:00:00Z";
        let a1 = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"}, "spec": {"color": "blue", "replicas": 1}});
        let r1 = apply(
            None,
            &a1,
            &s,
            Scope::MainWithoutStatus,
            "kubectl",
            "x/v1",
            "",
            false,
            now,
        )
        .unwrap()
        .object;
        let a2 =
            json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"}, "spec": {"replicas": 7}});
        let err = apply(
            Some(&r1),
            &a2,
            &s,
            Scope::MainWithoutStatus,
            "other",
            "x/v1",
            "",
            false,
            now,
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"kubectl\" using x/v1: .spec.replicas"
        );
        let r2 = apply(
            Some(&r1),
            &a2,
            &s,
            Scope::MainWithoutStatus,
            "other",
            "x/v1",
            "",
            true,
            now,
        )
        .unwrap()
        .object;
        assert_eq!(r2["spec"]["replicas"], 7);
        // kubectl re-applies with the same replicas and without color: no conflict, color removed.
        let r3 = apply(
            Some(&r2),
            &a2,
            &s,
            Scope::MainWithoutStatus,
            "kubectl",
            "x/v1",
            "",
            false,
            now,
        )
        .unwrap()
        .object;
        assert_eq!(r3["spec"], json!({"replicas": 7}));
        let entries = read_entries(&r3);
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn updates_take_ownership() {
        let s = schema();
        let now = "t";
        let old = json!({"metadata": {"name": "w"}, "spec": {"replicas": 1, "color": "red"}});
        let e = record_update(
            vec![],
            None,
            &old,
            &s,
            Scope::MainWithoutStatus,
            "creator",
            "x/v1",
            "",
            now,
        );
        assert_eq!(e.len(), 1);
        let new = json!({"metadata": {"name": "w"}, "spec": {"replicas": 2, "color": "red"}});
        let e = record_update(
            e,
            Some(&old),
            &new,
            &s,
            Scope::MainWithoutStatus,
            "scaler",
            "x/v1",
            "",
            now,
        );
        assert_eq!(e.len(), 2);
        let scaler = e.iter().find(|x| x.manager == "scaler").unwrap();
        assert!(
            scaler
                .fields
                .contains(&vec![Pe::Field("spec".into()), Pe::Field("replicas".into())])
        );
        let creator = e.iter().find(|x| x.manager == "creator").unwrap();
        assert!(
            !creator
                .fields
                .contains(&vec![Pe::Field("spec".into()), Pe::Field("replicas".into())])
        );
    }

    #[test]
    fn map_list_merge() {
        let s = schema();
        let live = json!({"spec": {"ports": [{"name": "a", "port": 1}]}});
        let applied = json!({"spec": {"ports": [{"name": "a", "port": 2}, {"name": "b", "port": 3}]}});
        let out = apply(
            Some(&live),
            &applied,
            &s,
            Scope::MainWithoutStatus,
            "m",
            "x/v1",
            "",
            false,
            "t",
        )
        .unwrap()
        .object;
        assert_eq!(
            out["spec"]["ports"],
            json!([{"name": "a", "port": 2}, {"name": "b", "port": 3}])
        );
    }
}
