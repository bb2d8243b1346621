//! `rollout restart`: replace every Machine by setting `rollout.after` to the API server's
//! current time. A topology-managed object is restarted through its Cluster's
//! `spec.topology` (where the topology controller would otherwise put its own value back).

use jiff::Timestamp;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::targets::{Target, cluster_of};
use super::{is_paused, merge_patch_at, rollout_after_pointer};
use crate::capi::Catalog;
use crate::capi::labels::{TOPOLOGY_DEPLOYMENT_NAME_LABEL, TOPOLOGY_OWNED_LABEL};
use crate::capi::object::{deleting, str_at, to_value};
use crate::capi::target::TargetKind;
use crate::client::Kube;
use crate::flags::WriteMode;
use crate::tree::fetch::core;
use crate::{Error, Result};

/// The API server's clock, from the Date header of a `GET /version`: `rollout.after` is
/// compared with the controllers' clock, which a laptop's may not match.
pub async fn server_now(kube: &Kube) -> Result<Timestamp> {
    let req = http::Request::get("/version")
        .body(kube::client::Body::empty())
        .map_err(|e| Error::Other(format!("building a request: {e}")))?;
    let resp = kube
        .call("reading the API server's clock", kube.client.send(req))
        .await?;
    let date = resp
        .headers()
        .get(http::header::DATE)
        .and_then(|d| d.to_str().ok())
        .map(str::to_string);
    match date.as_deref().map(parse_http_date) {
        Some(Some(t)) => Ok(t),
        _ => {
            tracing::warn!("the API server sent no usable Date header; using this machine's clock");
            Ok(Timestamp::now())
        }
    }
}

/// Parses an HTTP date (`Tue, 24 Nov 2026 10:00:00 GMT`).
pub fn parse_http_date(s: &str) -> Option<Timestamp> {
    jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(s).ok()
}

/// What a restart did.
#[derive(Debug, Clone)]
pub struct Restarted {
    /// The object.
    pub display: String,
    /// The field set, e.g. `spec.rollout.after`, or the Cluster's topology field.
    pub field: String,
    /// The Cluster patched instead of the object, when topology-managed.
    pub via: Option<String>,
    /// The time written.
    pub at: String,
    /// Something worth knowing.
    pub note: Option<String>,
}

impl Restarted {
    /// One line, kubectl style.
    pub fn summary(&self, write: WriteMode) -> String {
        let dry = write.suffix();
        let how = match &self.via {
            Some(c) => format!("through Cluster {c}, {} = {}", self.field, self.at),
            None => format!("{} = {}", self.field, self.at),
        };
        format!("{} restarted ({how}){dry}", self.display)
    }
}

fn pointer_to_field(p: &str) -> String {
    let mut out = String::new();
    for seg in p.trim_start_matches('/').split('/') {
        if seg.chars().all(|c| c.is_ascii_digit()) {
            out += &format!("[{seg}]");
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out += seg;
        }
    }
    out
}

fn refuse_future(what: &str, field: &str, existing: Option<&str>, now: Timestamp) -> Result<()> {
    if let Some(t) = existing.and_then(|s| s.parse::<Timestamp>().ok())
        && t > now
    {
        return Err(Error::Refused(format!(
            "{what}: {field} is already set to {t}, later than the API server's time ({now}); a rollout is scheduled for then. Remove {field} first to restart now"
        )));
    }
    Ok(())
}

/// Reads the Cluster an object belongs to, if it names one and it exists.
pub async fn owning_cluster(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    obj: &DynamicObject,
) -> Result<Option<DynamicObject>> {
    let Some(name) = cluster_of(obj) else {
        return Ok(None);
    };
    let car = core(kube, catalog, "Cluster").await?;
    kube.call(
        &format!("reading Cluster {ns}/{name}"),
        kube.api(&car, Some(ns)).get_opt(&name),
    )
    .await
}

/// Refuses to act on an object whose Cluster is paused: no controller would do anything.
pub fn refuse_paused_cluster(what: &str, cluster: Option<&DynamicObject>) -> Result<()> {
    if let Some(c) = cluster {
        let v = to_value(c);
        if v.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
            return Err(Error::Refused(format!(
                "{what}: Cluster {}/{} is paused (spec.paused), so no controller acts on its objects; unpause the Cluster first",
                c.metadata.namespace.as_deref().unwrap_or(""),
                c.metadata.name.as_deref().unwrap_or("")
            )));
        }
    }
    Ok(())
}

/// Restarts one object at `now` (the server's time).
pub async fn restart(
    kube: &Kube,
    catalog: &Catalog,
    t: &Target,
    now: Timestamp,
    write: WriteMode,
) -> Result<Restarted> {
    let what = t.display();
    if t.kind() == TargetKind::MachinePool {
        return Err(Error::Refused(format!(
            "{what}: MachinePools have no rollout trigger in Cluster API (no rollout.after); roll one by changing its template"
        )));
    }
    let obj = t.get(kube).await?;
    if deleting(&obj) {
        return Err(Error::Refused(format!("{what} is being deleted")));
    }
    let v = to_value(&obj);
    if is_paused(t.kind(), &v) {
        return Err(Error::Refused(format!(
            "{what} is paused; run `kubectl capi rollout resume {}/{}` first",
            t.resolved.resource.kind.to_ascii_lowercase(),
            t.name
        )));
    }
    let cluster = owning_cluster(kube, catalog, &t.ns, &obj).await?;
    refuse_paused_cluster(&what, cluster.as_ref())?;
    let at = now.to_string();
    let pp = PatchParams {
        dry_run: write.is_dry_run(),
        ..Default::default()
    };
    let topology_owned = obj
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(TOPOLOGY_OWNED_LABEL));
    let car = core(kube, catalog, "Cluster").await?;
    let cv = cluster.as_ref().map(to_value).unwrap_or(Value::Null);
    let topology = cv.pointer("/spec/topology").filter(|t| !t.is_null());
    let mut note = None;
    if topology_owned && topology.is_some() {
        if car.version == "v1beta1" {
            // v1beta1 topologies have no per-object rollout.after; the topology controller
            // leaves fields it does not set alone, so the object itself is patched.
            note = Some("Cluster API v1beta1 topologies have no per-object rollout.after, so the object itself was patched; the topology controller does not manage that field".to_string());
        } else {
            let (ops, pointer) = topology_patch(t, &obj, &cv, &at, now)?;
            let cname = cluster
                .as_ref()
                .and_then(|c| c.metadata.name.clone())
                .unwrap_or_default();
            let patch: json_patch::Patch = serde_json::from_value(ops)
                .map_err(|e| Error::Other(format!("building the topology patch: {e}")))?;
            kube.call(
                &format!("restarting {what} through Cluster {}/{cname}", t.ns),
                kube.api(&car, Some(&t.ns))
                    .patch(&cname, &pp, &Patch::<()>::Json(patch)),
            )
            .await
            .map_err(|e| {
                if e.is_failed_test() {
                    e.explained(|m| {
                        format!("{m}; the Cluster's topology changed meanwhile, run the command again")
                    })
                } else {
                    e
                }
            })?;
            return Ok(Restarted {
                display: what,
                field: pointer_to_field(&pointer),
                via: Some(format!("{}/{cname}", t.ns)),
                at,
                note: None,
            });
        }
    }
    let pointer = rollout_after_pointer(&t.resolved.resource.version, &v);
    let field = pointer_to_field(pointer);
    refuse_future(&what, &field, str_at(&v, pointer), now)?;
    let body = merge_patch_at(pointer, json!(at));
    kube.call(
        &format!("restarting {what}"),
        kube.api(&t.resolved.resource, Some(&t.ns))
            .patch(&t.name, &pp, &Patch::Merge(&body)),
    )
    .await?;
    Ok(Restarted {
        display: what,
        field,
        via: None,
        at,
        note,
    })
}

/// The JSON patch of the Cluster's topology for a topology-managed object, and the pointer of
/// the field it sets. A `test` of the entry's name guards against a reordered list.
fn topology_patch(
    t: &Target,
    obj: &DynamicObject,
    cluster: &Value,
    at: &str,
    now: Timestamp,
) -> Result<(Value, String)> {
    let what = t.display();
    let mut ops = vec![];
    let base = match t.kind() {
        TargetKind::ControlPlane => "/spec/topology/controlPlane".to_string(),
        TargetKind::MachineDeployment => {
            let entry = obj
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(TOPOLOGY_DEPLOYMENT_NAME_LABEL))
                .ok_or_else(|| {
                    Error::Api(format!(
                        "{what} is topology-managed but does not say which spec.topology.workers.machineDeployments entry it belongs to"
                    ))
                })?;
            let list = cluster
                .pointer("/spec/topology/workers/machineDeployments")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let i = list
                .iter()
                .position(|m| m.get("name").and_then(Value::as_str) == Some(entry.as_str()))
                .ok_or_else(|| {
                    Error::Api(format!(
                        "the Cluster has no spec.topology.workers.machineDeployments entry named {entry:?}"
                    ))
                })?;
            let base = format!("/spec/topology/workers/machineDeployments/{i}");
            ops.push(json!({"op": "test", "path": format!("{base}/name"), "value": entry}));
            base
        }
        TargetKind::MachinePool => {
            return Err(Error::Refused(format!(
                "{what}: MachinePools have no rollout.after in a Cluster topology"
            )));
        }
    };
    let pointer = format!("{base}/rollout/after");
    refuse_future(&what, &pointer_to_field(&pointer), str_at(cluster, &pointer), now)?;
    // JSON patch `add` needs the parent to exist: add the smallest missing object.
    if cluster.pointer(&base).is_none() {
        ops.push(json!({"op": "add", "path": base, "value": {"rollout": {"after": at}}}));
    } else if cluster.pointer(&format!("{base}/rollout")).is_none() {
        ops.push(json!({"op": "add", "path": format!("{base}/rollout"), "value": {"after": at}}));
    } else {
        ops.push(json!({"op": "add", "path": pointer, "value": at}));
    }
    Ok((Value::Array(ops), pointer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let t = parse_http_date("Tue, 24 Nov 2026 10:00:05 GMT").unwrap();
        assert_eq!(t.to_string(), "2026-11-24T10:00:05Z");
        assert!(parse_http_date("yesterday").is_none());
    }

    #[test]
    fn fields_read_like_kubectl_explain() {
        assert_eq!(
            pointer_to_field("/spec/topology/workers/machineDeployments/1/rollout/after"),
            "spec.topology.workers.machineDeployments[1].rollout.after"
        );
    }

    #[test]
    fn a_future_rollout_after_is_kept() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(refuse_future("x", "f", Some("2026-01-02T00:00:00Z"), now).is_err());
        assert!(refuse_future("x", "f", Some("2025-01-02T00:00:00Z"), now).is_ok());
        assert!(refuse_future("x", "f", None, now).is_ok());
    }
}
