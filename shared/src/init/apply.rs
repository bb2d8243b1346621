//! Writing components: server-side apply under our field manager (so a re-run converges, and
//! immutable fields set by the server, such as a Service's clusterIP, are never sent), rank by
//! rank, concurrently within a rank; CRDs awaited until Established before the kinds they define
//! are written; `--dry-run=server` throughout.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::Value;

use super::components::{ObjectId, rank};
use crate::capi::Catalog;
use crate::client::Kube;
use crate::flags::WriteMode;
use crate::{Error, Result};

/// The field manager of init and provider upgrades.
pub const FIELD_MANAGER: &str = "kubectl-capi";
const CONCURRENT: usize = 8;
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes objects to one cluster.
pub struct Writer<'a> {
    /// The cluster.
    pub kube: &'a Kube,
    /// What it serves (fetched again once CRDs were added).
    pub catalog: Catalog,
    /// Stored or server dry-run.
    pub mode: WriteMode,
    /// (group, kind) of the CRDs this writer applied: in a dry run they are not served, so
    /// their objects are reported instead of sent.
    new_kinds: Vec<(String, String)>,
    /// Namespaces this writer applied in a dry run: they may not exist, and what goes in them
    /// is then reported instead of sent.
    new_namespaces: Vec<String>,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Objects written.
    pub written: usize,
    /// Objects a dry run could not send because their kind comes with a CRD of the same run.
    pub not_yet_served: Vec<String>,
}

fn params(mode: WriteMode) -> PatchParams {
    let mut p = PatchParams::apply(FIELD_MANAGER).force();
    p.dry_run = mode.is_dry_run();
    p
}

impl<'a> Writer<'a> {
    /// A writer to `kube`, which serves `catalog`.
    pub fn new(kube: &'a Kube, catalog: Catalog, mode: WriteMode) -> Writer<'a> {
        Writer {
            kube,
            catalog,
            mode,
            new_kinds: vec![],
            new_namespaces: vec![],
        }
    }

    async fn resource(&self, id: &ObjectId) -> Result<Option<ApiResource>> {
        Ok(self
            .catalog
            .resolve_api_version(self.kube, &id.api_version, &id.kind)
            .await?
            .map(|(ar, _)| ar))
    }

    /// Applies `objects` in [`rank`] order.
    pub async fn apply(&mut self, objects: &[Value]) -> Result<Applied> {
        let mut out = Applied::default();
        for r in 0..=4u8 {
            let batch: Vec<&Value> = objects.iter().filter(|o| rank(o) == r).collect();
            if batch.is_empty() {
                continue;
            }
            let mut ready = vec![];
            for o in batch {
                let id = ObjectId::of(o);
                match self.resource(&id).await? {
                    Some(ar) => ready.push((o, id, ar)),
                    None if self.mode.is_dry_run()
                        && self
                            .new_kinds
                            .contains(&(id.group().to_string(), id.kind.clone())) =>
                    {
                        out.not_yet_served.push(id.to_string());
                    }
                    None => {
                        return Err(Error::NotFound(format!(
                            "{id}: the cluster does not serve {} {}; install what defines it first (for cert-manager objects: cert-manager)",
                            id.api_version, id.kind
                        )));
                    }
                }
            }
            let sent = futures::stream::iter(ready.into_iter().map(|(o, id, ar)| self.apply_one(o, id, ar)))
                .buffer_unordered(CONCURRENT)
                .try_collect::<Vec<Option<String>>>()
                .await?;
            for skipped in sent {
                match skipped {
                    None => out.written += 1,
                    Some(id) => out.not_yet_served.push(id),
                }
            }
            if self.mode.is_dry_run() {
                let names = objects
                    .iter()
                    .filter(|o| rank(o) == r && o["kind"] == "Namespace");
                self.new_namespaces.extend(names.map(|o| ObjectId::of(o).name));
            }
            let crds: Vec<&Value> = objects
                .iter()
                .filter(|o| rank(o) == r && o["kind"] == "CustomResourceDefinition")
                .collect();
            if !crds.is_empty() {
                for c in &crds {
                    let group = c
                        .pointer("/spec/group")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let kind = c
                        .pointer("/spec/names/kind")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    self.new_kinds.push((group, kind));
                }
                if !self.mode.is_dry_run() {
                    for c in &crds {
                        let name = c.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                        established(self.kube, name).await?;
                    }
                    self.catalog = discovered(self.kube, &crds).await?;
                }
            }
        }
        Ok(out)
    }

    /// Sends one object; `Some(id)` when a dry run could not, because its namespace is one
    /// the same dry run would create.
    async fn apply_one(&self, o: &Value, id: ObjectId, ar: ApiResource) -> Result<Option<String>> {
        let ns = (!id.namespace.is_empty()).then_some(id.namespace.as_str());
        let api = self.kube.api(&ar, ns);
        let sent = self
            .kube
            .call(
                &format!("applying {id}"),
                api.patch(&id.name, &params(self.mode), &Patch::Apply(o)),
            )
            .await;
        match sent {
            Ok(_) => Ok(None),
            Err(Error::NotFound(_))
                if self.mode.is_dry_run() && self.new_namespaces.contains(&id.namespace) =>
            {
                Ok(Some(id.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes one object (a missing one is fine).
    pub async fn delete(&self, id: &ObjectId) -> Result<bool> {
        let Some(ar) = self.resource(id).await? else {
            return Ok(false);
        };
        let ns = (!id.namespace.is_empty()).then_some(id.namespace.as_str());
        let dp = DeleteParams {
            dry_run: self.mode.is_dry_run(),
            ..Default::default()
        };
        match self
            .kube
            .call(
                &format!("deleting {id}"),
                self.kube.api(&ar, ns).delete(&id.name, &dp),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The CRD resource.
pub fn crd_resource() -> ApiResource {
    ApiResource {
        group: "apiextensions.k8s.io".into(),
        version: "v1".into(),
        api_version: "apiextensions.k8s.io/v1".into(),
        kind: "CustomResourceDefinition".into(),
        plural: "customresourcedefinitions".into(),
    }
}

/// Reads a CRD; `None` when absent.
pub async fn get_crd(kube: &Kube, name: &str) -> Result<Option<Value>> {
    let api = kube.api(&crd_resource(), None);
    let o = kube
        .call(&format!("reading CRD {name}"), api.get_opt(name))
        .await?;
    Ok(o.map(|o| crate::capi::object::to_value(&o)))
}

fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
}

/// The `apiVersion`s and kind a CRD defines, at its served versions.
fn served_versions(crd: &Value) -> (Vec<String>, String) {
    let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or("");
    let kind = crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .filter_map(|v| v["name"].as_str())
        .map(|v| format!("{group}/{v}"))
        .collect();
    (versions, kind.to_string())
}

async fn serves_all(kube: &Kube, catalog: &Catalog, crds: &[&Value]) -> Result<Option<String>> {
    for c in crds {
        let (api_versions, kind) = served_versions(c);
        for av in api_versions {
            let at = catalog.resolve_api_version(kube, &av, &kind).await?;
            if at.is_none_or(|(ar, _)| ar.api_version != av) {
                return Ok(Some(format!("{kind} ({av})")));
            }
        }
    }
    Ok(None)
}

/// The catalog once discovery lists every served version of `crds`. A real API server marks a
/// CRD Established before its discovery document lists the kind, so writing the kind's objects
/// right away can find it unserved.
pub async fn discovered(kube: &Kube, crds: &[&Value]) -> Result<Catalog> {
    let start = tokio::time::Instant::now();
    loop {
        let catalog = Catalog::fetch(kube).await?;
        // A group version listed a moment before its own document is served answers 404: retry.
        let missing = match serves_all(kube, &catalog, crds).await {
            Ok(None) => return Ok(catalog),
            Ok(Some(missing)) => missing,
            Err(e) => e.to_string(),
        };
        if start.elapsed() > ESTABLISH_TIMEOUT {
            return Err(Error::Timeout(format!(
                "the API server's discovery did not serve every new kind within {ESTABLISH_TIMEOUT:?} of its CRD being Established (last missing: {missing}); `kubectl api-resources` shows what it serves"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until a CRD is Established (the API server serves its kind).
pub async fn established(kube: &Kube, name: &str) -> Result<()> {
    let start = tokio::time::Instant::now();
    loop {
        if get_crd(kube, name).await?.as_ref().is_some_and(is_established) {
            return Ok(());
        }
        if start.elapsed() > ESTABLISH_TIMEOUT {
            return Err(Error::Timeout(format!(
                "CRD {name} was not Established within {ESTABLISH_TIMEOUT:?}: `kubectl get crd {name} -o yaml` shows its conditions"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn served_versions_skip_versions_no_longer_served() {
        let crd = json!({"spec": {
            "group": "cluster.x-k8s.io",
            "names": {"kind": "Cluster"},
            "versions": [
                {"name": "v1alpha4", "served": false},
                {"name": "v1beta1", "served": true},
                {"name": "v1beta2"},
            ],
        }});
        let (versions, kind) = served_versions(&crd);
        assert_eq!(kind, "Cluster");
        assert_eq!(versions, ["cluster.x-k8s.io/v1beta1", "cluster.x-k8s.io/v1beta2"]);
    }
}
