//! The steps of a move in order, and what a failure leaves. Before the first deletion from the
//! source, a failure (or Ctrl-C) rolls back: what this run created in the target is deleted and
//! the source resumed. From the first deletion on, every object is already in the target, so a
//! failure leaves a state the same command finishes: it recognises its own pause mark on the
//! source (or, once the source part is gone, on the paused copies in the target) and carries
//! on. Nothing is ever in neither cluster.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::directory::{self, Manifest};
use super::discover::{discover, move_types};
use super::graph::{Graph, MoveType};
use super::kinds::Served;
use super::pause::{self, Pausable};
use super::plan::{Plan, PlanError, Scope, everything, plan};
use super::preflight::{self, Problem};
use super::remove::{delete_group, deletion_order};
use super::report::{PlanReport, Summary, behind, behind_text};
use super::write::{Copied, Existing, Writer, roll_back};
use crate::capi::labels::{BLOCK_MOVE_ANNOTATION, PAUSED_BY_MOVE_ANNOTATION};
use crate::capi::value::{annotation, s};
use crate::client::Kube;
use crate::error::{Error, Result};

/// How to move.
#[derive(Debug, Clone)]
pub struct Options {
    /// What moves.
    pub scope: Scope,
    /// Move even when objects of moved kinds would be left behind unexpectedly.
    pub allow_left_behind: bool,
    /// Skip the provisioning checks.
    pub force: bool,
    /// Write statuses in the target.
    pub restore_status: bool,
    /// How long to wait for block-move annotations to go.
    pub timeout: Duration,
}

/// Where to.
#[derive(Debug)]
pub enum Destination<'a> {
    /// Another management cluster.
    Cluster(&'a Kube),
    /// A backup directory.
    Directory {
        /// Its path.
        path: PathBuf,
        /// Replace what is in it.
        overwrite: bool,
    },
}

impl Destination<'_> {
    fn describe(&self) -> String {
        match self {
            Destination::Cluster(k) => context_of(k),
            Destination::Directory { path, .. } => format!("directory {}", path.display()),
        }
    }
}

/// The objects read and the plan made of them.
#[derive(Debug)]
pub struct Snapshot {
    /// Everything discovered.
    pub graph: Graph,
    /// What moves.
    pub plan: Plan,
}

fn progress(line: &str) {
    eprintln!("{line}");
}

/// `context "NAME" (SERVER)`, or the server when the context has no name.
pub fn context_of(k: &Kube) -> String {
    if k.context.is_empty() {
        k.server.clone()
    } else {
        format!("context {:?} ({})", k.context, k.server)
    }
}

/// Discovers the source and plans the scope.
pub async fn snapshot(source: &Kube, scope: &Scope) -> Result<Snapshot> {
    let types = move_types(source).await?;
    let graph = discover(source, types, scope.namespace()).await?;
    let plan = plan(&graph, scope).map_err(plan_error)?;
    Ok(Snapshot { graph, plan })
}

fn plan_error(e: PlanError) -> Error {
    Error::NotFound(e.to_string())
}

/// Refuses objects left behind unexpectedly, unless allowed.
pub fn check_left_behind(s: &Snapshot, allow: bool) -> Result<()> {
    if allow || s.plan.surprises().next().is_none() {
        return Ok(());
    }
    let list: Vec<_> = behind(&s.graph, &s.plan)
        .into_iter()
        .filter(|b| !b.expected)
        .collect();
    Err(Error::Refused(format!(
        "{} object(s) of moved kinds would be left behind in the source, cut off from what moves:\n{}pass --allow-left-behind if that is intended",
        list.len(),
        behind_text(&list)
    )))
}

/// Every preflight problem: providers and kinds of the target (when there is one), provisioning
/// (unless forced), pauses by others.
pub async fn preflight(
    source: &Kube,
    target: Option<(&Kube, &Served)>,
    s: &Snapshot,
    force: bool,
) -> Result<Vec<Problem>> {
    let mut problems = vec![];
    if let Some((t, served)) = target {
        let (src, dst) = tokio::try_join!(preflight::inventory(source), preflight::inventory(t))?;
        problems.extend(preflight::check_providers(&src, &dst));
        problems.extend(preflight::check_served(&s.graph, &s.plan, served));
    }
    if !force {
        problems.extend(preflight::check_provisioned(&s.graph, &s.plan));
    }
    problems.extend(preflight::check_not_paused(&s.graph, &s.plan));
    Ok(problems)
}

fn refuse(problems: &[Problem]) -> Error {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    Error::Refused(format!(
        "the move cannot start ({} problem(s)); nothing was changed:\n{}",
        problems.len(),
        lines.join("\n")
    ))
}

/// The plan of a dry run, with the preflight's findings when a target cluster is named.
pub async fn dry_run(source: &Kube, dest: Option<&Destination<'_>>, opts: &Options) -> Result<PlanReport> {
    let s = snapshot(source, &opts.scope).await?;
    let mut report = PlanReport::new(
        &s.graph,
        &s.plan,
        context_of(source),
        dest.map(Destination::describe),
    );
    let served = match dest {
        Some(Destination::Cluster(t)) => Some((*t, Served::read(t).await?)),
        _ => None,
    };
    let problems = preflight(source, served.as_ref().map(|(t, sv)| (*t, sv)), &s, opts.force).await?;
    report.problems = problems.iter().map(ToString::to_string).collect();
    Ok(report)
}

/// Runs a step unless Ctrl-C comes first.
async fn interruptible<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::select! {
        r = fut => r,
        _ = tokio::signal::ctrl_c() => Err(Error::Other("interrupted (Ctrl-C)".into())),
    }
}

/// What the checks before the pause found.
struct Ready {
    first: Snapshot,
    served: Option<Served>,
    pausables: Vec<Pausable>,
    /// The mark of an interrupted earlier run of this move, if any.
    earlier: Option<String>,
}

/// How a move starts: ready to pause, or already finished (an interrupted move whose source
/// part is gone).
enum Start {
    Ready(Box<Ready>),
    Finished(Summary),
}

/// Discovery, plan and preflight: everything before the pause, refusing on any problem.
async fn get_ready(source: &Kube, dest: &Destination<'_>, opts: &Options) -> Result<Start> {
    let first = match snapshot(source, &opts.scope).await {
        Ok(s) => s,
        Err(e) => {
            if let Destination::Cluster(t) = dest
                && let Some(summary) = finish_in_target(source, t, &opts.scope).await?
            {
                return Ok(Start::Finished(summary));
            }
            return Err(e);
        }
    };
    progress(&format!(
        "discovered {} object(s) of {} kind(s)",
        first.graph.nodes.len(),
        first.graph.types.len()
    ));
    check_left_behind(&first, opts.allow_left_behind)?;
    let served = match dest {
        Destination::Cluster(t) => Some(Served::read(t).await?),
        Destination::Directory { path, overwrite } => {
            if !overwrite && directory::is_non_empty(path)? {
                return Err(Error::Refused(format!(
                    "{} is not empty: choose an empty or new directory, or pass --overwrite to replace what is in it",
                    path.display()
                )));
            }
            None
        }
    };
    let target = match dest {
        Destination::Cluster(t) => served.as_ref().map(|sv| (*t, sv)),
        Destination::Directory { .. } => None,
    };
    let problems = preflight(source, target, &first, opts.force).await?;
    if !problems.is_empty() {
        return Err(refuse(&problems));
    }
    let pausables = Pausable::of(&first.graph, first.plan.moved());
    let earlier = pause::existing_mark(first.plan.moved().map(|u| &first.graph.nodes[u]));
    Ok(Start::Ready(Box::new(Ready {
        first,
        served,
        pausables,
        earlier,
    })))
}

/// Moves into a cluster or saves into a directory.
pub async fn run(source: &Kube, dest: &Destination<'_>, opts: &Options) -> Result<Summary> {
    let started = Instant::now();
    let ready = match get_ready(source, dest, opts).await? {
        Start::Ready(r) => *r,
        Start::Finished(summary) => return Ok(summary),
    };
    let Ready {
        first,
        served,
        pausables,
        earlier,
    } = ready;
    let resumed = earlier.is_some();
    let mark = earlier.unwrap_or_else(pause::new_move_id);
    progress(&format!(
        "plan: {} object(s) in {} step(s); pausing {} Cluster(s)/ClusterClass(es) in the source (move {mark})",
        first.plan.moved().count(),
        first.plan.groups.len(),
        pausables.len()
    ));
    let mut summary = Summary {
        move_id: mark.clone(),
        resumed_earlier_move: resumed,
        ..Summary::new(context_of(source), dest.describe())
    };
    let mut copied = Copied::default();
    let paused = async {
        pause::set(source, &pausables, Some(&mark)).await?;
        wait_block_move(source, &first, opts.timeout).await
    };
    if let Err(e) = interruptible(paused).await {
        return Err(undo(source, dest, &pausables, &copied, resumed, e).await);
    }
    // The copy works from a fresh read; the first one's objects are not needed any more.
    drop(first);
    let copy = prepare_and_copy(source, dest, served.as_ref(), opts, &mut copied, &mut summary);
    let fresh = match interruptible(copy).await {
        Ok(s) => s,
        Err(e) => return Err(undo(source, dest, &pausables, &copied, resumed, e).await),
    };
    match dest {
        Destination::Cluster(t) => finish_move(source, t, &fresh, &mut summary).await?,
        Destination::Directory { .. } => {
            let all = Pausable::of(&fresh.graph, fresh.plan.moved());
            pause::set(source, &all, None).await?;
            progress(&format!(
                "resumed {} Cluster(s)/ClusterClass(es) in the source",
                all.len()
            ));
        }
    }
    summary.duration_ms = started.elapsed().as_millis();
    Ok(summary)
}

/// After the pause and the block-move wait: reads the source again (the copies must carry the
/// pause and what changed before it), then copies or saves.
async fn prepare_and_copy(
    source: &Kube,
    dest: &Destination<'_>,
    served: Option<&Served>,
    opts: &Options,
    copied: &mut Copied,
    summary: &mut Summary,
) -> Result<Snapshot> {
    let fresh = snapshot(source, &opts.scope).await?;
    check_left_behind(&fresh, opts.allow_left_behind)?;
    summary.objects = fresh.plan.moved().count();
    summary.kept_in_source = fresh.plan.keep_in_source.len();
    match (dest, served) {
        (Destination::Cluster(t), Some(served)) => {
            let w = Writer {
                kube: t,
                served,
                restore_status: opts.restore_status,
                existing: Existing::Update,
            };
            copy_all(&w, &fresh, copied).await?;
            let (c, u, l) = copied.counts();
            (summary.created, summary.updated, summary.left_as_they_were) = (c, u, l);
        }
        (Destination::Directory { path, .. }, _) => {
            let manifest = Manifest {
                api_version: super::report::API_VERSION.into(),
                kind: directory::MANIFEST_KIND.into(),
                format_version: directory::FORMAT_VERSION,
                source_context: source.context.clone(),
                source_server: source.server.clone(),
                created: k8s_openapi::jiff::Timestamp::now().to_string(),
                objects: vec![],
            };
            let m = directory::save(path, &fresh.graph, &fresh.plan, manifest)?;
            summary.created = m.objects.len();
            progress(&format!(
                "saved {} object(s) to {}",
                m.objects.len(),
                path.display()
            ));
        }
        (Destination::Cluster(_), None) => {
            return Err(Error::Other("the target's kinds were not read".into()));
        }
    }
    Ok(fresh)
}

/// Writes every group of the plan into the target.
pub async fn copy_all(w: &Writer<'_>, s: &Snapshot, copied: &mut Copied) -> Result<()> {
    let namespaces: BTreeSet<String> = s
        .plan
        .moved()
        .filter_map(|u| s.graph.nodes[u].namespace.clone())
        .collect();
    w.ensure_namespaces(&namespaces, copied).await?;
    let steps = s.plan.groups.len();
    for (i, group) in s.plan.groups.iter().enumerate() {
        w.write_group(&s.graph, group, copied).await?;
        progress(&format!(
            "copied step {}/{steps}: {} object(s)",
            i + 1,
            group.len()
        ));
    }
    Ok(())
}

/// Rolls back a move that failed before deleting anything from the source.
async fn undo(
    source: &Kube,
    dest: &Destination<'_>,
    pausables: &[Pausable],
    copied: &Copied,
    earlier: bool,
    e: Error,
) -> Error {
    let mut done = vec![];
    if let Destination::Cluster(t) = dest {
        // An interrupted earlier run of this same move created what this run found and updated.
        match roll_back(t, copied, earlier).await {
            Ok(n) => done.push(format!(
                "deleted the {n} object(s) this move created in the target"
            )),
            Err(re) => {
                return noted(
                    e,
                    format!(
                        "the rollback failed too: {re}\nnothing was deleted from the source; run the same command again to finish the move, or again after fixing the target"
                    ),
                );
            }
        }
    }
    match pause::set(source, pausables, None).await {
        Ok(()) => done.push(format!(
            "resumed {} Cluster(s)/ClusterClass(es) in the source",
            pausables.len()
        )),
        Err(re) => done.push(format!(
            "resuming the source failed ({re}): run the same command again, or resume them by hand"
        )),
    }
    noted(
        e,
        format!(
            "rolled back: {}; nothing was deleted from the source",
            done.join(", ")
        ),
    )
}

/// `e` with a line about what was done since; a timeout stays one (exit code 3).
fn noted(e: Error, note: String) -> Error {
    match e {
        Error::Timeout(m) => Error::Timeout(format!("{m}\n{note}")),
        other => Error::Other(format!("{other}\n{note}")),
    }
}

/// Deletes from the source, then resumes the target (and what stays in the source).
async fn finish_move(source: &Kube, target: &Kube, s: &Snapshot, summary: &mut Summary) -> Result<()> {
    for group in deletion_order(&s.plan) {
        let n = interruptible(delete_group(source, &s.graph, &group))
            .await
            .map_err(|e| {
                noted(
                    e,
                    "every object is in the target already (its Clusters paused); run the same command again to finish the move".into(),
                )
            })?;
        summary.deleted_from_source += n;
    }
    progress(&format!(
        "deleted {} object(s) from the source",
        summary.deleted_from_source
    ));
    let moved = Pausable::of(&s.graph, s.plan.moved());
    pause::set(target, &moved, None).await?;
    summary.resumed = moved.len();
    let kept = Pausable::of(&s.graph, s.plan.keep_in_source.iter());
    pause::set(source, &kept, None).await?;
    progress(&format!(
        "resumed {} Cluster(s)/ClusterClass(es) in the target{}",
        moved.len(),
        if kept.is_empty() {
            String::new()
        } else {
            format!(" and {} kept in the source", kept.len())
        }
    ));
    Ok(())
}

/// Waits until no moved object carries the block-move annotation, all at once, under `timeout`.
async fn wait_block_move(source: &Kube, s: &Snapshot, timeout: Duration) -> Result<()> {
    let mut blocked: Vec<&super::graph::Node> = s
        .plan
        .moved()
        .map(|u| &s.graph.nodes[u])
        .filter(|n| annotation(&n.object, BLOCK_MOVE_ANNOTATION).is_some())
        .collect();
    if blocked.is_empty() {
        return Ok(());
    }
    progress(&format!(
        "waiting up to {timeout:?} for {} object(s) to drop the {BLOCK_MOVE_ANNOTATION} annotation",
        blocked.len()
    ));
    let deadline = Instant::now() + timeout;
    loop {
        let still: Vec<bool> = stream::iter(&blocked)
            .map(|n| async move {
                let api = source.api(&s.graph.types[n.ty].api_resource(), n.namespace.as_deref());
                let what = format!("reading {}", n.display(&s.graph.types));
                let o = source.call(&what, api.get_opt(&n.name)).await?;
                Ok::<_, Error>(o.is_some_and(|o| {
                    o.metadata
                        .annotations
                        .is_some_and(|a| a.contains_key(BLOCK_MOVE_ANNOTATION))
                }))
            })
            .buffered(pause::CONCURRENT_WRITES)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
        blocked = blocked
            .into_iter()
            .zip(still)
            .filter(|(_, b)| *b)
            .map(|(n, _)| n)
            .collect();
        if blocked.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = blocked.iter().map(|n| n.display(&s.graph.types)).collect();
            return Err(Error::Timeout(format!(
                "after {timeout:?} these still carry {BLOCK_MOVE_ANNOTATION} (their provider is not ready to be moved): {}; raise --timeout, or find out what the provider waits for",
                names.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// When the source holds nothing of the scope any more: the Clusters and ClusterClasses of an
/// interrupted move still paused in the target by its mark are resumed, which finishes it.
async fn finish_in_target(source: &Kube, target: &Kube, scope: &Scope) -> Result<Option<Summary>> {
    let types = move_types(target).await?;
    let ns = scope.namespace();
    let wanted: Vec<MoveType> = types
        .into_iter()
        .filter(|t| t.is_core("Cluster") || t.is_core("ClusterClass"))
        .collect();
    let g = discover(target, wanted, ns).await?;
    let names: Option<&Vec<String>> = match scope {
        Scope::Clusters { names, .. } => Some(names),
        _ => None,
    };
    let marked: Vec<String> = g
        .nodes
        .values()
        .filter(|n| annotation(&n.object, PAUSED_BY_MOVE_ANNOTATION).is_some())
        .filter(|n| names.is_none_or(|want| !g.types[n.ty].is_core("Cluster") || want.contains(&n.name)))
        .map(|n| n.uid.clone())
        .collect();
    if !marked.iter().any(|u| g.types[g.nodes[u].ty].is_core("Cluster")) {
        return Ok(None);
    }
    let list = Pausable::of(&g, marked.iter());
    let id = pause::existing_mark(marked.iter().map(|u| &g.nodes[u])).unwrap_or_default();
    pause::set(target, &list, None).await?;
    progress(&format!(
        "the source holds nothing of this move any more: resumed {} Cluster(s)/ClusterClass(es) that move {id} left paused in the target",
        list.len()
    ));
    Ok(Some(Summary {
        move_id: id,
        resumed: list.len(),
        resumed_earlier_move: true,
        ..Summary::new(context_of(source), context_of(target))
    }))
}

/// Restores a backup directory into `target`: existing objects are left as they are (their
/// UIDs reused for the owners of what is created), then Clusters and ClusterClasses resumed.
pub async fn restore(
    dir: &std::path::Path,
    target: &Kube,
    opts: &Options,
    dry_run: bool,
) -> Result<Restored> {
    let started = Instant::now();
    let (_, objects) = directory::read(dir)?;
    let served = Served::read(target).await?;
    let (types, typed, unknown) = types_of(&objects, &served);
    let graph = Graph::build(types, typed);
    let plan = everything(&graph).map_err(plan_error)?;
    let s = Snapshot { graph, plan };
    let problems: Vec<Problem> = unknown;
    if dry_run {
        let mut report = PlanReport::new(
            &s.graph,
            &s.plan,
            format!("directory {}", dir.display()),
            Some(context_of(target)),
        );
        report.problems = problems.iter().map(ToString::to_string).collect();
        return Ok(Restored::Plan(report));
    }
    if !problems.is_empty() {
        return Err(refuse(&problems));
    }
    let w = Writer {
        kube: target,
        served: &served,
        restore_status: opts.restore_status,
        existing: Existing::Leave,
    };
    let mut copied = Copied::default();
    if let Err(e) = interruptible(copy_all(&w, &s, &mut copied)).await {
        let rolled = roll_back(target, &copied, false).await;
        return Err(Error::Other(match rolled {
            Ok(n) => format!("{e}\nrolled back: deleted the {n} object(s) this restore created"),
            Err(re) => format!("{e}\nthe rollback failed too: {re}"),
        }));
    }
    let all = Pausable::of(&s.graph, s.plan.moved());
    pause::set(target, &all, None).await?;
    let (created, updated, left) = copied.counts();
    progress(&format!(
        "resumed {} Cluster(s)/ClusterClass(es) in the target",
        all.len()
    ));
    Ok(Restored::Done(Summary {
        objects: s.plan.moved().count(),
        created,
        updated,
        left_as_they_were: left,
        resumed: all.len(),
        duration_ms: started.elapsed().as_millis(),
        ..Summary::new(format!("directory {}", dir.display()), context_of(target))
    }))
}

/// What a restore did, or would do.
#[derive(Debug)]
pub enum Restored {
    /// The plan of a dry run.
    Plan(PlanReport),
    /// The result.
    Done(Summary),
}

/// The kinds of a backup's objects as the target serves them (at each file's own version), the
/// objects with their kind's index, and a problem for each kind the target does not serve.
fn types_of(objects: &[Value], served: &Served) -> (Vec<MoveType>, Vec<(usize, Value)>, Vec<Problem>) {
    let mut types: Vec<MoveType> = vec![];
    let mut typed = vec![];
    let mut unknown: std::collections::BTreeMap<(String, String, String), usize> = Default::default();
    for o in objects {
        let (group, version) = match s(o, "/apiVersion").split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), s(o, "/apiVersion").to_string()),
        };
        let kind = s(o, "/kind").to_string();
        let key = (group.clone(), version.clone(), kind.clone());
        let Some(k) = served.0.get(&key) else {
            *unknown.entry(key).or_default() += 1;
            continue;
        };
        let idx = types
            .iter()
            .position(|t| t.group == group && t.version == version && t.kind == kind)
            .unwrap_or_else(|| {
                let hierarchy = super::graph::is_hierarchy_kind(&group, &kind);
                types.push(MoveType {
                    group: group.clone(),
                    version: version.clone(),
                    kind: kind.clone(),
                    plural: k.plural.clone(),
                    namespaced: k.namespaced,
                    hierarchy,
                    force: hierarchy,
                });
                types.len() - 1
            });
        typed.push((idx, o.clone()));
    }
    let problems = unknown
        .into_iter()
        .map(|((group, version, kind), count)| Problem::KindNotServed {
            kind,
            group,
            version,
            count,
        })
        .collect();
    (types, typed, problems)
}
