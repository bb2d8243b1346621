//! What a move prints: the plan (by `--dry-run`, as text or `-o json|yaml`), the objects left
//! behind, the preflight problems, and the summary of a finished move. Data first, rendered
//! as text or serialised; the schema is stable (camelCase, `apiVersion` of ours).

use serde::Serialize;

use super::graph::{Graph, Node};
use super::plan::Plan;

/// The API version of the documents this module serialises.
pub const API_VERSION: &str = "capi.kubectl.x-k8s.io/v1";

/// An object named in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// API group (`""` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, if namespaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The reference to a node.
    pub fn of(g: &Graph, n: &Node) -> ObjectRef {
        let t = &g.types[n.ty];
        ObjectRef {
            group: t.group.clone(),
            kind: t.kind.clone(),
            namespace: n.namespace.clone(),
            name: n.name.clone(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = if self.group.is_empty() {
            String::new()
        } else {
            format!(".{}", self.group)
        };
        match &self.namespace {
            Some(ns) => write!(f, "{}{g} {ns}/{}", self.kind, self.name),
            None => write!(f, "{}{g} {}", self.kind, self.name),
        }
    }
}

/// One moved object in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// The objects created in this step (their owners in earlier ones).
    pub objects: Vec<PlannedObject>,
}

/// A planned object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedObject {
    /// Which.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Copied, but not deleted from the source (still used there, or cluster-scoped).
    pub keep_in_source: bool,
}

/// An object that does not move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Behind {
    /// Which.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Why, in words.
    pub reason: String,
    /// Whether it was expected (its Cluster was not asked for); a move refuses unexpected ones
    /// unless allowed.
    pub expected: bool,
}

/// The plan as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    /// [`API_VERSION`].
    pub api_version: &'static str,
    /// `MovePlan`.
    pub kind: &'static str,
    /// From where (`context "x"` or a directory).
    pub source: String,
    /// To where (`context "y"`, a directory, or nothing for a plain dry run).
    pub target: Option<String>,
    /// How many objects move.
    pub count: usize,
    /// In create order.
    pub steps: Vec<Step>,
    /// What stays.
    pub left_behind: Vec<Behind>,
    /// Problems the preflight found (a dry run with a target checks it too).
    pub problems: Vec<String>,
}

impl PlanReport {
    /// The report of `plan`.
    pub fn new(g: &Graph, plan: &Plan, source: String, target: Option<String>) -> PlanReport {
        let steps = plan
            .groups
            .iter()
            .map(|gr| Step {
                objects: gr
                    .iter()
                    .map(|u| PlannedObject {
                        object: ObjectRef::of(g, &g.nodes[u]),
                        keep_in_source: plan.keep_in_source.contains(u),
                    })
                    .collect(),
            })
            .collect();
        PlanReport {
            api_version: API_VERSION,
            kind: "MovePlan",
            source,
            target,
            count: plan.moved().count(),
            steps,
            left_behind: behind(g, plan),
            problems: vec![],
        }
    }

    /// The plan as text.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Move plan: {} object(s) in {} step(s) from {}{}\n",
            self.count,
            self.steps.len(),
            self.source,
            self.target
                .as_ref()
                .map(|t| format!(" to {t}"))
                .unwrap_or_default()
        );
        for (i, st) in self.steps.iter().enumerate() {
            out.push_str(&format!("Step {} ({} object(s)):\n", i + 1, st.objects.len()));
            for o in &st.objects {
                let keep = if o.keep_in_source {
                    "  (copied; stays in the source)"
                } else {
                    ""
                };
                out.push_str(&format!("  {}{keep}\n", o.object));
            }
        }
        if !self.left_behind.is_empty() {
            out.push_str(&format!("Not moved ({}):\n", self.left_behind.len()));
            out.push_str(&behind_text(&self.left_behind));
        }
        for p in &self.problems {
            out.push_str(&format!("Would refuse: {p}\n"));
        }
        out
    }
}

/// The objects left behind, as reported.
pub fn behind(g: &Graph, plan: &Plan) -> Vec<Behind> {
    plan.left_behind
        .iter()
        .filter_map(|l| {
            let n = g.nodes.get(&l.uid)?;
            Some(Behind {
                object: ObjectRef::of(g, n),
                reason: l.reason.to_string(),
                expected: !l.reason.is_surprise(),
            })
        })
        .collect()
}

/// Lines naming objects left behind and why.
pub fn behind_text(list: &[Behind]) -> String {
    list.iter()
        .map(|b| format!("  {}: {}\n", b.object, b.reason))
        .collect()
}

/// What a finished move did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// [`API_VERSION`].
    pub api_version: &'static str,
    /// `MoveResult`.
    pub kind: &'static str,
    /// From where.
    pub source: String,
    /// To where.
    pub target: String,
    /// The move's mark (also on the paused objects while it runs).
    pub move_id: String,
    /// Objects in the plan.
    pub objects: usize,
    /// Created in the target (or saved, for a directory).
    pub created: usize,
    /// Already in the target and updated (a resumed move).
    pub updated: usize,
    /// Already in the target and left as they were (a restore, cluster-scoped objects).
    pub left_as_they_were: usize,
    /// Deleted from the source.
    pub deleted_from_source: usize,
    /// Copied but kept in the source.
    pub kept_in_source: usize,
    /// Clusters and ClusterClasses resumed in the target.
    pub resumed: usize,
    /// Whether this run finished an earlier, interrupted one.
    pub resumed_earlier_move: bool,
    /// Wall time in milliseconds.
    pub duration_ms: u128,
}

impl Summary {
    /// An empty result of a move from `source` to `target`.
    pub fn new(source: String, target: String) -> Summary {
        Summary {
            api_version: API_VERSION,
            kind: "MoveResult",
            source,
            target,
            ..Default::default()
        }
    }

    /// One line, for stdout.
    pub fn text(&self) -> String {
        let mut s = format!(
            "moved {} object(s) from {} to {}: {} created, {} updated, {} left as they were, {} deleted from the source, {} kept in the source; {} Cluster(s)/ClusterClass(es) resumed",
            self.objects,
            self.source,
            self.target,
            self.created,
            self.updated,
            self.left_as_they_were,
            self.deleted_from_source,
            self.kept_in_source,
            self.resumed
        );
        if self.resumed_earlier_move {
            s.push_str(&format!(" (finished the interrupted move {})", self.move_id));
        }
        s.push('\n');
        s
    }
}
