//! What a move moves, and in what order. The scope names the roots: every object of a hierarchy
//! kind in the namespace(s) (Clusters, ClusterClasses, ClusterResourceSets, labelled kinds), or
//! only the Clusters asked for. Everything a root owns, directly or through others, moves with
//! it; a ClusterClass's walk never enters another Cluster, so moving one Cluster copies its class
//! without dragging the class's other Clusters along. Objects that must stay usable in the source
//! (cluster-scoped ones, a class other Clusters still use, anything outside the moved namespace)
//! are copied but not deleted. Every object of a discovered kind that does not move is listed
//! with the reason.

use std::collections::{BTreeMap, BTreeSet};

use super::graph::{Graph, Node};
use crate::capi::labels::CLUSTER_NAME_LABEL;
use crate::capi::value::label;

/// Which objects a move starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every root in one namespace.
    Namespace(String),
    /// Every root in every namespace.
    AllNamespaces,
    /// These Clusters of one namespace (and what they need).
    Clusters {
        /// Their namespace.
        namespace: String,
        /// Their names.
        names: Vec<String>,
    },
}

impl Scope {
    /// The one namespace of the scope (`None` for every namespace).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::Namespace(ns) | Scope::Clusters { namespace: ns, .. } => Some(ns),
            Scope::AllNamespaces => None,
        }
    }

    fn contains(&self, n: &Node) -> bool {
        match (self.namespace(), &n.namespace) {
            (None, Some(_)) => true,
            (Some(want), Some(ns)) => want == ns,
            (_, None) => false,
        }
    }
}

/// Why an object of a discovered kind stays in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// It belongs to a Cluster that was not asked for (`--cluster`): expected.
    NotSelected {
        /// That Cluster.
        cluster: String,
    },
    /// An owner of it does not move (or was not found), so it would be cut off from it.
    OwnerNotMoved {
        /// The owner, `Kind name`.
        owner: String,
    },
    /// Nothing that moves owns it, yet it is a Cluster API object (or labelled for a moved
    /// cluster).
    Unowned,
}

impl Reason {
    /// Whether this reason is a surprise that stops the move unless allowed.
    pub fn is_surprise(&self) -> bool {
        !matches!(self, Reason::NotSelected { .. })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NotSelected { cluster } => write!(f, "belongs to Cluster {cluster}, which is not moved"),
            Reason::OwnerNotMoved { owner } => write!(f, "its owner {owner} is not moved"),
            Reason::Unowned => write!(f, "nothing that moves owns it"),
        }
    }
}

/// An object that stays behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftBehind {
    /// Its UID.
    pub uid: String,
    /// Why.
    pub reason: Reason,
}

/// What to move, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// UIDs in create order: every object's moved owners are in earlier groups.
    pub groups: Vec<Vec<String>>,
    /// Moved objects that are copied but stay in the source.
    pub keep_in_source: BTreeSet<String>,
    /// Objects of discovered kinds that do not move, with the reason.
    pub left_behind: Vec<LeftBehind>,
}

impl Plan {
    /// Every moved UID.
    pub fn moved(&self) -> impl Iterator<Item = &String> {
        self.groups.iter().flatten()
    }

    /// The objects left behind for a reason that stops the move unless allowed.
    pub fn surprises(&self) -> impl Iterator<Item = &LeftBehind> {
        self.left_behind.iter().filter(|l| l.reason.is_surprise())
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A Cluster asked for does not exist.
    #[error("Cluster {namespace}/{name} not found")]
    UnknownCluster {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The scope holds nothing to move.
    #[error("nothing to move in {0}: no Cluster, ClusterClass or other object of a move-hierarchy kind")]
    NothingToMove(String),
}

/// Plans the move of `scope`.
pub fn plan(g: &Graph, scope: &Scope) -> Result<Plan, PlanError> {
    let roots = roots(g, scope)?;
    let selected: BTreeSet<&str> = roots.iter().map(String::as_str).collect();
    let mut moved: BTreeSet<String> = BTreeSet::new();
    for r in &roots {
        walk(g, r, &selected, &mut moved);
    }
    if !moved.iter().any(|u| scope.contains(&g.nodes[u])) {
        let what = scope
            .namespace()
            .map_or("any namespace".to_string(), |ns| format!("namespace {ns}"));
        return Err(PlanError::NothingToMove(what));
    }
    Ok(Plan {
        groups: groups(g, &moved),
        keep_in_source: keep_in_source(g, scope, &moved),
        left_behind: left_behind(g, scope, &moved),
    })
}

/// Every object of the graph, in create order: a restore writes back all that was saved.
pub fn everything(g: &Graph) -> Result<Plan, PlanError> {
    let moved: BTreeSet<String> = g.nodes.keys().cloned().collect();
    if moved.is_empty() {
        return Err(PlanError::NothingToMove("the directory".into()));
    }
    Ok(Plan {
        groups: groups(g, &moved),
        keep_in_source: BTreeSet::new(),
        left_behind: vec![],
    })
}

/// The objects a move starts from.
fn roots(g: &Graph, scope: &Scope) -> Result<Vec<String>, PlanError> {
    let global = g
        .nodes
        .values()
        .filter(|n| n.namespace.is_none() && g.is_force(n));
    let mut out: Vec<String> = global.map(|n| n.uid.clone()).collect();
    match scope {
        Scope::Clusters { namespace, names } => {
            for name in names {
                let c = g
                    .find_core("Cluster", namespace, name)
                    .ok_or_else(|| PlanError::UnknownCluster {
                        namespace: namespace.clone(),
                        name: name.clone(),
                    })?;
                out.push(c.uid.clone());
            }
        }
        _ => out.extend(
            g.nodes
                .values()
                .filter(|n| scope.contains(n) && g.is_force(n))
                .map(|n| n.uid.clone()),
        ),
    }
    // A moved Cluster's class comes along wherever it lives (its walk skips its other Clusters).
    let classes: Vec<String> = out
        .iter()
        .filter_map(|u| g.nodes.get(u))
        .filter(|n| g.types[n.ty].is_core("Cluster"))
        .flat_map(|n| n.soft_owners.iter().cloned())
        .collect();
    out.extend(classes);
    Ok(out)
}

/// Marks `uid` and everything it owns as moved; never enters a Cluster that is not a root.
fn walk(g: &Graph, uid: &str, roots: &BTreeSet<&str>, moved: &mut BTreeSet<String>) {
    let mut stack = vec![uid.to_string()];
    while let Some(u) = stack.pop() {
        let Some(n) = g.nodes.get(&u) else { continue };
        if g.types[n.ty].is_core("Cluster") && !roots.contains(u.as_str()) {
            continue;
        }
        if !moved.insert(u.clone()) {
            continue;
        }
        stack.extend(g.children.get(&u).into_iter().flatten().cloned());
    }
}

/// Create order: a group holds every object whose moved owners are all in earlier groups.
fn groups(g: &Graph, moved: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut left: Vec<&String> = moved.iter().collect();
    let mut out = vec![];
    while !left.is_empty() {
        let (ready, wait): (Vec<&String>, Vec<&String>) = left.into_iter().partition(|u| {
            g.nodes[*u]
                .all_owners()
                .all(|o| !moved.contains(o) || placed.contains(o) || o == *u)
        });
        // An ownership cycle (not something Kubernetes produces) must not stall the move.
        let ready = if ready.is_empty() { wait.clone() } else { ready };
        let wait = if ready.len() == wait.len() && ready == wait {
            vec![]
        } else {
            wait
        };
        placed.extend(ready.iter().map(|u| (*u).clone()));
        out.push(ready.into_iter().cloned().collect());
        left = wait;
    }
    out
}

/// Moved objects that must stay usable in the source: cluster-scoped ones, those outside the
/// moved namespace, those something staying still uses, and what those own (a Cluster aside).
fn keep_in_source(g: &Graph, scope: &Scope, moved: &BTreeSet<String>) -> BTreeSet<String> {
    let mut keep: BTreeSet<String> = moved
        .iter()
        .filter(|u| {
            let n = &g.nodes[*u];
            let used_by_staying = g
                .children
                .get(*u)
                .into_iter()
                .flatten()
                .any(|c| !moved.contains(c));
            // Also owned by something that stays (a template two Clusters share): deleting it
            // here would take it from the one that stays.
            let owned_by_staying = n
                .all_owners()
                .any(|o| g.nodes.contains_key(o) && !moved.contains(o));
            n.namespace.is_none() || !scope.contains(n) || used_by_staying || owned_by_staying
        })
        .cloned()
        .collect();
    let mut stack: Vec<String> = keep.iter().cloned().collect();
    while let Some(u) = stack.pop() {
        for c in g.children.get(&u).into_iter().flatten() {
            let child = &g.nodes[c];
            if moved.contains(c) && !g.types[child.ty].is_core("Cluster") && keep.insert(c.clone()) {
                stack.push(c.clone());
            }
        }
    }
    keep
}

/// Every object of the scope that does not move, with the reason. Secrets and ConfigMaps that
/// nothing owns are the user's own and not listed.
fn left_behind(g: &Graph, scope: &Scope, moved: &BTreeSet<String>) -> Vec<LeftBehind> {
    let cluster_of = clusters_by_descent(g);
    // A Cluster API object, or one labelled as part of a cluster: its owner matters.
    let capi =
        |n: &Node| g.types[n.ty].group.contains("x-k8s.io") || label(&n.object, CLUSTER_NAME_LABEL).is_some();
    let mut out = vec![];
    for n in g
        .nodes
        .values()
        .filter(|n| scope.contains(n) && !moved.contains(&n.uid))
    {
        let reason = if let Some(cluster) = cluster_of
            .get(&n.uid)
            .filter(|_| matches!(scope, Scope::Clusters { .. }))
        {
            Reason::NotSelected {
                cluster: cluster.clone(),
            }
        } else if let Some(o) = n
            .owners
            .iter()
            .find(|o| !moved.contains(&o.uid) && (capi(n) || g.nodes.contains_key(&o.uid)))
        {
            Reason::OwnerNotMoved {
                owner: format!("{} {}", o.kind, o.name),
            }
        } else if n.all_owners().next().is_none() && capi(n) {
            Reason::Unowned
        } else {
            continue;
        };
        out.push(LeftBehind {
            uid: n.uid.clone(),
            reason,
        });
    }
    out
}

/// For each object below a Cluster (through owners, hard or soft), that Cluster's name.
fn clusters_by_descent(g: &Graph) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in g.nodes.values().filter(|n| g.types[n.ty].is_core("Cluster")) {
        let mut stack = vec![c.uid.clone()];
        while let Some(u) = stack.pop() {
            if out.insert(u.clone(), c.name.clone()).is_some() {
                continue;
            }
            stack.extend(g.children.get(&u).into_iter().flatten().cloned());
        }
    }
    out
}

#[cfg(test)]
mod tests;
