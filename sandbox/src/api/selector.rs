//! Label selectors (`a=b,c in (x,y),!d`) and field selectors (`metadata.name=x`).

use std::collections::BTreeMap;

/// A label or field selector that cannot be read, and why (the API server's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSelector(String);

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// `k=v` or `k==v`.
    Eq(String, String),
    /// `k!=v`.
    Ne(String, String),
    /// `k in (a,b)`.
    In(String, Vec<String>),
    /// `k notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `k`.
    Exists(String),
    /// `!k`.
    NotExists(String),
    /// `k > n`.
    Gt(String, i64),
    /// `k < n`.
    Lt(String, i64),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector(pub Vec<Requirement>);

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax.
    pub fn parse(s: &str) -> Result<LabelSelector, InvalidSelector> {
        Self::parse_text(s).map_err(InvalidSelector)
    }

    fn parse_text(s: &str) -> Result<LabelSelector, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(LabelSelector::default());
        }
        let mut reqs = vec![];
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!(
                    "unable to parse requirement: found '', expected: identifier in {s:?}"
                ));
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// Whether labels, read through `get`, satisfy every requirement.
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::Ne(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::Gt(k, n) => get(k).and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x > *n),
            Requirement::Lt(k, n) => get(k).and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x < *n),
        })
    }

    /// Whether the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a structured `metav1.LabelSelector` (`matchLabels`, `matchExpressions`); None when
    /// it is malformed (an unknown operator), which must select nothing rather than everything.
    pub fn from_json(v: &Value) -> Option<LabelSelector> {
        let mut reqs = vec![];
        if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in m {
                reqs.push(Requirement::Eq(k.clone(), val.as_str()?.to_string()));
            }
        }
        for e in v
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = e.get("key")?.as_str()?.to_string();
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            reqs.push(match e.get("operator")?.as_str()? {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::NotExists(key),
                _ => return None,
            });
        }
        Some(LabelSelector(reqs))
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches_value(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        self.matches_with(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
    }
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let bad_key = |k: &str| {
        format!("invalid label key {k:?}: name part must consist of alphanumeric characters, '-', '_' or '.'")
    };
    let bad_val = |v: &str| {
        format!(
            "invalid label value: {v:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'"
        )
    };
    if let Some(k) = part.strip_prefix('!') {
        let k = k.trim();
        return if valid_key(k) {
            Ok(Requirement::NotExists(k.into()))
        } else {
            Err(bad_key(k))
        };
    }
    for (op, ctor) in [("!=", 0), ("==", 1), ("=", 1)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            if !valid_key(k) {
                return Err(bad_key(k));
            }
            if !valid_value(v) {
                return Err(bad_val(v));
            }
            return Ok(if ctor == 0 {
                Requirement::Ne(k.into(), v.into())
            } else {
                Requirement::Eq(k.into(), v.into())
            });
        }
    }
    for (op, is_gt) in [(">", true), ("<", false)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            if !valid_key(k) {
                return Err(bad_key(k));
            }
            let n: i64 = v
                .parse()
                .map_err(|_| format!("for 'Gt', 'Lt' operators, the value must be an integer: {v:?}"))?;
            return Ok(if is_gt {
                Requirement::Gt(k.into(), n)
            } else {
                Requirement::Lt(k.into(), n)
            });
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let k = words[0].trim();
        let rest = words[1].trim();
        let (notin, list) = if let Some(l) = rest.strip_prefix("notin") {
            (true, l)
        } else if let Some(l) = rest.strip_prefix("in") {
            (false, l)
        } else {
            return Err(format!(
                "unable to parse requirement: {part:?}: expected one of '=', '==', '!=', 'in', 'notin'"
            ));
        };
        let list = list.trim();
        let inner = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| {
                format!("unable to parse requirement: {part:?}: expected a parenthesised list of values")
            })?;
        if !valid_key(k) {
            return Err(bad_key(k));
        }
        let mut values = vec![];
        for v in inner.split(',') {
            let v = v.trim();
            if !valid_value(v) {
                return Err(bad_val(v));
            }
            values.push(v.to_string());
        }
        if values.iter().all(String::is_empty) && !notin {
            return Err(format!(
                "unable to parse requirement: {part:?}: for 'in', 'notin' operators, values set can't be empty"
            ));
        }
        return Ok(if notin {
            Requirement::NotIn(k.into(), values)
        } else {
            Requirement::In(k.into(), values)
        });
    }
    if valid_key(part) {
        return Ok(Requirement::Exists(part.into()));
    }
    Err(format!("unable to parse requirement: {part:?}"))
}

/// One requirement of a field selector.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRequirement {
    /// The field label (`metadata.name`).
    pub field: String,
    /// The value compared against.
    pub value: String,
    /// `!=` rather than `=`.
    pub negate: bool,
}

/// A parsed field selector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector(pub Vec<FieldRequirement>);

impl FieldSelector {
    /// Parses `a=b,c!=d`. `supported` lists the field labels of the resource.
    pub fn parse(s: &str, supported: &[String]) -> Result<FieldSelector, InvalidSelector> {
        Self::parse_text(s, supported).map_err(InvalidSelector)
    }

    fn parse_text(s: &str, supported: &[String]) -> Result<FieldSelector, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(FieldSelector::default());
        }
        let mut out = vec![];
        for part in s.split(',') {
            let part = part.trim();
            let (field, value, negate) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!("invalid selector: '{part}'; can't understand '{part}'"));
            };
            let field = field.trim();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !supported.iter().any(|f| f == field)
            {
                let mut known = vec![
                    "\"metadata.name\"".to_string(),
                    "\"metadata.namespace\"".to_string(),
                ];
                known.extend(supported.iter().map(|f| format!("{f:?}")));
                return Err(format!(
                    "{field:?} is not a known field selector: only {}",
                    known.join(", ")
                ));
            }
            out.push(FieldRequirement {
                field: field.into(),
                value: value.trim().into(),
                negate,
            });
        }
        Ok(FieldSelector(out))
    }

    /// The name this selector pins, if it has a `metadata.name=x` requirement.
    pub fn pinned_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|r| r.field == "metadata.name" && !r.negate)
            .map(|r| r.value.as_str())
    }

    /// Whether only metadata fields are used (no need to parse the object).
    pub fn only_metadata(&self) -> bool {
        self.0
            .iter()
            .all(|r| r.field == "metadata.name" || r.field == "metadata.namespace")
    }

    /// Whether the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Evaluates against name, namespace and (when needed) the object.
    pub fn matches(&self, name: &str, namespace: &str, obj: Option<&Value>) -> bool {
        self.0.iter().all(|r| {
            let actual: String = match r.field.as_str() {
                "metadata.name" => name.to_string(),
                "metadata.namespace" => namespace.to_string(),
                other => obj.map(|o| field_value(o, other)).unwrap_or_default(),
            };
            (actual == r.value) != r.negate
        })
    }
}

fn field_value(obj: &Value, path: &str) -> String {
    // The `source` field label of events is `source.component`.
    let path = if path == "source" {
        "source.component"
    } else {
        path
    };
    let v = path.split('.').try_fold(obj, |v, f| v.get(f));
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_semantics() {
        let l = labels(&[("tier", "a"), ("env", "prod"), ("n", "5")]);
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&l);
        assert!(m(""));
        assert!(m("tier=a"));
        assert!(m("tier==a"));
        assert!(!m("tier!=a"));
        assert!(m("tier in (a,b)"));
        assert!(!m("tier notin (a,b)"));
        assert!(m("missing notin (a)"));
        assert!(m("env,tier=a"));
        assert!(m("!missing"));
        assert!(!m("!tier"));
        assert!(m("n>4"));
        assert!(!m("n<4"));
        assert!(m("cluster.x-k8s.io/cluster-name notin (x), tier in (a)"));
        assert!(!m("cluster.x-k8s.io/cluster-name in (x), tier in (a)"));
        assert!(LabelSelector::parse("tier in (a").is_err());
        assert!(LabelSelector::parse("bad key=a").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
        assert!(LabelSelector::parse("a,,b").is_err());
    }

    #[test]
    fn field_selector() {
        let sup = vec!["type".to_string()];
        let f = FieldSelector::parse("metadata.name=x,type!=Opaque", &sup).unwrap();
        assert_eq!(f.pinned_name(), Some("x"));
        let obj = serde_json::json!({"type": "kubernetes.io/tls"});
        assert!(f.matches("x", "ns", Some(&obj)));
        assert!(!f.matches("y", "ns", Some(&obj)));
        assert_eq!(
            FieldSelector::parse("spec.foo=bar", &sup)
                .unwrap_err()
                .to_string(),
            "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\", \"type\""
        );
    }
}
