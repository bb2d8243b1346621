//! Reading YAML with serde-saphyr's default resource limits (they guard against runaway or
//! hostile input), and errors that say which limit a text broke in words instead of the
//! parser's internal `budget breached: Nodes { .. }`.

use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;

/// A YAML text that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.0))]
pub struct YamlError(pub serde_saphyr::Error);

/// Parses one YAML (or JSON) document.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str(text).map_err(YamlError)
}

/// Parses a stream of YAML documents.
pub fn from_str_multiple<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, YamlError> {
    serde_saphyr::from_str_multiple(text).map_err(YamlError)
}

/// The parser's message, or for a broken limit what the limit is.
pub fn describe(e: &serde_saphyr::Error) -> String {
    match e.without_snippet() {
        serde_saphyr::Error::Budget { breach, .. } => format!(
            "too large to read: {} (a limit that protects against runaway input; split or trim the file)",
            limit_broken(breach)
        ),
        _ => e.to_string(),
    }
}

fn limit_broken(breach: &BudgetBreach) -> String {
    let limits = serde_saphyr::Budget::default();
    match breach {
        BudgetBreach::Nodes { .. } => format!("more than {} keys, values and lists", limits.max_nodes),
        BudgetBreach::Events { .. } => format!("more than {} YAML parser events", limits.max_events),
        BudgetBreach::Depth { .. } => format!("nested more than {} levels deep", limits.max_depth),
        BudgetBreach::Documents { .. } => format!("more than {} documents", limits.max_documents),
        BudgetBreach::ScalarBytes { .. } => format!(
            "more than {} MiB of text in values",
            limits.max_total_scalar_bytes / (1024 * 1024)
        ),
        BudgetBreach::Aliases { .. } | BudgetBreach::AliasAnchorRatio { .. } => {
            format!("more than {} aliases, or too many per anchor", limits.max_aliases)
        }
        BudgetBreach::Anchors { .. } => format!("more than {} anchors", limits.max_anchors),
        BudgetBreach::MergeKeys { .. } => format!("more than {} merge keys", limits.max_merge_keys),
        other => format!("the parser's limit {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_limit_is_named_in_words() {
        let many: String = (0..130_000).map(|i| format!("k{i}: v\n")).collect();
        let e = from_str::<serde_json::Value>(&many).unwrap_err().to_string();
        assert!(e.contains("more than 250000 keys, values and lists"), "{e}");
        assert!(!e.contains("budget breached"), "{e}");
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let e = from_str::<serde_json::Value>(&deep).unwrap_err().to_string();
        assert!(e.contains("nested more than 64 levels deep"), "{e}");
    }

    #[test]
    fn other_errors_keep_the_parsers_message() {
        let e = from_str::<serde_json::Value>("a: [1, 2").unwrap_err().to_string();
        assert!(!e.contains("too large"), "{e}");
        assert_eq!(
            from_str::<serde_json::Value>("a: 1").unwrap(),
            serde_json::json!({"a": 1})
        );
    }
}
