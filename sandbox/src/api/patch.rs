//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902, with the API server's
//! quirks) and strategic merge patch for the built-in kinds.

use serde_json::{Map, Value};

/// Patch content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// From a Content-Type value.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Applies a JSON merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Why a JSON patch failed: 400 for malformed patches, 422 for ops that do not apply.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonPatchError {
    /// The patch document is malformed.
    Malformed(String),
    /// An operation could not be applied (including a failed `test`).
    Failed(String),
    /// A `test` operation did not match (the API server answers it without details).
    TestFailed,
    /// More operations than the server accepts.
    TooMany(usize),
}

/// The API server's limit on JSON patch operations.
pub const MAX_JSON_PATCH_OPS: usize = 10_000;

/// Applies an RFC 6902 JSON patch. A `test` of `null` against a missing path succeeds, as with
/// the API server's patch library.
pub fn json(target: &mut Value, patch: &Value) -> Result<(), JsonPatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| JsonPatchError::Malformed("the JSON patch must be an array of operations".into()))?;
    if ops.len() > MAX_JSON_PATCH_OPS {
        return Err(JsonPatchError::TooMany(ops.len()));
    }
    for (i, op) in ops.iter().enumerate() {
        let is_null_test =
            op.get("op").and_then(Value::as_str) == Some("test") && op.get("value") == Some(&Value::Null);
        if is_null_test {
            let path = op.get("path").and_then(Value::as_str).unwrap_or("");
            match target.pointer(path) {
                None | Some(Value::Null) => continue,
                Some(_) => return Err(JsonPatchError::TestFailed),
            }
        }
        let one: json_patch::Patch = serde_json::from_value(Value::Array(vec![op.clone()]))
            .map_err(|e| JsonPatchError::Malformed(format!("operation {i}: {e}")))?;
        json_patch::patch(target, &one).map_err(|e| match e.kind {
            json_patch::PatchErrorKind::TestFailed => JsonPatchError::TestFailed,
            _ => JsonPatchError::Failed(e.to_string()),
        })?;
    }
    Ok(())
}

/// Strategy of a list field in a built-in type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ListStrategy<'a> {
    /// Replace the whole list (the default).
    Replace,
    /// Merge items by a key field.
    MergeKey(&'a str),
    /// Merge a list of scalars as a set.
    MergePrimitive,
}

/// Patch metadata of a field path inside the built-ins (Go struct tags `patchStrategy`/`patchMergeKey`).
fn strategy_for(path: &[&str]) -> ListStrategy<'static> {
    match path {
        ["metadata", "finalizers"] => ListStrategy::MergePrimitive,
        ["metadata", "ownerReferences"] => ListStrategy::MergeKey("uid"),
        ["status", "conditions"] => ListStrategy::MergeKey("type"),
        ["status", "addresses"] => ListStrategy::MergeKey("type"),
        ["status", "volumesAttached"] => ListStrategy::MergeKey("name"),
        ["spec", "ports"] => ListStrategy::MergeKey("port"),
        _ => ListStrategy::Replace,
    }
}

/// Applies a strategic merge patch to a built-in object.
pub fn strategic(target: &mut Value, patch: &Value) -> Result<(), InvalidPatch> {
    strategic_text(target, patch).map_err(InvalidPatch)
}

/// A strategic merge patch that cannot be applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPatch(String);

fn strategic_text(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(p) = patch else {
        return Err("the strategic merge patch must be a JSON object".into());
    };
    let mut path = vec![];
    smp_object(target, p, &mut path)
}

fn smp_object(target: &mut Value, patch: &Map<String, Value>, path: &mut Vec<String>) -> Result<(), String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut clean = patch.clone();
            clean.remove("$patch");
            *target = Value::Object(strip_directives(&clean));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {other}")),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        unreachable!("made an object above")
    };
    if let Some(keep) = patch.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    let mut orders: Vec<(String, Vec<Value>)> = vec![];
    for (k, v) in patch {
        if k == "$patch" || k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            orders.push((field.to_string(), v.as_array().cloned().unwrap_or_default()));
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        path.push(k.clone());
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(pm) => {
                let entry = t.entry(k.clone()).or_insert(Value::Null);
                smp_object(entry, pm, path)?;
                if entry.is_null() {
                    t.remove(k);
                }
            }
            Value::Array(items) => {
                let refs: Vec<&str> = path.iter().map(String::as_str).collect();
                let strategy = strategy_for(&refs);
                let merged = smp_list(t.get(k), items, strategy, path)?;
                t.insert(k.clone(), merged);
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
        path.pop();
    }
    for (field, order) in orders {
        let refs: Vec<String> = path
            .iter()
            .cloned()
            .chain(std::iter::once(field.clone()))
            .collect();
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        if let Some(Value::Array(list)) = t.get_mut(&field) {
            reorder(list, &order, strategy_for(&refs));
        }
    }
    Ok(())
}

fn smp_list(
    current: Option<&Value>,
    items: &[Value],
    strategy: ListStrategy<'_>,
    path: &mut Vec<String>,
) -> Result<Value, String> {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        let kept: Vec<Value> = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(|i| {
                i.as_object()
                    .map(|o| Value::Object(strip_directives(o)))
                    .unwrap_or_else(|| i.clone())
            })
            .collect();
        return Ok(Value::Array(kept));
    }
    let mut list = current.and_then(Value::as_array).cloned().unwrap_or_default();
    match strategy {
        ListStrategy::Replace => Ok(Value::Array(
            items
                .iter()
                .map(|i| {
                    i.as_object()
                        .map(|o| Value::Object(strip_directives(o)))
                        .unwrap_or_else(|| i.clone())
                })
                .collect(),
        )),
        ListStrategy::MergePrimitive => {
            let original = list.clone();
            for i in items {
                if !list.contains(i) {
                    list.push(i.clone());
                }
            }
            Ok(Value::Array(server_order(list, &original, items, |v| {
                Some(v.clone())
            })))
        }
        ListStrategy::MergeKey(key) => {
            for item in items {
                let Some(obj) = item.as_object() else { continue };
                let id = obj.get(key);
                let pos = list.iter().position(|x| id.is_some() && x.get(key) == id);
                if obj.get("$patch").and_then(Value::as_str) == Some("delete") {
                    if let Some(p) = pos {
                        list.remove(p);
                    }
                    continue;
                }
                match pos {
                    Some(p) => smp_object(&mut list[p], obj, path)?,
                    None => list.push(Value::Object(strip_directives(obj))),
                }
            }
            let original = current.and_then(Value::as_array).cloned().unwrap_or_default();
            let id = |v: &Value| v.get(key).cloned();
            Ok(Value::Array(server_order(list, &original, items, id)))
        }
    }
}

/// The order the API server gives a merged list (apimachinery's `normalizeElementOrder`): the
/// items the patch names, in the patch's order, and the others, in their original order, are
/// interleaved so that of two items both in the original the earlier one comes first; any other
/// comparison puts the patch's item first. (So a finalizer added by a patch comes before the
/// existing ones.)
fn server_order(
    merged: Vec<Value>,
    original: &[Value],
    patch: &[Value],
    id: impl Fn(&Value) -> Option<Value>,
) -> Vec<Value> {
    let pos = |list: &[Value], v: &Value| -> Option<usize> {
        let want = id(v)?;
        list.iter().position(|x| id(x).as_ref() == Some(&want))
    };
    let (mut from_patch, mut server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|v| pos(patch, v).is_some());
    from_patch.sort_by_key(|v| pos(patch, v));
    server_only.sort_by_key(|v| pos(original, v));
    let mut out = Vec::with_capacity(from_patch.len() + server_only.len());
    let (mut left, mut right) = (
        server_only.into_iter().peekable(),
        from_patch.into_iter().peekable(),
    );
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
            (Some(l), Some(r)) => matches!((pos(original, l), pos(original, r)), (Some(a), Some(b)) if a < b),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

fn reorder(list: &mut [Value], order: &[Value], strategy: ListStrategy<'_>) {
    let rank = |x: &Value| -> usize {
        let probe = match strategy {
            ListStrategy::MergeKey(k) => x.get(k).cloned(),
            _ => Some(x.clone()),
        };
        order
            .iter()
            .position(|o| match strategy {
                ListStrategy::MergeKey(k) => probe.as_ref() == o.get(k),
                _ => probe.as_ref() == Some(o),
            })
            .unwrap_or(usize::MAX)
    };
    list.sort_by_key(rank);
}

fn strip_directives(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| {
            let v = match v {
                Value::Object(o) => Value::Object(strip_directives(o)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_quirks() {
        let mut v = json!({"metadata": {"name": "a"}});
        let p = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                       {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}]);
        json(&mut v, &p).unwrap();
        assert_eq!(v["metadata"]["finalizers"], json!(["x"]));
        assert_eq!(json(&mut v, &p), Err(JsonPatchError::TestFailed));
        assert_eq!(
            json(
                &mut v,
                &json!([{"op": "test", "path": "/metadata/name", "value": "b"}])
            ),
            Err(JsonPatchError::TestFailed)
        );
        assert!(matches!(
            json(&mut v, &json!({"op": "add"})),
            Err(JsonPatchError::Malformed(_))
        ));
        assert!(matches!(
            json(&mut v, &json!([{"op": "bogus", "path": "/a"}])),
            Err(JsonPatchError::Malformed(_))
        ));
        assert!(matches!(
            json(&mut v, &json!([{"op": "remove", "path": "/nope"}])),
            Err(JsonPatchError::Failed(_))
        ));
        json(
            &mut v,
            &json!([{"op": "add", "path": "/metadata/finalizers/-", "value": "y"}]),
        )
        .unwrap();
        assert_eq!(v["metadata"]["finalizers"], json!(["x", "y"]));
    }

    #[test]
    fn strategic_metadata_lists() {
        let mut cm =
            json!({"metadata": {"name": "c", "finalizers": ["x.io/a"]}, "data": {"k": "v", "gone": "x"}});
        strategic(
            &mut cm,
            &json!({"metadata": {"finalizers": ["x.io/b"]}, "data": {"gone": null, "new": "n"}}),
        )
        .unwrap();
        // The patch's new item first, as kube-apiserver orders it.
        assert_eq!(cm["metadata"]["finalizers"], json!(["x.io/b", "x.io/a"]));
        assert_eq!(cm["data"], json!({"k": "v", "new": "n"}));
        strategic(
            &mut cm,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x.io/a"]}}),
        )
        .unwrap();
        assert_eq!(cm["metadata"]["finalizers"], json!(["x.io/b"]));
    }

    #[test]
    fn strategic_keyed_lists_and_directives() {
        let mut node = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Mem", "status": "False"}]}});
        strategic(
            &mut node,
            &json!({"status": {
            "$setElementOrder/conditions": [{"type": "Mem"}, {"type": "Ready"}, {"type": "Disk"}],
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Disk", "status": "False"}]}}),
        )
        .unwrap();
        assert_eq!(
            node["status"]["conditions"],
            json!([
            {"type": "Mem", "status": "False"}, {"type": "Ready", "status": "True"}, {"type": "Disk", "status": "False"}])
        );
        strategic(
            &mut node,
            &json!({"status": {"conditions": [{"type": "Mem", "$patch": "delete"}]}}),
        )
        .unwrap();
        assert_eq!(node["status"]["conditions"].as_array().unwrap().len(), 2);
        strategic(&mut node, &json!({"status": {"$patch": "replace", "phase": "x"}})).unwrap();
        assert_eq!(node["status"], json!({"phase": "x"}));
    }
}
