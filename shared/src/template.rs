//! Cluster template variables as clusterctl processes them: `${VAR}` and `${VAR:=default}` (also
//! `${VAR:-default}` and `${VAR=default}`), values from a lookup (usually the environment).
//! Unlike a plain envsubst, a variable with neither a value nor a default is an error listing
//! every missing name, so a half-substituted template is never applied.

use std::collections::BTreeSet;

/// Variables a template needs that have neither a value nor a default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value for variables [{}] is not set; set them in the environment or pass them as flags", .0.iter().cloned().collect::<Vec<_>>().join(", "))]
pub struct MissingVariables(pub BTreeSet<String>);

/// One variable reference found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The name.
    pub name: String,
    /// The default, when the reference has one.
    pub default: Option<String>,
}

/// Every variable a template references, in order of first appearance.
pub fn variables(text: &str) -> Vec<Variable> {
    let mut out: Vec<Variable> = vec![];
    scan(text, |v| {
        if !out.iter().any(|o| o.name == v.name) {
            out.push(v.clone());
        }
        None
    });
    out
}

/// Substitutes every variable; `lookup` gives a value or None.
pub fn substitute(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, MissingVariables> {
    let mut missing = BTreeSet::new();
    let out = scan(text, |v| {
        match lookup(&v.name)
            .filter(|s| !s.is_empty())
            .or_else(|| v.default.clone())
        {
            Some(value) => Some(value),
            None => {
                missing.insert(v.name.clone());
                Some(String::new())
            }
        }
    });
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(MissingVariables(missing))
    }
}

/// Walks the `${...}` references, replacing each with what `f` returns (or leaving it).
fn scan(text: &str, mut f: impl FnMut(&Variable) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        match parse(inner) {
            Some(v) => match f(&v) {
                Some(value) => out.push_str(&value),
                None => out.push_str(&rest[start..start + 3 + end]),
            },
            // Not a variable (e.g. shell text in a script): kept as written.
            None => out.push_str(&rest[start..start + 3 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn parse(inner: &str) -> Option<Variable> {
    let (name, default) = match inner.find([':', '=']) {
        Some(i) => {
            let op = &inner[i..];
            let default = op
                .strip_prefix(":=")
                .or_else(|| op.strip_prefix(":-"))
                .or_else(|| op.strip_prefix('='))?;
            (&inner[..i], Some(default.to_string()))
        }
        None => (inner, None),
    };
    let valid = !name.is_empty()
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    valid.then(|| Variable {
        name: name.to_string(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_defaults_and_missing() {
        let t = "name: ${CLUSTER_NAME}\ncidr: ${POD_CIDR:=[\"192.168.0.0/16\"]}\nx: ${A:-b} ${C=d}\n";
        let got = substitute(t, |k| (k == "CLUSTER_NAME").then(|| "c1".to_string())).unwrap();
        assert_eq!(got, "name: c1\ncidr: [\"192.168.0.0/16\"]\nx: b d\n");
        let err = substitute("${A} ${B} ${A}", |_| None).unwrap_err();
        assert_eq!(err.0.into_iter().collect::<Vec<_>>(), vec!["A", "B"]);
    }

    #[test]
    fn lists_variables_once_and_keeps_non_variables() {
        let t = "${A} ${B:=1} ${A} ${1X} ${not valid} ${unterminated";
        let vars = variables(t);
        assert_eq!(
            vars,
            vec![
                Variable {
                    name: "A".into(),
                    default: None
                },
                Variable {
                    name: "B".into(),
                    default: Some("1".into())
                }
            ]
        );
        let got = substitute(t, |_| Some("v".into())).unwrap();
        assert_eq!(got, "v v v ${1X} ${not valid} ${unterminated");
    }
}
