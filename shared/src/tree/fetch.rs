//! Fetching everything a cluster tree shows with one LIST per kind (label-selected by
//! `cluster.x-k8s.io/cluster-name`, paginated), in two concurrent waves: the Cluster first, then
//! its references and the core kinds, then the provider machine kinds those reference. Never
//! one GET per Machine.

use std::collections::BTreeSet;

use futures::future::{join_all, try_join_all};
use kube::api::DynamicObject;
use kube::core::ApiResource;

use crate::capi::object::{ObjRef, obj_ref, to_value};
use crate::capi::{CLUSTER_NAME_LABEL, CORE_GROUP, Catalog, Generation};
use crate::client::Kube;
use crate::error::{Error, Result};

/// Everything fetched for one cluster.
#[derive(Debug, Clone)]
pub struct ClusterObjects {
    /// The generation the management cluster serves.
    pub generation: Generation,
    /// The Cluster.
    pub cluster: DynamicObject,
    /// The infrastructure cluster.
    pub infra_cluster: Option<DynamicObject>,
    /// The control plane.
    pub control_plane: Option<DynamicObject>,
    /// Machines of the cluster.
    pub machines: Vec<DynamicObject>,
    /// MachineSets of the cluster.
    pub machine_sets: Vec<DynamicObject>,
    /// MachineDeployments of the cluster.
    pub machine_deployments: Vec<DynamicObject>,
    /// MachinePools of the cluster.
    pub machine_pools: Vec<DynamicObject>,
    /// MachineHealthChecks whose spec.clusterName is the cluster.
    pub health_checks: Vec<DynamicObject>,
    /// Infrastructure machines, bootstrap configs and machine pool infrastructure, any kind.
    pub provider_objects: Vec<DynamicObject>,
    /// The ClusterResourceSetBinding named like the cluster, if asked for and present.
    pub resource_set_binding: Option<DynamicObject>,
}

/// Page size of the tree's LISTs: large enough that a 1,000-Machine cluster needs one page per
/// kind, small enough to bound the API server's work per request.
pub const PAGE: u32 = 1000;

/// What to fetch besides the always-fetched kinds.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOptions {
    /// Fetch the ClusterResourceSetBinding.
    pub resource_sets: bool,
}

/// Resolves a core CAPI kind at the served version.
pub async fn core(kube: &Kube, catalog: &Catalog, kind: &str) -> Result<ApiResource> {
    catalog
        .resolve(kube, CORE_GROUP, kind)
        .await?
        .map(|(ar, _)| ar)
        .ok_or_else(|| {
            Error::NotCapi(format!(
                "the management cluster does not serve {kind} ({CORE_GROUP})"
            ))
        })
}

async fn resolve_ref(kube: &Kube, catalog: &Catalog, r: &ObjRef) -> Result<Option<ApiResource>> {
    let found = match &r.version {
        Some(v) if !r.group.is_empty() => {
            catalog
                .resolve_api_version(kube, &format!("{}/{v}", r.group), &r.kind)
                .await?
        }
        _ => catalog.resolve(kube, &r.group, &r.kind).await?,
    };
    Ok(found.map(|(ar, _)| ar))
}

async fn get_ref(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    r: Option<ObjRef>,
) -> Result<Option<DynamicObject>> {
    let Some(r) = r else { return Ok(None) };
    let Some(ar) = resolve_ref(kube, catalog, &r).await? else {
        return Ok(None);
    };
    // A missing referenced object is shown as absent, not as an error.
    match kube
        .call(
            &format!("reading {} {ns}/{}", r.kind, r.name),
            kube.api(&ar, Some(ns)).get_opt(&r.name),
        )
        .await
    {
        Ok(o) => Ok(o),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Names close to `name` (edit distance ≤ 3, or containing it), best first.
pub fn close_names<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .filter_map(|c| {
            let d = levenshtein(name, c);
            (d <= 3 || c.contains(name) || name.contains(c)).then(|| (d, c.to_string()))
        })
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, n)| n).take(3).collect()
}

/// The error for a cluster that does not exist: names the namespace, suggests close names and
/// other namespaces holding a cluster of that name.
pub async fn cluster_not_found(kube: &Kube, ar: &ApiResource, ns: &str, name: &str) -> Error {
    let here = kube
        .list_all(ar, Some(ns), None, None)
        .await
        .map(|(l, _)| l)
        .unwrap_or_default();
    let names: Vec<String> = here.iter().filter_map(|c| c.metadata.name.clone()).collect();
    let close = close_names(name, names.iter().map(String::as_str));
    let elsewhere = kube
        .list_all(ar, None, None, Some(&format!("metadata.name={name}")))
        .await
        .map(|(l, _)| {
            l.iter()
                .filter_map(|c| c.metadata.namespace.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut msg = format!("cluster {name:?} not found in namespace {ns:?}");
    if !elsewhere.is_empty() {
        msg.push_str(&format!(
            "; it exists in namespace {} (use -n {})",
            elsewhere.join(", "),
            elsewhere[0]
        ));
    } else if !close.is_empty() {
        msg.push_str(&format!("; did you mean {}?", close.join(", ")));
    } else if names.is_empty() {
        msg.push_str(
            "; there are no clusters in this namespace (use -A to list clusters in every namespace)",
        );
    }
    Error::NotFound(msg)
}

/// Reads a Cluster by name; a missing one is [`cluster_not_found`]'s helpful error.
pub async fn read_cluster(kube: &Kube, catalog: &Catalog, ns: &str, name: &str) -> Result<DynamicObject> {
    let car = core(kube, catalog, "Cluster").await?;
    match kube
        .call(
            &format!("reading Cluster {ns}/{name}"),
            kube.api(&car, Some(ns)).get_opt(name),
        )
        .await?
    {
        Some(c) => Ok(c),
        None => Err(cluster_not_found(kube, &car, ns, name).await),
    }
}

/// Fetches a cluster and everything its tree shows.
pub async fn fetch_cluster(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    name: &str,
    opts: FetchOptions,
) -> Result<ClusterObjects> {
    let generation = catalog.generation(kube)?;
    let cluster_ar = core(kube, catalog, "Cluster").await?;
    let cluster = match kube
        .call(
            &format!("reading cluster {ns}/{name}"),
            kube.api(&cluster_ar, Some(ns)).get_opt(name),
        )
        .await?
    {
        Some(c) => c,
        None => return Err(cluster_not_found(kube, &cluster_ar, ns, name).await),
    };
    let cv = to_value(&cluster);
    let selector = format!("{CLUSTER_NAME_LABEL}={name}");
    let (machine_ar, ms_ar, md_ar, mp_ar, mhc_ar) = (
        core(kube, catalog, "Machine").await?,
        core(kube, catalog, "MachineSet").await?,
        core(kube, catalog, "MachineDeployment").await?,
        core(kube, catalog, "MachinePool").await?,
        core(kube, catalog, "MachineHealthCheck").await?,
    );
    let binding = async {
        if !opts.resource_sets {
            return Ok(None);
        }
        let r = ObjRef {
            group: "addons.cluster.x-k8s.io".into(),
            version: None,
            kind: "ClusterResourceSetBinding".into(),
            name: name.into(),
        };
        get_ref(kube, catalog, ns, Some(r)).await
    };
    let list = |ar: ApiResource, sel: Option<String>| async move {
        kube.list_paged(&ar, Some(ns), sel.as_deref(), None, PAGE)
            .await
            .map(|(l, _)| l)
    };
    let (infra_cluster, control_plane, lists, mhcs, binding) = futures::join!(
        get_ref(kube, catalog, ns, obj_ref(&cv, "/spec/infrastructureRef")),
        get_ref(kube, catalog, ns, obj_ref(&cv, "/spec/controlPlaneRef")),
        try_join_all([
            list(machine_ar, Some(selector.clone())),
            list(ms_ar, Some(selector.clone())),
            list(md_ar, Some(selector.clone())),
            list(mp_ar, Some(selector.clone())),
        ]),
        list(mhc_ar, None),
        binding,
    );
    let mut lists = lists?;
    let machine_pools = lists.pop().unwrap_or_default();
    let machine_deployments = lists.pop().unwrap_or_default();
    let machine_sets = lists.pop().unwrap_or_default();
    let machines = lists.pop().unwrap_or_default();
    let health_checks: Vec<DynamicObject> = mhcs?
        .into_iter()
        .filter(|m| to_value(m).pointer("/spec/clusterName").and_then(|v| v.as_str()) == Some(name))
        .collect();
    // Wave 2: one label-selected LIST per provider kind referenced by Machines and MachinePools.
    let kinds = provider_kinds(&machines, &machine_pools);
    let provider_objects = list_provider_objects(kube, catalog, ns, &selector, kinds).await?;
    Ok(ClusterObjects {
        generation,
        cluster,
        infra_cluster: infra_cluster?,
        control_plane: control_plane?,
        machines,
        machine_sets,
        machine_deployments,
        machine_pools,
        health_checks,
        provider_objects,
        resource_set_binding: binding?,
    })
}

/// The (group, version, kind) of every bootstrap and infrastructure object the Machines and
/// MachinePools reference.
fn provider_kinds(
    machines: &[DynamicObject],
    machine_pools: &[DynamicObject],
) -> BTreeSet<(String, Option<String>, String)> {
    let mut kinds = BTreeSet::new();
    let refs = machines
        .iter()
        .map(|m| (m, ["/spec/infrastructureRef", "/spec/bootstrap/configRef"]))
        .chain(machine_pools.iter().map(|mp| {
            (
                mp,
                [
                    "/spec/template/spec/infrastructureRef",
                    "/spec/template/spec/bootstrap/configRef",
                ],
            )
        }));
    for (o, pointers) in refs {
        let v = to_value(o);
        for p in pointers {
            if let Some(r) = obj_ref(&v, p) {
                kinds.insert((r.group, r.version, r.kind));
            }
        }
    }
    kinds
}

/// One label-selected LIST per provider kind, concurrently; a kind not served lists nothing.
async fn list_provider_objects(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    selector: &str,
    kinds: BTreeSet<(String, Option<String>, String)>,
) -> Result<Vec<DynamicObject>> {
    let lists = join_all(kinds.into_iter().map(|(group, version, kind)| async move {
        let r = ObjRef {
            group,
            version,
            kind,
            name: String::new(),
        };
        match resolve_ref(kube, catalog, &r).await? {
            Some(ar) => kube
                .list_paged(&ar, Some(ns), Some(selector), None, PAGE)
                .await
                .map(|(l, _)| l),
            None => Ok(vec![]),
        }
    }))
    .await;
    let mut objects = vec![];
    for l in lists {
        objects.extend(l?);
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let names = ["capi-quickstart", "prod-eu", "prod-us", "dev"];
        assert_eq!(close_names("capi-quikstart", names), vec!["capi-quickstart"]);
        assert_eq!(close_names("prod", names), vec!["prod-eu", "prod-us"]);
        assert!(close_names("zzzzzzzz", names).is_empty());
    }
}
