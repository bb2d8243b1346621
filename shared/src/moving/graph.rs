//! The ownership graph of a move, as clusterctl builds it: one node per discovered object, keyed
//! by UID; hard edges from `ownerReferences` (an owner that was not discovered stays a name, never
//! moved); soft edges that clusterctl adds because Cluster API links these objects by name rather
//! than by reference: a cluster's certificate and kubeconfig Secrets to the Cluster, a Cluster to
//! its ClusterClass, a ClusterResourceSetBinding to the Cluster it is named after.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::capi::class::class_of;
use crate::capi::labels::{MOVE_HIERARCHY_LABEL, MOVE_LABEL};
use crate::capi::value::{label, s};

/// The Secrets a Cluster owns by name: `<cluster>-<purpose>`, the name split at its last `-`
/// as clusterctl splits it (so `-apiserver-etcd-client` is not one).
pub const SOFT_SECRET_PURPOSES: &[&str] = &["kubeconfig", "ca", "etcd", "sa", "proxy"];

/// Whether clusterctl moves a kind with everything it owns, whatever its CRD's labels say:
/// Cluster, ClusterClass and ClusterResourceSet.
pub fn is_hierarchy_kind(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("cluster.x-k8s.io", "Cluster" | "ClusterClass") | ("addons.cluster.x-k8s.io", "ClusterResourceSet")
    )
}

/// A kind a move discovers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveType {
    /// API group (`""` for the core group).
    pub group: String,
    /// The version listed (the CRD's storage version).
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Resource plural.
    pub plural: String,
    /// Whether objects live in namespaces (cluster-scoped ones are copied, never deleted).
    pub namespaced: bool,
    /// Moved with everything it owns (Cluster, ClusterClass, ClusterResourceSet, or the CRD's
    /// move-hierarchy label).
    pub hierarchy: bool,
    /// Moved even when nothing moved owns it (hierarchy kinds, or the CRD's move label).
    pub force: bool,
}

impl MoveType {
    /// `plural.group` (`secrets` for the core group).
    pub fn resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The resource to read and write it with.
    pub fn api_resource(&self) -> kube::core::ApiResource {
        kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(&self.group, &self.version, &self.kind),
            &self.plural,
        )
    }

    /// Whether this is Cluster API's `Kind` in group `cluster.x-k8s.io`.
    pub fn is_core(&self, kind: &str) -> bool {
        self.group == "cluster.x-k8s.io" && self.kind == kind
    }

    /// Whether this is the core Secret kind.
    pub fn is_secret(&self) -> bool {
        self.group.is_empty() && self.kind == "Secret"
    }
}

/// An owner reference as read from an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerLink {
    /// The owner's UID.
    pub uid: String,
    /// `apiVersion` as written.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Whether the owner is the controller.
    pub controller: bool,
    /// Whether the owner's deletion waits for this object.
    pub block_owner_deletion: bool,
}

/// One discovered object.
#[derive(Debug, Clone)]
pub struct Node {
    /// UID (the node's key).
    pub uid: String,
    /// Index of its kind in [`Graph::types`].
    pub ty: usize,
    /// Namespace (`None` when cluster-scoped).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Its owner references.
    pub owners: Vec<OwnerLink>,
    /// UIDs of the objects that own it by name (soft ownership).
    pub soft_owners: BTreeSet<String>,
    /// The object as listed.
    pub object: Value,
}

impl Node {
    /// `Kind namespace/name` (or `Kind name`), for messages.
    pub fn display(&self, types: &[MoveType]) -> String {
        let kind = &types[self.ty].kind;
        match &self.namespace {
            Some(ns) => format!("{kind} {ns}/{}", self.name),
            None => format!("{kind} {}", self.name),
        }
    }

    /// Whether the object carries finalizers.
    pub fn has_finalizers(&self) -> bool {
        self.object
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    }

    /// The UIDs of every owner, hard and soft.
    pub fn all_owners(&self) -> impl Iterator<Item = &String> {
        self.owners.iter().map(|o| &o.uid).chain(self.soft_owners.iter())
    }

    /// The object's own move labels (which act like the CRD's).
    fn labelled(&self, key: &str) -> bool {
        label(&self.object, key).is_some()
    }
}

/// The graph: every discovered object and who owns whom.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// The kinds discovered.
    pub types: Vec<MoveType>,
    /// The objects by UID.
    pub nodes: BTreeMap<String, Node>,
    /// Owner UID → the UIDs it owns (hard and soft).
    pub children: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// Builds the graph of `objects` (each with the index of its kind in `types`). An object
    /// without a UID cannot be tracked and is left out.
    pub fn build(types: Vec<MoveType>, objects: Vec<(usize, Value)>) -> Graph {
        let mut g = Graph {
            types,
            ..Default::default()
        };
        for (ty, object) in objects {
            let uid = s(&object, "/metadata/uid").to_string();
            if uid.is_empty() {
                continue;
            }
            let node = Node {
                namespace: Some(s(&object, "/metadata/namespace"))
                    .filter(|n| !n.is_empty() && g.types[ty].namespaced)
                    .map(str::to_string),
                name: s(&object, "/metadata/name").to_string(),
                owners: owner_links(&object),
                soft_owners: BTreeSet::new(),
                uid: uid.clone(),
                ty,
                object,
            };
            g.nodes.insert(uid, node);
        }
        g.add_soft_ownership();
        for node in g.nodes.values() {
            for owner in node.all_owners() {
                g.children
                    .entry(owner.clone())
                    .or_default()
                    .insert(node.uid.clone());
            }
        }
        g
    }

    /// Whether a node's kind (or the node itself) is a hierarchy root.
    pub fn is_hierarchy(&self, n: &Node) -> bool {
        self.types[n.ty].hierarchy || n.labelled(MOVE_HIERARCHY_LABEL)
    }

    /// Whether a node moves even without a moved owner.
    pub fn is_force(&self, n: &Node) -> bool {
        self.types[n.ty].force || n.labelled(MOVE_LABEL) || self.is_hierarchy(n)
    }

    /// The node of `Kind` (core group) named `name` in `namespace`.
    pub fn find_core(&self, kind: &str, namespace: &str, name: &str) -> Option<&Node> {
        self.nodes.values().find(|n| {
            self.types[n.ty].is_core(kind) && n.name == name && n.namespace.as_deref() == Some(namespace)
        })
    }

    /// UIDs of the core `Kind` objects by (namespace, name): one pass, so that linking thousands
    /// of Secrets by name stays linear.
    fn index_core(&self, kind: &str) -> BTreeMap<(&str, &str), &str> {
        self.nodes
            .values()
            .filter(|n| self.types[n.ty].is_core(kind))
            .map(|n| {
                (
                    (n.namespace.as_deref().unwrap_or(""), n.name.as_str()),
                    n.uid.as_str(),
                )
            })
            .collect()
    }

    /// Soft ownership, as clusterctl adds it.
    fn add_soft_ownership(&mut self) {
        let clusters = self.index_core("Cluster");
        let classes = self.index_core("ClusterClass");
        let mut soft: Vec<(String, String)> = vec![];
        for n in self.nodes.values() {
            let ty = &self.types[n.ty];
            let ns = n.namespace.as_deref().unwrap_or("");
            if ty.is_secret() && n.owners.is_empty() {
                if let Some((cluster, purpose)) = n.name.rsplit_once('-')
                    && SOFT_SECRET_PURPOSES.contains(&purpose)
                    && let Some(c) = clusters.get(&(ns, cluster))
                {
                    soft.push((n.uid.clone(), c.to_string()));
                }
            } else if ty.is_core("Cluster") {
                if let Some((cns, cname)) = class_of(&n.object)
                    && let Some(class) = classes.get(&(cns.as_str(), cname.as_str()))
                {
                    soft.push((n.uid.clone(), class.to_string()));
                }
            } else if ty.group == "addons.cluster.x-k8s.io" && ty.kind == "ClusterResourceSetBinding" {
                let cluster = Some(s(&n.object, "/spec/clusterName"))
                    .filter(|c| !c.is_empty())
                    .unwrap_or(&n.name);
                if let Some(c) = clusters.get(&(ns, cluster)) {
                    soft.push((n.uid.clone(), c.to_string()));
                }
            }
        }
        for (child, owner) in soft {
            if let Some(n) = self.nodes.get_mut(&child) {
                n.soft_owners.insert(owner);
            }
        }
    }
}

/// An object's owner references.
fn owner_links(object: &Value) -> Vec<OwnerLink> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(OwnerLink {
                uid: r.get("uid")?.as_str()?.to_string(),
                api_version: s(r, "/apiVersion").to_string(),
                kind: s(r, "/kind").to_string(),
                name: s(r, "/name").to_string(),
                controller: r.get("controller").and_then(Value::as_bool) == Some(true),
                block_owner_deletion: r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true),
            })
        })
        .collect()
}
