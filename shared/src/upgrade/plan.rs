//! The upgrade plan: from the cluster's state and a target version, the checks that must pass
//! before anything changes, and every object that will change, stage by stage. Pure: computed
//! from a [`ClusterState`], so `plan` and `apply` (and every re-run of an interrupted apply)
//! agree on what is left to do.

use serde::Serialize;
use serde_json::Value;

use super::state::{ClusterState, Member};
use super::templates::{TemplateSwap, copy_name};
use crate::capi::class::{chain, has_plan_extension, listed_versions};
use crate::capi::object::{obj_ref, str_at};
use crate::capi::target::TargetKind;
use crate::rollout::{is_paused, status};
use crate::version::Semver;
use crate::{Error, Result};

/// Kubelets may be this many minors older than the API server (upstream skew policy since 1.28).
pub const KUBELET_SKEW: u64 = 3;
/// kubeadm joins nodes at most this many minors older than the control plane.
pub const KUBEADM_SKEW: u64 = 1;

/// Who carries the version down to the Machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// The topology controller, from `spec.topology.version` (ClusterClass).
    Topology,
    /// This command, object by object (a cluster built without ClusterClass).
    Objects,
}

/// The order of the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// The Cluster's spec.topology.version.
    Topology,
    /// The control plane.
    ControlPlane,
    /// MachineDeployments.
    MachineDeployments,
    /// MachinePools.
    MachinePools,
}

impl Stage {
    /// Its heading.
    pub fn title(self) -> &'static str {
        match self {
            Stage::Topology => "Cluster topology",
            Stage::ControlPlane => "control plane",
            Stage::MachineDeployments => "MachineDeployments",
            Stage::MachinePools => "MachinePools",
        }
    }
}

/// Where a change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Progress {
    /// Not started.
    Pending,
    /// Written; the controllers are rolling Machines.
    RollingOut,
    /// Every Machine is at the target version.
    Done,
}

/// One check made before anything changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// Its name.
    pub name: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What it found.
    pub message: String,
}

/// One object that changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Its stage.
    pub stage: Stage,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Its version now.
    pub from: Option<String>,
    /// Its version after.
    pub to: String,
    /// The machine template copy it switches to (objects mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSwap>,
    /// Where it stands.
    pub progress: Progress,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Cluster name.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Who carries the version down.
    pub mode: Mode,
    /// The ClusterClass, for a topology.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// The version the cluster runs (its control plane's, or its topology's).
    pub from: String,
    /// The target.
    pub to: String,
    /// The versions the control plane goes through, one minor at a time.
    pub control_plane_steps: Vec<String>,
    /// The checks.
    pub checks: Vec<Check>,
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// The template copies to create (each once, however many objects share it).
    pub new_templates: Vec<TemplateSwap>,
    /// What the upgrade leaves alone, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Whether every check passed.
    pub allowed: bool,
    /// Whether nothing is left to do.
    pub complete: bool,
}

/// Parses a `--to` version: `v` prefix optional (the API server's defaulting adds it too).
pub fn parse_target(s: &str) -> Result<(Semver, String)> {
    let canonical = if s.starts_with('v') {
        s.to_string()
    } else {
        format!("v{s}")
    };
    match Semver::parse(&canonical) {
        Some(v) => Ok((v, canonical)),
        None => Err(Error::Usage(format!(
            "--to {s:?} is not a Kubernetes version; give one like v1.34.0 (major.minor.patch, optional -pre-release)"
        ))),
    }
}

/// `spec.machineTemplate...infrastructureRef` of a control plane, in the form the object uses.
pub fn cp_template_pointer(cp: &Value) -> &'static str {
    if cp.pointer("/spec/machineTemplate/infrastructureRef").is_some() {
        "/spec/machineTemplate/infrastructureRef"
    } else {
        "/spec/machineTemplate/spec/infrastructureRef"
    }
}

/// Where a MachineDeployment or MachinePool keeps its infrastructure reference.
pub const WORKER_TEMPLATE_POINTER: &str = "/spec/template/spec/infrastructureRef";

fn version_of(m: &Member) -> Option<&str> {
    match m.target.kind() {
        TargetKind::ControlPlane => str_at(&m.value, "/spec/version"),
        _ => str_at(&m.value, "/spec/template/spec/version"),
    }
}

fn sv(s: Option<&str>) -> Option<Semver> {
    s.and_then(Semver::parse)
}

/// Whether a member's rollout is finished and it runs `to` everywhere.
fn settled(m: &Member, to: &str) -> bool {
    let st = status::evaluate(&m.target, &m.value, None);
    let status_version = str_at(&m.value, "/status/version");
    st.complete && status_version.is_none_or(|v| v == to)
}

fn progress_of(m: &Member, to: &str) -> Progress {
    if version_of(m) != Some(to) {
        Progress::Pending
    } else if settled(m, to) {
        Progress::Done
    } else {
        Progress::RollingOut
    }
}

fn uses_kubeadm(m: &Member) -> bool {
    obj_ref(&m.value, "/spec/template/spec/bootstrap/configRef")
        .is_some_and(|r| r.kind == "KubeadmConfigTemplate")
}

fn check(name: &'static str, failures: Vec<String>, ok: String) -> Check {
    if failures.is_empty() {
        Check {
            name,
            passed: true,
            message: ok,
        }
    } else {
        Check {
            name,
            passed: false,
            message: failures.join("; "),
        }
    }
}

/// Computes the plan.
pub fn build(st: &ClusterState, to: &Semver, to_s: &str) -> Result<Plan> {
    let p = Planning::new(st, to, to_s)?;
    let mut checks = vec![
        Check {
            name: "versionFormat",
            passed: true,
            message: format!("{to_s} is a Kubernetes version"),
        },
        p.no_downgrade(),
        p.minor_steps(),
    ];
    checks.extend(p.class_versions());
    checks.extend([
        p.not_paused(),
        p.control_plane_stable(),
        p.workers_not_ahead(),
        p.version_skew(),
    ]);
    let (changes, notes) = p.changes();
    let mut new_templates: Vec<TemplateSwap> = changes.iter().filter_map(|c| c.template.clone()).collect();
    new_templates.sort();
    new_templates.dedup();
    let control_plane_steps = if p.moving && p.mode == Mode::Topology && p.gap >= 2 {
        chain(&p.from, to, to_s, &p.listed)
    } else {
        vec![to_s.to_string()]
    };
    let allowed = checks.iter().all(|c| c.passed);
    let complete = changes.iter().all(|c| c.progress == Progress::Done);
    Ok(Plan {
        cluster: st.name.clone(),
        namespace: st.namespace.clone(),
        mode: p.mode,
        class: p.class_name.clone(),
        from: p.from_s.clone(),
        to: to_s.to_string(),
        control_plane_steps,
        checks,
        changes,
        new_templates,
        notes,
        allowed,
        complete,
    })
}

/// What planning an upgrade works from: the cluster, where its version comes from (the topology
/// or the control plane), where it stands and where it goes.
struct Planning<'a> {
    st: &'a ClusterState,
    /// `Cluster NS/NAME`, for messages.
    what: String,
    cp: &'a Member,
    cp_version: String,
    /// The control plane's version, parsed (else `from`).
    cp_sv: Semver,
    mode: Mode,
    from_s: String,
    from: Semver,
    to: &'a Semver,
    to_s: &'a str,
    listed: Vec<String>,
    extension: bool,
    class_name: Option<String>,
    /// The version changes (from ≠ to).
    moving: bool,
    /// Minors between from and to (`u64::MAX` across majors).
    gap: u64,
}

impl<'a> Planning<'a> {
    fn new(st: &'a ClusterState, to: &'a Semver, to_s: &'a str) -> Result<Planning<'a>> {
        let what = format!("Cluster {}/{}", st.namespace, st.name);
        let Some(cp) = &st.control_plane else {
            return Err(Error::Refused(format!(
                "{what} has no control plane (spec.controlPlaneRef); there is no Kubernetes version to upgrade"
            )));
        };
        let Some(cp_version) = version_of(cp).map(str::to_string) else {
            return Err(Error::Refused(format!(
                "{what}: its control plane {} has no spec.version, so its Kubernetes version cannot be upgraded here",
                cp.display()
            )));
        };
        let topology_version = str_at(&st.cluster, "/spec/topology/version").map(str::to_string);
        let mode = if topology_version.is_some() && st.class.is_some() {
            Mode::Topology
        } else {
            Mode::Objects
        };
        let from_s = match (&mode, &topology_version) {
            (Mode::Topology, Some(t)) => t.clone(),
            _ => cp_version.clone(),
        };
        let from = Semver::parse(&from_s).ok_or_else(|| {
            Error::Refused(format!(
                "{what}: its current version {from_s:?} is not a Kubernetes version"
            ))
        })?;
        let gap = if to.major == from.major {
            to.minor.saturating_sub(from.minor)
        } else {
            u64::MAX
        };
        Ok(Planning {
            cp_sv: Semver::parse(&cp_version).unwrap_or_else(|| from.clone()),
            listed: listed_versions(st.class.as_ref()),
            extension: has_plan_extension(st.class.as_ref()),
            class_name: st
                .class
                .as_ref()
                .and_then(|c| str_at(c, "/metadata/name"))
                .map(str::to_string),
            moving: from_s != to_s,
            st,
            what,
            cp,
            cp_version,
            mode,
            from_s,
            from,
            to,
            to_s,
            gap,
        })
    }

    fn class(&self) -> &str {
        self.class_name.as_deref().unwrap_or("-")
    }

    /// No downgrade.
    fn no_downgrade(&self) -> Check {
        let (from_s, to_s) = (&self.from_s, self.to_s);
        let mut fails = vec![];
        if self.to.precedence(&self.from).is_lt() {
            fails.push(format!(
                "{to_s} is older than the cluster's {from_s}: Cluster API does not support downgrades"
            ));
        }
        check(
            "noDowngrade",
            fails,
            format!("{from_s} -> {to_s} does not go back"),
        )
    }

    /// One minor at a time, unless the ClusterClass chains them.
    fn minor_steps(&self) -> Check {
        let (from, to, from_s, to_s, gap) = (&self.from, self.to, &self.from_s, self.to_s, self.gap);
        let mut fails = vec![];
        let chained = self.mode == Mode::Topology && (!self.listed.is_empty() || self.extension);
        if to.major != from.major && to.precedence(from).is_gt() {
            fails.push(format!("{from_s} -> {to_s} changes the major version"));
        } else if gap >= 2 && !chained {
            let why = match self.mode {
                Mode::Objects => "this cluster has no ClusterClass to chain the steps".to_string(),
                Mode::Topology => format!(
                    "ClusterClass {} lists no spec.kubernetesVersions (and names no upgrade plan extension) to chain them",
                    self.class()
                ),
            };
            fails.push(format!(
                "{from_s} -> {to_s} skips {} minor version(s): Kubernetes upgrades one minor at a time and {why}; upgrade to a v{}.{}.x release first",
                gap - 1,
                from.major,
                from.minor + 1
            ));
        }
        let ok = if gap >= 2 {
            format!("{gap} minors, chained by ClusterClass {}", self.class())
        } else {
            "at most one minor version up".into()
        };
        check("minorSteps", fails, ok)
    }

    /// The ClusterClass's list of versions (topologies only).
    fn class_versions(&self) -> Option<Check> {
        if self.mode != Mode::Topology {
            return None;
        }
        let (listed, to_s) = (&self.listed, self.to_s);
        let mut fails = vec![];
        if !listed.is_empty() && self.moving && !listed.iter().any(|v| v == to_s) {
            fails.push(format!(
                "{to_s} is not in ClusterClass {}'s spec.kubernetesVersions ({})",
                self.class(),
                listed.join(", ")
            ));
        }
        let ok = if listed.is_empty() {
            "the ClusterClass does not restrict versions".into()
        } else {
            format!("{to_s} is listed by the ClusterClass")
        };
        Some(check("classVersions", fails, ok))
    }

    /// Nothing paused.
    fn not_paused(&self) -> Check {
        let st = self.st;
        let mut fails = vec![];
        if st.cluster.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
            fails.push(format!("{} is paused (spec.paused); unpause it first", self.what));
        }
        for m in std::iter::once(self.cp).chain(&st.deployments).chain(&st.pools) {
            if is_paused(m.target.kind(), &m.value) {
                fails.push(format!(
                    "{} is paused; run `kubectl capi rollout resume {}/{}` first",
                    m.display(),
                    m.target.resolved.resource.kind.to_ascii_lowercase(),
                    m.target.name
                ));
            }
        }
        check("notPaused", fails, "nothing is paused".into())
    }

    /// The control plane is stable before its version moves.
    fn control_plane_stable(&self) -> Check {
        let (cp, cp_version, from_s, to_s) = (self.cp, &self.cp_version, &self.from_s, self.to_s);
        let mut fails = vec![];
        let cp_moving = cp_version != to_s;
        if self.moving && cp_moving {
            if cp_version != from_s {
                fails.push(format!(
                    "{} is at {cp_version} while the topology says {from_s}: the previous upgrade is still in progress",
                    cp.display()
                ));
            } else if !settled(cp, cp_version) {
                let s = status::evaluate(&cp.target, &cp.value, None);
                fails.push(format!(
                    "{} is mid-rollout ({}); wait for it (`kubectl capi rollout status {}/{}`)",
                    cp.display(),
                    s.message,
                    cp.target.resolved.resource.kind.to_ascii_lowercase(),
                    cp.target.name
                ));
            }
        }
        let ok = if cp_moving {
            format!("{} is at {cp_version} and not rolling out", cp.display())
        } else {
            format!("{} is already at {to_s}", cp.display())
        };
        check("controlPlaneStable", fails, ok)
    }

    /// Workers never ahead of the target (the control plane goes first, so workers ahead of
    /// the control plane but not of the target are the way out of that state); in a topology,
    /// all at its version.
    fn workers_not_ahead(&self) -> Check {
        let (st, to, to_s, from_s) = (self.st, self.to, self.to_s, &self.from_s);
        let mut fails = vec![];
        let ahead = |what: String, v: &Semver| {
            format!(
                "{what} is at {v}, ahead of --to {to_s}: upgrade to {v} instead (`kubectl capi upgrade apply cluster {} -n {} --to {v}`), or bring it back to {to_s} first",
                st.name, st.namespace
            )
        };
        // Ahead of both: a downgrade's workers are noDowngrade's business.
        let too_new = |v: &Semver| v.precedence(to).is_gt() && v.precedence(&self.cp_sv).is_gt();
        for m in st.deployments.iter().chain(&st.pools) {
            if let Some(v) = sv(version_of(m))
                && too_new(&v)
            {
                fails.push(ahead(m.display(), &v));
            }
        }
        for m in &st.machines {
            if let Some(v) = sv(str_at(m, "/spec/version"))
                && too_new(&v)
            {
                let name = str_at(m, "/metadata/name").unwrap_or("");
                fails.push(ahead(format!("Machine {name}"), &v));
            }
        }
        if self.mode == Mode::Topology && self.moving {
            for m in st.deployments.iter().filter(|m| topology_owned(m)) {
                if version_of(m) != Some(from_s.as_str()) || !settled(m, from_s) {
                    fails.push(format!(
                        "{} is not yet at {from_s} (or still rolling out): the topology's previous version change is in progress",
                        m.display()
                    ));
                }
            }
        }
        let ok = format!("no MachineDeployment, MachinePool or Machine is ahead of {to_s}");
        check("workersNotAhead", fails, ok)
    }

    /// Version skew while the control plane is ahead of the workers (objects mode: the workers
    /// follow right after; their new Machines must still be able to join).
    fn version_skew(&self) -> Check {
        let (st, to, to_s) = (self.st, self.to, self.to_s);
        let mut fails = vec![];
        let members = st
            .deployments
            .iter()
            .chain(&st.pools)
            .filter(|_| self.mode == Mode::Objects);
        for m in members {
            let Some(v) = sv(version_of(m)) else { continue };
            // Workers at the control plane's version follow it right after (minorSteps bounds
            // the gap); only those already behind it can fall out of the skew.
            if v.precedence(to).is_ge() || v.precedence(&self.cp_sv).is_ge() {
                continue;
            }
            let (limit, rule) = if uses_kubeadm(m) {
                (
                    KUBEADM_SKEW,
                    "kubeadm joins nodes at most one minor older than the control plane (Cluster API preflight KubeadmVersionSkew)",
                )
            } else {
                (
                    KUBELET_SKEW,
                    "kubelets may be at most three minors older than the API server",
                )
            };
            if v.major != to.major || v.minor + limit < to.minor {
                fails.push(format!(
                    "{} is at {v}: with the control plane at {to_s} its new Machines could not join ({rule}); bring it to {} first (`kubectl capi upgrade apply cluster {} --to {}`)",
                    m.display(),
                    self.cp_version,
                    st.name,
                    self.cp_version
                ));
            }
        }
        let ok = "every worker stays within the kubelet and kubeadm skew of the control plane".into();
        check("versionSkew", fails, ok)
    }

    /// The template a member's copy will use (objects mode, not yet at the target).
    fn swap(&self, m: &Member, ptr: &str) -> Option<TemplateSwap> {
        if self.mode != Mode::Objects || version_of(m) == Some(self.to_s) {
            return None;
        }
        let r = obj_ref(&m.value, ptr)?;
        let to_name = copy_name(&r.name, self.to_s);
        (to_name != r.name).then_some(TemplateSwap {
            group: r.group,
            kind: r.kind,
            from: r.name,
            to: to_name,
        })
    }

    fn change(&self, stage: Stage, m: &Member, template: Option<TemplateSwap>) -> Change {
        Change {
            stage,
            kind: m.target.resolved.resource.kind.clone(),
            name: m.target.name.clone(),
            from: version_of(m).map(str::to_string),
            to: self.to_s.to_string(),
            template,
            progress: progress_of(m, self.to_s),
        }
    }

    /// The changes, stage by stage, and notes on what stays as it is.
    fn changes(&self) -> (Vec<Change>, Vec<String>) {
        let (st, cp) = (self.st, self.cp);
        let mut changes = vec![];
        if self.mode == Mode::Topology {
            changes.push(self.topology_change());
        }
        changes.push(self.change(
            Stage::ControlPlane,
            cp,
            self.swap(cp, cp_template_pointer(&cp.value)),
        ));
        let mut notes = vec![];
        for m in &st.deployments {
            // In a topology, the controller moves only what it owns; others are the user's.
            if self.mode == Mode::Topology && !topology_owned(m) {
                notes.push(format!(
                    "{} is not managed by the topology and stays at {}: upgrade it separately",
                    m.display(),
                    version_of(m).unwrap_or("-")
                ));
                continue;
            }
            changes.push(self.change(
                Stage::MachineDeployments,
                m,
                self.swap(m, WORKER_TEMPLATE_POINTER),
            ));
        }
        for m in &st.pools {
            // A MachinePool's infrastructureRef is its own InfraMachinePool, not a template.
            changes.push(self.change(Stage::MachinePools, m, None));
        }
        (changes, notes)
    }

    /// The topology's own change: its version, done once everything it owns is there.
    fn topology_change(&self) -> Change {
        let (st, to_s) = (self.st, self.to_s);
        let done = !self.moving
            && progress_of(self.cp, to_s) == Progress::Done
            && st
                .deployments
                .iter()
                .filter(|m| topology_owned(m))
                .all(|m| progress_of(m, to_s) == Progress::Done);
        Change {
            stage: Stage::Topology,
            kind: "Cluster".into(),
            name: st.name.clone(),
            from: Some(self.from_s.clone()),
            to: to_s.to_string(),
            template: None,
            progress: if self.moving {
                Progress::Pending
            } else if done {
                Progress::Done
            } else {
                Progress::RollingOut
            },
        }
    }
}

/// Whether the topology controller owns the object (it carries the topology's version to it).
pub fn topology_owned(m: &Member) -> bool {
    crate::capi::value::label(&m.value, crate::capi::labels::TOPOLOGY_OWNED_LABEL).is_some()
}

impl Plan {
    /// The error that refuses the upgrade, naming every failed check.
    pub fn refusal(&self) -> Error {
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("  {}: {}", c.name, c.message))
            .collect();
        Error::Refused(format!(
            "upgrade of Cluster {}/{} to {} refused before any change:\n{}",
            self.namespace,
            self.cluster,
            self.to,
            failed.join("\n")
        ))
    }

    /// The stages with something to change, in the order they run (`plan` numbers its steps
    /// and `apply` its progress headings by this list).
    pub fn stages(&self) -> Vec<Stage> {
        [
            Stage::Topology,
            Stage::ControlPlane,
            Stage::MachineDeployments,
            Stage::MachinePools,
        ]
        .into_iter()
        .filter(|s| self.changes.iter().any(|c| c.stage == *s))
        .collect()
    }

    /// The plan as text.
    pub fn text(&self, concurrency: usize) -> String {
        let mut out = format!(
            "Upgrade of Cluster {}/{} from {} to {} ({})\n\nChecks:\n",
            self.namespace,
            self.cluster,
            self.from,
            self.to,
            match self.mode {
                Mode::Topology => format!(
                    "topology of ClusterClass {}: the topology controller rolls the machines",
                    self.class.as_deref().unwrap_or("-")
                ),
                Mode::Objects => "no ClusterClass: objects are upgraded one by one".into(),
            }
        );
        for c in &self.checks {
            out += &format!(
                "  {:<6} {:<19} {}\n",
                if c.passed { "[ok]" } else { "[FAIL]" },
                c.name,
                c.message
            );
        }
        out += "\nSteps:\n";
        for (i, stage) in self.stages().into_iter().enumerate() {
            let n = i + 1;
            let items: Vec<&Change> = self.changes.iter().filter(|c| c.stage == stage).collect();
            let note = match (stage, self.mode) {
                (Stage::Topology, _) => " (patch spec.topology.version)".to_string(),
                (Stage::ControlPlane, Mode::Topology) if self.control_plane_steps.len() > 1 => {
                    format!(
                        " (by the topology controller, through {})",
                        self.control_plane_steps.join(" -> ")
                    )
                }
                (_, Mode::Topology) => " (by the topology controller)".to_string(),
                (Stage::MachineDeployments, Mode::Objects) => format!(" ({concurrency} at a time)"),
                _ => String::new(),
            };
            out += &format!("  {n}. {}{note}\n", stage.title());
            for c in items {
                out += &format!(
                    "     {}/{}  {} -> {}  {}",
                    c.kind,
                    c.name,
                    c.from.as_deref().unwrap_or("-"),
                    c.to,
                    match c.progress {
                        Progress::Pending => "pending",
                        Progress::RollingOut => "rolling out",
                        Progress::Done => "done",
                    }
                );
                if let Some(t) = &c.template {
                    out += &format!("  template {} {} -> {}", t.kind, t.from, t.to);
                }
                out.push('\n');
            }
        }
        for n in &self.notes {
            out += &format!("  note: {n}\n");
        }
        if !self.new_templates.is_empty() {
            out += "\nTemplates to create (copies; --set applies to each):\n";
            for t in &self.new_templates {
                out += &format!("  {}/{} (copy of {})\n", t.kind, t.to, t.from);
            }
        }
        out.push('\n');
        out += &if !self.allowed {
            "The upgrade would be refused: fix the failed checks first.\n".to_string()
        } else if self.complete {
            format!("Nothing to do: the cluster runs {} everywhere.\n", self.to)
        } else {
            format!(
                "Run: kubectl capi upgrade apply cluster {} -n {} --to {}\n",
                self.cluster, self.namespace, self.to
            )
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capi::catalog::Served;
    use crate::capi::target::Resolved;
    use crate::rollout::Target;
    use kube::core::ApiResource;
    use serde_json::json;

    fn member(kind: TargetKind, k: &str, group: &str, name: &str, value: Value) -> Member {
        let version = "v1beta2";
        Member {
            target: Target {
                resolved: Resolved {
                    kind,
                    resource: ApiResource {
                        group: group.into(),
                        version: version.into(),
                        api_version: format!("{group}/{version}"),
                        kind: k.into(),
                        plural: format!("{}s", k.to_ascii_lowercase()),
                    },
                    served: Served {
                        version: version.into(),
                        kind: k.into(),
                        plural: format!("{}s", k.to_ascii_lowercase()),
                        namespaced: true,
                        subresources: vec![],
                    },
                },
                ns: "default".into(),
                name: name.into(),
            },
            value,
        }
    }

    fn settled_status(n: i64) -> Value {
        json!({"observedGeneration": 1, "replicas": n, "upToDateReplicas": n, "readyReplicas": n, "availableReplicas": n})
    }

    fn cp(version: &str) -> Member {
        let mut st = settled_status(3);
        st["version"] = json!(version);
        member(
            TargetKind::ControlPlane,
            "KubeadmControlPlane",
            "controlplane.cluster.x-k8s.io",
            "cp",
            json!({"metadata": {"name": "cp", "generation": 1}, "spec": {"replicas": 3, "version": version,
                "machineTemplate": {"spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevMachineTemplate", "name": "cp-tmpl"}}}},
                "status": st}),
        )
    }

    fn md(name: &str, version: &str, template: &str) -> Member {
        member(
            TargetKind::MachineDeployment,
            "MachineDeployment",
            "cluster.x-k8s.io",
            name,
            json!({"metadata": {"name": name, "generation": 1}, "spec": {"replicas": 2, "template": {"spec": {"version": version,
                "bootstrap": {"configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfigTemplate", "name": "boot"}},
                "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DevMachineTemplate", "name": template}}}},
                "status": settled_status(2)}),
        )
    }

    fn state(cp_v: &str, mds: Vec<Member>) -> ClusterState {
        ClusterState {
            namespace: "default".into(),
            name: "edge".into(),
            cluster: json!({"metadata": {"name": "edge", "namespace": "default"}, "spec": {}}),
            control_plane: Some(cp(cp_v)),
            deployments: mds,
            pools: vec![],
            machines: vec![],
            class: None,
        }
    }

    fn plan_to(st: &ClusterState, to: &str) -> Plan {
        let (v, s) = parse_target(to).unwrap();
        build(st, &v, &s).unwrap()
    }

    fn failed(p: &Plan) -> Vec<&str> {
        p.checks.iter().filter(|c| !c.passed).map(|c| c.name).collect()
    }

    #[test]
    fn hand_built_one_minor_copies_each_template_once() {
        let st = state(
            "v1.33.0",
            vec![md("a", "v1.33.0", "workers"), md("b", "v1.33.0", "workers")],
        );
        let p = plan_to(&st, "1.34.0");
        assert!(p.allowed, "{:#?}", p.checks);
        assert_eq!(
            (p.mode, p.to.as_str(), p.complete),
            (Mode::Objects, "v1.34.0", false)
        );
        let stages: Vec<Stage> = p.changes.iter().map(|c| c.stage).collect();
        assert_eq!(
            stages,
            vec![
                Stage::ControlPlane,
                Stage::MachineDeployments,
                Stage::MachineDeployments
            ]
        );
        let names: Vec<&str> = p.new_templates.iter().map(|t| t.to.as_str()).collect();
        assert_eq!(names, vec!["cp-tmpl-v1-34-0", "workers-v1-34-0"]);
        assert!(p.text(2).contains("MachineDeployments (2 at a time)"));
    }

    #[test]
    fn refusals() {
        let st = state("v1.33.0", vec![md("a", "v1.33.0", "w")]);
        assert_eq!(failed(&plan_to(&st, "v1.35.0")), vec!["minorSteps"]);
        assert_eq!(failed(&plan_to(&st, "v1.32.9")), vec!["noDowngrade"]);
        assert_eq!(failed(&plan_to(&st, "v2.0.0")), vec!["minorSteps"]);
        // Workers ahead of the control plane: bringing the control plane up to them is the fix.
        let ahead = state("v1.33.0", vec![md("a", "v1.34.0", "w")]);
        assert_eq!(failed(&plan_to(&ahead, "v1.34.0")), Vec::<&str>::new());
        // Ahead of the target: refused, naming the command that resolves it.
        let further = state("v1.33.0", vec![md("a", "v1.33.6", "w")]);
        let p = plan_to(&further, "v1.33.5");
        assert_eq!(failed(&p), vec!["workersNotAhead"]);
        assert!(
            p.refusal().to_string().contains("--to v1.33.6"),
            "{}",
            p.refusal()
        );
        let behind = state("v1.33.0", vec![md("a", "v1.32.0", "w")]);
        let p = plan_to(&behind, "v1.34.0");
        assert_eq!(failed(&p), vec!["versionSkew"]);
        assert!(
            p.refusal().to_string().contains("--to v1.33.0"),
            "{}",
            p.refusal()
        );
        // The control plane mid-rollout.
        let mut rolling = state("v1.33.0", vec![]);
        if let Some(c) = rolling.control_plane.as_mut() {
            c.value["status"]["upToDateReplicas"] = json!(1);
        }
        assert_eq!(failed(&plan_to(&rolling, "v1.34.0")), vec!["controlPlaneStable"]);
        // Paused.
        let mut paused = state("v1.33.0", vec![md("a", "v1.33.0", "w")]);
        paused.deployments[0].value["spec"]["paused"] = json!(true);
        assert_eq!(failed(&plan_to(&paused, "v1.34.0")), vec!["notPaused"]);
        assert!(matches!(parse_target("latest"), Err(Error::Usage(_))));
    }

    #[test]
    fn resumed_plans_know_what_is_done() {
        // The control plane already moved (an earlier run); the workers have not.
        let mut st = state("v1.34.0", vec![md("a", "v1.33.0", "w")]);
        if let Some(c) = st.control_plane.as_mut() {
            c.value["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"] =
                json!("cp-tmpl-v1-34-0");
        }
        let p = plan_to(&st, "v1.34.0");
        assert!(p.allowed, "{:#?}", p.checks);
        assert_eq!(p.changes[0].progress, Progress::Done);
        assert_eq!(p.changes[0].template, None);
        assert_eq!(p.changes[1].progress, Progress::Pending);
        assert_eq!(p.new_templates.len(), 1);
        let done = state("v1.34.0", vec![md("a", "v1.34.0", "w-v1-34-0")]);
        assert!(plan_to(&done, "v1.34.0").complete);
    }

    #[test]
    fn topology_chains_through_the_class_list() {
        let mut st = state("v1.33.0", vec![]);
        st.cluster = json!({"metadata": {"name": "edge", "namespace": "default"},
            "spec": {"topology": {"classRef": {"name": "cc"}, "version": "v1.33.0"}}});
        st.class = Some(
            json!({"metadata": {"name": "cc"}, "spec": {"kubernetesVersions": ["v1.33.0", "v1.34.0", "v1.34.2", "v1.35.0"]}}),
        );
        let p = plan_to(&st, "v1.35.0");
        assert!(p.allowed, "{:#?}", p.checks);
        assert_eq!(p.mode, Mode::Topology);
        assert_eq!(p.control_plane_steps, vec!["v1.34.2", "v1.35.0"]);
        assert_eq!(p.changes[0].stage, Stage::Topology);
        assert!(p.new_templates.is_empty());
        assert_eq!(failed(&plan_to(&st, "v1.35.1")), vec!["classVersions"]);
        st.class = Some(json!({"metadata": {"name": "cc"}, "spec": {}}));
        assert_eq!(failed(&plan_to(&st, "v1.35.0")), vec!["minorSteps"]);
        // A MachineDeployment the topology does not own is left out, with a note.
        let mut owned = md("managed", "v1.33.0", "w");
        owned.value["metadata"]["labels"] = json!({"topology.cluster.x-k8s.io/owned": ""});
        st.deployments = vec![owned, md("extra", "v1.33.0", "x")];
        let p = plan_to(&st, "v1.34.0");
        let names: Vec<&str> = p.changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["edge", "cp", "managed"]);
        assert!(
            p.notes[0].starts_with("MachineDeployment/extra is not managed by the topology"),
            "{:?}",
            p.notes
        );
        assert!(p.text(1).contains("note: MachineDeployment/extra"));
    }
}
