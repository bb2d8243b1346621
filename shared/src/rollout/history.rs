//! MachineDeployment revisions: the MachineSets that still exist (each carries the revision
//! annotation and its template), plus the revisions the plugins themselves record on the
//! MachineDeployment before they change its template (Cluster API v1.11+ deletes old
//! MachineSets, so without records there is nothing to go back to).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::targets::Target;
use crate::capi::labels::DEPLOYMENT_NAME_LABEL;
use crate::capi::object::{i64_at, obj_ref, str_at, to_value};
use crate::capi::target::TargetKind;
use crate::capi::{Catalog, REVISION_ANNOTATION};
use crate::client::Kube;
use crate::tree::fetch::core;
use crate::{Error, Result};

/// The annotation holding the recorded revisions (a JSON list, newest last).
pub const RECORD_ANNOTATION: &str = "kubectl-capi.io/revision-history";
/// How many records are kept.
pub const KEEP: usize = 10;

/// The parts of a Machine template an undo restores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRefs {
    /// `spec.template.spec.version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `spec.template.spec.infrastructureRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_ref: Option<Value>,
    /// `spec.template.spec.bootstrap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Value>,
}

fn ref_key(v: Option<&Value>) -> Option<(String, String)> {
    let r = obj_ref(&json!({"r": v?}), "/r")?;
    Some((r.kind, r.name))
}

impl TemplateRefs {
    /// Reads them from a `spec.template.spec`.
    pub fn of(template_spec: Option<&Value>) -> TemplateRefs {
        let ts = template_spec.cloned().unwrap_or(Value::Null);
        TemplateRefs {
            version: ts.get("version").and_then(Value::as_str).map(str::to_string),
            infrastructure_ref: ts.get("infrastructureRef").cloned(),
            bootstrap: ts.get("bootstrap").cloned(),
        }
    }

    /// Whether both name the same version and templates (reference forms may differ).
    pub fn same(&self, o: &TemplateRefs) -> bool {
        let boot = |b: &Option<Value>| {
            let b = b.as_ref();
            (
                ref_key(b.and_then(|b| b.get("configRef"))),
                b.and_then(|b| b.get("dataSecretName")).cloned(),
            )
        };
        self.version == o.version
            && ref_key(self.infrastructure_ref.as_ref()) == ref_key(o.infrastructure_ref.as_ref())
            && boot(&self.bootstrap) == boot(&o.bootstrap)
    }

    /// `Kind/name` of the infrastructure template.
    pub fn infrastructure(&self) -> String {
        ref_key(self.infrastructure_ref.as_ref())
            .map(|(k, n)| format!("{k}/{n}"))
            .unwrap_or_else(|| "-".into())
    }

    /// `Kind/name` of the bootstrap template (or the data secret).
    pub fn bootstrap_display(&self) -> String {
        let b = self.bootstrap.as_ref();
        if let Some((k, n)) = ref_key(b.and_then(|b| b.get("configRef"))) {
            return format!("{k}/{n}");
        }
        b.and_then(|b| b.get("dataSecretName"))
            .and_then(Value::as_str)
            .map(|s| format!("Secret/{s}"))
            .unwrap_or_else(|| "-".into())
    }
}

/// One recorded revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The revision the MachineDeployment had.
    pub revision: i64,
    /// Its template references.
    #[serde(flatten)]
    pub refs: TemplateRefs,
    /// When it was recorded.
    pub recorded_at: String,
    /// Why (which command changed the template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One revision as `history` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// Revision number.
    pub revision: i64,
    /// Whether the MachineDeployment is at this revision.
    pub current: bool,
    /// `MachineSet` or `record`.
    pub source: String,
    /// The MachineSet, when it still exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_set: Option<String>,
    /// Template references.
    #[serde(flatten)]
    pub refs: TemplateRefs,
    /// The MachineSet's replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    /// When the MachineSet was created, or the record written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The MachineSet's whole `spec.template` (shown by `--revision N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
}

/// The records kept on a MachineDeployment; an unreadable annotation counts as none.
pub fn records(md: &Value) -> Vec<Record> {
    str_at(
        md,
        &format!("/metadata/annotations/{}", RECORD_ANNOTATION.replace('/', "~1")),
    )
    .and_then(|s| serde_json::from_str(s).ok())
    .unwrap_or_default()
}

/// The revision a MachineDeployment is at (its annotation, else its newest MachineSet's).
pub fn current_revision(md: &Value, sets: &[Value]) -> i64 {
    revision_of(md).unwrap_or_else(|| sets.iter().filter_map(revision_of).max().unwrap_or(0))
}

fn revision_of(v: &Value) -> Option<i64> {
    str_at(
        v,
        &format!("/metadata/annotations/{}", REVISION_ANNOTATION.replace('/', "~1")),
    )
    .and_then(|s| s.parse().ok())
}

/// The annotation value recording the MachineDeployment's current template before a change,
/// keeping the newest [`KEEP`] records.
pub fn record_value(md: &Value, reason: &str, now: &str) -> String {
    let mut list = records(md);
    let revision = revision_of(md).unwrap_or(0);
    let refs = TemplateRefs::of(md.pointer("/spec/template/spec"));
    list.retain(|r| r.revision != revision || revision == 0);
    list.push(Record {
        revision,
        refs,
        recorded_at: now.to_string(),
        reason: Some(reason.to_string()),
    });
    let skip = list.len().saturating_sub(KEEP);
    serde_json::to_string(&list[skip..]).unwrap_or_else(|_| "[]".into())
}

/// Merges the MachineSets and records into one list, oldest first.
pub fn merge(md: &Value, sets: &[Value]) -> Vec<Revision> {
    let current = current_revision(md, sets);
    let mut by_rev: BTreeMap<i64, Revision> = BTreeMap::new();
    for r in records(md) {
        by_rev.insert(
            r.revision,
            Revision {
                revision: r.revision,
                current: false,
                source: "record".into(),
                machine_set: None,
                refs: r.refs,
                replicas: None,
                created: Some(r.recorded_at),
                template: None,
            },
        );
    }
    // A MachineSet that still exists is the better source for its revision.
    for ms in sets {
        let rev = revision_of(ms).unwrap_or(0);
        by_rev.insert(
            rev,
            Revision {
                revision: rev,
                current: false,
                source: "MachineSet".into(),
                machine_set: str_at(ms, "/metadata/name").map(str::to_string),
                refs: TemplateRefs::of(ms.pointer("/spec/template/spec")),
                replicas: i64_at(ms, "/spec/replicas"),
                created: str_at(ms, "/metadata/creationTimestamp").map(str::to_string),
                template: ms.pointer("/spec/template").cloned(),
            },
        );
    }
    let mut out: Vec<Revision> = by_rev.into_values().collect();
    for r in &mut out {
        r.current = r.revision == current;
    }
    // The current revision is known even when nothing else describes it.
    if !out.iter().any(|r| r.current) && current > 0 {
        out.push(Revision {
            revision: current,
            current: true,
            source: "MachineDeployment".into(),
            machine_set: None,
            refs: TemplateRefs::of(md.pointer("/spec/template/spec")),
            replicas: i64_at(md, "/spec/replicas"),
            created: None,
            template: md.pointer("/spec/template").cloned(),
        });
    }
    out
}

/// Reads a MachineDeployment and its revisions.
pub async fn load(kube: &Kube, catalog: &Catalog, t: &Target) -> Result<(Value, Vec<Revision>)> {
    if t.kind() != TargetKind::MachineDeployment {
        return Err(Error::Refused(format!(
            "{}: only MachineDeployments have revisions (their MachineSets); a {} rolls in place",
            t.display(),
            t.resolved.resource.kind
        )));
    }
    let md = to_value(&t.get(kube).await?);
    let msr = core(kube, catalog, "MachineSet").await?;
    let (sets, _) = kube
        .list_all(
            &msr,
            Some(&t.ns),
            Some(&format!("{DEPLOYMENT_NAME_LABEL}={}", t.name)),
            None,
        )
        .await?;
    let sets: Vec<Value> = sets
        .iter()
        .filter(|ms| {
            crate::capi::object::controller_owner(ms)
                .is_none_or(|(k, n)| k == "MachineDeployment" && n == t.name)
        })
        .map(to_value)
        .collect();
    let revs = merge(&md, &sets);
    Ok((md, revs))
}

/// The history as a table.
pub fn table(revs: &[Revision], now: jiff::Timestamp) -> String {
    let rows: Vec<Vec<String>> = revs
        .iter()
        .map(|r| {
            vec![
                r.revision.to_string(),
                if r.current { "*".into() } else { String::new() },
                r.machine_set.clone().unwrap_or_else(|| {
                    if r.source == "record" {
                        "(recorded; MachineSet deleted)".into()
                    } else {
                        "-".into()
                    }
                }),
                r.refs.version.clone().unwrap_or_else(|| "-".into()),
                r.refs.infrastructure(),
                r.refs.bootstrap_display(),
                r.replicas.map_or_else(|| "-".into(), |n| n.to_string()),
                r.created
                    .as_deref()
                    .and_then(|c| c.parse::<jiff::Timestamp>().ok())
                    .map(|c| crate::duration::human_seconds(now.as_second() - c.as_second()))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    crate::output::table::render(
        &[
            "REVISION",
            "CURRENT",
            "MACHINESET",
            "VERSION",
            "INFRASTRUCTURE",
            "BOOTSTRAP",
            "REPLICAS",
            "AGE",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(rev: &str, infra: &str, version: &str) -> Value {
        json!({"metadata": {"annotations": {REVISION_ANNOTATION: rev}},
            "spec": {"template": {"spec": {"version": version,
                "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevMachineTemplate", "name": infra},
                "bootstrap": {"configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfigTemplate", "name": "boot"}}}}}})
    }

    #[test]
    fn records_are_capped_and_merged_with_machine_sets() {
        let mut m = md("1", "t1", "v1.33.0");
        for i in 1..=12 {
            m["metadata"]["annotations"][REVISION_ANNOTATION] = json!(i.to_string());
            let v = record_value(&m, "test", "2026-01-01T00:00:00Z");
            m["metadata"]["annotations"][RECORD_ANNOTATION] = json!(v);
        }
        let recs = records(&m);
        assert_eq!(recs.len(), KEEP);
        assert_eq!(recs.first().unwrap().revision, 3);
        // Recording the same revision twice keeps one record.
        let again = record_value(&m, "test", "2026-01-01T00:00:00Z");
        m["metadata"]["annotations"][RECORD_ANNOTATION] = json!(again);
        assert_eq!(records(&m).len(), KEEP);
        let ms = json!({"metadata": {"name": "ms-12", "annotations": {REVISION_ANNOTATION: "12"}},
            "spec": {"replicas": 2, "template": m["spec"]["template"].clone()}});
        let revs = merge(&m, &[ms]);
        let last = revs.last().unwrap();
        assert_eq!(
            (last.revision, last.current, last.source.as_str()),
            (12, true, "MachineSet")
        );
        assert_eq!(revs.iter().filter(|r| r.current).count(), 1);
    }

    #[test]
    fn same_ignores_reference_form() {
        let a = TemplateRefs::of(md("1", "t1", "v1").pointer("/spec/template/spec"));
        let mut b = a.clone();
        b.infrastructure_ref = Some(
            json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "DevMachineTemplate", "name": "t1", "namespace": "default"}),
        );
        assert!(a.same(&b));
        b.version = Some("v2".into());
        assert!(!a.same(&b));
        assert_eq!(a.infrastructure(), "DevMachineTemplate/t1");
        assert_eq!(a.bootstrap_display(), "KubeadmConfigTemplate/boot");
    }
}
