//! The cluster tree: built once from fetched objects ([`build`]), rendered many ways (text
//! table in [`text`], JSON/YAML through serde). Fetching ([`fetch`]) is kept apart so the
//! builder can be tested on fixtures.
//!
//! JSON/YAML field names are stable: `kind`, `name`, `namespace`, `apiVersion`, `version`,
//! `deleting`, `paused`, `replicas` (`current`, `desired`, `available`, `ready`, `upToDate`),
//! `status` (the row's condition: `type`, `status`, `reason`, `message`, `severity`,
//! `lastTransitionTime`), `conditions`, `members` (for groups), `healthCheck`, `versions`,
//! `upgradePlan` and `children`.

pub mod build;
pub mod changes;
pub mod fetch;
pub mod text;

use serde::Serialize;

use crate::capi::{Condition, Generation};

/// Replica counters of a row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Machines that exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<i64>,
    /// Machines wanted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<i64>,
    /// Machines with Available=True.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    /// Machines with Ready=True.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<i64>,
    /// Machines with UpToDate=True.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_to_date: Option<i64>,
}

/// A Kubernetes version and how many machines run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionCount {
    /// Version.
    pub version: String,
    /// Machines at this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
}

/// Version distribution of a cluster (v1beta2 `status.controlPlane/workers.versions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    /// Control plane versions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub control_plane: Vec<VersionCount>,
    /// Worker versions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<VersionCount>,
}

/// Remaining upgrade steps (v1beta2 `status.*.upgradePlan`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePlan {
    /// Control plane steps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub control_plane: Vec<String>,
    /// Worker steps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<String>,
}

/// What a MachineHealthCheck watches and how it is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// Machines the check targets.
    pub targets: Vec<String>,
    /// Targets that are failing the check.
    pub unhealthy: Vec<String>,
    /// Owners of the targets (e.g. `KubeadmControlPlane/name`).
    pub owners: Vec<String>,
    /// Remediations allowed right now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediations_allowed: Option<i64>,
}

/// One row of the tree.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Kind: an object kind, `MachineGroup` for grouped machines, or a virtual kind
    /// (`WorkerGroup`, `OtherGroup`, `TemplateGroup`, `ClusterResourceSetGroup`, `Template`,
    /// `ClusterResourceSet`).
    pub kind: String,
    /// Object name, or the display name of virtual nodes ("Workers").
    pub name: String,
    /// Namespace (objects only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// apiVersion (objects only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kubernetes version shown next to the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Being deleted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
    /// Paused (spec.paused or the paused annotation).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Replica counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Counters>,
    /// The condition shown on the row (Available or Ready; v1beta1 Ready in v1beta1 mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Condition>,
    /// All conditions of the object (in the mode's format).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Names of the grouped machines (`MachineGroup` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// MachineHealthCheck details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Version distribution (Cluster only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Versions>,
    /// Upgrade plan (Cluster only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_plan: Option<UpgradePlan>,
    /// Children rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    /// Virtual (no object behind it).
    #[serde(skip)]
    pub is_virtual: bool,
}

/// The pieces of a row's label, so that the text renderer can colour them and the builder can
/// sort by the same text: `[!! DELETED !! ][Kind ]<bold>[, version][ (paused)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelParts {
    /// Being deleted.
    pub deleted: bool,
    /// The kind before the name (objects and references).
    pub kind: Option<String>,
    /// `namespace/name`, a group's `N Machines...`, or a virtual node's display name.
    pub name: String,
    /// `, <version>` when the row has one.
    pub version: Option<String>,
    /// Paused.
    pub paused: bool,
}

impl Node {
    /// What the row's label is made of.
    pub fn label_parts(&self) -> LabelParts {
        let grouping_row = matches!(
            self.kind.as_str(),
            "MachineGroup" | "WorkerGroup" | "OtherGroup" | "TemplateGroup" | "ClusterResourceSetGroup"
        ) && self.is_virtual;
        let (kind, name) = if grouping_row {
            (None, self.name.clone())
        } else if self.namespace.is_empty() {
            (Some(self.kind.clone()), self.name.clone())
        } else {
            (
                Some(self.kind.clone()),
                format!("{}/{}", self.namespace, self.name),
            )
        };
        LabelParts {
            deleted: self.deleting,
            kind,
            name,
            version: self.version.clone().filter(|v| !v.is_empty()),
            paused: self.paused,
        }
    }

    /// The row's label as printed without colours (also the sort key among siblings).
    pub fn label(&self) -> String {
        let p = self.label_parts();
        let mut s = String::new();
        if p.deleted {
            s.push_str("!! DELETED !! ");
        }
        if let Some(k) = &p.kind {
            s.push_str(k);
            s.push(' ');
        }
        s.push_str(&p.name);
        if let Some(v) = &p.version {
            s.push_str(", ");
            s.push_str(v);
        }
        if p.paused {
            s.push_str(" (paused)");
        }
        s
    }

    /// A virtual node.
    pub fn virtual_node(kind: &str, name: &str) -> Node {
        Node {
            kind: kind.into(),
            name: name.into(),
            is_virtual: true,
            ..Default::default()
        }
    }
}

/// The result of building: the root plus the condition format used.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTree {
    /// `ClusterTree`.
    pub kind: &'static str,
    /// Format of `status` and `conditions`: `v1beta2` (metav1 conditions) or `v1beta1`
    /// (with severity).
    pub conditions_format: &'static str,
    /// The root (the Cluster).
    pub tree: Node,
}

impl ClusterTree {
    /// Wraps a root built for a generation.
    pub fn new(tree: Node, g: Generation) -> ClusterTree {
        ClusterTree {
            kind: "ClusterTree",
            conditions_format: g.as_str(),
            tree,
        }
    }
}
