//! Discovery for a move, as clusterctl does it: the kinds are the CRDs labelled
//! `clusterctl.cluster.x-k8s.io` (at their storage version) plus Secrets and ConfigMaps; their
//! objects are read with one paginated LIST per kind and namespace, concurrently — never one GET
//! per object. A ClusterClass in another namespace that a moved Cluster uses is read too, with
//! everything in its namespace it may own.

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt, TryStreamExt};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::graph::{Graph, MoveType, is_hierarchy_kind};
use crate::capi::class::class_of;
use crate::capi::labels::{CLUSTERCTL_LABEL, MOVE_HIERARCHY_LABEL, MOVE_LABEL};
use crate::capi::object::to_value;
use crate::capi::value::{label, s};
use crate::client::Kube;
use crate::error::Result;

/// Page size of the LISTs.
const PAGE: u32 = 500;
/// The group of clusterctl's provider inventory.
const INVENTORY_GROUP: &str = "clusterctl.cluster.x-k8s.io";
/// LISTs in flight at once.
const CONCURRENT_LISTS: usize = 8;

/// The kinds a move discovers, from the server's CRDs.
pub async fn move_types(kube: &Kube) -> Result<Vec<MoveType>> {
    let crd = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    );
    let (crds, _) = kube
        .list_paged(&crd, None, Some(CLUSTERCTL_LABEL), None, PAGE)
        .await?;
    // The provider inventory is each management cluster's own (`init` writes the target's).
    let mut types: Vec<MoveType> = crds
        .iter()
        .filter_map(|c| type_of_crd(&to_value(c)))
        .filter(|t| !(t.group == INVENTORY_GROUP && t.kind == "Provider"))
        .collect();
    for (kind, plural) in [("Secret", "secrets"), ("ConfigMap", "configmaps")] {
        types.push(MoveType {
            group: String::new(),
            version: "v1".into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced: true,
            hierarchy: false,
            force: false,
        });
    }
    types.sort_by(|a, b| (&a.group, &a.kind).cmp(&(&b.group, &b.kind)));
    Ok(types)
}

/// The move kind a CRD defines (`None` without a storage version).
pub fn type_of_crd(crd: &Value) -> Option<MoveType> {
    let group = s(crd, "/spec/group").to_string();
    let kind = s(crd, "/spec/names/kind").to_string();
    let version = crd
        .pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))?
        .get("name")?
        .as_str()?
        .to_string();
    let hierarchy = is_hierarchy_kind(&group, &kind) || label(crd, MOVE_HIERARCHY_LABEL).is_some();
    Some(MoveType {
        plural: s(crd, "/spec/names/plural").to_string(),
        namespaced: s(crd, "/spec/scope") != "Cluster",
        force: hierarchy || label(crd, MOVE_LABEL).is_some(),
        hierarchy,
        group,
        kind,
        version,
    })
}

/// Reads every object of `types` in `namespace` (every namespace when `None`), then in the
/// namespaces of ClusterClasses that those Clusters use, and builds the graph.
pub async fn discover(kube: &Kube, types: Vec<MoveType>, namespace: Option<&str>) -> Result<Graph> {
    let mut objects = list_all(kube, &types, namespace, true).await?;
    if let Some(ns) = namespace {
        let cluster = types.iter().position(|t| t.is_core("Cluster"));
        let other: BTreeSet<String> = objects
            .iter()
            .filter(|(t, _)| Some(*t) == cluster)
            .filter_map(|(_, c)| class_of(c).map(|(cns, _)| cns))
            .filter(|cns| cns != ns)
            .collect();
        for cns in other {
            objects.extend(list_all(kube, &types, Some(&cns), false).await?);
        }
    }
    Ok(Graph::build(types, objects))
}

/// One paginated LIST per kind (in `namespace`, or everywhere), concurrently; cluster-scoped
/// kinds are listed once, with `global`.
async fn list_all(
    kube: &Kube,
    types: &[MoveType],
    namespace: Option<&str>,
    global: bool,
) -> Result<Vec<(usize, Value)>> {
    let lists = stream::iter(types.iter().enumerate().filter(|(_, t)| t.namespaced || global))
        .map(|(i, t)| async move {
            let ar = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(&t.group, &t.version, &t.kind),
                &t.plural,
            );
            let ns = if t.namespaced { namespace } else { None };
            let items = kube.list_values(&ar, ns, None, PAGE).await?;
            Ok::<_, crate::Error>(items.into_iter().map(|o| (i, o)).collect::<Vec<_>>())
        })
        .buffer_unordered(CONCURRENT_LISTS)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(lists.into_iter().flatten().collect())
}
