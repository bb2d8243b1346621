//! `upgrade apply`: carries out a [`Plan`]. A topology's version is one patch of the Cluster; a
//! cluster built without ClusterClass is upgraded object by object: template copies, then the
//! control plane (version and template in one patch), then MachineDeployments (a few at a time),
//! then MachinePools, waiting for each stage's rollout before the next. Every step is
//! idempotent and the plan is recomputed from the cluster on every run, so running the same
//! command again after an interruption continues where it stopped.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use serde::Serialize;
use serde_json::{Value, json};

use super::plan::{self, Change, Mode, Plan, Progress, Stage, WORKER_TEMPLATE_POINTER, cp_template_pointer};
use super::progress::Reporter;
use super::state::{self, ClusterState, Member};
use super::templates::{self, Cleanup, SetField};
use crate::capi::Catalog;
use crate::capi::object::obj_ref;
use crate::client::Kube;
use crate::flags::WriteMode;
use crate::rollout::history::{self, RECORD_ANNOTATION};
use crate::rollout::{merge_patch_at, restart, status};
use crate::tree::fetch::core;
use crate::{Error, Result};

/// How to apply.
#[derive(Debug, Clone)]
pub struct Options {
    /// The target version, as given.
    pub to: String,
    /// Fields set on every template copy.
    pub sets: Vec<SetField>,
    /// Send every write with dryRun=All and stop there, or store them.
    pub write: WriteMode,
    /// Wait for each stage (else do what can be done now and return).
    pub wait: bool,
    /// How long to wait in all.
    pub timeout: Duration,
    /// MachineDeployments (and MachinePools) upgraded at once.
    pub concurrency: usize,
    /// Delete the templates nothing references once the upgrade is complete.
    pub cleanup_templates: bool,
}

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The plan as it stood when this run started.
    pub plan: Plan,
    /// Template copies created (`Kind/name`).
    pub created: Vec<String>,
    /// Objects patched (`Kind/name`).
    pub patched: Vec<String>,
    /// Whether the whole cluster runs the target version.
    pub complete: bool,
    /// Whether this was a server dry run.
    pub dry_run: bool,
    /// What cleaning up templates did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<Cleanup>,
    /// One line about where the upgrade stands.
    pub message: String,
}

impl Outcome {
    /// The outcome as text.
    pub fn text(&self) -> String {
        let dry = if self.dry_run {
            WriteMode::ServerDryRun.suffix()
        } else {
            ""
        };
        let mut out = String::new();
        for c in &self.created {
            out += &format!("{c} created{dry}\n");
        }
        for p in &self.patched {
            out += &format!("{p} patched{dry}\n");
        }
        if let Some(c) = &self.cleanup {
            for d in &c.deleted {
                out += &format!("{d} deleted{dry}\n");
            }
            for (k, why) in &c.kept {
                out += &format!("{k} kept: {why}\n");
            }
        }
        out += &self.message;
        out.push('\n');
        out
    }
}

fn is_conflict(e: &Error) -> bool {
    e.is_conflict()
}

/// Deep-merges `b` into `a` (objects key by key; anything else replaced).
fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

/// The merge patch moving a control plane to `to` (and to a template copy) in one request,
/// guarded by the resourceVersion it was computed from.
pub fn control_plane_patch(cp: &Value, to: &str, template: Option<&str>) -> Value {
    let mut p = json!({
        "metadata": {"resourceVersion": cp.pointer("/metadata/resourceVersion")},
        "spec": {"version": to},
    });
    if let Some(t) = template {
        merge(
            &mut p,
            merge_patch_at(&format!("{}/name", cp_template_pointer(cp)), json!(t)),
        );
    }
    p
}

/// The merge patch moving a MachineDeployment or MachinePool to `to`, recording its outgoing
/// template for `rollout undo` when `record` is given.
pub fn worker_patch(w: &Value, to: &str, template: Option<&str>, record: Option<String>) -> Value {
    let mut p = json!({
        "metadata": {"resourceVersion": w.pointer("/metadata/resourceVersion")},
        "spec": {"template": {"spec": {"version": to}}},
    });
    if let Some(t) = template {
        merge(
            &mut p,
            merge_patch_at(&format!("{WORKER_TEMPLATE_POINTER}/name"), json!(t)),
        );
    }
    if let Some(r) = record {
        p["metadata"]["annotations"] = json!({ RECORD_ANNOTATION: r });
    }
    p
}

/// What one object of a stage did: template created, object patched, rollout finished.
type StageStep = (Option<String>, Option<String>, bool);

struct Run<'a> {
    kube: &'a Kube,
    catalog: &'a Catalog,
    opts: &'a Options,
    rep: &'a dyn Reporter,
    st: ClusterState,
    plan: Plan,
    deadline: tokio::time::Instant,
    now: String,
    created: Vec<String>,
    patched: Vec<String>,
}

impl Run<'_> {
    fn member(&self, c: &Change) -> Option<&Member> {
        let list: Box<dyn Iterator<Item = &Member>> = match c.stage {
            Stage::ControlPlane => Box::new(self.st.control_plane.iter()),
            Stage::MachineDeployments => Box::new(self.st.deployments.iter()),
            Stage::MachinePools => Box::new(self.st.pools.iter()),
            Stage::Topology => Box::new(std::iter::empty()),
        };
        list.into_iter().find(|m| m.target.name == c.name)
    }

    async fn patch(&self, m: &Member, body: &Value) -> Result<()> {
        let pp = PatchParams {
            dry_run: self.opts.write.is_dry_run(),
            ..Default::default()
        };
        self.kube
            .call(
                &format!("patching {}", m.display()),
                self.kube
                    .api(&m.target.resolved.resource, Some(&m.target.ns))
                    .patch(&m.target.name, &pp, &Patch::Merge(body)),
            )
            .await
            .map(|_| ())
    }

    /// Writes one change (template copy, then the object); returns what it created.
    async fn write(&self, c: &Change) -> Result<(Option<String>, String)> {
        let m = self
            .member(c)
            .ok_or_else(|| Error::Other(format!("{}/{} vanished from the plan", c.kind, c.name)))?;
        let mut created = None;
        if let Some(sw) = &c.template {
            let copying = templates::Copying {
                ns: &self.st.namespace,
                cluster: &self.st.cluster,
                to: &self.plan.to,
                sets: &self.opts.sets,
                write: self.opts.write,
            };
            let made = templates::ensure_copy(self.kube, self.catalog, &copying, sw).await?;
            if made {
                created = Some(format!("{}/{}", sw.kind, sw.to));
            }
        }
        let template = c.template.as_ref().map(|t| t.to.as_str());
        let body = match c.stage {
            Stage::ControlPlane => control_plane_patch(&m.value, &self.plan.to, template),
            Stage::MachineDeployments => {
                let reason = format!("before kubectl capi upgrade to {}", self.plan.to);
                worker_patch(
                    &m.value,
                    &self.plan.to,
                    template,
                    Some(history::record_value(&m.value, &reason, &self.now)),
                )
            }
            _ => worker_patch(&m.value, &self.plan.to, template, None),
        };
        self.patch(m, &body).await?;
        Ok((created, m.display()))
    }

    /// Follows one object until its rollout completes and, where its status reports a version
    /// (control planes), that version is the target; false at the deadline.
    async fn wait_for(&self, m: &Member) -> Result<bool> {
        let what = m.display();
        loop {
            let s = status::follow_status(self.kube, self.catalog, &m.target, true, self.deadline, |s| {
                self.rep.object(&what, s)
            })
            .await?;
            if !s.complete {
                return Ok(false);
            }
            let now = crate::capi::object::to_value(&m.target.get(self.kube).await?);
            if crate::capi::object::str_at(&now, "/status/version").is_none_or(|v| v == self.plan.to) {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= self.deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn timed_out(&self, what: &str) -> Error {
        Error::Timeout(format!(
            "timed out after {} waiting for {what}; nothing is lost: run the same command again to continue",
            crate::duration::human(self.opts.timeout)
        ))
    }

    fn stage_changes(&self, stage: Stage) -> Vec<Change> {
        self.plan
            .changes
            .iter()
            .filter(|c| c.stage == stage)
            .cloned()
            .collect()
    }

    /// A stage of objects: write the pending ones and wait, `concurrency` at a time. Returns
    /// whether the stage is complete.
    async fn objects_stage(&mut self, stage: Stage) -> Result<bool> {
        let changes = self.stage_changes(stage);
        if changes.iter().all(|c| c.progress == Progress::Done) {
            return Ok(true);
        }
        let limit = if stage == Stage::ControlPlane {
            1
        } else {
            self.opts.concurrency.max(1)
        };
        if self.opts.write.is_dry_run() || !self.opts.wait {
            // Start what may start now: at most `limit` rolling at once.
            let rolling = changes
                .iter()
                .filter(|c| c.progress == Progress::RollingOut)
                .count();
            let room = if self.opts.write.is_dry_run() {
                usize::MAX
            } else {
                limit.saturating_sub(rolling)
            };
            let pending: Vec<&Change> = changes
                .iter()
                .filter(|c| c.progress == Progress::Pending)
                .take(room)
                .collect();
            for c in pending {
                let (made, patched) = self.write(c).await?;
                self.created.extend(made);
                self.patched.push(patched);
            }
            return Ok(self.opts.write.is_dry_run());
        }
        let this = &*self;
        let results: Vec<Result<StageStep>> = futures::stream::iter(changes.iter())
            .map(|c| async move {
                let mut out = (None, None, true);
                if c.progress == Progress::Pending {
                    let (made, patched) = this.write(c).await?;
                    out.0 = made;
                    out.1 = Some(patched);
                }
                if let Some(m) = this.member(c) {
                    out.2 = this.wait_for(m).await?;
                }
                Ok(out)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        let mut complete = true;
        let mut first_err = None;
        for r in results {
            match r {
                Ok((made, patched, done)) => {
                    self.created.extend(made);
                    self.patched.extend(patched);
                    complete &= done;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok(complete)
    }

    async fn topology(&mut self) -> Result<bool> {
        let change = self.stage_changes(Stage::Topology);
        if change.first().is_some_and(|c| c.progress == Progress::Pending) {
            let car = core(self.kube, self.catalog, "Cluster").await?;
            let body = json!({
                "metadata": {"resourceVersion": self.st.cluster.pointer("/metadata/resourceVersion")},
                "spec": {"topology": {"version": self.plan.to}},
            });
            let pp = PatchParams {
                dry_run: self.opts.write.is_dry_run(),
                ..Default::default()
            };
            self.kube
                .call(
                    &format!("patching Cluster {}/{}", self.st.namespace, self.st.name),
                    self.kube.api(&car, Some(&self.st.namespace)).patch(
                        &self.st.name,
                        &pp,
                        &Patch::Merge(&body),
                    ),
                )
                .await?;
            self.patched.push(format!("Cluster/{}", self.st.name));
        }
        if self.opts.write.is_dry_run() || !self.opts.wait {
            return Ok(false);
        }
        let members: Vec<Member> = self
            .st
            .control_plane
            .iter()
            .chain(self.st.deployments.iter().filter(|m| plan::topology_owned(m)))
            .cloned()
            .collect();
        // Numbered as `plan` numbers its steps.
        let stages = self.plan.stages();
        let number = |s: Stage| {
            stages
                .iter()
                .position(|x| *x == s)
                .map_or(stages.len(), |i| i + 1)
        };
        if stages.contains(&Stage::Topology) {
            self.rep
                .stage(number(Stage::Topology), stages.len(), "Cluster topology");
            self.rep
                .note(&format!("spec.topology.version is {}", self.plan.to));
        }
        let mut shown: Option<Stage> = None;
        for (i, m) in members.iter().enumerate() {
            let stage = if i == 0 && self.st.control_plane.is_some() {
                Stage::ControlPlane
            } else {
                Stage::MachineDeployments
            };
            if shown != Some(stage) {
                let title = format!("{} (topology controller)", stage.title());
                self.rep.stage(number(stage), stages.len(), &title);
                shown = Some(stage);
            }
            if !self.wait_for(m).await? {
                return Err(self.timed_out(&m.display()));
            }
        }
        Ok(true)
    }

    async fn objects(&mut self) -> Result<bool> {
        let present: Vec<Stage> = self
            .plan
            .stages()
            .into_iter()
            .filter(|s| *s != Stage::Topology)
            .collect();
        for (i, stage) in present.iter().enumerate() {
            if self.opts.wait && !self.opts.write.is_dry_run() {
                self.rep.stage(i + 1, present.len(), stage.title());
            }
            let done = self.objects_stage(*stage).await?;
            if !done {
                if self.opts.wait && !self.opts.write.is_dry_run() {
                    return Err(self.timed_out(&format!("the {}", stage.title())));
                }
                return Ok(false);
            }
        }
        Ok(!self.opts.write.is_dry_run())
    }
}

/// The machine templates the cluster uses now: (group, kind, name).
fn templates_in_use(st: &ClusterState) -> BTreeSet<(String, String, String)> {
    let refs = st
        .control_plane
        .iter()
        .filter_map(|cp| obj_ref(&cp.value, cp_template_pointer(&cp.value)))
        .chain(
            st.deployments
                .iter()
                .filter_map(|m| obj_ref(&m.value, WORKER_TEMPLATE_POINTER)),
        );
    refs.map(|r| (r.group, r.kind, r.name)).collect()
}

async fn run_once(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    name: &str,
    opts: &Options,
    rep: &dyn Reporter,
    deadline: tokio::time::Instant,
) -> Result<Outcome> {
    let (to, to_s) = plan::parse_target(&opts.to)?;
    let st = state::load(kube, catalog, ns, name).await?;
    let plan = plan::build(&st, &to, &to_s)?;
    if !plan.allowed {
        return Err(plan.refusal());
    }
    let now = restart::server_now(kube).await?.to_string();
    let mode = plan.mode;
    let mut run = Run {
        kube,
        catalog,
        opts,
        rep,
        st,
        plan: plan.clone(),
        deadline,
        now,
        created: vec![],
        patched: vec![],
    };
    let complete = if plan.complete {
        true
    } else {
        match mode {
            Mode::Topology => run.topology().await?,
            Mode::Objects => run.objects().await?,
        }
    };
    let cleanup = if opts.cleanup_templates && complete && mode == Mode::Objects {
        // Read again: the rollouts changed which templates are referenced.
        let st = state::load(kube, catalog, ns, name).await?;
        let cp_ar = st
            .control_plane
            .as_ref()
            .map(|m| m.target.resolved.resource.clone());
        Some(
            templates::cleanup(
                kube,
                catalog,
                ns,
                name,
                &templates_in_use(&st),
                cp_ar.as_ref(),
                opts.write,
            )
            .await?,
        )
    } else {
        None
    };
    let who = format!("Cluster {ns}/{name}");
    let message = if opts.write.is_dry_run() {
        format!(
            "{who}: upgrade to {} accepted by the API server (server dry run; nothing was changed, and later stages were checked as if the earlier ones had finished)",
            plan.to
        )
    } else if plan.complete {
        format!("{who} already runs {} everywhere; nothing to do", plan.to)
    } else if complete {
        format!("{who} upgraded to {}", plan.to)
    } else {
        match mode {
            Mode::Topology => format!(
                "{who}: spec.topology.version is {}; the topology controller rolls the control plane, then the workers (follow with `kubectl capi rollout status cluster/{name}`)",
                plan.to
            ),
            Mode::Objects => format!(
                "{who}: upgrade to {} started; run the same command again to continue once the current stage has rolled out (or use --wait)",
                plan.to
            ),
        }
    };
    if opts.cleanup_templates && !complete && !opts.write.is_dry_run() {
        rep.note("--cleanup-templates: skipped until the upgrade is complete");
    }
    Ok(Outcome {
        plan,
        created: run.created,
        patched: run.patched,
        complete,
        dry_run: opts.write.is_dry_run(),
        cleanup,
        message,
    })
}

/// Applies the upgrade of Cluster `ns/name`; on a resourceVersion conflict (someone changed
/// an object meanwhile) it reads the cluster again and continues from there.
pub async fn apply(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    name: &str,
    opts: &Options,
    rep: &dyn Reporter,
) -> Result<Outcome> {
    let deadline = tokio::time::Instant::now() + opts.timeout;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match run_once(kube, catalog, ns, name, opts, rep, deadline).await {
            Err(e) if is_conflict(&e) && attempt < 5 => {
                tracing::debug!("conflict, reading the cluster again: {e}");
                rep.note("an object changed meanwhile; reading the cluster again");
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_plane_patch_moves_version_and_template_together() {
        let v2 = json!({"metadata": {"resourceVersion": "7"}, "spec": {"version": "v1.33.0",
            "machineTemplate": {"spec": {"infrastructureRef": {"apiGroup": "g", "kind": "T", "name": "cp"}}}}});
        assert_eq!(
            control_plane_patch(&v2, "v1.34.0", Some("cp-v1-34-0")),
            json!({"metadata": {"resourceVersion": "7"}, "spec": {"version": "v1.34.0",
                "machineTemplate": {"spec": {"infrastructureRef": {"name": "cp-v1-34-0"}}}}})
        );
        let v1 = json!({"metadata": {"resourceVersion": "8"}, "spec": {"version": "v1.33.0",
            "machineTemplate": {"infrastructureRef": {"apiVersion": "g/v1beta1", "kind": "T", "name": "cp"}}}});
        assert_eq!(
            control_plane_patch(&v1, "v1.34.0", Some("cp-v1-34-0"))["spec"]["machineTemplate"],
            json!({"infrastructureRef": {"name": "cp-v1-34-0"}})
        );
        assert_eq!(
            control_plane_patch(&v1, "v1.34.0", None),
            json!({"metadata": {"resourceVersion": "8"}, "spec": {"version": "v1.34.0"}})
        );
    }

    #[test]
    fn worker_patch_records_the_outgoing_revision() {
        let md = json!({"metadata": {"resourceVersion": "3", "annotations": {"machinedeployment.clusters.x-k8s.io/revision": "2"}},
            "spec": {"template": {"spec": {"version": "v1.33.0", "infrastructureRef": {"kind": "T", "name": "w"}}}}});
        let rec = history::record_value(&md, "before upgrade", "2026-12-01T00:00:00Z");
        let p = worker_patch(&md, "v1.34.0", Some("w-v1-34-0"), Some(rec));
        assert_eq!(
            p["spec"]["template"]["spec"],
            json!({"version": "v1.34.0", "infrastructureRef": {"name": "w-v1-34-0"}})
        );
        assert_eq!(p["metadata"]["resourceVersion"], "3");
        let recs: Vec<history::Record> =
            serde_json::from_str(p["metadata"]["annotations"][RECORD_ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(
            (recs[0].revision, recs[0].refs.version.as_deref()),
            (2, Some("v1.33.0"))
        );
    }
}
