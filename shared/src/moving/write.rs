//! Writing the plan into the target, group by group, concurrently inside a group: each object
//! created with its owners' new UIDs; one that is already there updated (so a re-run of an
//! interrupted move converges) or, when restoring a backup or for cluster-scoped objects, left
//! as it is with its UID reused. Then its status through the status subresource (the target's
//! controllers start from what the source's saw), and its managedFields when server-side apply
//! owns some of its fields (so the topology controller keeps its fields, as clusterctl restores
//! them; for an object only ever written by Update the entries change nothing a controller does,
//! and skipping them saves one request per object).

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};
use kube::api::{DynamicObject, Patch};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use super::copy::for_target;
use super::graph::{Graph, Node};
use super::kinds::Served;
use super::pause::{CONCURRENT_WRITES, patch_params, post_params};
use crate::capi::value::s;
use crate::client::Kube;
use crate::error::{Error, Result};

/// What to do with an object that is already in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Make it the source's (a re-run of a move).
    Update,
    /// Leave it, reusing its UID (a restore; cluster-scoped objects always).
    Leave,
}

/// How one object got into the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Created by this run.
    Created,
    /// Updated to the source's.
    Updated,
    /// Left as it was.
    Left,
}

/// An object written to the target.
#[derive(Debug, Clone)]
pub struct Written {
    /// Its resource.
    pub resource: ApiResource,
    /// Its namespace.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// Whether it carries finalizers (a rollback removes them to delete it).
    pub finalizers: bool,
    /// How.
    pub how: How,
}

/// The state of a copy, kept when it fails part-way so that it can be rolled back.
#[derive(Debug, Default)]
pub struct Copied {
    /// Source UID → target UID.
    pub new_uids: BTreeMap<String, String>,
    /// What was written, in order.
    pub written: Vec<Written>,
    /// Namespaces this run created in the target.
    pub namespaces: Vec<String>,
}

impl Copied {
    /// How many objects were written each way: (created, updated, left).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |h: How| self.written.iter().filter(|w| w.how == h).count();
        (n(How::Created), n(How::Updated), n(How::Left))
    }
}

/// Writes into a target cluster.
pub struct Writer<'a> {
    /// The target.
    pub kube: &'a Kube,
    /// What it serves.
    pub served: &'a Served,
    /// Write statuses.
    pub restore_status: bool,
    /// For namespaced objects already there.
    pub existing: Existing,
}

impl Writer<'_> {
    /// Creates the namespaces of `g`'s moved objects that the target lacks.
    pub async fn ensure_namespaces(&self, namespaces: &BTreeSet<String>, copied: &mut Copied) -> Result<()> {
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Namespace"), "namespaces");
        let api = self.kube.api(&ar, None);
        for ns in namespaces {
            let what = format!("reading namespace {ns} in the target");
            if self.kube.call(&what, api.get_opt(ns)).await?.is_some() {
                continue;
            }
            let obj: DynamicObject =
                decode(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))?;
            let what = format!("creating namespace {ns} in the target");
            match self.kube.call(&what, api.create(&post_params(), &obj)).await {
                Ok(_) => copied.namespaces.push(ns.clone()),
                Err(e) if already_exists(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes one group; every object's outcome is recorded in `copied` even when another of
    /// the group fails (the first error is returned after the group settles).
    pub async fn write_group(&self, g: &Graph, group: &[String], copied: &mut Copied) -> Result<()> {
        let uids = copied.new_uids.clone();
        let results: Vec<(String, Result<(String, Written)>)> = stream::iter(group)
            .map(|u| {
                let uids = &uids;
                async move { (u.clone(), self.write_one(g, &g.nodes[u], uids).await) }
            })
            .buffer_unordered(CONCURRENT_WRITES)
            .collect()
            .await;
        let mut first = None;
        for (u, r) in results {
            match r {
                Ok((new_uid, w)) => {
                    copied.new_uids.insert(u, new_uid);
                    copied.written.push(w);
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Writes one object; returns its UID in the target.
    async fn write_one(
        &self,
        g: &Graph,
        n: &Node,
        uids: &BTreeMap<String, String>,
    ) -> Result<(String, Written)> {
        let ty = &g.types[n.ty];
        let served = self.served.get(ty);
        let ar = ty.api_resource();
        let api = self.kube.api(&ar, n.namespace.as_deref());
        let t = for_target(&n.object, uids);
        let display = n.display(&g.types);
        let existing = if n.namespace.is_none() {
            Existing::Leave
        } else {
            self.existing
        };
        let obj: DynamicObject = decode(t.object.clone())?;
        let mut how = How::Created;
        let what = format!("creating {display} in the target");
        let uid = match self.kube.call(&what, api.create(&post_params(), &obj)).await {
            Ok(created) => created.metadata.uid.unwrap_or_default(),
            Err(e) if already_exists(&e) => {
                let what = format!("reading {display} in the target");
                let live = self.kube.call(&what, api.get(&n.name)).await?;
                match existing {
                    Existing::Leave => {
                        how = How::Left;
                        live.metadata.uid.unwrap_or_default()
                    }
                    Existing::Update => {
                        how = How::Updated;
                        let mut obj = obj;
                        obj.metadata.resource_version = live.metadata.resource_version;
                        let what = format!("updating {display} in the target");
                        let out = self
                            .kube
                            .call(&what, api.replace(&n.name, &post_params(), &obj))
                            .await?;
                        out.metadata.uid.unwrap_or_default()
                    }
                }
            }
            Err(e) => return Err(e),
        };
        if how != How::Left {
            if let Some(st) = t.status.filter(|st| self.restore_status && !is_empty(st))
                && served.is_some_and(|k| k.status)
            {
                let what = format!("writing the status of {display} in the target");
                let body = json!({ "status": st });
                self.kube
                    .call(
                        &what,
                        api.patch_status(&n.name, &patch_params(), &Patch::Merge(&body)),
                    )
                    .await?;
            }
            if let Some(mf) = t.managed_fields.filter(has_apply_entries) {
                let what = format!("restoring the managed fields of {display} in the target");
                let body = json!({ "metadata": { "managedFields": mf } });
                self.kube
                    .call(&what, api.patch(&n.name, &patch_params(), &Patch::Merge(&body)))
                    .await?;
            }
        }
        let finalizers = n.has_finalizers();
        Ok((
            uid,
            Written {
                resource: ar,
                namespace: n.namespace.clone(),
                name: n.name.clone(),
                finalizers,
                how,
            },
        ))
    }
}

/// Deletes from the target what a failed copy created, newest first, finalizers removed (the
/// copies are paused: no controller would ever release them). Returns how many were deleted.
/// `also_updated` deletes what was found and updated too (a resumed move's earlier run made it).
pub async fn roll_back(kube: &Kube, copied: &Copied, also_updated: bool) -> Result<usize> {
    let created: Vec<&Written> = copied
        .written
        .iter()
        .filter(|w| w.how == How::Created || (also_updated && w.how == How::Updated))
        .rev()
        .collect();
    for w in &created {
        let api = kube.api(&w.resource, w.namespace.as_deref());
        let display = format!("{} {}", w.resource.kind, w.name);
        if w.finalizers {
            let body = json!({"metadata": {"finalizers": null}});
            let what = format!("removing the finalizers of {display} in the target");
            match kube
                .call(&what, api.patch(&w.name, &patch_params(), &Patch::Merge(&body)))
                .await
            {
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let what = format!("deleting {display} from the target");
        match kube.call(&what, api.delete(&w.name, &Default::default())).await {
            Ok(_) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created.len())
}

/// Whether an error is the server's AlreadyExists.
pub fn already_exists(e: &Error) -> bool {
    matches!(e, Error::Status { code: 409, reason, .. } if reason == "AlreadyExists")
}

/// Whether managedFields name a server-side apply manager.
fn has_apply_entries(mf: &Value) -> bool {
    mf.as_array()
        .is_some_and(|a| a.iter().any(|e| s(e, "/operation") == "Apply"))
}

fn is_empty(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|o| o.is_empty())
}

fn decode(v: Value) -> Result<DynamicObject> {
    serde_json::from_value(v).map_err(|e| Error::Other(format!("an object cannot be written: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_side_apply_managers_need_their_fields_restored() {
        assert!(has_apply_entries(
            &json!([{"manager": "capi-topology", "operation": "Apply"}])
        ));
        assert!(!has_apply_entries(
            &json!([{"manager": "manager", "operation": "Update"}])
        ));
        assert!(!has_apply_entries(&Value::Null));
    }
}
