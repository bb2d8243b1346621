//! The report of `diagnose`: findings of one cluster or of a fleet, as text (coloured like
//! `describe`) or as a stable JSON/YAML document.

use serde::Serialize;

use super::finding::{Finding, Severity};
use crate::output::color::Palette;

/// The API version of the documents.
pub const API_VERSION: &str = "capi.kubectl.x-k8s.io/v1";

/// Counts by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Infos.
    pub infos: usize,
}

impl Counts {
    /// The counts of `findings`.
    pub fn of(findings: &[Finding]) -> Counts {
        let n = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        Counts {
            errors: n(Severity::Error),
            warnings: n(Severity::Warning),
            infos: n(Severity::Info),
        }
    }

    fn text(&self) -> String {
        if self.errors + self.warnings + self.infos == 0 {
            return "no findings".into();
        }
        format!(
            "{} error(s), {} warning(s), {} info",
            self.errors, self.warnings, self.infos
        )
    }
}

/// One cluster's diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Counts.
    pub summary: Counts,
    /// Root causes, worst first.
    pub findings: Vec<Finding>,
}

impl ClusterReport {
    /// The report of `findings` for cluster `ns/name`.
    pub fn new(namespace: &str, name: &str, findings: Vec<Finding>) -> ClusterReport {
        ClusterReport {
            namespace: namespace.into(),
            name: name.into(),
            summary: Counts::of(&findings),
            findings,
        }
    }
}

/// The document of `diagnose cluster` (`kind: Diagnosis`) or `diagnose clusters`
/// (`kind: FleetDiagnosis`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// [`API_VERSION`].
    pub api_version: &'static str,
    /// `Diagnosis` or `FleetDiagnosis`.
    pub kind: &'static str,
    /// The clusters.
    pub clusters: Vec<ClusterReport>,
}

fn badge(s: Severity, p: &Palette) -> String {
    let label = format!("{:<7}", s.as_str().to_uppercase());
    match s {
        Severity::Error => p.red(&label),
        Severity::Warning => p.yellow(&label),
        Severity::Info => p.cyan(&label),
    }
}

fn duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn finding_text(f: &Finding, p: &Palette) -> String {
    let mut out = format!(
        "{} {}  {}\n",
        badge(f.severity, p),
        p.bold(&f.object.to_string()),
        f.signature
    );
    if !f.chain.is_empty() {
        out.push_str(&format!("        because of this: {}\n", f.chain.join(" → ")));
    }
    let e = &f.evidence;
    let mut ev = vec![];
    if let (Some(c), Some(s)) = (&e.condition, &e.status) {
        ev.push(format!("{c} {s}"));
    }
    if let Some(r) = &e.reason {
        ev.push(format!("({r})"));
    }
    if let Some(secs) = e.for_seconds {
        ev.push(format!("for {}", duration(secs)));
    }
    if let Some(fld) = &e.field {
        ev.push(fld.clone());
    }
    out.push_str(&format!("        evidence: {}\n", ev.join(" ")));
    if let Some(m) = &e.message {
        out.push_str(&format!("        message: {}\n", m.replace('\n', " ")));
    }
    out.push_str(&format!("        why: {}\n", f.explanation));
    out.push_str(&format!("        next: {}\n", f.next_step));
    out
}

/// One cluster's report as text.
pub fn cluster_text(r: &ClusterReport, p: &Palette) -> String {
    let mut out = format!("Cluster {}/{}: {}\n", r.namespace, r.name, r.summary.text());
    for f in &r.findings {
        out.push('\n');
        out.push_str(&finding_text(f, p));
    }
    out
}

/// The fleet as a table: one line per cluster with its counts and its worst finding.
pub fn fleet_text(reports: &[ClusterReport]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let worst = r
                .findings
                .first()
                .map(|f| format!("{} {}", f.signature, f.object))
                .unwrap_or_default();
            vec![
                r.namespace.clone(),
                r.name.clone(),
                r.summary.errors.to_string(),
                r.summary.warnings.to_string(),
                r.summary.infos.to_string(),
                worst,
            ]
        })
        .collect();
    crate::output::table::render(
        &[
            "NAMESPACE",
            "CLUSTER",
            "ERRORS",
            "WARNINGS",
            "INFO",
            "FIRST FINDING",
        ],
        &rows,
    )
}
