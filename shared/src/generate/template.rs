//! Cluster template variables as clusterctl processes them (drone/envsubst syntax): `${VAR}`,
//! defaults `${VAR:=d}`, `${VAR:-d}`, `${VAR=d}`, and the bash-like functions `${#VAR}`,
//! `${VAR^}`, `${VAR^^}`, `${VAR,}`, `${VAR,,}`, `${VAR:offset[:length]}`, `${VAR#p}`,
//! `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`, `${VAR/#p/r}` and
//! `${VAR/%p/r}` (patterns are globs with `*` and `?`). Unlike a plain envsubst, a variable with
//! neither a value nor a default is an error listing every missing name, so a half-substituted
//! template is never applied.

use std::collections::BTreeSet;

/// Variables a template needs that have neither a value nor a default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value for variables [{}] is not set; set them in the environment, in the clusterctl config file, or with flags", .0.iter().cloned().collect::<Vec<_>>().join(", "))]
pub struct MissingVariables(pub BTreeSet<String>);

/// One variable reference found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The name.
    pub name: String,
    /// The default, when the reference has one.
    pub default: Option<String>,
}

/// What a reference does with its variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// The value as is (or the default).
    Value,
    /// `${#v}`: its length in characters.
    Len,
    /// `${v^}` / `${v^^}`: upper-case the first / every character.
    Upper { all: bool },
    /// `${v,}` / `${v,,}`: lower-case the first / every character.
    Lower { all: bool },
    /// `${v:offset[:length]}`.
    Substr { offset: i64, len: Option<i64> },
    /// `${v#p}` / `${v##p}`: strip the shortest / longest prefix matching p.
    TrimPrefix { pattern: String, longest: bool },
    /// `${v%p}` / `${v%%p}`: strip the shortest / longest suffix matching p.
    TrimSuffix { pattern: String, longest: bool },
    /// `${v/p/r}` (first), `${v//p/r}` (all), `${v/#p/r}` (at start), `${v/%p/r}` (at end).
    Replace {
        pattern: String,
        with: String,
        mode: ReplaceMode,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplaceMode {
    First,
    All,
    Prefix,
    Suffix,
}

/// A parsed `${...}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    var: Variable,
    op: Op,
}

/// Every variable a template references, in order of first appearance.
pub fn variables(text: &str) -> Vec<Variable> {
    let mut out: Vec<Variable> = vec![];
    scan(text, |r| {
        if let Some(o) = out.iter_mut().find(|o| o.name == r.var.name) {
            // A default given at any reference makes the variable optional.
            if o.default.is_none() {
                o.default = r.var.default.clone();
            }
        } else {
            out.push(r.var.clone());
        }
        None
    });
    out
}

/// Substitutes every variable; `lookup` gives a value or None (an empty value counts as unset,
/// as in clusterctl).
pub fn substitute(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, MissingVariables> {
    let mut missing = BTreeSet::new();
    let out = scan(text, |r| {
        let value = lookup(&r.var.name)
            .filter(|s| !s.is_empty())
            .or_else(|| r.var.default.clone().filter(|d| !d.is_empty()));
        match value {
            Some(v) => Some(apply(&r.op, &v)),
            None => {
                missing.insert(r.var.name.clone());
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

/// A variable reference that cannot work: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BrokenReference(String);

/// References that are meant as variables but cannot work, with their line and column: an
/// unclosed `${NAME` (on its line) and a substring offset or length that is not a number that
/// fits. Other `${...}` text that is no variable (shell in a script) stays allowed.
pub fn check_syntax(text: &str) -> Result<(), BrokenReference> {
    for (i, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(at) = line[from..].find("${").map(|p| p + from) {
            let col = line[..at].chars().count() + 1;
            let after = &line[at + 2..];
            let starts_name = after
                .trim_start()
                .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            let Some(end) = after.find('}') else {
                if starts_name {
                    let shown: String = line[at..].chars().take(40).collect();
                    return Err(BrokenReference(format!(
                        "line {}, column {col}: {shown:?} is not closed with }}",
                        i + 1
                    )));
                }
                break;
            };
            let inner = after[..end].trim();
            let name_end = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            if starts_name
                && let Some(r) = inner[name_end..].strip_prefix(':')
                && !r.starts_with(['=', '-'])
                && r.split(':').all(|p| {
                    let p = p.trim();
                    !p.is_empty() && p.trim_start_matches('-').chars().all(|c| c.is_ascii_digit())
                })
                && r.split(':').any(|p| p.trim().parse::<i64>().is_err())
            {
                return Err(BrokenReference(format!(
                    "line {}, column {col}: the offset or length in \"${{{inner}}}\" is out of range",
                    i + 1
                )));
            }
            from = at + 2 + end + 1;
        }
    }
    Ok(())
}

/// Walks the `${...}` references, replacing each with what `f` returns (or leaving it).
fn scan(text: &str, mut f: impl FnMut(&Reference) -> Option<String>) -> String {
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
        match parse(inner).and_then(|r| f(&r)) {
            Some(value) => out.push_str(&value),
            // Not a variable (e.g. shell text in a script) or left alone: kept as written.
            None => out.push_str(&rest[start..start + 3 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

fn parse(inner: &str) -> Option<Reference> {
    // clusterctl normalises `${ VAR }` to `${VAR}`.
    let inner = inner.trim();
    let reference = |name: &str, default: Option<String>, op: Op| {
        valid_name(name).then(|| Reference {
            var: Variable {
                name: name.to_string(),
                default,
            },
            op,
        })
    };
    if let Some(name) = inner.strip_prefix('#') {
        return reference(name, None, Op::Len);
    }
    let end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, rest) = inner.split_at(end);
    let op = if rest.is_empty() {
        Op::Value
    } else if let Some(d) = rest
        .strip_prefix(":=")
        .or_else(|| rest.strip_prefix(":-"))
        .or_else(|| rest.strip_prefix('='))
    {
        return reference(name, Some(d.to_string()), Op::Value);
    } else if let Some(r) = rest.strip_prefix('^') {
        match r {
            "" => Op::Upper { all: false },
            "^" => Op::Upper { all: true },
            _ => return None,
        }
    } else if let Some(r) = rest.strip_prefix(',') {
        match r {
            "" => Op::Lower { all: false },
            "," => Op::Lower { all: true },
            _ => return None,
        }
    } else if let Some(r) = rest.strip_prefix(':') {
        let mut parts = r.splitn(2, ':');
        let offset = parts.next()?.trim().parse().ok()?;
        let len = match parts.next() {
            Some(l) => Some(l.trim().parse().ok()?),
            None => None,
        };
        Op::Substr { offset, len }
    } else if let Some(p) = rest.strip_prefix("##") {
        Op::TrimPrefix {
            pattern: p.into(),
            longest: true,
        }
    } else if let Some(p) = rest.strip_prefix('#') {
        Op::TrimPrefix {
            pattern: p.into(),
            longest: false,
        }
    } else if let Some(p) = rest.strip_prefix("%%") {
        Op::TrimSuffix {
            pattern: p.into(),
            longest: true,
        }
    } else if let Some(p) = rest.strip_prefix('%') {
        Op::TrimSuffix {
            pattern: p.into(),
            longest: false,
        }
    } else if let Some(r) = rest.strip_prefix('/') {
        let (mode, r) = if let Some(r) = r.strip_prefix('/') {
            (ReplaceMode::All, r)
        } else if let Some(r) = r.strip_prefix('#') {
            (ReplaceMode::Prefix, r)
        } else if let Some(r) = r.strip_prefix('%') {
            (ReplaceMode::Suffix, r)
        } else {
            (ReplaceMode::First, r)
        };
        let (pattern, with) = r.split_once('/').unwrap_or((r, ""));
        Op::Replace {
            pattern: pattern.into(),
            with: with.into(),
            mode,
        }
    } else {
        return None;
    };
    reference(name, None, op)
}

/// Applies a reference's function to a value.
fn apply(op: &Op, v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    let map_first = |f: fn(char) -> String| -> String {
        let mut it = v.chars();
        match it.next() {
            Some(c) => f(c) + it.as_str(),
            None => String::new(),
        }
    };
    match op {
        Op::Value => v.to_string(),
        Op::Len => chars.len().to_string(),
        Op::Upper { all: true } => v.to_uppercase(),
        Op::Upper { all: false } => map_first(|c| c.to_uppercase().collect()),
        Op::Lower { all: true } => v.to_lowercase(),
        Op::Lower { all: false } => map_first(|c| c.to_lowercase().collect()),
        Op::Substr { offset, len } => {
            let n = chars.len() as i64;
            // A negative offset counts from the end, as in bash.
            let start = if *offset < 0 {
                (n + offset).max(0)
            } else {
                (*offset).min(n)
            };
            let end = match len {
                Some(l) if *l < 0 => (n + l).max(start),
                Some(l) => (start + l).min(n),
                None => n,
            };
            chars[start as usize..end as usize].iter().collect()
        }
        Op::TrimPrefix { pattern, longest } => {
            let cuts: Vec<usize> = (0..=chars.len()).collect();
            let pick = |i: &usize| glob(pattern, &chars[..*i]);
            let cut = if *longest {
                cuts.iter().rev().find(|i| pick(i))
            } else {
                cuts.iter().find(|i| pick(i))
            };
            match cut {
                Some(i) => chars[*i..].iter().collect(),
                None => v.to_string(),
            }
        }
        Op::TrimSuffix { pattern, longest } => {
            let cuts: Vec<usize> = (0..=chars.len()).collect();
            let pick = |i: &usize| glob(pattern, &chars[*i..]);
            let cut = if *longest {
                cuts.iter().find(|i| pick(i))
            } else {
                cuts.iter().rev().find(|i| pick(i))
            };
            match cut {
                Some(i) => chars[..*i].iter().collect(),
                None => v.to_string(),
            }
        }
        Op::Replace { pattern, with, mode } => replace(&chars, pattern, with, *mode),
    }
}

fn replace(chars: &[char], pattern: &str, with: &str, mode: ReplaceMode) -> String {
    let n = chars.len();
    if pattern.is_empty() {
        return chars.iter().collect();
    }
    // The longest match starting at `i` (bash semantics), if any.
    let match_at = |i: usize, to_end: bool| -> Option<usize> {
        if to_end {
            return glob(pattern, &chars[i..]).then_some(n);
        }
        (i..=n).rev().find(|&j| j > i && glob(pattern, &chars[i..j]))
    };
    match mode {
        ReplaceMode::Prefix => match match_at(0, false) {
            Some(j) => with.chars().chain(chars[j..].iter().copied()).collect(),
            None => chars.iter().collect(),
        },
        ReplaceMode::Suffix => match (0..n).find_map(|i| match_at(i, true).map(|_| i)) {
            Some(i) => chars[..i].iter().collect::<String>() + with,
            None => chars.iter().collect(),
        },
        ReplaceMode::First | ReplaceMode::All => {
            let mut out = String::new();
            let mut i = 0;
            let mut done = false;
            while i < n {
                if !done && let Some(j) = match_at(i, false) {
                    out.push_str(with);
                    i = j;
                    done = mode == ReplaceMode::First;
                    continue;
                }
                out.push(chars[i]);
                i += 1;
            }
            out
        }
    }
}

/// Whether `text` matches the glob `pattern` (`*` any run, `?` one character).
fn glob(pattern: &str, text: &[char]) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < text.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == text[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_references_are_reported_with_line_and_column() {
        let e = check_syntax("a: 1\nname: ${CLUSTER_NAME\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("line 2, column 7: \"${CLUSTER_NAME\" is not closed"),
            "{e}"
        );
        let e = check_syntax("x: ${FOO:0:99999999999999999999}\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 1, column 4: the offset or length"), "{e}");
        assert!(check_syntax("ok: ${A:1:2} ${B:=x} ${C:-y} ${@} $${not} ${ D }\nrun: echo ${").is_ok());
    }

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

    #[test]
    fn empty_default_is_required_and_spaces_are_normalised() {
        let err = substitute("${A:=} ${ B }", |_| None).unwrap_err();
        assert_eq!(err.0.into_iter().collect::<Vec<_>>(), vec!["A", "B"]);
        assert_eq!(substitute("${ B }", |_| Some("x".into())).unwrap(), "x");
        // A default anywhere makes the variable optional in the listing.
        let vars = variables("${A} ${A:=1}");
        assert_eq!(vars[0].default.as_deref(), Some("1"));
    }

    #[test]
    fn bash_like_functions() {
        let v = |name: &str| match name {
            "N" => Some("my-cluster.example.com".to_string()),
            "P" => Some("/usr/local/bin".to_string()),
            "E" => Some("ébc".to_string()),
            _ => None,
        };
        let cases = [
            ("${#N}", "22"),
            ("${E^}", "Ébc"),
            ("${N^^}", "MY-CLUSTER.EXAMPLE.COM"),
            ("${N,}", "my-cluster.example.com"),
            ("${N:3}", "cluster.example.com"),
            ("${N:3:7}", "cluster"),
            ("${N:-3}", "my-cluster.example.com"),
            ("${N: -3}", "com"),
            ("${N#*.}", "example.com"),
            ("${N##*.}", "com"),
            ("${N%.*}", "my-cluster.example"),
            ("${N%%.*}", "my-cluster"),
            ("${P#/usr}", "/local/bin"),
            ("${N/./-}", "my-cluster-example.com"),
            ("${N//./-}", "my-cluster-example-com"),
            ("${N/#my/your}", "your-cluster.example.com"),
            ("${N/%com/org}", "my-cluster.example.org"),
            ("${N/#x/y}", "my-cluster.example.com"),
            ("${N//?/x}", "xxxxxxxxxxxxxxxxxxxxxx"),
        ];
        for (t, want) in cases {
            assert_eq!(substitute(t, v).unwrap(), want, "{t}");
        }
        let err = substitute("${MISSING^^}", v).unwrap_err();
        assert!(err.0.contains("MISSING"));
    }

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| glob(p, &t.chars().collect::<Vec<_>>());
        assert!(g("*", ""));
        assert!(g("a*c", "abbbc"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "ac"));
        assert!(!g("abc", "abd"));
    }
}
