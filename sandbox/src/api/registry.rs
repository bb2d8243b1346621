//! The set of resources currently served: the built-ins plus one entry per established CRD.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

use crate::api::builtins;
use crate::api::error::{Cause, field_invalid, field_required};
use crate::api::jsonpath::JsonPath;
use crate::api::resource::{ColumnDef, ColumnSource, ResourceDef, ScaleDef, VersionDef, compare_versions};
use crate::api::schema::Schema;

/// The resources the server serves. Cheap to read concurrently; CRD changes replace entries.
#[derive(Debug)]
pub struct Registry {
    by_key: RwLock<BTreeMap<String, Arc<ResourceDef>>>,
    generation: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry holding only the built-in kinds.
    pub fn new() -> Registry {
        let map = builtins::all()
            .into_iter()
            .chain(crate::api::component_kinds::all())
            .map(|d| (d.key(), Arc::new(d)))
            .collect();
        Registry {
            by_key: RwLock::new(map),
            generation: AtomicU64::new(1),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<ResourceDef>>> {
        self.by_key.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Bumped on every change, so derived documents (discovery, OpenAPI) can be cached.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A resource by group and plural, whatever the version.
    pub fn get(&self, group: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.read().get(&format!("{group}/{plural}")).cloned()
    }

    /// A resource served at `group/version` under `plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.get(group, plural).filter(|d| d.version(version).is_some())
    }

    /// A resource by group and Kind.
    pub fn find_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.read()
            .values()
            .find(|d| d.group == group && d.kind == kind)
            .cloned()
    }

    /// Every served resource.
    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        self.read().values().cloned().collect()
    }

    /// Adds or replaces a CRD-defined resource.
    pub fn upsert(&self, def: ResourceDef) {
        let mut map = self.by_key.write().unwrap_or_else(|p| p.into_inner());
        map.insert(def.key(), Arc::new(def));
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Removes a CRD-defined resource (built-ins cannot be removed).
    pub fn remove(&self, group: &str, plural: &str) {
        let mut map = self.by_key.write().unwrap_or_else(|p| p.into_inner());
        let key = format!("{group}/{plural}");
        if map.get(&key).is_some_and(|d| d.is_custom()) {
            map.remove(&key);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Groups with their served versions (most preferred first), for discovery.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in self.read().values() {
            let entry = groups.entry(d.group.clone()).or_default();
            for v in &d.versions {
                if !entry.contains(&v.name) {
                    entry.push(v.name.clone());
                }
            }
        }
        groups
            .into_iter()
            .map(|(g, mut vs)| {
                vs.sort_by(|a, b| compare_versions(a, b));
                (g, vs)
            })
            .collect()
    }

    /// Resources served at a group-version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.read()
            .values()
            .filter(|d| d.group == group && d.version(version).is_some())
            .cloned()
            .collect()
    }

    /// Whether another CRD already uses one of this definition's names in the same group.
    pub fn name_conflict(&self, def: &ResourceDef) -> Option<String> {
        for other in self.read().values() {
            if other.group != def.group || other.plural == def.plural {
                continue;
            }
            if other.kind == def.kind {
                return Some(format!("\"{}\" is already in use", def.kind));
            }
            let mut names = vec![other.singular.clone()];
            names.extend(other.short_names.iter().cloned());
            for n in std::iter::once(&def.singular).chain(def.short_names.iter()) {
                if names.contains(n) || n == &other.plural {
                    return Some(format!("\"{n}\" is already in use"));
                }
            }
        }
        None
    }
}

fn s<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p).and_then(Value::as_str)
}

/// Builds the served resource from a CRD object, or the validation causes that stop it.
pub fn def_from_crd(crd: &Value) -> Result<ResourceDef, Vec<Cause>> {
    let mut causes = vec![];
    let (group, plural, kind) = check_names(crd, &mut causes);
    let scope = s(crd, "/spec/scope").unwrap_or("");
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!("Unsupported value: {scope:?}: supported values: \"Cluster\", \"Namespaced\""),
            field: "spec.scope".into(),
        });
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage_version = check_storage_version(&versions, &mut causes);
    let mut served: Vec<VersionDef> = versions
        .iter()
        .enumerate()
        .filter_map(|(i, v)| served_version(i, v, &mut causes))
        .collect();
    if !causes.is_empty() {
        return Err(causes);
    }
    served.sort_by(|a, b| compare_versions(&a.name, &b.name));
    let strs = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    Ok(ResourceDef {
        group,
        plural,
        singular: s(crd, "/spec/names/singular")
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase()),
        list_kind: s(crd, "/spec/names/listKind")
            .map(str::to_string)
            .unwrap_or_else(|| format!("{kind}List")),
        kind,
        short_names: strs("/spec/names/shortNames"),
        categories: strs("/spec/names/categories"),
        namespaced: scope == "Namespaced",
        versions: served,
        storage_version,
        builtin: None,
        uses_generation: true,
    })
}

/// The CRD's group, plural and kind, with a cause for each that is missing or malformed (and
/// for a name that is not `plural.group`).
fn check_names(crd: &Value, causes: &mut Vec<Cause>) -> (String, String, String) {
    let group = s(crd, "/spec/group").unwrap_or("").to_string();
    let plural = s(crd, "/spec/names/plural").unwrap_or("").to_string();
    let kind = s(crd, "/spec/names/kind").unwrap_or("").to_string();
    let name = s(crd, "/metadata/name").unwrap_or("");
    if group.is_empty() {
        causes.push(field_required("spec.group", ""));
    } else if !group.contains('.') {
        causes.push(field_invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        causes.push(field_required("spec.names.plural", ""));
    } else if !crate::api::validation::is_dns1035_label_like(&plural) {
        causes.push(field_invalid(
            "spec.names.plural",
            &json!(plural),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
        ));
    }
    if kind.is_empty() {
        causes.push(field_required("spec.names.kind", ""));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(field_invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    (group, plural, kind)
}

/// The one version marked as storage version (a cause when there is not exactly one).
fn check_storage_version(versions: &[Value], causes: &mut Vec<Cause>) -> String {
    const ONE_STORAGE: &str = "must have exactly one version marked as storage version";
    if versions.is_empty() {
        causes.push(field_required("spec.versions", ONE_STORAGE));
    }
    let storage: Vec<&Value> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .collect();
    if !versions.is_empty() && storage.len() != 1 {
        causes.push(field_invalid(
            "spec.versions",
            &json!(versions.iter().filter_map(|v| v.get("name")).collect::<Vec<_>>()),
            ONE_STORAGE,
        ));
    }
    storage
        .first()
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Version `i` of the CRD as served (`None` when not served or unnamed).
fn served_version(i: usize, v: &Value, causes: &mut Vec<Cause>) -> Option<VersionDef> {
    let vname = v.get("name").and_then(Value::as_str).unwrap_or("");
    if vname.is_empty() {
        causes.push(field_required(&format!("spec.versions[{i}].name"), ""));
        return None;
    }
    if v.get("served").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let raw_schema = v.pointer("/schema/openAPIV3Schema").cloned();
    if raw_schema.is_none() {
        causes.push(field_required(
            &format!("spec.versions[{i}].schema.openAPIV3Schema"),
            "schemas are required",
        ));
    }
    let raw_schema =
        raw_schema.unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    Some(VersionDef {
        name: vname.to_string(),
        deprecated: v.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
        deprecation_warning: v
            .get("deprecationWarning")
            .and_then(Value::as_str)
            .map(str::to_string),
        schema: Arc::new(Schema::compile(&raw_schema)),
        raw_schema,
        status: v.pointer("/subresources/status").is_some(),
        scale: v.pointer("/subresources/scale").map(scale_of),
        columns: Arc::new(printer_columns(i, v, causes)),
        selectable_fields: v
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// A version's printer columns (AGE alone when it lists none); a bad JSONPath is a cause.
fn printer_columns(i: usize, v: &Value, causes: &mut Vec<Cause>) -> Vec<ColumnDef> {
    let Some(listed) = v.get("additionalPrinterColumns") else {
        return vec![ColumnDef::age_column()];
    };
    let text =
        |c: &Value, k: &str, default: &str| c.get(k).and_then(Value::as_str).unwrap_or(default).to_string();
    let mut columns = vec![];
    for (j, c) in listed.as_array().into_iter().flatten().enumerate() {
        let path = c.get("jsonPath").and_then(Value::as_str).unwrap_or("");
        match JsonPath::parse(path) {
            Ok(p) => columns.push(ColumnDef {
                name: text(c, "name", ""),
                ty: text(c, "type", "string"),
                format: text(c, "format", ""),
                description: text(c, "description", ""),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                source: ColumnSource::Path(p),
            }),
            Err(e) => causes.push(field_invalid(
                &format!("spec.versions[{i}].additionalPrinterColumns[{j}].jsonPath"),
                &json!(path),
                &e.why,
            )),
        }
    }
    columns
}

/// The scale subresource's paths, with Kubernetes' defaults.
fn scale_of(sc: &Value) -> ScaleDef {
    let path = |k: &str, default: &str| sc.get(k).and_then(Value::as_str).unwrap_or(default).to_string();
    ScaleDef {
        spec_replicas: path("specReplicasPath", ".spec.replicas"),
        status_replicas: path("statusReplicasPath", ".status.replicas"),
        label_selector: sc
            .get("labelSelectorPath")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widget_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1alpha1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object"}},
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
                     "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]}
                ]}
        })
    }

    #[test]
    fn builds_def_from_crd() {
        let d = def_from_crd(&widget_crd()).unwrap();
        assert_eq!(d.key(), "example.com/widgets");
        assert_eq!(d.versions[0].name, "v1");
        assert_eq!(d.singular, "widget");
        assert_eq!(d.list_kind, "WidgetList");
        assert!(d.versions[0].status);
        assert!(d.versions[0].scale.is_some());
        assert_eq!(d.versions[1].columns[0].name, "Age");
        let reg = Registry::new();
        reg.upsert(d);
        assert!(reg.find("example.com", "v1alpha1", "widgets").is_some());
        assert_eq!(
            reg.groups().iter().find(|(g, _)| g == "example.com").unwrap().1,
            vec!["v1", "v1alpha1"]
        );
    }

    #[test]
    fn rejects_bad_crds() {
        let mut c = widget_crd();
        c["metadata"]["name"] = json!("wrong");
        c["spec"]["versions"][0]["storage"] = json!(true);
        let causes = def_from_crd(&c).unwrap_err();
        let text = format!("{causes:?}");
        assert!(text.contains("must be spec.names.plural"), "{text}");
        assert!(text.contains("exactly one version"), "{text}");
    }
}
