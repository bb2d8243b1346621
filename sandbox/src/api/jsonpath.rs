//! The Kubernetes dialect of JSONPath, as used by CRD `additionalPrinterColumns` and scale paths.
//!
//! Supported: `.field`, `['field.with.dots']`, `[n]` (negative from the end), `[a:b]`, `[*]`,
//! `.*`, `..field` (recursive descent) and filters `[?(@.path OP literal)]` with `==`, `!=`, `<`,
//! `<=`, `>`, `>=`, or bare `[?(@.path)]` for existence. An optional `{...}` wrapper is accepted.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Wildcard,
    Recursive(String),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    lhs: Vec<Step>,
    op: Option<(Op, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed JSONPath expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
    source: String,
}

/// Why a JSONPath did not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid JSONPath {path:?}: {why}")]
pub struct JsonPathError {
    /// The expression.
    pub path: String,
    /// The problem.
    pub why: String,
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    src: &'a str,
}

impl<'a> Parser<'a> {
    fn err(&self, why: impl Into<String>) -> JsonPathError {
        JsonPathError {
            path: self.src.to_string(),
            why: why.into(),
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    /// A field name; `\.` is a literal dot (`.metadata.labels.kubernetes\.io/os`).
    fn ident(&mut self) -> String {
        let mut name = vec![];
        while let Some(c) = self.peek() {
            if c == b'\\' && self.s.get(self.i + 1).is_some() {
                name.push(self.s[self.i + 1]);
                self.i += 2;
                continue;
            }
            if c == b'.'
                || c == b'['
                || c == b' '
                || c == b')'
                || c == b'='
                || c == b'!'
                || c == b'<'
                || c == b'>'
            {
                break;
            }
            name.push(c);
            self.i += 1;
        }
        String::from_utf8_lossy(&name).into_owned()
    }

    fn steps(&mut self, stop_at_op: bool) -> Result<Vec<Step>, JsonPathError> {
        let mut steps = vec![];
        loop {
            match self.peek() {
                None => break,
                Some(b'.') => {
                    self.i += 1;
                    if self.eat(b'.') {
                        let name = self.ident();
                        if name.is_empty() {
                            return Err(self.err("expected a field name after '..'"));
                        }
                        steps.push(Step::Recursive(name));
                    } else if self.eat(b'*') {
                        steps.push(Step::Wildcard);
                    } else {
                        let name = self.ident();
                        if !name.is_empty() {
                            steps.push(Step::Field(name));
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    steps.push(self.bracket()?);
                }
                Some(b'@') if steps.is_empty() => {
                    self.i += 1;
                }
                Some(b'$') if steps.is_empty() => {
                    self.i += 1;
                }
                Some(_) if stop_at_op => break,
                Some(c) if steps.is_empty() && c.is_ascii_alphabetic() => {
                    // Paths like `spec.replicas` without the leading dot.
                    let name = self.ident();
                    steps.push(Step::Field(name));
                }
                Some(c) => return Err(self.err(format!("unexpected character {:?}", c as char))),
            }
        }
        Ok(steps)
    }

    fn bracket(&mut self) -> Result<Step, JsonPathError> {
        self.skip_ws();
        let step = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Step::Wildcard
            }
            Some(q @ (b'\'' | b'"')) => {
                // A quoted name; a backslash takes the next character literally, as in
                // `['cluster\.x-k8s\.io/cluster-name']` (upstream CRDs' printer columns).
                self.i += 1;
                let mut name = vec![];
                while let Some(c) = self.peek().filter(|c| *c != q) {
                    if c == b'\\' && self.s.get(self.i + 1).is_some() {
                        name.push(self.s[self.i + 1]);
                        self.i += 2;
                    } else {
                        name.push(c);
                        self.i += 1;
                    }
                }
                let name = String::from_utf8_lossy(&name).into_owned();
                if !self.eat(q) {
                    return Err(self.err("unterminated quoted field"));
                }
                Step::Field(name)
            }
            Some(b'?') => {
                self.i += 1;
                if !self.eat(b'(') {
                    return Err(self.err("expected '(' after '?'"));
                }
                self.skip_ws();
                let lhs = self.steps(true)?;
                self.skip_ws();
                let op = if self.eat(b')') {
                    None
                } else {
                    let op = self.op()?;
                    self.skip_ws();
                    let lit = self.literal()?;
                    self.skip_ws();
                    if !self.eat(b')') {
                        return Err(self.err("expected ')' to close the filter"));
                    }
                    Some((op, lit))
                };
                Step::Filter(Filter { lhs, op })
            }
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|c| c != b']') {
                    self.i += 1;
                }
                let inner = std::str::from_utf8(&self.s[start..self.i])
                    .map_err(|_| self.err("bad utf-8"))?
                    .trim();
                if let Some((a, b)) = inner.split_once(':') {
                    let b = b.split(':').next().unwrap_or("");
                    let parse = |x: &str| -> Result<Option<i64>, JsonPathError> {
                        let x = x.trim();
                        if x.is_empty() {
                            Ok(None)
                        } else {
                            x.parse().map(Some).map_err(|_| self.err("bad slice bound"))
                        }
                    };
                    Step::Slice(parse(a)?, parse(b)?)
                } else {
                    Step::Index(
                        inner
                            .parse()
                            .map_err(|_| self.err(format!("bad index {inner:?}")))?,
                    )
                }
            }
        };
        self.skip_ws();
        if !self.eat(b']') {
            return Err(self.err("expected ']'"));
        }
        Ok(step)
    }

    fn op(&mut self) -> Result<Op, JsonPathError> {
        let two = self.s.get(self.i..self.i + 2);
        let (op, len) = match two {
            Some(b"==") => (Op::Eq, 2),
            Some(b"!=") => (Op::Ne, 2),
            Some(b"<=") => (Op::Le, 2),
            Some(b">=") => (Op::Ge, 2),
            _ => match self.peek() {
                Some(b'<') => (Op::Lt, 1),
                Some(b'>') => (Op::Gt, 1),
                Some(b'=') => (Op::Eq, 1),
                _ => return Err(self.err("expected a comparison operator")),
            },
        };
        self.i += len;
        Ok(op)
    }

    fn literal(&mut self) -> Result<Value, JsonPathError> {
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|c| c != q) {
                    self.i += 1;
                }
                let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                if !self.eat(q) {
                    return Err(self.err("unterminated string literal"));
                }
                Ok(Value::String(s))
            }
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|c| c != b')' && c != b' ') {
                    self.i += 1;
                }
                let raw = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("bad utf-8"))?;
                match raw {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "nil" | "null" => Ok(Value::Null),
                    _ => serde_json::from_str::<Value>(raw)
                        .ok()
                        .filter(Value::is_number)
                        .ok_or_else(|| self.err(format!("bad literal {raw:?}"))),
                }
            }
        }
    }
}

impl JsonPath {
    /// Parses an expression such as `.status.conditions[?(@.type=="Ready")].status`.
    pub fn parse(src: &str) -> Result<JsonPath, JsonPathError> {
        let trimmed = src.trim();
        let inner = trimmed
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(trimmed);
        let mut p = Parser {
            s: inner.as_bytes(),
            i: 0,
            src,
        };
        let steps = p.steps(false)?;
        Ok(JsonPath {
            steps,
            source: src.to_string(),
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every value the expression selects, in document order.
    pub fn query<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        eval(&self.steps, vec![root])
    }

    /// The first value selected, if any.
    pub fn first<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.query(root).into_iter().next()
    }

    /// A document in which this path selects `leaf`, for checking printer columns against an
    /// object that has every field they read. `None` for paths that cannot be materialised
    /// (recursive descent, slices).
    pub fn example(&self, leaf: Value) -> Option<Value> {
        materialise(&self.steps, leaf)
    }

    /// For a path of plain fields (`.spec.replicas`), the field names.
    pub fn simple_fields(&self) -> Option<Vec<&str>> {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Field(f) => Some(f.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn materialise(steps: &[Step], leaf: Value) -> Option<Value> {
    let Some((first, rest)) = steps.split_first() else {
        return Some(leaf);
    };
    let inner = materialise(rest, leaf)?;
    Some(match first {
        Step::Field(name) => serde_json::json!({ name.as_str(): inner }),
        Step::Index(i) => {
            let len = if *i < 0 {
                i.unsigned_abs() as usize
            } else {
                *i as usize + 1
            };
            let mut a = vec![Value::Null; len];
            let at = index_of(len, *i)?;
            a[at] = inner;
            Value::Array(a)
        }
        Step::Wildcard => Value::Array(vec![inner]),
        Step::Filter(f) => {
            // An item that passes the filter, merged with what the rest of the path needs.
            let lit = match &f.op {
                None => Value::Bool(true),
                Some((Op::Eq | Op::Le | Op::Ge, v)) => v.clone(),
                Some(_) => return None,
            };
            let mut item = materialise(&f.lhs, lit)?;
            merge(&mut item, inner);
            Value::Array(vec![item])
        }
        Step::Slice(..) | Step::Recursive(_) => return None,
    })
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(x) => merge(x, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn eval<'v>(steps: &[Step], mut current: Vec<&'v Value>) -> Vec<&'v Value> {
    for step in steps {
        let mut next = vec![];
        for v in current {
            apply(step, v, &mut next);
        }
        current = next;
    }
    current
}

fn index_of(len: usize, i: i64) -> Option<usize> {
    let len = len as i64;
    let j = if i < 0 { len + i } else { i };
    (0..len).contains(&j).then_some(j as usize)
}

fn apply<'v>(step: &Step, v: &'v Value, out: &mut Vec<&'v Value>) {
    match step {
        Step::Field(name) => {
            if let Some(x) = v.as_object().and_then(|o| o.get(name)) {
                out.push(x);
            }
        }
        Step::Index(i) => {
            if let Some(arr) = v.as_array()
                && let Some(j) = index_of(arr.len(), *i)
            {
                out.push(&arr[j]);
            }
        }
        Step::Slice(a, b) => {
            if let Some(arr) = v.as_array() {
                let len = arr.len() as i64;
                let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let start = a.map(norm).unwrap_or(0);
                let end = b.map(norm).unwrap_or(len);
                for item in arr.iter().take(end.max(0) as usize).skip(start as usize) {
                    out.push(item);
                }
            }
        }
        Step::Wildcard => match v {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(o) => out.extend(o.values()),
            _ => {}
        },
        Step::Recursive(name) => recurse(name, v, out),
        Step::Filter(f) => {
            if let Some(arr) = v.as_array() {
                for item in arr {
                    if filter_matches(f, item) {
                        out.push(item);
                    }
                }
            }
        }
    }
}

fn recurse<'v>(name: &str, v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Object(o) => {
            if let Some(x) = o.get(name) {
                out.push(x);
            }
            for child in o.values() {
                recurse(name, child, out);
            }
        }
        Value::Array(a) => {
            for child in a {
                recurse(name, child, out);
            }
        }
        _ => {}
    }
}

fn filter_matches(f: &Filter, item: &Value) -> bool {
    let found = eval(&f.lhs, vec![item]);
    let Some((op, lit)) = &f.op else {
        return !found.is_empty();
    };
    found.iter().any(|v| compare(v, *op, lit))
}

fn compare(v: &Value, op: Op, lit: &Value) -> bool {
    match (v, lit) {
        (Value::Number(a), Value::Number(b)) => {
            let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
                return false;
            };
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Gt => a > b,
                Op::Ge => a >= b,
            }
        }
        (Value::String(a), Value::String(b)) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        },
        (a, b) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => false,
        },
    }
}

/// Reads a dotted path of plain fields (`.spec.replicas`).
pub fn get_simple<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .try_fold(root, |v, f| v.get(f))
}

/// Writes a dotted path of plain fields, creating intermediate objects.
pub fn set_simple(root: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(obj) = cur else { return };
        if i == parts.len() - 1 {
            obj.insert((*part).to_string(), value);
            return;
        }
        cur = obj
            .entry((*part).to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(path: &str, v: &Value) -> Vec<Value> {
        JsonPath::parse(path)
            .unwrap()
            .query(v)
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn fields_indexes_and_filters() {
        let v = json!({
            "spec": {"replicas": 3, "a.b": "dotted"},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Available", "status": "False"}
            ], "n": [1, 2, 3, 4]}
        });
        assert_eq!(q(".spec.replicas", &v), vec![json!(3)]);
        assert_eq!(q("{.spec.replicas}", &v), vec![json!(3)]);
        assert_eq!(q(".spec['a.b']", &v), vec![json!("dotted")]);
        // Escaped dots, in brackets (upstream printer columns) and in dotted names.
        assert_eq!(q(r".spec['a\.b']", &v), vec![json!("dotted")]);
        assert_eq!(q(r".spec.a\.b", &v), vec![json!("dotted")]);
        assert_eq!(
            q(".status.conditions[?(@.type==\"Ready\")].status", &v),
            vec![json!("True")]
        );
        assert_eq!(
            q(".status.conditions[?(@.type=='Available')].status", &v),
            vec![json!("False")]
        );
        assert_eq!(
            q(".status.conditions[?(@.type!=\"Ready\")].type", &v),
            vec![json!("Available")]
        );
        assert_eq!(q(".status.conditions[-1].type", &v), vec![json!("Available")]);
        assert_eq!(
            q(".status.conditions[*].type", &v),
            vec![json!("Ready"), json!("Available")]
        );
        assert_eq!(q(".status.n[1:3]", &v), vec![json!(2), json!(3)]);
        assert_eq!(q(".status.n[?(@ > 2)]", &v), vec![json!(3), json!(4)]);
        assert_eq!(q("..type", &v), vec![json!("Ready"), json!("Available")]);
        assert_eq!(
            q(".status.conditions[?(@.missing)].type", &v),
            Vec::<Value>::new()
        );
        assert_eq!(q(".nope.deeper", &v), Vec::<Value>::new());
        assert!(JsonPath::parse(".a[").is_err());
        assert!(JsonPath::parse(".a[?(@.x ~ 1)]").is_err());
    }

    #[test]
    fn examples_are_selected_by_their_path() {
        for p in [
            ".spec.replicas",
            ".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",
            ".status.conditions[?(@.type==\"Ready\")].status",
            ".status.v1beta2.conditions[?(@.type=='Available')].reason",
            ".items[0].name",
            ".spec.list[*].x",
        ] {
            let jp = JsonPath::parse(p).unwrap();
            let doc = jp.example(json!("x")).unwrap();
            assert_eq!(jp.first(&doc), Some(&json!("x")), "{p}: {doc}");
        }
    }

    #[test]
    fn simple_get_set() {
        let mut v = json!({});
        set_simple(&mut v, ".spec.replicas", json!(5));
        assert_eq!(get_simple(&v, ".spec.replicas"), Some(&json!(5)));
        assert_eq!(
            JsonPath::parse(".spec.replicas").unwrap().simple_fields(),
            Some(vec!["spec", "replicas"])
        );
    }
}
