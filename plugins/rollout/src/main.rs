//! `kubectl capi rollout`: restart, pause, resume, status, history and undo for
//! MachineDeployments, MachinePools and control planes, through the Cluster's topology when
//! the topology controller owns the object.

use std::process::ExitCode;
use std::time::Duration;

use capi_shared::capi::Catalog;
use capi_shared::client::Kube;
use capi_shared::flags::{ConnArgs, DryRunArg, parse_duration};
use capi_shared::output::{self, Format};
use capi_shared::rollout::{self, Target, history, pause, restart, status, undo};
use capi_shared::{Error, Result};
use clap::{ArgAction, Args, Parser, Subcommand};
use serde_json::json;

const TYPES: &str = "Types: machinedeployment (md), machinepool (mp), kubeadmcontrolplane (kcp), cluster (its control plane\nand all its MachineDeployments), or KIND.GROUP for any other control plane that follows the Cluster API\ncontract. Objects are TYPE/NAME... or TYPE NAME...";

#[derive(Parser)]
#[command(
    name = "kubectl capi rollout",
    bin_name = "kubectl capi rollout",
    version,
    about = "Restart, pause, resume, follow, list and undo rollouts of MachineDeployments, MachinePools and control planes",
    after_help = TYPES
)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replace every Machine: set rollout.after to the API server's current time.
    #[command(
        after_help = "A topology-managed object (created from a ClusterClass) is restarted through its Cluster's\nspec.topology (controlPlane.rollout.after or workers.machineDeployments[].rollout.after), so the topology\ncontroller does not revert it. The time comes from the API server's clock (its Date header), which the\ncontrollers compare against. A paused object, or one whose rollout.after is already in the future, is\nrefused. MachinePools have no rollout trigger in Cluster API.\n\nExamples:\n  kubectl capi rollout restart md/my-cluster-md-0\n  kubectl capi rollout restart cluster/my-cluster\n  kubectl capi rollout restart kcp my-cluster-control-plane --dry-run=server"
    )]
    Restart(WriteArgs),
    /// Stop rollouts (idempotent).
    #[command(
        after_help = "What pausing stops:\n  MachineDeployment  spec.paused: template changes are not rolled out; scaling still happens.\n  MachinePool        cluster.x-k8s.io/paused annotation: its controller stops reconciling it (no scaling,\n                     no rollout).\n  control plane      cluster.x-k8s.io/paused annotation: its controller stops reconciling it (no scaling,\n                     no remediation, no upgrade).\nAn object already paused is reported and left as is.\n\nExamples:\n  kubectl capi rollout pause md/my-cluster-md-0\n  kubectl capi rollout pause cluster/my-cluster"
    )]
    Pause(WriteArgs),
    /// Let rollouts continue (idempotent).
    #[command(
        after_help = "Clears spec.paused of a MachineDeployment and removes the cluster.x-k8s.io/paused annotation of\nany object. An object that is not paused is reported and left as is.\n\nExamples:\n  kubectl capi rollout resume md/my-cluster-md-0"
    )]
    Resume(WriteArgs),
    /// Follow a rollout until it finishes (through the watch API).
    #[command(
        after_help = "Prints kubectl-style progress until every replica is up to date and available, then exits 0. At\n--timeout it exits 3 and shows the conditions that explain the stall (RollingOut, MachinesUpToDate,\nScalingUp, Remediating, ...). With --watch=false it prints the current state once and exits 0.\nA topology-managed object also waits for the topology controller to carry the Cluster's\nrollout.after and version down to it.\n\nExamples:\n  kubectl capi rollout status md/my-cluster-md-0 --timeout 15m\n  kubectl capi rollout status cluster/my-cluster\n  kubectl capi rollout status kcp/my-cluster-control-plane --watch=false -o json"
    )]
    Status(StatusArgs),
    /// List a MachineDeployment's revisions.
    #[command(
        after_help = "Revisions come from the MachineSets that still exist (their revision annotation and template) and\nfrom the revisions kubectl capi records on the MachineDeployment before it changes the template\n(annotation kubectl-capi.io/revision-history). Cluster API v1.11+ deletes drained MachineSets, so\nolder revisions exist only as records.\n\nExamples:\n  kubectl capi rollout history md/my-cluster-md-0\n  kubectl capi rollout history md/my-cluster-md-0 --revision 2"
    )]
    History(HistoryArgs),
    /// Return a MachineDeployment to an earlier revision.
    #[command(
        after_help = "Restores the revision's Kubernetes version and infrastructure/bootstrap template references, from a\nMachineSet that still exists or from a recorded revision, and records the outgoing revision in the same\nrequest. Without --to-revision, the newest earlier revision with a different template is used. A paused\nor topology-managed MachineDeployment is refused, and so is a revision whose templates no longer exist.\n\nExamples:\n  kubectl capi rollout undo md/my-cluster-md-0\n  kubectl capi rollout undo md/my-cluster-md-0 --to-revision 2 --dry-run=server"
    )]
    Undo(UndoArgs),
}

#[derive(Args)]
struct Objects {
    /// TYPE/NAME... or TYPE NAME...
    #[arg(value_name = "TYPE/NAME", required = true, num_args = 1..)]
    objects: Vec<String>,
}

#[derive(Args)]
struct WriteArgs {
    #[command(flatten)]
    objects: Objects,
    #[command(flatten)]
    dry_run: DryRunArg,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    objects: Objects,
    /// Follow the rollout (--watch=false answers once).
    #[arg(short = 'w', long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    watch: bool,
    /// How long to follow (e.g. 15m); then exit code 3.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
    /// Print the final state as JSON or YAML (progress goes to stderr).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<Format>,
}

#[derive(Args)]
struct HistoryArgs {
    #[command(flatten)]
    objects: Objects,
    /// Show one revision in full.
    #[arg(long, value_name = "N")]
    revision: Option<i64>,
    /// JSON or YAML instead of a table.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<Format>,
}

#[derive(Args)]
struct UndoArgs {
    #[command(flatten)]
    objects: Objects,
    /// The revision to return to; 0 means the newest earlier one with a different template.
    #[arg(long, value_name = "N", default_value_t = 0)]
    to_revision: i64,
    #[command(flatten)]
    dry_run: DryRunArg,
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    capi_shared::cli::run_async(cli.conn.verbosity, run(cli))
}

async fn connect(conn: &ConnArgs, objects: &Objects) -> Result<(Kube, Catalog, Vec<Target>)> {
    let pairs = rollout::targets::parse(&objects.objects)?;
    let (kube, catalog, _) = Catalog::connect(conn, None).await?;
    let ns = kube.namespace.clone();
    let targets = rollout::targets::resolve(&kube, &catalog, &ns, &pairs).await?;
    Ok((kube, catalog, targets))
}

async fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Restart(a) => {
            let (kube, catalog, targets) = connect(&cli.conn, &a.objects).await?;
            let now = restart::server_now(&kube).await?;
            for t in &targets {
                let r = restart::restart(&kube, &catalog, t, now, a.dry_run.mode()).await?;
                println!("{}", r.summary(a.dry_run.mode()));
                if let Some(n) = &r.note {
                    eprintln!("note: {n}");
                }
            }
            Ok(())
        }
        Cmd::Pause(a) => toggle(&cli.conn, a, pause::Action::Pause).await,
        Cmd::Resume(a) => toggle(&cli.conn, a, pause::Action::Resume).await,
        Cmd::Status(a) => status_cmd(&cli.conn, a).await,
        Cmd::History(a) => history_cmd(&cli.conn, a).await,
        Cmd::Undo(a) => {
            let (kube, catalog, targets) = connect(&cli.conn, &a.objects).await?;
            let now = restart::server_now(&kube).await?.to_string();
            let to = (a.to_revision > 0).then_some(a.to_revision);
            if a.to_revision < 0 {
                return Err(Error::Usage(format!(
                    "--to-revision must be 0 (the previous revision) or a revision number, not {}",
                    a.to_revision
                )));
            }
            for t in &targets {
                println!(
                    "{}",
                    undo::undo(&kube, &catalog, t, to, a.dry_run.mode(), &now).await?
                );
            }
            Ok(())
        }
    }
}

async fn toggle(conn: &ConnArgs, a: WriteArgs, action: pause::Action) -> Result<()> {
    let (kube, _, targets) = connect(conn, &a.objects).await?;
    for t in &targets {
        println!("{}", pause::apply(&kube, t, action, a.dry_run.mode()).await?);
    }
    Ok(())
}

async fn status_cmd(conn: &ConnArgs, a: StatusArgs) -> Result<()> {
    let (kube, catalog, targets) = connect(conn, &a.objects).await?;
    let deadline = tokio::time::Instant::now() + a.timeout;
    let mut results = vec![];
    for t in &targets {
        let progress_to_stderr = a.output.is_some();
        let s = status::follow(&kube, &catalog, t, a.watch, deadline, |line| {
            if progress_to_stderr {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        })
        .await?;
        if !a.watch && a.output.is_none() {
            println!("{}{}", s.message, status::explain(&s));
        }
        let stop = a.watch && !s.complete;
        results.push(s);
        if stop {
            break;
        }
    }
    if let Some(f) = a.output {
        let doc = if results.len() == 1 {
            serde_json::to_value(&results[0])
        } else {
            serde_json::to_value(json!({"kind": "List", "items": results}))
        }
        .map_err(|e| Error::Other(format!("encoding the status: {e}")))?;
        output::print(&output::render(&doc, f)?)?;
    }
    if let Some(s) = results.iter().find(|s| a.watch && !s.complete) {
        return Err(Error::Timeout(format!(
            "timed out after {} waiting for {}/{}: {}{}",
            capi_shared::duration::human(a.timeout),
            s.kind.to_ascii_lowercase(),
            s.name,
            s.message,
            status::explain(s)
        )));
    }
    Ok(())
}

async fn history_cmd(conn: &ConnArgs, a: HistoryArgs) -> Result<()> {
    let (kube, catalog, targets) = connect(conn, &a.objects).await?;
    let now = jiff::Timestamp::now();
    let mut docs = vec![];
    let mut text = String::new();
    for t in &targets {
        let (_, revs) = history::load(&kube, &catalog, t).await?;
        if let Some(n) = a.revision {
            let Some(r) = revs.iter().find(|r| r.revision == n) else {
                return Err(Error::NotFound(format!(
                    "{} has no revision {n} (known: {})",
                    t.display(),
                    revs.iter()
                        .map(|r| r.revision.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            docs.push(json!({"kind": t.resolved.resource.kind, "name": t.name, "namespace": t.ns, "revisions": [r]}));
            text += &format!("{} revision {n}\n", t.display());
            text += &output::render(r, Format::Yaml)?;
            continue;
        }
        docs.push(
            json!({"kind": t.resolved.resource.kind, "name": t.name, "namespace": t.ns, "revisions": revs}),
        );
        if targets.len() > 1 {
            text += &format!("{}\n", t.display());
        }
        if revs.is_empty() {
            text += "No revisions yet.\n";
        } else {
            text += &history::table(&revs, now);
        }
        if targets.len() > 1 {
            text.push('\n');
        }
    }
    match a.output {
        Some(f) => {
            let doc = if docs.len() == 1 {
                docs.remove(0)
            } else {
                json!({"kind": "List", "items": docs})
            };
            output::print(&output::render(&doc, f)?)
        }
        None => output::print(&text),
    }
}
