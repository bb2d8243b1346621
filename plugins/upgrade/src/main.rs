//! `kubectl capi upgrade`: plan and apply Kubernetes version upgrades of workload clusters
//! (through the topology for ClusterClass clusters, object by object otherwise), and plan
//! provider upgrades from clusterctl's inventory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use capi_shared::capi::Catalog;
use capi_shared::client::Kube;
use capi_shared::flags::{ConnArgs, DryRunArg, parse_duration};
use capi_shared::output::{self, Format};
use capi_shared::upgrade::apply::{self, Options};
use capi_shared::upgrade::progress::Stderr;
use capi_shared::upgrade::templates::SetField;
use capi_shared::upgrade::{plan, providers, state};
use capi_shared::{Error, Result};
use clap::{ArgAction, Args, Parser, Subcommand};

const CHECKS: &str = "Checks made before anything changes (a failed one refuses the upgrade):
  versionFormat       --to is a Kubernetes version (v1.34.0; the v is optional)
  noDowngrade         --to is not older than the cluster's version
  minorSteps          one minor at a time, unless the ClusterClass lists spec.kubernetesVersions
                      (or names an upgrade plan extension) so the topology controller chains them
  classVersions       --to is one of the ClusterClass's spec.kubernetesVersions, when it lists any
  notPaused           neither the Cluster nor its control plane, MachineDeployments or MachinePools
  controlPlaneStable  the control plane runs its version everywhere and is not rolling out
  workersNotAhead     no MachineDeployment, MachinePool or Machine runs a newer version than both
                      the control plane and --to (workers ahead of the control plane only are
                      fine: it goes first); in a topology: all at the topology's version
  versionSkew         while the control plane is ahead, every worker's new Machines can still join:
                      kubeadm at most one minor behind, kubelets at most three";

#[derive(Parser)]
#[command(
    name = "kubectl capi upgrade",
    bin_name = "kubectl capi upgrade",
    version,
    about = "Plan and apply Kubernetes version upgrades of workload clusters; plan and apply provider upgrades"
)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the steps, the objects that change and the templates that will be created; change nothing.
    #[command(after_help = format!("{CHECKS}\n\nExits 1 when a check fails (the plan is still printed).\n\nExamples:\n  kubectl capi upgrade plan cluster my-cluster --to v1.34.0\n  kubectl capi upgrade plan cluster/my-cluster --to v1.34.0 -o yaml"))]
    Plan(PlanArgs),
    /// Upgrade the cluster's Kubernetes version: control plane first, then MachineDeployments, then MachinePools.
    #[command(after_help = format!("A cluster with a topology (ClusterClass) is upgraded by patching spec.topology.version; the topology
controller rolls the control plane (through every minor the class lists), then the workers.

A cluster built without ClusterClass is upgraded object by object:
  1. each infrastructure machine template in use is copied as NAME-vX-Y-Z (owner: the Cluster; labels
     and annotations kept; --set fields changed on the copy), since Cluster API treats templates as
     immutable;
  2. the control plane's version and template reference change in one patch; its rollout is awaited;
  3. each MachineDeployment's version and template change (--concurrency at a time; the outgoing
     revision is recorded for `kubectl capi rollout undo`), each rollout awaited;
  4. each MachinePool's version changes, its rollout awaited.
Progress goes to stderr. Interrupting is safe: the same command continues where it stopped (copies
are found again by name). With --wait=false it starts what can start now and returns; run it again
later to go on. --cleanup-templates, once everything runs the new version, deletes the templates
this cluster's upgrades copied or replaced that nothing references any more (no control plane,
MachineDeployment, MachineSet, MachinePool or ClusterClass in the namespace); revisions recorded
for `rollout undo` that name them can no longer be restored.

{CHECKS}

Examples:
  kubectl capi upgrade apply cluster my-cluster --to v1.34.0
  kubectl capi upgrade apply cluster my-cluster --to v1.34.0 --dry-run=server
  kubectl capi upgrade apply cluster my-cluster --to v1.34.0 --set spec.template.spec.image=ubuntu-2404-kube-v1.34.0 --cleanup-templates
  kubectl capi upgrade apply cluster my-cluster --to v1.34.0 --wait=false"))]
    Apply(ApplyArgs),
    /// Provider upgrades (clusterctl's inventory against a provider repository).
    Providers {
        #[command(subcommand)]
        cmd: ProvidersCmd,
    },
}

#[derive(Subcommand)]
enum ProvidersCmd {
    /// For every contract newer than the installed one, each provider's next version.
    #[command(
        after_help = "Reads the providers installed by clusterctl (providers.clusterctl.cluster.x-k8s.io) and, for each, the
versions in a provider repository laid out as clusterctl's overrides folder or a local repository:
  DIR/<provider-label>/<version>/metadata.yaml      e.g. DIR/cluster-api/v1.14.1/metadata.yaml
The release series in the newest metadata.yaml give each version's contract. As clusterctl does:
the core provider's installed release series names the current contract; each newer contract it
lists gets a plan where a provider's next version is its newest stable release of a compatible
contract (v1beta2 accepts v1beta1 providers); a newer contract's plan is shown only when every
provider has something for it.

Examples:
  kubectl capi upgrade providers plan
  kubectl capi upgrade providers plan --repository ./clusterctl-repo -o json"
    )]
    Plan(ProvidersPlanArgs),
    /// Upgrade providers in place: new components with server-side apply, your Deployment changes kept.
    #[command(
        after_help = "Either --contract CONTRACT (every provider to its next version for that contract, as `providers plan`
shows) or providers with versions (--core cluster-api:v1.14.0, -b kubeadm:v1.14.0, -i docker:v1.14.0, ...).
Both the installed and the new release must be in the repository: the installed components tell what
the upgrade removes and which Deployment changes (flags, env, resources, replicas) are yours, and those
are carried into the new Deployment. The new components are applied in place with server-side apply (no
delete and recreate: the controllers keep running); objects of the old components the new ones lack are
deleted, found by the label cluster.x-k8s.io/provider per kind of the old components (CRDs and Namespaces
are kept, as clusterctl keeps them); then the inventory records the new versions.

Examples:
  kubectl capi upgrade providers apply --repository ./repo --contract v1beta2 --wait-providers
  kubectl capi upgrade providers apply --repository ./repo -i docker:v1.14.0 --dry-run=server"
    )]
    Apply(Box<ProvidersApplyArgs>),
}

#[derive(Args)]
struct ProvidersApplyArgs {
    /// The provider repository, DIR/<provider-label>/<version>/.
    #[arg(long, value_name = "DIR")]
    repository: Option<PathBuf>,
    /// The clusterctl config file (providers:, images:, variables).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Upgrade every provider to its next version for this contract (v1beta2).
    #[arg(long, value_name = "CONTRACT")]
    contract: Option<String>,
    /// The core provider, NAME:VERSION.
    #[arg(long, value_name = "NAME:VERSION")]
    core: Option<String>,
    /// Bootstrap providers, NAME:VERSION.
    #[arg(short = 'b', long, value_name = "NAME:VERSION", value_delimiter = ',')]
    bootstrap: Vec<String>,
    /// Control plane providers, NAME:VERSION.
    #[arg(short = 'c', long, value_name = "NAME:VERSION", value_delimiter = ',')]
    control_plane: Vec<String>,
    /// Infrastructure providers, NAME:VERSION.
    #[arg(short = 'i', long, value_name = "NAME:VERSION", value_delimiter = ',')]
    infrastructure: Vec<String>,
    /// IPAM providers, NAME:VERSION.
    #[arg(long, value_name = "NAME:VERSION", value_delimiter = ',')]
    ipam: Vec<String>,
    /// Runtime extension providers, NAME:VERSION.
    #[arg(long, value_name = "NAME:VERSION", value_delimiter = ',')]
    runtime_extension: Vec<String>,
    /// Add-on providers, NAME:VERSION.
    #[arg(long, value_name = "NAME:VERSION", value_delimiter = ',')]
    addon: Vec<String>,
    /// Wait until every upgraded provider's Deployments are Available.
    #[arg(long)]
    wait_providers: bool,
    /// How long --wait-providers waits (e.g. 5m); then exit code 3.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    wait_provider_timeout: Duration,
    #[command(flatten)]
    dry_run: DryRunArg,
    /// JSON or YAML instead of text.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<Format>,
}

#[derive(Args)]
struct ClusterArg {
    /// The cluster: cluster NAME, cluster/NAME, or just NAME.
    #[arg(value_name = "CLUSTER", required = true, num_args = 1..=2)]
    object: Vec<String>,
    /// The Kubernetes version to upgrade to, e.g. v1.34.0.
    #[arg(long, value_name = "VERSION")]
    to: String,
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    cluster: ClusterArg,
    /// MachineDeployments upgraded at once (shown in the plan).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// JSON or YAML instead of text.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<Format>,
}

#[derive(Args)]
struct ApplyArgs {
    #[command(flatten)]
    cluster: ClusterArg,
    #[command(flatten)]
    dry_run: DryRunArg,
    /// Wait for each stage's rollout before the next (--wait=false: start what can start now and return).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    wait: bool,
    /// How long to wait in all (e.g. 45m); then exit code 3, and the same command continues.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    timeout: Duration,
    /// MachineDeployments (and MachinePools) upgraded at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Set a field on every infrastructure template copy, e.g. spec.template.spec.image=IMAGE (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    sets: Vec<String>,
    /// Once the upgrade is complete, delete the templates it copied or replaced that nothing references.
    #[arg(long)]
    cleanup_templates: bool,
    /// Print the outcome as JSON or YAML (progress goes to stderr).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<Format>,
}

#[derive(Args)]
struct ProvidersPlanArgs {
    /// The provider repository (default: $XDG_CONFIG_HOME/cluster-api/overrides, else ~/.config/cluster-api/overrides).
    #[arg(long, value_name = "DIR")]
    repository: Option<PathBuf>,
    /// JSON or YAML instead of text.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<Format>,
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    capi_shared::cli::run_async(cli.conn.verbosity, run(cli))
}

/// `cluster NAME`, `cluster/NAME` or `NAME` → NAME.
fn cluster_name(args: &[String]) -> Result<String> {
    if let [one] = args
        && !one.contains('/')
    {
        // `upgrade plan cluster --to v` names the type, not a cluster.
        if matches!(one.to_ascii_lowercase().as_str(), "cluster" | "clusters") {
            return Err(Error::Usage(format!(
                "{one:?} needs the cluster's name: give cluster NAME (or cluster/NAME)"
            )));
        }
        return Ok(one.clone());
    }
    let (ty, name) = capi_shared::capi::target::split_args(args)?;
    match ty.to_ascii_lowercase().as_str() {
        "cluster" | "clusters" | "cluster.cluster.x-k8s.io" => Ok(name),
        _ => Err(Error::Usage(format!(
            "{ty:?}: upgrade acts on a whole cluster; give cluster NAME (or cluster/NAME)"
        ))),
    }
}

async fn connect(conn: &ConnArgs) -> Result<(Kube, Catalog)> {
    let (kube, catalog, _) = Catalog::connect(conn, None).await?;
    Ok((kube, catalog))
}

async fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Plan(a) => plan_cmd(&cli.conn, a).await,
        Cmd::Apply(a) => apply_cmd(&cli.conn, a).await,
        Cmd::Providers {
            cmd: ProvidersCmd::Plan(a),
        } => providers_cmd(&cli.conn, a).await,
        Cmd::Providers {
            cmd: ProvidersCmd::Apply(a),
        } => providers_apply_cmd(&cli.conn, *a).await,
    }
}

async fn providers_apply_cmd(conn: &ConnArgs, a: ProvidersApplyArgs) -> Result<()> {
    use capi_shared::init::provider::{ProviderType as T, Wanted};
    use capi_shared::init::{config, repository::Repositories, upgrade};
    let mode = a.dry_run.mode();
    if mode.is_dry_run() && a.wait_providers {
        return Err(Error::Usage(
            "--wait-providers cannot be used with --dry-run (nothing changes)".into(),
        ));
    }
    let mut targets = vec![];
    let lists: [(T, &[String]); 7] = [
        (T::Core, a.core.as_slice()),
        (T::Bootstrap, &a.bootstrap),
        (T::ControlPlane, &a.control_plane),
        (T::Infrastructure, &a.infrastructure),
        (T::Ipam, &a.ipam),
        (T::RuntimeExtension, &a.runtime_extension),
        (T::Addon, &a.addon),
    ];
    for (ty, list) in lists {
        for arg in list {
            targets.push(Wanted::parse(ty, arg)?);
        }
    }
    let repo = a.repository.or_else(providers::default_repository);
    if let Some(dir) = repo.as_ref().filter(|d| !d.is_dir()) {
        return Err(Error::NotFound(format!(
            "no provider repository at {}: give --repository DIR, laid out as DIR/<provider-label>/<version>/",
            dir.display()
        )));
    }
    let repos = Repositories::new(repo, config::load(a.config.as_deref())?);
    let vars = capi_shared::generate::load_config(a.config.as_deref())?;
    let inputs = capi_shared::generate::Inputs::default();
    let values = capi_shared::generate::Values::new(&inputs, &vars);
    let kube = Kube::connect(conn, None).await?;
    let req = upgrade::Request {
        contract: a.contract,
        targets,
        values: &values,
        mode,
        wait: a.wait_providers.then_some(a.wait_provider_timeout),
    };
    let report = upgrade::run(&kube, &repos, req, &mut |l| eprintln!("{l}")).await?;
    match a.output {
        Some(f) => output::print(&output::render(&report, f)?),
        None => output::print(&upgrade::text(&report)),
    }
}

async fn plan_cmd(conn: &ConnArgs, a: PlanArgs) -> Result<()> {
    let name = cluster_name(&a.cluster.object)?;
    let (to, to_s) = plan::parse_target(&a.cluster.to)?;
    let (kube, catalog) = connect(conn).await?;
    let st = state::load(&kube, &catalog, &kube.namespace, &name).await?;
    let p = plan::build(&st, &to, &to_s)?;
    match a.output {
        Some(f) => output::print(&output::render(&p, f)?)?,
        None => output::print(&p.text(a.concurrency as usize))?,
    }
    if !p.allowed {
        let failed = p.checks.iter().filter(|c| !c.passed).count();
        return Err(Error::Refused(format!(
            "the upgrade would be refused: {failed} check(s) failed (see the plan)"
        )));
    }
    Ok(())
}

async fn apply_cmd(conn: &ConnArgs, a: ApplyArgs) -> Result<()> {
    let name = cluster_name(&a.cluster.object)?;
    plan::parse_target(&a.cluster.to)?;
    let sets = a
        .sets
        .iter()
        .map(|s| SetField::parse(s))
        .collect::<Result<Vec<_>>>()?;
    let (kube, catalog) = connect(conn).await?;
    let opts = Options {
        to: a.cluster.to.clone(),
        sets,
        write: a.dry_run.mode(),
        wait: a.wait,
        timeout: a.timeout,
        concurrency: a.concurrency as usize,
        cleanup_templates: a.cleanup_templates,
    };
    let ns = kube.namespace.clone();
    let outcome = apply::apply(&kube, &catalog, &ns, &name, &opts, &Stderr).await?;
    match a.output {
        Some(f) => output::print(&output::render(&outcome, f)?),
        None => output::print(&outcome.text()),
    }
}

async fn providers_cmd(conn: &ConnArgs, a: ProvidersPlanArgs) -> Result<()> {
    let repo = match a.repository.or_else(providers::default_repository) {
        Some(r) => r,
        None => {
            return Err(Error::Usage(
                "no provider repository: give --repository DIR (HOME and XDG_CONFIG_HOME are unset)".into(),
            ));
        }
    };
    if !repo.is_dir() {
        return Err(Error::NotFound(format!(
            "no provider repository at {}: give --repository DIR, laid out as DIR/<provider-label>/<version>/metadata.yaml (clusterctl's overrides layout)",
            repo.display()
        )));
    }
    let (kube, catalog) = connect(conn).await?;
    let installed = providers::inventory(&kube, &catalog).await?;
    let plans = providers::plan(&installed, |label| providers::Offer::read(&repo, label))?;
    match a.output {
        Some(f) => output::print(&output::render(&plans, f)?),
        None => output::print(&providers::text(&plans)),
    }
}
