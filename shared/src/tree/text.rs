//! Rendering a cluster tree as a table. v1beta2 columns: NAME, REPLICAS, AVAILABLE, READY,
//! UP-TO-DATE, STATUS, REASON, SINCE, MESSAGE; v1beta1 columns: NAME, READY, SEVERITY, REASON,
//! SINCE, MESSAGE. Long and multi-line messages continue on extra rows under the tree lines.

use k8s_openapi::jiff::Timestamp;

use super::{ClusterTree, Counters, Node};
use crate::capi::Generation;
use crate::capi::conditions::{Condition, is_normal, negative_polarity};
use crate::duration::human_seconds;
use crate::output::color::Palette;
use crate::output::table::columns;

/// One `--show-conditions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilterEntry {
    kind: Option<String>,
    name: Option<String>,
    nonzero: bool,
}

/// A `--show-conditions` value that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFilter(String);

/// Which objects show all their conditions (`--show-conditions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionFilter {
    entries: Vec<FilterEntry>,
}

impl ConditionFilter {
    /// Parses `Kind`, `Kind/name`, `all`, each with an optional `+` (only non-normal
    /// conditions), comma-separated. Whitespace is refused, as clusterctl does.
    pub fn parse(s: &str) -> Result<ConditionFilter, InvalidFilter> {
        if s.is_empty() {
            return Ok(ConditionFilter::default());
        }
        if s.chars().any(char::is_whitespace) {
            return Err(InvalidFilter(format!(
                "invalid --show-conditions value {s:?}: whitespace is not allowed"
            )));
        }
        let mut entries = vec![];
        for part in s.split(',') {
            let (part, nonzero) = match part.strip_suffix('+') {
                Some(p) => (p, true),
                None => (part, false),
            };
            if part.is_empty() {
                return Err(InvalidFilter(format!(
                    "invalid --show-conditions value {s:?}: empty entry (use Kind, Kind/name or all)"
                )));
            }
            let e = if part.eq_ignore_ascii_case("all") {
                FilterEntry {
                    kind: None,
                    name: None,
                    nonzero,
                }
            } else if let Some((k, n)) = part.split_once('/') {
                if k.is_empty() || n.is_empty() {
                    return Err(InvalidFilter(format!(
                        "invalid --show-conditions entry {part:?}: use Kind/name"
                    )));
                }
                FilterEntry {
                    kind: Some(k.to_lowercase()),
                    name: Some(n.to_string()),
                    nonzero,
                }
            } else {
                FilterEntry {
                    kind: Some(part.to_lowercase()),
                    name: None,
                    nonzero,
                }
            };
            entries.push(e);
        }
        Ok(ConditionFilter { entries })
    }

    /// Whether the node's conditions are shown, and if so whether only non-normal ones.
    fn matches(&self, n: &Node) -> Option<bool> {
        self.entries
            .iter()
            .find(|e| {
                e.kind.as_ref().is_none_or(|k| *k == n.kind.to_lowercase())
                    && e.name.as_ref().is_none_or(|x| x.eq_ignore_ascii_case(&n.name))
            })
            .map(|e| e.nonzero)
    }
}

/// Rendering options.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// `--show-conditions`.
    pub conditions: ConditionFilter,
    /// Colours.
    pub palette: Palette,
}

const WRAP: usize = 100;

/// Splits a message into display lines: existing newlines kept, lines over 100 characters
/// wrapped at spaces, bullet continuations indented under their text.
pub fn wrap(message: &str) -> Vec<String> {
    let mut out = vec![];
    for line in message.lines() {
        let lead = line.len() - line.trim_start().len();
        let indent = if line.trim_start().starts_with("* ") {
            lead + 2
        } else {
            lead
        };
        let mut rest = line.to_string();
        while rest.chars().count() > WRAP {
            let cut = rest
                .char_indices()
                .take(WRAP + 1)
                .filter(|(_, c)| *c == ' ')
                .map(|(i, _)| i)
                .filter(|i| *i > indent)
                .last();
            let Some(cut) = cut else { break };
            out.push(rest[..cut].to_string());
            rest = format!("{}{}", " ".repeat(indent), rest[cut..].trim_start());
        }
        out.push(rest);
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// `SINCE`: time since the last transition, kubectl-style.
pub fn since(c: &Condition) -> String {
    c.last_transition_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .and_then(|t| Timestamp::now().since(t).ok())
        .and_then(|s| s.total(k8s_openapi::jiff::Unit::Second).ok())
        .map(|s| human_seconds(s as i64))
        .unwrap_or_default()
}

fn status_color(p: &Palette, c: &Condition, polarity_aware: bool, mode: Generation) -> String {
    if mode == Generation::V1beta1 {
        return match (c.status.as_str(), c.severity.as_str()) {
            ("True", _) => p.green(&c.status),
            (_, "Error") => p.red(&c.status),
            (_, "Warning") => p.yellow(&c.status),
            _ => c.status.clone(),
        };
    }
    let negative = polarity_aware && negative_polarity(&c.type_);
    match c.status.as_str() {
        "Unknown" => p.yellow(&c.status),
        "True" if negative => p.red(&c.status),
        "False" if negative => p.green(&c.status),
        "True" => p.green(&c.status),
        _ => p.red(&c.status),
    }
}

/// v1beta1 rows: one line, cut at 100 characters (clusterctl's layout).
fn truncate_v1beta1(message: &str) -> String {
    let m = message.replace('\n', " ");
    if m.chars().count() > WRAP {
        format!("{} ...", m.chars().take(WRAP).collect::<String>())
    } else {
        m
    }
}

fn opt(n: Option<i64>) -> String {
    n.map(|x| x.to_string()).unwrap_or_default()
}

fn replicas_cell(c: &Counters) -> String {
    match (c.current, c.desired) {
        (Some(a), Some(b)) => format!("{a}/{b}"),
        (Some(a), None) => a.to_string(),
        (None, Some(b)) => format!("0/{b}"),
        (None, None) => String::new(),
    }
}

fn name_cell(n: &Node, p: &Palette) -> String {
    let parts = n.label_parts();
    let mut s = String::new();
    if parts.deleted {
        s.push_str(&p.red("!! DELETED !! "));
    }
    if let Some(k) = &parts.kind {
        s.push_str(&format!("{k} "));
    }
    if parts.kind.is_some() || n.kind == "MachineGroup" {
        s.push_str(&p.bold(&parts.name));
    } else {
        s.push_str(&parts.name);
    }
    if let Some(v) = &parts.version {
        s.push_str(&format!(", {v}"));
    }
    if parts.paused {
        s.push_str(&p.yellow(" (paused)"));
    }
    s
}

fn health_summary(n: &Node) -> Option<String> {
    let h = n.health_check.as_ref()?;
    let mut s = format!(
        "Targets {} Machine{}",
        h.targets.len(),
        if h.targets.len() == 1 { "" } else { "s" }
    );
    if !h.owners.is_empty() {
        s.push_str(&format!(" of {}", h.owners.join(", ")));
    }
    let healthy = n.replicas.as_ref().and_then(|r| r.ready);
    let counted = healthy.map(|h| (h_targets(n) - h).max(0) as usize).unwrap_or(0);
    if !h.unhealthy.is_empty() {
        s.push_str(&format!(
            "; {} unhealthy: {}",
            h.unhealthy.len(),
            h.unhealthy.join(", ")
        ));
    } else if counted > 0 {
        s.push_str(&format!("; {counted} unhealthy"));
    } else {
        s.push_str("; all healthy");
    }
    if let Some(r) = h.remediations_allowed {
        s.push_str(&format!(
            "; {r} remediation{} allowed",
            if r == 1 { "" } else { "s" }
        ));
    }
    Some(s)
}

fn h_targets(n: &Node) -> i64 {
    n.replicas.as_ref().and_then(|r| r.current).unwrap_or(0)
}

struct Renderer<'a> {
    opts: &'a RenderOptions,
    mode: Generation,
    rows: Vec<Vec<String>>,
}

impl Renderer<'_> {
    fn width(&self) -> usize {
        if self.mode == Generation::V1beta2 { 9 } else { 6 }
    }

    fn blank_row(&self, name: String, message: String) -> Vec<String> {
        let mut r = vec![String::new(); self.width()];
        r[0] = name;
        let last = r.len() - 1;
        r[last] = message;
        r
    }

    fn push(&mut self, n: &Node, name: String, cont: String, child_prefix: &str) {
        let p = self.opts.palette;
        // Group and other virtual rows never list conditions (clusterctl's rule).
        let show = if n.is_virtual {
            None
        } else {
            self.opts.conditions.matches(n)
        };
        // v1beta2 rows give their picked condition up to the full list; v1beta1 rows keep Ready
        // and list the others under it.
        let status = if show.is_some() && self.mode == Generation::V1beta2 {
            None
        } else {
            n.status.as_ref()
        };
        let mut message = status.map(|c| c.message.clone()).unwrap_or_default();
        if n.kind == "MachineGroup" {
            let shown: Vec<&str> = n.members.iter().take(2).map(String::as_str).collect();
            message = format!(
                "See {}{}",
                shown.join(", "),
                if n.members.len() > 2 { ", ..." } else { "" }
            );
        } else if message.is_empty() && show.is_none() {
            message = health_summary(n).unwrap_or_default();
        }
        let mut lines = if self.mode == Generation::V1beta1 {
            vec![truncate_v1beta1(&message)]
        } else {
            wrap(&message)
        };
        if n.kind == "MachineGroup" {
            lines = lines.into_iter().map(|l| p.grey(&l)).collect();
        }
        let (scell, reason, since_cell) = match status {
            Some(c) => (status_color(&p, c, false, self.mode), c.reason.clone(), since(c)),
            None => (String::new(), String::new(), String::new()),
        };
        let first = lines.first().cloned().unwrap_or_default();
        let row = if self.mode == Generation::V1beta2 {
            let c = n.replicas.clone().unwrap_or_default();
            vec![
                name,
                replicas_cell(&c),
                opt(c.available),
                opt(c.ready),
                opt(c.up_to_date),
                scell,
                reason,
                since_cell,
                first,
            ]
        } else {
            let sev = status.map(|c| c.severity.clone()).unwrap_or_default();
            vec![name, scell, sev, reason, since_cell, first]
        };
        self.rows.push(row);
        for l in lines.into_iter().skip(1) {
            let r = self.blank_row(p.grey(&cont), l);
            self.rows.push(r);
        }
        if let Some(nonzero) = show {
            self.conditions(n, nonzero, child_prefix);
        }
    }

    /// One row per condition under the object, indented as clusterctl does: the object's
    /// continuation, ten spaces, then the tree glyph and the type.
    fn conditions(&mut self, n: &Node, nonzero: bool, child_prefix: &str) {
        let p = self.opts.palette;
        let mut conds: Vec<&Condition> = n.conditions.iter().collect();
        if self.mode == Generation::V1beta1 {
            conds.retain(|c| c.type_ != "Ready");
            conds.sort_by(|a, b| a.type_.cmp(&b.type_));
        } else if nonzero {
            conds.retain(|c| {
                c.type_ == "Available" || c.type_ == "Ready" || !(is_normal(c) && c.message.is_empty())
            });
        }
        let pipe = if n.children.is_empty() { "  " } else { "│ " };
        let base = format!("{child_prefix}{pipe}{}", " ".repeat(10));
        let count = conds.len();
        for (i, c) in conds.into_iter().enumerate() {
            let last = i + 1 == count;
            let glyph = if last { "└─" } else { "├─" };
            let cont = if last { base.clone() } else { format!("{base}│ ") };
            let label = format!("{}{}", p.grey(&format!("{base}{glyph}")), p.cyan(&c.type_));
            let status = status_color(&p, c, true, self.mode);
            let lines = if self.mode == Generation::V1beta2 {
                wrap(&c.message)
            } else {
                vec![truncate_v1beta1(&c.message)]
            };
            let row = if self.mode == Generation::V1beta2 {
                vec![
                    label,
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    status,
                    c.reason.clone(),
                    since(c),
                    lines[0].clone(),
                ]
            } else {
                vec![
                    label,
                    status,
                    c.severity.clone(),
                    c.reason.clone(),
                    since(c),
                    lines[0].clone(),
                ]
            };
            self.rows.push(row);
            for l in lines.into_iter().skip(1) {
                let r = self.blank_row(p.grey(&cont), l);
                self.rows.push(r);
            }
        }
    }

    fn walk(&mut self, n: &Node, prefix: &str, child_prefix: &str) {
        let p = self.opts.palette;
        let cont = if n.children.is_empty() {
            child_prefix.to_string()
        } else {
            format!("{child_prefix}│")
        };
        self.push(
            n,
            format!("{}{}", p.grey(prefix), name_cell(n, &p)),
            cont,
            child_prefix,
        );
        let count = n.children.len();
        for (i, c) in n.children.iter().enumerate() {
            let last = i + 1 == count;
            let glyph = if last { "└─" } else { "├─" };
            let next = format!("{child_prefix}{}", if last { "  " } else { "│ " });
            self.walk(c, &format!("{child_prefix}{glyph}"), &next);
        }
    }
}

/// Renders the tree table, followed by the version distribution and upgrade plan when known.
pub fn render(tree: &ClusterTree, opts: &RenderOptions) -> String {
    let mode = Generation::parse(tree.conditions_format).unwrap_or(Generation::V1beta2);
    let mut r = Renderer {
        opts,
        mode,
        rows: vec![],
    };
    r.walk(&tree.tree, "", "");
    let header: Vec<String> = match mode {
        Generation::V1beta2 => [
            "NAME",
            "REPLICAS",
            "AVAILABLE",
            "READY",
            "UP-TO-DATE",
            "STATUS",
            "REASON",
            "SINCE",
            "MESSAGE",
        ],
        Generation::V1beta1 => [
            "NAME", "READY", "SEVERITY", "REASON", "SINCE", "MESSAGE", "", "", "",
        ],
    }
    .iter()
    .take(r.width())
    .map(|s| s.to_string())
    .collect();
    let mut out = columns(&header, &r.rows);
    let root = &tree.tree;
    let fmt = |vs: &[super::VersionCount]| {
        vs.iter()
            .map(|v| match v.replicas {
                Some(n) => format!("{} ({n})", v.version),
                None => v.version.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(v) = &root.versions {
        let mut parts = vec![];
        if !v.control_plane.is_empty() {
            parts.push(format!("control plane {}", fmt(&v.control_plane)));
        }
        if !v.workers.is_empty() {
            parts.push(format!("workers {}", fmt(&v.workers)));
        }
        out.push_str(&format!("\nKubernetes versions: {}\n", parts.join("; ")));
    }
    if let Some(plan) = &root.upgrade_plan {
        let mut parts = vec![];
        if !plan.control_plane.is_empty() {
            parts.push(format!("control plane → {}", plan.control_plane.join(" → ")));
        }
        if !plan.workers.is_empty() {
            parts.push(format!("workers → {}", plan.workers.join(" → ")));
        }
        out.push_str(&format!("Upgrade in progress: {}\n", parts.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_parsing() {
        let f = ConditionFilter::parse("Machine,KubeadmControlPlane/cp+,all+").unwrap();
        assert_eq!(f.entries.len(), 3);
        assert!(
            ConditionFilter::parse("Machine, Cluster")
                .unwrap_err()
                .to_string()
                .contains("whitespace")
        );
        assert!(ConditionFilter::parse("a,,b").is_err());
        assert!(ConditionFilter::parse("Machine/").is_err());
        let n = Node {
            kind: "Machine".into(),
            name: "m1".into(),
            ..Default::default()
        };
        assert_eq!(
            ConditionFilter::parse("machine").unwrap().matches(&n),
            Some(false)
        );
        assert_eq!(ConditionFilter::parse("Machine/m2").unwrap().matches(&n), None);
        assert_eq!(ConditionFilter::parse("all+").unwrap().matches(&n), Some(true));
    }

    #[test]
    fn wraps_long_and_bullet_messages() {
        let long = format!("* {}", "word ".repeat(30));
        let lines = wrap(&long);
        assert!(lines.len() >= 2);
        assert!(lines.iter().all(|l| l.chars().count() <= WRAP));
        assert!(lines[1].starts_with("  word"), "{lines:?}");
        assert_eq!(wrap("a\nb"), vec!["a", "b"]);
        assert_eq!(wrap(""), vec![""]);
    }
}
