//! Conditions of both generations: v1beta2 (`metav1.Condition`: type, status, reason, message,
//! lastTransitionTime) and v1beta1 (Cluster API conditions with a severity), with the polarity
//! rules used to colour and filter them.

use serde::Serialize;
use serde_json::Value;

use super::Generation;

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Condition {
    /// Condition type.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Message (may have several lines).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// v1beta1 severity (`Error`, `Warning`, `Info`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub severity: String,
    /// When the status last changed.
    #[serde(rename = "lastTransitionTime", skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Parses a list of conditions.
pub fn parse_list(v: Option<&Value>) -> Vec<Condition> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| Condition {
                    type_: s(c, "type"),
                    status: s(c, "status"),
                    reason: s(c, "reason"),
                    message: s(c, "message"),
                    severity: s(c, "severity"),
                    last_transition_time: c
                        .get("lastTransitionTime")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
                .filter(|c| !c.type_.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// New-style (v1beta2) conditions of an object. `core` says whether the object is a core
/// Cluster API kind served at `served`; provider objects are read best-effort.
pub fn v1beta2(obj: &Value, served: Generation, core: bool) -> Vec<Condition> {
    let new_style = obj.pointer("/status/v1beta2/conditions");
    if core && served == Generation::V1beta2 {
        return parse_list(obj.pointer("/status/conditions"));
    }
    if new_style.is_some() {
        return parse_list(new_style);
    }
    if core {
        return vec![];
    }
    parse_list(obj.pointer("/status/conditions"))
}

/// Old-style (v1beta1) conditions of an object.
pub fn v1beta1(obj: &Value, served: Generation, core: bool) -> Vec<Condition> {
    if core && served == Generation::V1beta2 {
        return parse_list(obj.pointer("/status/deprecated/v1beta1/conditions"));
    }
    parse_list(obj.pointer("/status/conditions"))
}

/// Finds a condition by type.
pub fn find<'a>(conds: &'a [Condition], t: &str) -> Option<&'a Condition> {
    conds.iter().find(|c| c.type_ == t)
}

/// Condition types whose normal state is False.
pub const NEGATIVE: &[&str] = &[
    "Paused",
    "Deleting",
    "RollingOut",
    "ScalingUp",
    "ScalingDown",
    "Updating",
    "Remediating",
];

/// Whether `True` is the bad state for this type.
pub fn negative_polarity(t: &str) -> bool {
    NEGATIVE.contains(&t)
}

/// Whether the condition is in its normal state (True for positive types, False for negative).
pub fn is_normal(c: &Condition) -> bool {
    if negative_polarity(&c.type_) {
        c.status == "False"
    } else {
        c.status == "True"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_generations() {
        let v2 = json!({"status": {"conditions": [{"type": "Available", "status": "True", "reason": "Available"}],
            "deprecated": {"v1beta1": {"conditions": [{"type": "Ready", "status": "False", "severity": "Warning", "reason": "X"}]}}}});
        assert_eq!(v1beta2(&v2, Generation::V1beta2, true)[0].type_, "Available");
        assert_eq!(v1beta1(&v2, Generation::V1beta2, true)[0].severity, "Warning");
        let v1 = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}], "v1beta2": {"conditions": [{"type": "Available", "status": "False"}]}}});
        assert_eq!(v1beta2(&v1, Generation::V1beta1, true)[0].status, "False");
        assert_eq!(v1beta1(&v1, Generation::V1beta1, true)[0].type_, "Ready");
        let provider = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(v1beta2(&provider, Generation::V1beta2, false).len(), 1);
        assert!(is_normal(&Condition {
            type_: "Paused".into(),
            status: "False".into(),
            ..Default::default()
        }));
        assert!(!is_normal(&Condition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            ..Default::default()
        }));
    }
}
