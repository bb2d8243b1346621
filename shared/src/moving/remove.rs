//! Deleting the moved objects from the source once every one is in the target, in reverse
//! create order, concurrently inside a group: as clusterctl does, each Cluster API object is
//! annotated `clusterctl.cluster.x-k8s.io/delete-for-move` (webhooks may allow a deletion they
//! would refuse otherwise) and its finalizers are removed (its controllers are paused and must
//! not clean up what now belongs to the target), in one patch before the delete rather than
//! clusterctl's two around it. Secrets and ConfigMaps without finalizers are just deleted.
//! Something already gone counts as deleted, so a re-run after an interruption finishes.

use futures::stream::{self, StreamExt};
use kube::api::Patch;
use serde_json::json;

use super::graph::{Graph, Node};
use super::pause::{CONCURRENT_WRITES, patch_params};
use super::plan::Plan;
use crate::capi::labels::DELETE_FOR_MOVE_ANNOTATION;
use crate::client::Kube;
use crate::error::{Error, Result};

/// The objects to delete from the source, by group, last group first.
pub fn deletion_order(plan: &Plan) -> Vec<Vec<String>> {
    plan.groups
        .iter()
        .rev()
        .map(|gr| {
            gr.iter()
                .filter(|u| !plan.keep_in_source.contains(*u))
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|gr| !gr.is_empty())
        .collect()
}

/// Deletes one group from the source; returns how many objects were deleted.
pub async fn delete_group(kube: &Kube, g: &Graph, group: &[String]) -> Result<usize> {
    let results: Vec<Result<()>> = stream::iter(group)
        .map(|u| delete_one(kube, g, &g.nodes[u]))
        .buffer_unordered(CONCURRENT_WRITES)
        .collect()
        .await;
    let mut n = 0;
    for r in results {
        r?;
        n += 1;
    }
    Ok(n)
}

async fn delete_one(kube: &Kube, g: &Graph, n: &Node) -> Result<()> {
    let ty = &g.types[n.ty];
    let api = kube.api(&ty.api_resource(), n.namespace.as_deref());
    let display = n.display(&g.types);
    let finalizers = n.has_finalizers();
    if finalizers || ty.group.ends_with("x-k8s.io") {
        let body = json!({"metadata": {
            "annotations": { DELETE_FOR_MOVE_ANNOTATION: "" },
            "finalizers": null,
        }});
        let pp = patch_params();
        let what = format!("preparing {display} for deletion in the source");
        match kube
            .call(&what, api.patch(&n.name, &pp, &Patch::Merge(&body)))
            .await
        {
            Ok(_) => {}
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    let what = format!("deleting {display} from the source");
    match kube.call(&what, api.delete(&n.name, &Default::default())).await {
        Ok(_) | Err(Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
