//! A finding: what is wrong with which object, the evidence, why it matters and what to do, and
//! the chain of symptoms above it that it explains.

use serde::Serialize;

/// How bad a finding is. An error-level finding makes `diagnose` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something is broken and will not heal by itself.
    Error,
    /// Something is stuck or at risk; it may heal, or need a hand.
    Warning,
    /// Worth knowing (e.g. a pause).
    Info,
}

impl Severity {
    /// Its name, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Subject {
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// What the finding rests on: a condition as read, or a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The condition type (v1beta2 name, or the v1beta1 one when only that was there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Its status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How long it has held, in seconds (from lastTransitionTime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_seconds: Option<i64>,
    /// A field and its value, when the finding rests on a field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Evidence {
    /// A condition as read, and how long it has held.
    pub fn of_condition(c: &crate::capi::conditions::Condition, held: Option<i64>) -> Evidence {
        Evidence {
            condition: Some(c.type_.clone()),
            status: Some(c.status.clone()),
            reason: Some(c.reason.clone()).filter(|r| !r.is_empty()),
            message: Some(c.message.clone()).filter(|m| !m.is_empty()),
            for_seconds: held,
            field: None,
        }
    }

    /// A field and its value.
    pub fn of_field(f: String) -> Evidence {
        Evidence {
            field: Some(f),
            ..Default::default()
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The signature's stable id (e.g. `MachineWithoutNode`).
    pub signature: &'static str,
    /// How bad.
    pub severity: Severity,
    /// About which object.
    pub object: Subject,
    /// What was read.
    pub evidence: Evidence,
    /// What it means.
    pub explanation: String,
    /// What to do.
    pub next_step: String,
    /// The symptoms this finding explains, top down (`Cluster ns/a: Available False`, ...).
    pub chain: Vec<String>,
}
