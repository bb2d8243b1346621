//! `rollout undo`: return a MachineDeployment to an earlier revision's version and template
//! references, taken from a MachineSet that still exists or from a revision the plugins
//! recorded. The outgoing revision is recorded in the same patch, and the patch carries the
//! resourceVersion it was computed from, so a concurrent change makes it retry, never clobber.

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::history::{self, RECORD_ANNOTATION, Revision, TemplateRefs};
use super::is_paused;
use super::targets::Target;
use crate::capi::Catalog;
use crate::capi::labels::TOPOLOGY_OWNED_LABEL;
use crate::capi::object::{obj_ref, str_at};
use crate::capi::value::{is_deleting, label};
use crate::client::Kube;
use crate::flags::WriteMode;
use crate::{Error, Result};

/// Picks the revision to return to: `to`, else the newest older one with another template.
pub fn choose<'a>(
    what: &str,
    revs: &'a [Revision],
    current: &TemplateRefs,
    to: Option<i64>,
) -> Result<&'a Revision> {
    let current_rev = revs
        .iter()
        .find(|r| r.current)
        .map(|r| r.revision)
        .unwrap_or(i64::MAX);
    let listed = || {
        revs.iter()
            .map(|r| r.revision.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match to {
        Some(n) => revs.iter().find(|r| r.revision == n).ok_or_else(|| {
            Error::NotFound(format!(
                "{what} has no revision {n} to return to (known: {}); see `kubectl capi rollout history`",
                if revs.is_empty() { "none".into() } else { listed() }
            ))
        }),
        None => revs
            .iter()
            .rev()
            .find(|r| r.revision < current_rev && !r.refs.same(current))
            .ok_or_else(|| {
                Error::Refused(format!(
                    "{what}: no earlier revision can be restored. Cluster API v1.11+ deletes a MachineDeployment's old MachineSets once they are drained, and no earlier revision was recorded (`kubectl capi rollout undo` records one on the MachineDeployment whenever it changes the template){}",
                    if revs.is_empty() { String::new() } else { format!("; known revisions: {}", listed()) }
                ))
            }),
    }
}

/// The value that replaces `current` by `target` in a merge patch: keys only `current` has
/// become null, so no stale field of the old reference survives.
fn replacement(current: Option<&Value>, target: Option<&Value>) -> Value {
    match (current, target) {
        (_, None) => Value::Null,
        (Some(Value::Object(c)), Some(Value::Object(t))) => {
            let mut out = t.clone();
            for (k, v) in c {
                if !t.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                } else if let (Value::Object(_), Some(tv)) = (v, t.get(k)) {
                    out.insert(k.clone(), replacement(Some(v), Some(tv)));
                }
            }
            Value::Object(out)
        }
        (_, Some(t)) => t.clone(),
    }
}

/// The merge patch returning `md` to `to`, recording its current revision first.
pub fn patch(md: &Value, to: &Revision, now: &str) -> Value {
    let ts = md.pointer("/spec/template/spec");
    let get = |k: &str| ts.and_then(|t| t.get(k));
    json!({
        "metadata": {
            "resourceVersion": md.pointer("/metadata/resourceVersion"),
            "annotations": {
                RECORD_ANNOTATION: history::record_value(md, &format!("before undo to revision {}", to.revision), now),
            },
        },
        "spec": {"template": {"spec": {
            "version": to.refs.version,
            "infrastructureRef": replacement(get("infrastructureRef"), to.refs.infrastructure_ref.as_ref()),
            "bootstrap": replacement(get("bootstrap"), to.refs.bootstrap.as_ref()),
        }}},
    })
}

/// Checks that the templates a revision names still exist.
async fn templates_exist(kube: &Kube, catalog: &Catalog, ns: &str, what: &str, to: &Revision) -> Result<()> {
    let refs = [
        to.refs.infrastructure_ref.clone(),
        to.refs
            .bootstrap
            .as_ref()
            .and_then(|b| b.get("configRef"))
            .cloned(),
    ];
    for r in refs.into_iter().flatten() {
        let Some(r) = obj_ref(&json!({"r": r}), "/r") else {
            continue;
        };
        let Some((ar, _)) = catalog.resolve(kube, &r.group, &r.kind).await? else {
            return Err(Error::Refused(format!(
                "{what}: revision {} uses a {} ({}), which the server no longer serves",
                to.revision, r.kind, r.group
            )));
        };
        let found = kube
            .call(
                &format!("reading {} {ns}/{}", r.kind, r.name),
                kube.api(&ar, Some(ns)).get_opt(&r.name),
            )
            .await?;
        if found.is_none() {
            return Err(Error::Refused(format!(
                "{what}: revision {} uses {} {ns}/{}, which no longer exists, so it cannot be restored; recreate the template first",
                to.revision, r.kind, r.name
            )));
        }
    }
    Ok(())
}

/// Returns a MachineDeployment to an earlier revision; the line to print.
pub async fn undo(
    kube: &Kube,
    catalog: &Catalog,
    t: &Target,
    to: Option<i64>,
    write: WriteMode,
    now: &str,
) -> Result<String> {
    let what = t.display();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (md, revs) = history::load(kube, catalog, t).await?;
        if is_deleting(&md) {
            return Err(Error::Refused(format!("{what} is being deleted")));
        }
        if label(&md, TOPOLOGY_OWNED_LABEL).is_some() {
            return Err(Error::Refused(format!(
                "{what} is managed by its Cluster's topology (ClusterClass), which would put its templates back; change the Cluster's spec.topology (e.g. `kubectl capi upgrade`) instead"
            )));
        }
        if is_paused(t.kind(), &md) {
            return Err(Error::Refused(format!(
                "{what} is paused; run `kubectl capi rollout resume machinedeployment/{}` before undoing",
                t.name
            )));
        }
        let current = TemplateRefs::of(md.pointer("/spec/template/spec"));
        let target = choose(&what, &revs, &current, to)?;
        if target.refs.same(&current) {
            return Ok(format!(
                "{what}: skipped rollback (the current template already matches revision {})",
                target.revision
            ));
        }
        templates_exist(kube, catalog, &t.ns, &what, target).await?;
        let body = patch(&md, target, now);
        let pp = PatchParams {
            dry_run: write.is_dry_run(),
            ..Default::default()
        };
        let r = kube
            .call(
                &format!("rolling back {what}"),
                kube.api(&t.resolved.resource, Some(&t.ns))
                    .patch(&t.name, &pp, &Patch::Merge(&body)),
            )
            .await;
        match r {
            Ok(_) => {
                let dry = write.suffix();
                let from = str_at(&md, "/spec/template/spec/version").unwrap_or("-");
                return Ok(format!(
                    "{what} rolled back to revision {} (version {from} -> {}, infrastructure {}){dry}",
                    target.revision,
                    target.refs.version.as_deref().unwrap_or("-"),
                    target.refs.infrastructure()
                ));
            }
            // Someone changed it since it was read: read again and recompute.
            Err(e) if e.is_conflict() && attempt < 4 => {
                tracing::debug!("conflict, retrying: {e}");
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(n: i64, version: &str, current: bool) -> Revision {
        Revision {
            revision: n,
            current,
            source: "record".into(),
            machine_set: None,
            refs: TemplateRefs {
                version: Some(version.into()),
                infrastructure_ref: Some(json!({"kind": "T", "name": version})),
                bootstrap: None,
            },
            replicas: None,
            created: None,
            template: None,
        }
    }

    #[test]
    fn previous_skips_identical_templates() {
        let revs = vec![rev(1, "a", false), rev(2, "b", false), rev(3, "b", true)];
        let cur = revs[2].refs.clone();
        assert_eq!(choose("x", &revs, &cur, None).unwrap().revision, 1);
        assert_eq!(choose("x", &revs, &cur, Some(2)).unwrap().revision, 2);
        assert!(matches!(
            choose("x", &revs, &cur, Some(9)),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            choose("x", &revs[2..], &cur, None),
            Err(Error::Refused(_))
        ));
    }

    #[test]
    fn patch_replaces_references_and_records() {
        let md = json!({"metadata": {"resourceVersion": "42", "annotations": {"machinedeployment.clusters.x-k8s.io/revision": "3"}},
            "spec": {"template": {"spec": {"version": "b",
                "infrastructureRef": {"apiVersion": "x/v1", "kind": "T", "name": "b", "uid": "u"}}}}});
        let p = patch(&md, &rev(1, "a", false), "now");
        assert_eq!(p["metadata"]["resourceVersion"], "42");
        assert_eq!(
            p["spec"]["template"]["spec"]["infrastructureRef"],
            json!({"kind": "T", "name": "a", "apiVersion": null, "uid": null})
        );
        assert_eq!(p["spec"]["template"]["spec"]["bootstrap"], Value::Null);
        let recs: Vec<history::Record> =
            serde_json::from_str(p["metadata"]["annotations"][RECORD_ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(recs[0].revision, 3);
        assert_eq!(recs[0].refs.version.as_deref(), Some("b"));
    }
}
