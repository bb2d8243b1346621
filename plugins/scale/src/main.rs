//! `kubectl capi scale`: set the replicas of a MachineDeployment, MachinePool or control plane,
//! through the Cluster's topology when the topology controller owns the object.

use std::process::ExitCode;
use std::time::Duration;

use capi_shared::capi::Catalog;
use capi_shared::capi::target;
use capi_shared::flags::{ConnArgs, DryRunArg, parse_duration};
use capi_shared::{Error, Result, scale};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "kubectl capi scale",
    bin_name = "kubectl capi scale",
    version,
    about = "Scale a MachineDeployment, MachinePool or control plane; topology-managed ones through their Cluster so the change sticks",
    after_help = "Types: machinedeployment (md), machinepool (mp), kubeadmcontrolplane (kcp), or KIND.GROUP for any other\ncontrol plane that follows the Cluster API contract.\n\nExamples:\n  kubectl capi scale md/my-cluster-md-0 --replicas 5\n  kubectl capi scale kcp my-cluster-control-plane --replicas 5 --wait\n  kubectl capi scale md/my-cluster-md-0 --replicas 10 --dry-run=server\n\nA MachineDeployment, MachinePool or control plane created from a ClusterClass is scaled by patching\nthe matching replicas in Cluster.spec.topology (a direct change would be reverted). A KubeadmControlPlane\nwith stacked etcd is refused an even count unless --force. Node groups managed by the cluster\nautoscaler get a warning, and a count outside the autoscaler's bounds is refused unless --force."
)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    /// TYPE/NAME, or TYPE NAME.
    #[arg(value_name = "TYPE/NAME", num_args = 1..=2, required = true)]
    target: Vec<String>,
    /// The new number of replicas.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    replicas: i64,
    /// Skip the even-control-plane and autoscaler-bounds checks.
    #[arg(long)]
    force: bool,
    /// Wait until the object has N ready replicas.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (e.g. 10m); then exit code 3.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    dry_run: DryRunArg,
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    capi_shared::cli::run_async(cli.conn.verbosity, run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let (ty, name) = target::split_args(&cli.target)?;
    let write = cli.dry_run.mode();
    let dry_run = write.is_dry_run();
    if dry_run && cli.wait {
        return Err(Error::Usage(
            "--wait cannot be used with --dry-run (nothing changes)".into(),
        ));
    }
    let (kube, catalog, _) = Catalog::connect(&cli.conn, None).await?;
    let resolved = target::resolve(&kube, &catalog, &ty).await?;
    let ns = kube.namespace.clone();
    let plan = scale::plan(&kube, &catalog, &resolved, &ns, &name, cli.replicas, cli.force).await?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    if plan.from != Some(plan.to) {
        scale::apply(&kube, &catalog, &resolved, &ns, &name, &plan, write).await?;
    }
    println!("{}", plan.summary(write));
    if cli.wait {
        scale::wait(&kube, &resolved, &ns, &name, plan.to, cli.timeout, |line| {
            eprintln!("{line}")
        })
        .await?;
    }
    Ok(())
}
