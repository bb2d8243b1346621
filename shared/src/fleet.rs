//! The fleet view: one row per Cluster from a single paginated LIST, using the aggregated
//! counters Cluster API keeps on each Cluster (`status.controlPlane`, `status.workers`).

use std::collections::BTreeSet;

use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;

use crate::capi::Generation;
use crate::capi::conditions;
use crate::capi::object::{annotation, i64_at, str_at, to_value};
use crate::output::color::Palette;
use crate::output::table;
use crate::tree::text::since;

/// Ready/desired counters of a pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pool {
    /// Ready machines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<i64>,
    /// Desired machines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<i64>,
}

/// One cluster of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetRow {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// ClusterClass, for topology-managed clusters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Kubernetes versions (the topology version, else the distinct versions in use).
    pub versions: Vec<String>,
    /// Control plane machines.
    pub control_plane: Pool,
    /// Worker machines.
    pub workers: Pool,
    /// The Available condition's status (v1beta2), or Ready's (v1beta1 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<String>,
    /// Phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Creation timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Paused.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Being deleted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
}

/// Builds a row from a Cluster.
pub fn row(o: &DynamicObject, g: Generation) -> FleetRow {
    let v = to_value(o);
    let base = if g == Generation::V1beta2 {
        "/status"
    } else {
        "/status/v1beta2"
    };
    let pool = |p: &str| Pool {
        ready: i64_at(&v, &format!("{base}/{p}/readyReplicas")),
        desired: i64_at(&v, &format!("{base}/{p}/desiredReplicas")),
    };
    let mut versions: Vec<String> = vec![];
    if let Some(t) = str_at(&v, "/spec/topology/version") {
        versions.push(t.to_string());
    }
    let mut seen: BTreeSet<String> = versions.iter().cloned().collect();
    for p in ["controlPlane", "workers"] {
        for x in v
            .pointer(&format!("{base}/{p}/versions"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(ver) = x.get("version").and_then(Value::as_str)
                && seen.insert(ver.to_string())
            {
                versions.push(ver.to_string());
            }
        }
    }
    let new_conds = conditions::v1beta2(&v, g, true);
    let available = conditions::find(&new_conds, "Available")
        .map(|c| c.status.clone())
        .or_else(|| conditions::find(&conditions::v1beta1(&v, g, true), "Ready").map(|c| c.status.clone()));
    FleetRow {
        namespace: o.metadata.namespace.clone().unwrap_or_default(),
        name: o.metadata.name.clone().unwrap_or_default(),
        class: str_at(&v, "/spec/topology/classRef/name")
            .or_else(|| str_at(&v, "/spec/topology/class"))
            .map(str::to_string),
        versions,
        control_plane: pool("controlPlane"),
        workers: pool("workers"),
        available,
        phase: str_at(&v, "/status/phase").map(str::to_string),
        created: str_at(&v, "/metadata/creationTimestamp").map(str::to_string),
        paused: v.pointer("/spec/paused").and_then(Value::as_bool) == Some(true)
            || annotation(o, crate::capi::PAUSED_ANNOTATION).is_some(),
        deleting: o.metadata.deletion_timestamp.is_some(),
    }
}

fn pool_cell(p: &Pool) -> String {
    match (p.ready, p.desired) {
        (None, None) => String::new(),
        (r, d) => format!("{}/{}", r.unwrap_or(0), d.unwrap_or(0)),
    }
}

/// Renders the fleet table.
pub fn render(rows: &[FleetRow], with_namespace: bool, palette: Palette) -> String {
    let mut header = vec![];
    if with_namespace {
        header.push("NAMESPACE");
    }
    header.extend([
        "NAME",
        "CLASS",
        "VERSION",
        "CONTROL PLANE",
        "WORKERS",
        "AVAILABLE",
        "PHASE",
        "AGE",
    ]);
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![];
            if with_namespace {
                cells.push(r.namespace.clone());
            }
            let mut name = r.name.clone();
            if r.paused {
                name.push_str(" (paused)");
            }
            let available = match r.available.as_deref() {
                Some("True") => palette.green("True"),
                Some("Unknown") => palette.yellow("Unknown"),
                Some(other) => palette.red(other),
                None => String::new(),
            };
            let phase = r.phase.clone().unwrap_or_default();
            let phase = if r.deleting { palette.red(&phase) } else { phase };
            let age = r
                .created
                .as_ref()
                .map(|c| {
                    since(&conditions::Condition {
                        last_transition_time: Some(c.clone()),
                        ..Default::default()
                    })
                })
                .unwrap_or_default();
            cells.extend([
                name,
                r.class.clone().unwrap_or_default(),
                r.versions.join(","),
                pool_cell(&r.control_plane),
                pool_cell(&r.workers),
                available,
                phase,
                age,
            ]);
            cells
        })
        .collect();
    table::render(&header, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_from_both_generations() {
        let c2: DynamicObject = serde_json::from_value(json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": "a", "namespace": "ns", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"topology": {"classRef": {"name": "qs"}, "version": "v1.34.0"}},
            "status": {"phase": "Provisioned", "conditions": [{"type": "Available", "status": "True", "reason": "Available"}],
                "controlPlane": {"readyReplicas": 3, "desiredReplicas": 3, "versions": [{"version": "v1.33.0", "replicas": 3}]},
                "workers": {"readyReplicas": 1, "desiredReplicas": 2}}})).unwrap();
        let r = row(&c2, Generation::V1beta2);
        assert_eq!(r.class.as_deref(), Some("qs"));
        assert_eq!(r.versions, ["v1.34.0", "v1.33.0"]);
        assert_eq!(r.available.as_deref(), Some("True"));
        let c1: DynamicObject = serde_json::from_value(json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"name": "b", "namespace": "ns"}, "spec": {"paused": true},
            "status": {"conditions": [{"type": "Ready", "status": "False"}], "v1beta2": {"controlPlane": {"readyReplicas": 1, "desiredReplicas": 3}}}})).unwrap();
        let r1 = row(&c1, Generation::V1beta1);
        assert_eq!(r1.available.as_deref(), Some("False"));
        assert_eq!(
            r1.control_plane,
            Pool {
                ready: Some(1),
                desired: Some(3)
            }
        );
        let out = render(&[r, r1], true, Palette::plain());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "NAMESPACE",
                "NAME",
                "CLASS",
                "VERSION",
                "CONTROL",
                "PLANE",
                "WORKERS",
                "AVAILABLE",
                "PHASE",
                "AGE"
            ]
        );
        assert!(
            lines[1].contains("v1.34.0,v1.33.0") && lines[1].contains("3/3") && lines[1].contains("1/2"),
            "{out}"
        );
        assert!(
            lines[2].contains("b (paused)") && lines[2].contains("1/3"),
            "{out}"
        );
    }
}
