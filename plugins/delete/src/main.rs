//! `kubectl capi delete cluster`: delete a workload cluster after confirmation, and follow the
//! deletion, naming what blocks it when it stalls.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use capi_shared::capi::Catalog;
use capi_shared::client::Kube;
use capi_shared::deletion::{self, Left};
use capi_shared::flags::{ConnArgs, DryRunArg, parse_duration};
use capi_shared::tree::fetch::{FetchOptions, core, fetch_cluster};
use capi_shared::{Error, Result};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use kube::api::DeleteParams;

#[derive(Parser)]
#[command(
    name = "kubectl capi delete",
    bin_name = "kubectl capi delete",
    version,
    about = "Delete workload clusters and follow their deletion"
)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Delete the Cluster NAME: Cluster API then deletes its machines, control plane and infrastructure.
    #[command(after_help = AFTER_HELP)]
    Cluster(ClusterArgs),
}

const AFTER_HELP: &str = "Examples:\n  kubectl capi delete cluster my-cluster -n prod            # asks for confirmation\n  kubectl capi delete cluster my-cluster -n prod --yes --wait\n  kubectl capi delete cluster my-cluster --dry-run=server\n\nWithout a terminal to ask on, --yes is required. With --wait, progress (what is left) goes to stderr;\nwhen nothing changes for --stall-after, the objects holding the deletion (their finalizers and the\ncondition explaining why) are listed. Exit codes: 0 deleted, 1 error or cancelled, 3 --timeout reached.";

#[derive(clap::Args)]
struct ClusterArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// The Cluster's name.
    name: String,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,
    /// Wait until the Cluster and everything it owns are gone.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (e.g. 20m); then exit code 3.
    #[arg(long, value_name = "DURATION", default_value = "20m", value_parser = parse_duration)]
    timeout: Duration,
    /// With --wait: report the blocking objects when nothing has changed for this long.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    stall_after: Duration,
    #[command(flatten)]
    dry_run: DryRunArg,
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    let What::Cluster(args) = cli.what;
    capi_shared::cli::run_async(args.conn.verbosity, run(args))
}

/// Asks on the terminal; anything but y/yes cancels.
fn confirm(question: &str) -> Result<bool> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} [y/N]: ");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Other(format!("reading the answer: {e}")))?;
    Ok(matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

async fn run(a: ClusterArgs) -> Result<()> {
    let write = a.dry_run.mode();
    let dry_run = write.is_dry_run();
    if dry_run && a.wait {
        return Err(Error::Usage(
            "--wait cannot be used with --dry-run (nothing is deleted)".into(),
        ));
    }
    let (kube, catalog, _) = Catalog::connect(&a.conn, None).await?;
    let ns = kube.namespace.clone();
    let name = a.name.as_str();
    let objs = fetch_cluster(&kube, &catalog, &ns, name, FetchOptions::default()).await?;
    let left = deletion::remaining(&objs);
    let what = format!("cluster.cluster.x-k8s.io/{name}");
    let already = capi_shared::capi::object::deleting(&objs.cluster);
    if already {
        eprintln!(
            "Cluster {ns}/{name} is already being deleted; {} left",
            deletion::progress(&left)
        );
    } else {
        if !a.yes && !dry_run {
            if !std::io::stdin().is_terminal() {
                return Err(Error::Usage(format!(
                    "refusing to delete Cluster {ns}/{name} without confirmation: there is no terminal to ask on, pass --yes"
                )));
            }
            // What the Cluster owns: everything left but the Cluster itself.
            let owned: Vec<deletion::Left> = left.iter().filter(|l| l.kind != "Cluster").cloned().collect();
            let question = if owned.is_empty() {
                format!("Delete Cluster {ns}/{name} (context {:?})?", kube.context)
            } else {
                format!(
                    "Delete Cluster {ns}/{name} (context {:?}) and everything it owns: {}?",
                    kube.context,
                    deletion::progress(&owned)
                )
            };
            if !confirm(&question)? {
                return Err(Error::Other("deletion cancelled; nothing was deleted".into()));
            }
        }
        let ar = core(&kube, &catalog, "Cluster").await?;
        let dp = DeleteParams {
            dry_run,
            ..Default::default()
        };
        kube.call(
            &format!("deleting Cluster {ns}/{name}"),
            kube.api(&ar, Some(&ns)).delete(name, &dp),
        )
        .await?;
        if dry_run {
            println!("{what} would be deleted{}", write.suffix());
            return Ok(());
        }
        println!("{what} deletion requested");
    }
    if !a.wait {
        return Ok(());
    }
    follow(&kube, &catalog, &ns, name, &objs, &a).await?;
    println!("{what} deleted");
    Ok(())
}

/// Follows the deletion through watches until the Cluster is gone.
async fn follow(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    name: &str,
    objs: &capi_shared::tree::fetch::ClusterObjects,
    a: &ClusterArgs,
) -> Result<()> {
    let mut events = capi_shared::tree::changes::cluster_changes(kube, catalog, ns, name, objs).await?;
    let deadline = tokio::time::Instant::now() + a.timeout;
    let mut last: Vec<Left> = vec![];
    let mut last_change = tokio::time::Instant::now();
    let mut reported_stall = false;
    loop {
        match snapshot(kube, catalog, ns, name).await? {
            None => return Ok(()),
            Some(left) => {
                if left != last {
                    eprintln!("waiting for the deletion: {} left", deletion::progress(&left));
                    last = left;
                    last_change = tokio::time::Instant::now();
                    reported_stall = false;
                }
            }
        }
        let stall_at = last_change + a.stall_after;
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                return Err(Error::Timeout(format!(
                    "Cluster {ns}/{name} is still being deleted after {:?}: {} left{}",
                    a.timeout,
                    deletion::progress(&last),
                    blocker_text(&last)
                )));
            }
            _ = tokio::time::sleep_until(stall_at), if !reported_stall => {
                reported_stall = true;
                eprintln!(
                    "the deletion has not progressed for {:?}{}",
                    a.stall_after,
                    blocker_text(&last)
                );
            }
            ev = events.next() => {
                if ev.is_none() {
                    return Err(Error::Connection("the watch streams ended".into()));
                }
                // Let a burst of events settle, then look once.
                tokio::time::sleep(Duration::from_millis(200)).await;
                while let Some(Some(_)) = futures::FutureExt::now_or_never(events.next()) {}
            }
        }
    }
}

fn blocker_text(left: &[Left]) -> String {
    let b = deletion::blockers(left);
    if b.is_empty() {
        let waiting: Vec<String> = left
            .iter()
            .filter(|l| !l.deleting)
            .map(|l| format!("{}/{}", l.kind, l.name))
            .collect();
        if waiting.is_empty() {
            return String::new();
        }
        return format!("; not being deleted yet: {}", waiting.join(", "));
    }
    format!("; blocking:\n  {}", b.join("\n  "))
}

/// What is left of the cluster, or None once the Cluster is gone.
async fn snapshot(kube: &Kube, catalog: &Catalog, ns: &str, name: &str) -> Result<Option<Vec<Left>>> {
    let ar = core(kube, catalog, "Cluster").await?;
    let gone = kube
        .call(
            &format!("reading Cluster {ns}/{name}"),
            kube.api(&ar, Some(ns)).get_opt(name),
        )
        .await?
        .is_none();
    if gone {
        return Ok(None);
    }
    match fetch_cluster(kube, catalog, ns, name, FetchOptions::default()).await {
        Ok(objs) => Ok(Some(deletion::remaining(&objs))),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
