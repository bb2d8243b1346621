//! Infrastructure machine templates during an upgrade: Cluster API treats them as immutable, so
//! an upgrade copies each one under a name derived from the target version (the same name on
//! every run, so an interrupted upgrade finds its copies again), sets `--set` fields on the
//! copy, and afterwards can delete the templates nothing references any more.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::{DeleteParams, PostParams};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::capi::object::{str_at, to_value};
use crate::capi::{CLUSTER_NAME_LABEL, CORE_GROUP, Catalog};
use crate::client::Kube;
use crate::flags::WriteMode;
use crate::{Error, Result};

/// Annotation on a copy: the template it was copied from.
pub const UPGRADED_FROM: &str = "kubectl-capi.io/upgraded-from";
/// Annotation on a copy: the Kubernetes version it was made for.
pub const UPGRADE_VERSION: &str = "kubectl-capi.io/upgrade-version";

/// Longest template name we derive: a label value's limit, which providers copy names into.
const MAX_NAME: usize = 63;

/// A template swapped for a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSwap {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// The template in use.
    pub from: String,
    /// The copy that replaces it.
    pub to: String,
}

/// One `--set FIELD=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetField {
    /// The path's segments (`spec.template.spec.image` → `[spec, template, spec, image]`).
    pub path: Vec<String>,
    /// The value as typed.
    pub value: String,
}

impl SetField {
    /// Parses `spec.a.b=VALUE`; only fields under `spec` may be set.
    pub fn parse(s: &str) -> Result<SetField> {
        let Some((path, value)) = s.split_once('=') else {
            return Err(Error::Usage(format!(
                "--set {s:?}: expected FIELD=VALUE, e.g. --set spec.template.spec.image=my-image-v1.34"
            )));
        };
        let segs: Vec<String> = path.split('.').map(str::to_string).collect();
        if segs.len() < 2 || segs[0] != "spec" || segs.iter().any(String::is_empty) {
            return Err(Error::Usage(format!(
                "--set {s:?}: FIELD is a dotted path under spec of the machine template, e.g. spec.template.spec.image"
            )));
        }
        Ok(SetField {
            path: segs,
            value: value.to_string(),
        })
    }

    fn pointer(&self) -> String {
        format!("/{}", self.path.join("/"))
    }

    /// Writes the value into `obj`, typed like the value it replaces (number, boolean, or a
    /// string when the field is a string or absent).
    pub fn apply(&self, obj: &mut Value) -> Result<()> {
        let typed = match obj.pointer(&self.pointer()) {
            Some(Value::Number(_)) => serde_json::from_str::<serde_json::Number>(&self.value)
                .map(Value::Number)
                .map_err(|_| {
                    Error::Usage(format!(
                        "--set {}={}: the field holds a number, and {:?} is not one",
                        self.path.join("."),
                        self.value,
                        self.value
                    ))
                })?,
            Some(Value::Bool(_)) => match self.value.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(Error::Usage(format!(
                        "--set {}={}: the field holds true or false",
                        self.path.join("."),
                        self.value
                    )));
                }
            },
            Some(Value::Object(_)) | Some(Value::Array(_)) => {
                return Err(Error::Usage(format!(
                    "--set {}: the field holds an object or a list; set one of its fields instead",
                    self.path.join(".")
                )));
            }
            _ => Value::String(self.value.clone()),
        };
        let mut cur = obj;
        for (i, seg) in self.path.iter().enumerate() {
            if !cur.is_object() {
                return Err(Error::Usage(format!(
                    "--set {}: {} is not an object in the template",
                    self.path.join("."),
                    self.path[..i].join(".")
                )));
            }
            let m = cur
                .as_object_mut()
                .ok_or_else(|| Error::Other("not an object".into()))?;
            if i + 1 == self.path.len() {
                m.insert(seg.clone(), typed);
                return Ok(());
            }
            cur = m.entry(seg.clone()).or_insert_with(|| json!({}));
        }
        Ok(())
    }
}

fn version_suffix_start(name: &str) -> Option<usize> {
    let mut from = name.len();
    while let Some(i) = name[..from].rfind("-v") {
        let parts: Vec<&str> = name[i + 2..].split('-').collect();
        if parts.len() >= 3
            && parts[..3]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(i);
        }
        from = i;
    }
    None
}

/// The copy's name: the template's name without an earlier version suffix, then the target
/// version (`workers` → `workers-v1-34-0`, `workers-v1-33-0` → `workers-v1-34-0`).
pub fn copy_name(source: &str, to: &str) -> String {
    let suffix = format!(
        "-{}",
        to.to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    );
    let base = &source[..version_suffix_start(source).unwrap_or(source.len())];
    let keep = MAX_NAME.saturating_sub(suffix.len()).min(base.len());
    let base = base[..keep].trim_end_matches(['-', '.']);
    format!("{base}{suffix}")
}

/// The copy of `source` named `name`, for `cluster` and Kubernetes `to`, with `sets` applied.
pub fn copy_of(source: &Value, name: &str, cluster: &Value, to: &str, sets: &[SetField]) -> Result<Value> {
    let src_name = str_at(source, "/metadata/name").unwrap_or("");
    let mut labels = source
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(c) = str_at(cluster, "/metadata/name") {
        labels.insert(CLUSTER_NAME_LABEL.into(), json!(c));
    }
    let mut annotations: Map<String, Value> = source
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    annotations.insert(UPGRADED_FROM.into(), json!(src_name));
    annotations.insert(UPGRADE_VERSION.into(), json!(to));
    let owner = json!({
        "apiVersion": cluster.get("apiVersion"),
        "kind": "Cluster",
        "name": str_at(cluster, "/metadata/name"),
        "uid": str_at(cluster, "/metadata/uid"),
    });
    let mut copy = json!({
        "apiVersion": source.get("apiVersion"),
        "kind": source.get("kind"),
        "metadata": {
            "name": name,
            "namespace": str_at(source, "/metadata/namespace"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner],
        },
        "spec": source.get("spec").cloned().unwrap_or(json!({})),
    });
    for s in sets {
        s.apply(&mut copy)?;
    }
    Ok(copy)
}

/// Whether `found` holds everything `want` says (the server may have defaulted more fields).
fn covers(found: Option<&Value>, want: Option<&Value>) -> bool {
    match (found, want) {
        (_, None) => true,
        (Some(Value::Object(f)), Some(Value::Object(w))) => w.iter().all(|(k, v)| covers(f.get(k), Some(v))),
        (f, w) => f == w,
    }
}

async fn resource(
    kube: &Kube,
    catalog: &Catalog,
    group: &str,
    kind: &str,
) -> Result<kube::core::ApiResource> {
    catalog
        .resolve(kube, group, kind)
        .await?
        .map(|(ar, _)| ar)
        .ok_or_else(|| Error::NotCapi(format!("the server does not serve {kind} ({group})")))
}

/// What a copy is made for.
#[derive(Debug, Clone, Copy)]
pub struct Copying<'a> {
    /// Namespace.
    pub ns: &'a str,
    /// The Cluster (owner of the copies).
    pub cluster: &'a Value,
    /// The target Kubernetes version.
    pub to: &'a str,
    /// Fields to set on the copy.
    pub sets: &'a [SetField],
    /// Create with dryRun=All, or for real.
    pub write: WriteMode,
}

/// Makes sure the copy exists: creates it, or accepts one an earlier run created with the same
/// content. Returns whether it was created now.
pub async fn ensure_copy(
    kube: &Kube,
    catalog: &Catalog,
    c: &Copying<'_>,
    swap: &TemplateSwap,
) -> Result<bool> {
    let (ns, cluster, to, sets, dry_run) = (c.ns, c.cluster, c.to, c.sets, c.write.is_dry_run());
    let ar = resource(kube, catalog, &swap.group, &swap.kind).await?;
    let api = kube.api(&ar, Some(ns));
    let existing = kube
        .call(
            &format!("reading {} {ns}/{}", swap.kind, swap.to),
            api.get_opt(&swap.to),
        )
        .await?;
    let source = kube
        .call(
            &format!("reading {} {ns}/{}", swap.kind, swap.from),
            api.get_opt(&swap.from),
        )
        .await?;
    let Some(source) = source else {
        // Nothing to copy from is fine when an earlier run made the copy already.
        if existing.is_some() {
            return Ok(false);
        }
        return Err(Error::NotFound(format!(
            "{} {ns}/{} is in use but does not exist, so it cannot be copied for the upgrade",
            swap.kind, swap.from
        )));
    };
    let want = copy_of(&to_value(&source), &swap.to, cluster, to, sets)?;
    let check = |found: &Value| -> Result<()> {
        let ours = str_at(
            found,
            &format!("/metadata/annotations/{}", UPGRADED_FROM.replace('/', "~1")),
        ) == Some(swap.from.as_str());
        if ours && covers(found.get("spec"), want.get("spec")) {
            Ok(())
        } else {
            Err(Error::Refused(format!(
                "{} {ns}/{} already exists but is not the copy of {} this upgrade needs ({}); delete or rename it, or repeat the --set flags of the run that created it",
                swap.kind,
                swap.to,
                swap.from,
                if ours {
                    "its spec differs"
                } else {
                    "it was not made by kubectl capi upgrade from that template"
                }
            )))
        }
    };
    if let Some(found) = existing {
        check(&to_value(&found))?;
        return Ok(false);
    }
    let obj: kube::api::DynamicObject = serde_json::from_value(want.clone())
        .map_err(|e| Error::Other(format!("building the copy of {}: {e}", swap.from)))?;
    let pp = PostParams {
        dry_run,
        ..Default::default()
    };
    match kube
        .call(
            &format!("creating {} {ns}/{}", swap.kind, swap.to),
            api.create(&pp, &obj),
        )
        .await
    {
        Ok(created) => {
            // The server prunes fields its schema does not know: a --set that did not survive is
            // a typo, refused (and its copy taken back) rather than silently dropped.
            let got = to_value(&created);
            if let Some(lost) = sets.iter().find(|s| got.pointer(&s.pointer()).is_none()) {
                if !dry_run {
                    let _ = kube
                        .call(
                            &format!("deleting {} {ns}/{}", swap.kind, swap.to),
                            api.delete(&swap.to, &DeleteParams::default()),
                        )
                        .await;
                }
                return Err(Error::Usage(format!(
                    "--set {}: {} has no such field (the server dropped it); `kubectl explain {}.{}` lists its fields",
                    lost.path.join("."),
                    swap.kind,
                    swap.kind.to_ascii_lowercase(),
                    lost.path.join(".")
                )));
            }
            Ok(true)
        }
        // Another run (or another MachineDeployment of this run) made it meanwhile.
        Err(conflict) if conflict.is_conflict() => {
            let found = kube
                .call(
                    &format!("reading {} {ns}/{}", swap.kind, swap.to),
                    api.get_opt(&swap.to),
                )
                .await?
                .ok_or(conflict)?;
            check(&to_value(&found))?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// What cleaning up templates did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cleanup {
    /// `Kind/name` of each template deleted.
    pub deleted: Vec<String>,
    /// `Kind/name` of each candidate kept, with what still references it.
    pub kept: BTreeMap<String, String>,
}

/// Every `(kind, name)` pair an object's spec names (references in either generation's form).
fn references(v: &Value, out: &mut BTreeSet<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(k)), Some(Value::String(n))) = (m.get("kind"), m.get("name")) {
                out.insert((k.clone(), n.clone()));
            }
            m.values().for_each(|x| references(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// How long cleanup waits for drained MachineSets to be deleted by their MachineDeployment.
const DRAINED_SETS_WAIT_SECS: u32 = 30;

type Referenced = BTreeMap<(String, String), String>;

/// Who references which `(kind, name)`: by live objects, and separately by drained MachineSets
/// of a MachineDeployment (no replicas, wanted or running), which Cluster API v1.11+ deletes.
/// Objects being deleted are on their way out and count for neither.
async fn referencing(
    kube: &Kube,
    users: &[kube::core::ApiResource],
    ns: &str,
) -> Result<(Referenced, Referenced)> {
    let lists =
        futures::future::try_join_all(users.iter().map(|ar| kube.list_all(ar, Some(ns), None, None))).await?;
    let (mut live, mut drained) = (Referenced::new(), Referenced::new());
    for (ar, (items, _)) in users.iter().zip(lists) {
        for o in items.iter().filter(|o| o.metadata.deletion_timestamp.is_none()) {
            let v = to_value(o);
            let is_drained = ar.kind == "MachineSet"
                && crate::capi::object::i64_at(&v, "/spec/replicas") == Some(0)
                && crate::capi::object::i64_at(&v, "/status/replicas").unwrap_or(0) == 0
                && crate::capi::object::controller_owner(o).is_some_and(|(k, _)| k == "MachineDeployment");
            let mut refs = BTreeSet::new();
            if let Some(spec) = v.get("spec") {
                references(spec, &mut refs);
            }
            let into = if is_drained { &mut drained } else { &mut live };
            for r in refs {
                into.entry(r)
                    .or_insert_with(|| format!("{}/{}", ar.kind, o.metadata.name.as_deref().unwrap_or("")));
            }
        }
    }
    Ok((live, drained))
}

/// Deletes the machine templates (of the kinds in `in_use`: group, kind, name) that this cluster's upgrades made or
/// replaced and that no control plane, MachineDeployment, MachineSet, MachinePool or
/// ClusterClass in the namespace references. Templates in `in_use` (the cluster's current ones)
/// are kept without mention.
pub async fn cleanup(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    cluster: &str,
    in_use: &BTreeSet<(String, String, String)>,
    control_plane: Option<&kube::core::ApiResource>,
    write: WriteMode,
) -> Result<Cleanup> {
    let dry_run = write.is_dry_run();
    // Who references what: the objects that point at machine templates.
    let mut users: Vec<kube::core::ApiResource> = control_plane.into_iter().cloned().collect();
    for k in ["MachineDeployment", "MachineSet", "MachinePool", "ClusterClass"] {
        if let Some((ar, _)) = catalog.resolve(kube, CORE_GROUP, k).await? {
            users.push(ar);
        }
    }
    // Cluster API v1.11+ deletes a MachineDeployment's drained MachineSets a moment after the
    // rollout ends: give it that moment (bounded) before a template only they name is kept.
    let mut tries = 0;
    let referenced = loop {
        let (mut referenced, drained) = referencing(kube, &users, ns).await?;
        let waiting = drained.keys().any(|k| !referenced.contains_key(k));
        if !waiting || dry_run || tries >= DRAINED_SETS_WAIT_SECS {
            for (k, by) in drained {
                referenced.entry(k).or_insert(by);
            }
            break referenced;
        }
        tries += 1;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    let kinds: BTreeSet<(String, String)> = in_use.iter().map(|(g, k, _)| (g.clone(), k.clone())).collect();
    let in_use: BTreeSet<(String, String)> = in_use.iter().map(|(_, k, n)| (k.clone(), n.clone())).collect();
    let mut out = Cleanup::default();
    for (group, kind) in &kinds {
        let ar = resource(kube, catalog, group, kind).await?;
        let (items, _) = kube.list_all(&ar, Some(ns), None, None).await?;
        let values: Vec<Value> = items.iter().map(to_value).collect();
        let from_ptr = format!("/metadata/annotations/{}", UPGRADED_FROM.replace('/', "~1"));
        let label_ptr = format!("/metadata/labels/{}", CLUSTER_NAME_LABEL.replace('/', "~1"));
        // This cluster's copies, and the templates they were copied from.
        let copies: Vec<&Value> = values
            .iter()
            .filter(|v| str_at(v, &from_ptr).is_some() && str_at(v, &label_ptr) == Some(cluster))
            .collect();
        let mut candidates: BTreeSet<String> = copies
            .iter()
            .filter_map(|v| str_at(v, "/metadata/name"))
            .map(str::to_string)
            .collect();
        candidates.extend(
            copies
                .iter()
                .filter_map(|v| str_at(v, &from_ptr))
                .map(str::to_string),
        );
        let present: BTreeSet<&str> = values
            .iter()
            .filter_map(|v| str_at(v, "/metadata/name"))
            .collect();
        for name in candidates {
            if !present.contains(name.as_str()) {
                continue;
            }
            let key = format!("{kind}/{name}");
            if let Some(by) = referenced.get(&(kind.clone(), name.clone())) {
                if !in_use.contains(&(kind.clone(), name.clone())) {
                    out.kept.insert(key, format!("referenced by {by}"));
                }
                continue;
            }
            let dp = DeleteParams {
                dry_run,
                ..Default::default()
            };
            match kube
                .call(
                    &format!("deleting {kind} {ns}/{name}"),
                    kube.api(&ar, Some(ns)).delete(&name, &dp),
                )
                .await
            {
                Ok(_) | Err(Error::NotFound(_)) => out.deleted.push(key),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_names_replace_earlier_versions_and_stay_short() {
        assert_eq!(copy_name("workers", "v1.34.0"), "workers-v1-34-0");
        assert_eq!(copy_name("workers-v1-33-0", "v1.34.0"), "workers-v1-34-0");
        assert_eq!(copy_name("workers-v1-34-0-rc-1", "v1.34.0"), "workers-v1-34-0");
        assert_eq!(copy_name("md-v1", "v1.34.0"), "md-v1-v1-34-0");
        assert_eq!(copy_name("a-v1-2", "v1.34.0+k3s1"), "a-v1-2-v1-34-0-k3s1");
        let long = "x".repeat(80);
        let n = copy_name(&long, "v1.34.0");
        assert!(n.len() <= MAX_NAME && n.ends_with("-v1-34-0"), "{n}");
    }

    #[test]
    fn set_fields_keep_the_type_they_replace() {
        let mut t =
            json!({"spec": {"template": {"spec": {"image": "old", "memoryMiB": 4096, "spot": false}}}});
        SetField::parse("spec.template.spec.image=new")
            .unwrap()
            .apply(&mut t)
            .unwrap();
        SetField::parse("spec.template.spec.memoryMiB=8192")
            .unwrap()
            .apply(&mut t)
            .unwrap();
        SetField::parse("spec.template.spec.spot=true")
            .unwrap()
            .apply(&mut t)
            .unwrap();
        SetField::parse("spec.template.spec.extra.tag=1.34")
            .unwrap()
            .apply(&mut t)
            .unwrap();
        assert_eq!(
            t,
            json!({"spec": {"template": {"spec": {"image": "new", "memoryMiB": 8192, "spot": true, "extra": {"tag": "1.34"}}}}})
        );
        assert!(
            SetField::parse("spec.template.spec.memoryMiB=lots")
                .unwrap()
                .apply(&mut t)
                .is_err()
        );
        assert!(SetField::parse("spec.template=x").unwrap().apply(&mut t).is_err());
        for bad in ["image=x", "metadata.name=x", "spec..a=x", "spec.a"] {
            assert!(matches!(SetField::parse(bad), Err(Error::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn copies_carry_owner_labels_and_provenance() {
        let src = json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "DevMachineTemplate",
            "metadata": {"name": "t", "namespace": "ns", "uid": "u1", "resourceVersion": "5", "labels": {"a": "b"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"template": {"spec": {"image": "old"}}}});
        let cluster = json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": "c", "uid": "cu"}});
        let set = SetField::parse("spec.template.spec.image=new").unwrap();
        let c = copy_of(&src, "t-v1-34-0", &cluster, "v1.34.0", &[set]).unwrap();
        assert_eq!(
            c["metadata"]["labels"],
            json!({"a": "b", CLUSTER_NAME_LABEL: "c"})
        );
        assert_eq!(
            c["metadata"]["annotations"],
            json!({UPGRADED_FROM: "t", UPGRADE_VERSION: "v1.34.0"})
        );
        assert_eq!(c["metadata"]["ownerReferences"][0]["uid"], "cu");
        assert!(c["metadata"].get("resourceVersion").is_none() && c["metadata"].get("uid").is_none());
        assert_eq!(c["spec"]["template"]["spec"]["image"], "new");
    }

    #[test]
    fn an_earlier_copy_may_carry_defaulted_fields() {
        let want = json!({"template": {"spec": {"image": "x"}}});
        let defaulted = json!({"template": {"spec": {"image": "x", "size": 10}}});
        assert!(covers(Some(&defaulted), Some(&want)));
        assert!(!covers(Some(&want), Some(&defaulted)));
        assert!(!covers(
            Some(&json!({"template": {"spec": {"image": "y"}}})),
            Some(&want)
        ));
    }

    #[test]
    fn references_are_found_anywhere_in_a_spec() {
        let mut out = BTreeSet::new();
        references(
            &json!({"template": {"spec": {"infrastructureRef": {"kind": "T", "name": "a"}}},
                "workers": {"machineDeployments": [{"class": "x", "infrastructure": {"templateRef": {"kind": "T", "name": "b"}}}]}}),
            &mut out,
        );
        assert_eq!(
            out,
            BTreeSet::from([("T".to_string(), "a".to_string()), ("T".into(), "b".into())])
        );
    }
}
