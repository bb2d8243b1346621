//! The pause a move puts on the Clusters and ClusterClasses it moves, so that no controller acts
//! on them while they are copied and deleted: `spec.paused` on a Cluster, the
//! `cluster.x-k8s.io/paused` annotation on a ClusterClass, as clusterctl pauses them, plus a mark
//! of ours naming the move. A later run that finds the mark knows the pause is its own (an
//! interrupted move) and carries on instead of refusing, which is clusterctl's dead end (#7407).

use std::time::{SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt, TryStreamExt};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::graph::{Graph, Node};
use crate::capi::labels::{PAUSED_ANNOTATION, PAUSED_BY_MOVE_ANNOTATION};
use crate::capi::value::annotation;
use crate::client::Kube;
use crate::error::Result;

/// The field manager of every write a move makes.
pub const FIELD_MANAGER: &str = "kubectl-capi-move";

/// Writes in flight at once.
pub const CONCURRENT_WRITES: usize = 16;

/// Parameters of a create: the move's field manager.
pub fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// Parameters of a patch: the move's field manager.
pub fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// A name for a new move: its start time and a random part (the mark's value).
pub fn new_move_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("move-{secs}-{:04x}", rand::random::<u16>())
}

/// The mark an earlier, interrupted move left on these nodes, if any.
pub fn existing_mark<'a>(mut nodes: impl Iterator<Item = &'a Node>) -> Option<String> {
    nodes.find_map(|n| annotation(&n.object, PAUSED_BY_MOVE_ANNOTATION).map(str::to_string))
}

/// Whether a node is paused by a move (a Cluster or ClusterClass of the plan).
pub fn pausable(g: &Graph, n: &Node) -> bool {
    let t = &g.types[n.ty];
    t.is_core("Cluster") || t.is_core("ClusterClass")
}

/// The merge patch that pauses (`Some(mark)`) or resumes (`None`) a Cluster or ClusterClass.
pub fn patch(is_cluster: bool, mark: Option<&str>) -> Value {
    let annotations = match (is_cluster, mark) {
        (true, m) => json!({ PAUSED_BY_MOVE_ANNOTATION: m }),
        (false, Some(m)) => json!({ PAUSED_ANNOTATION: "", PAUSED_BY_MOVE_ANNOTATION: m }),
        (false, None) => json!({ PAUSED_ANNOTATION: null, PAUSED_BY_MOVE_ANNOTATION: null }),
    };
    let mut p = json!({ "metadata": { "annotations": annotations } });
    if is_cluster {
        p["spec"] = json!({ "paused": mark.map(|_| true) });
    }
    p
}

/// One object to pause or resume: (kind is Cluster, resource, namespace, name).
#[derive(Debug, Clone)]
pub struct Pausable {
    /// Whether it is a Cluster (else a ClusterClass).
    pub is_cluster: bool,
    /// Its resource.
    pub resource: kube::core::ApiResource,
    /// Its namespace.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl Pausable {
    /// The pausable objects among `uids`.
    pub fn of<'a>(g: &Graph, uids: impl Iterator<Item = &'a String>) -> Vec<Pausable> {
        uids.filter_map(|u| g.nodes.get(u))
            .filter(|n| pausable(g, n))
            .map(|n| Pausable {
                is_cluster: g.types[n.ty].is_core("Cluster"),
                resource: g.types[n.ty].api_resource(),
                namespace: n.namespace.clone(),
                name: n.name.clone(),
            })
            .collect()
    }
}

/// Pauses (`Some(mark)`) or resumes (`None`) every object of `list` on `kube`, concurrently.
/// An object already gone is no error (a resume after the source copies were deleted).
pub async fn set(kube: &Kube, list: &[Pausable], mark: Option<&str>) -> Result<()> {
    let pp = patch_params();
    let verb = if mark.is_some() { "pausing" } else { "resuming" };
    stream::iter(list)
        .map(|p| {
            let pp = pp.clone();
            async move {
                let body = patch(p.is_cluster, mark);
                let what = format!("{verb} {} {}", p.resource.kind, p.name);
                let api = kube.api(&p.resource, p.namespace.as_deref());
                match kube
                    .call(&what, api.patch(&p.name, &pp, &Patch::Merge(&body)))
                    .await
                {
                    Ok(_) | Err(crate::Error::NotFound(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        })
        .buffer_unordered(CONCURRENT_WRITES)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_pause_by_spec_and_classes_by_annotation_both_marked() {
        assert_eq!(
            patch(true, Some("m1")),
            json!({"metadata": {"annotations": {PAUSED_BY_MOVE_ANNOTATION: "m1"}}, "spec": {"paused": true}})
        );
        assert_eq!(
            patch(true, None),
            json!({"metadata": {"annotations": {PAUSED_BY_MOVE_ANNOTATION: null}}, "spec": {"paused": null}})
        );
        assert_eq!(
            patch(false, Some("m1")),
            json!({"metadata": {"annotations": {PAUSED_ANNOTATION: "", PAUSED_BY_MOVE_ANNOTATION: "m1"}}})
        );
        assert_eq!(
            patch(false, None),
            json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null, PAUSED_BY_MOVE_ANNOTATION: null}}})
        );
    }
}
