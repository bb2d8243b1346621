//! Name, label and annotation validation with the API server's messages.

use serde_json::{Value, json};

use crate::api::error::{Cause, field_invalid};

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 label: at most 63 characters of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_label_chars(s)
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && !s.is_empty() && s.split('.').all(is_label_chars)
}

/// Lowercase letters, digits and dashes (resource plurals).
pub fn is_dns1035_label_like(s: &str) -> bool {
    is_dns1123_label(s)
}

/// Validates an object name; namespaces must be labels, everything else subdomains.
pub fn validate_name(name: &str, label_only: bool, field: &str) -> Vec<Cause> {
    let mut out = vec![];
    if label_only {
        if name.len() > 63 {
            out.push(field_invalid(
                field,
                &json!(name),
                "must be no more than 63 characters",
            ));
        }
        if !is_label_chars(name) {
            out.push(field_invalid(field, &json!(name), DNS1123_LABEL_MSG));
        }
    } else {
        if name.len() > 253 {
            out.push(field_invalid(
                field,
                &json!(name),
                "must be no more than 253 characters",
            ));
        }
        if !name.split('.').all(is_label_chars) {
            out.push(field_invalid(field, &json!(name), DNS1123_SUBDOMAIN_MSG));
        }
    }
    out
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Checks a label or annotation key: optional DNS-subdomain prefix and `/`, then a name part.
fn key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || !is_dns1123_subdomain(p))
    {
        return Some("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into());
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    if !is_qualified_name_part(name) {
        return Some("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".into());
    }
    None
}

/// Validates `metadata.labels` and `metadata.annotations`.
pub fn validate_labels_annotations(meta: &Value) -> Vec<Cause> {
    let mut out = vec![];
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(p) = key_problem(k) {
                out.push(field_invalid("metadata.labels", &json!(k), &p));
            }
            let Some(v) = v.as_str() else {
                out.push(field_invalid(
                    &format!("metadata.labels.{k}"),
                    v,
                    "label values must be strings",
                ));
                continue;
            };
            if !v.is_empty() && !is_qualified_name_part(v) {
                out.push(field_invalid(
                    "metadata.labels",
                    &json!(v),
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                ));
            }
        }
    }
    if let Some(ann) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0usize;
        for (k, v) in ann {
            if let Some(p) = key_problem(k) {
                out.push(field_invalid("metadata.annotations", &json!(k), &p));
            }
            match v.as_str() {
                Some(s) => total += k.len() + s.len(),
                None => out.push(field_invalid(
                    &format!("metadata.annotations.{k}"),
                    v,
                    "annotation values must be strings",
                )),
            }
        }
        if total > 256 * 1024 {
            out.push(Cause {
                reason: "FieldValueTooLong".into(),
                message: format!("Too long: may not be more than {} bytes", 256 * 1024),
                field: "metadata.annotations".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_dns1123_label("a-b1"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label("-a"));
        assert!(is_dns1123_subdomain("a.b-c.d"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(validate_name("Bad_Name", false, "metadata.name").len() == 1);
        assert!(validate_name("good.name", true, "metadata.name").len() == 1);
    }

    #[test]
    fn labels() {
        let ok = json!({"labels": {"cluster.x-k8s.io/cluster-name": "c1", "a": ""}, "annotations": {"x/y": "anything at all"}});
        assert!(validate_labels_annotations(&ok).is_empty());
        let bad = json!({"labels": {"bad key": "v", "k": "has space"}});
        assert_eq!(validate_labels_annotations(&bad).len(), 2);
    }
}
