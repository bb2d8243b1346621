//! `kubectl capi move`: move Cluster API objects to another management cluster, one cluster
//! at a time if wanted, or save them to a directory and restore them from one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use capi_shared::client::Kube;
use capi_shared::flags::{ConnArgs, parse_duration};
use capi_shared::moving::flow::{self, Destination, Options, Restored};
use capi_shared::moving::plan::Scope;
use capi_shared::output::{self, Format};
use capi_shared::{Error, Result};
use clap::Parser;

const AFTER_HELP: &str = "Examples:
  kubectl capi move --to-kubeconfig target.kubeconfig -n prod        # every cluster of namespace prod
  kubectl capi move --to-kubeconfig target.kubeconfig --cluster a -n prod
  kubectl capi move --context bootstrap --to-context mgmt -A         # one kubeconfig, two contexts
  kubectl capi move --dry-run --to-kubeconfig target.kubeconfig -n prod -o yaml
  kubectl capi move --to-directory ./backup -n prod
  kubectl capi move --from-directory ./backup --to-kubeconfig new.kubeconfig

A move pauses the moved Clusters and ClusterClasses (marked as paused by this move), waits for
block-move annotations to go, copies every object to the target (statuses too), deletes them
from the source and resumes them in the target. A failure before the first deletion rolls back;
after it, run the same command again to finish. Progress goes to stderr, the summary to stdout.
Exit codes: 0 done, 1 error or refusal (nothing changed unless it says so), 2 bad flags,
3 --timeout reached waiting for block-move annotations (rolled back).";

#[derive(Parser)]
#[command(
    name = "kubectl capi move",
    bin_name = "kubectl capi move",
    version,
    about = "Move Cluster API objects to another management cluster, or back them up to a directory and restore them",
    after_help = AFTER_HELP
)]
struct Cli {
    /// The source's kubeconfig (default: the KUBECONFIG list, then ~/.kube/config).
    #[arg(long, value_name = "PATH", help_heading = "Source")]
    kubeconfig: Option<PathBuf>,
    /// The source's context (`--kubeconfig-context` is accepted for clusterctl users).
    #[arg(
        long,
        visible_alias = "kubeconfig-context",
        value_name = "NAME",
        help_heading = "Source"
    )]
    context: Option<String>,
    /// The namespace to move (default: the context's namespace, else "default").
    #[arg(short = 'n', long, value_name = "NS", help_heading = "Scope")]
    namespace: Option<String>,
    /// Move every namespace.
    #[arg(short = 'A', long, help_heading = "Scope", conflicts_with_all = ["namespace", "cluster"])]
    all_namespaces: bool,
    /// Move only this Cluster and what it needs (repeatable); a ClusterClass other Clusters
    /// still use is copied but stays in the source.
    #[arg(long = "cluster", value_name = "NAME", help_heading = "Scope")]
    cluster: Vec<String>,
    /// The target's kubeconfig.
    #[arg(long, value_name = "PATH", help_heading = "Target")]
    to_kubeconfig: Option<PathBuf>,
    /// The target's context (default: that kubeconfig's current context).
    #[arg(
        long,
        visible_alias = "to-kubeconfig-context",
        value_name = "NAME",
        help_heading = "Target"
    )]
    to_context: Option<String>,
    /// Save to this directory instead (created if missing; refused when not empty).
    #[arg(long, value_name = "DIR", help_heading = "Target", conflicts_with_all = ["to_kubeconfig", "to_context", "from_directory"])]
    to_directory: Option<PathBuf>,
    /// With --to-directory: replace what the directory holds.
    #[arg(long, requires = "to_directory", help_heading = "Target")]
    overwrite: bool,
    /// Restore a backup (ours or clusterctl's) into the current context, or --to-kubeconfig.
    #[arg(long, value_name = "DIR", help_heading = "Target", conflicts_with_all = ["all_namespaces", "cluster"])]
    from_directory: Option<PathBuf>,
    /// Print the plan (and, with a target, the preflight's findings); change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Move even though objects of moved kinds would be left behind cut off from their owners.
    #[arg(long)]
    allow_left_behind: bool,
    /// Move clusters that are not fully provisioned. Risky: a control plane not initialised or a
    /// Machine without a Node may be mid-creation, and its provider may create it again from
    /// the target.
    #[arg(long)]
    force: bool,
    /// Do not write statuses in the target (its controllers then rebuild them from nothing).
    #[arg(long)]
    skip_status: bool,
    /// How long to wait for block-move annotations to go, all objects together.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
    /// Print the plan or the summary as json or yaml.
    #[arg(short = 'o', long, value_enum)]
    output: Option<Format>,
    /// How long to wait for each API request; 0 means no limit.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0")]
    request_timeout: Duration,
    /// Log verbosity like kubectl (6 logs every request).
    #[arg(short = 'v', long = "v", value_name = "N", default_value_t = 0)]
    verbosity: u8,
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    capi_shared::cli::run_async(cli.verbosity, run(cli))
}

impl Cli {
    fn source(&self) -> ConnArgs {
        ConnArgs {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            cluster: None,
            namespace: self.namespace.clone(),
            request_timeout: self.request_timeout,
            verbosity: self.verbosity,
        }
    }

    /// The target connection, when one is named.
    fn target(&self) -> Option<ConnArgs> {
        if self.to_kubeconfig.is_none() && self.to_context.is_none() {
            return None;
        }
        Some(ConnArgs {
            kubeconfig: self.to_kubeconfig.clone(),
            context: self.to_context.clone(),
            cluster: None,
            namespace: None,
            request_timeout: self.request_timeout,
            verbosity: self.verbosity,
        })
    }

    fn options(&self, namespace: &str) -> Options {
        let scope = if self.all_namespaces {
            Scope::AllNamespaces
        } else if self.cluster.is_empty() {
            Scope::Namespace(namespace.to_string())
        } else {
            Scope::Clusters {
                namespace: namespace.to_string(),
                names: self.cluster.clone(),
            }
        };
        Options {
            scope,
            allow_left_behind: self.allow_left_behind,
            force: self.force,
            restore_status: !self.skip_status,
            timeout: self.timeout,
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Some(dir) = cli.from_directory.clone() {
        return restore(&cli, &dir).await;
    }
    let target_conn = cli.target();
    if target_conn.is_none() && cli.to_directory.is_none() && !cli.dry_run {
        return Err(Error::Usage(
            "say where to move to: --to-kubeconfig FILE (and/or --to-context NAME), --to-directory DIR, or --dry-run to print the plan"
                .into(),
        ));
    }
    let source = Kube::connect(&cli.source(), None).await?;
    let target = match &target_conn {
        Some(c) => Some(connect_target(&source, c).await?),
        None => None,
    };
    let dest = match (&target, &cli.to_directory) {
        (Some(t), _) => Some(Destination::Cluster(t)),
        (None, Some(d)) => Some(Destination::Directory {
            path: d.clone(),
            overwrite: cli.overwrite,
        }),
        (None, None) => None,
    };
    let opts = cli.options(&source.namespace);
    if cli.dry_run {
        let report = flow::dry_run(&source, dest.as_ref(), &opts).await?;
        return print(&report, cli.output, || report.text());
    }
    let Some(dest) = dest else {
        return Err(Error::Usage("nothing to move to".into()));
    };
    let summary = flow::run(&source, &dest, &opts).await?;
    print(&summary, cli.output, || summary.text())
}

/// Connects to the target and refuses the source itself.
async fn connect_target(source: &Kube, c: &ConnArgs) -> Result<Kube> {
    let target = Kube::connect(c, None).await.map_err(|e| match e {
        Error::Config(m) => Error::Config(format!("the target (--to-kubeconfig/--to-context): {m}")),
        other => other,
    })?;
    if target.server == source.server {
        return Err(Error::Usage(format!(
            "the source and the target are the same API server ({}): name another cluster with --to-kubeconfig or --to-context",
            target.server
        )));
    }
    Ok(target)
}

async fn restore(cli: &Cli, dir: &std::path::Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "--from-directory {}: no such directory",
            dir.display()
        )));
    }
    // Restores go into the current context, or the one --to-kubeconfig/--to-context names.
    let conn = cli.target().unwrap_or_else(|| cli.source());
    let target = Kube::connect(&conn, None).await?;
    let opts = cli.options(&target.namespace);
    match flow::restore(dir, &target, &opts, cli.dry_run).await? {
        Restored::Plan(report) => print(&report, cli.output, || report.text()),
        Restored::Done(summary) => print(&summary, cli.output, || summary.text()),
    }
}

fn print<T: serde::Serialize>(
    value: &T,
    format: Option<Format>,
    text: impl FnOnce() -> String,
) -> Result<()> {
    match format {
        Some(f) => output::print(&output::render(value, f)?),
        None => output::print(&text()),
    }
}
