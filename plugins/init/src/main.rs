//! `kubectl capi init`: make a cluster a Cluster API management cluster by installing providers
//! and cert-manager from a local repository with server-side apply, and `init list-images`,
//! which needs no cluster.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use capi_shared::client::Kube;
use capi_shared::flags::{ConnArgs, DryRunArg, WriteMode, parse_duration};
use capi_shared::generate::{Inputs, Values, load_config};
use capi_shared::init::config;
use capi_shared::init::plan::Settings;
use capi_shared::init::provider::{ProviderType, Wanted};
use capi_shared::init::repository::Repositories;
use capi_shared::init::run::{self, Request};
use capi_shared::output::{self, Format};
use capi_shared::{Error, Result};
use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "Examples:\n  kubectl capi init --repository ./repo -i in-memory --wait-providers\n  kubectl capi init --repository ./repo -i docker:v1.10.0 --dry-run=server\n  kubectl capi init --repository ./repo -i in-memory          # a re-run only adds what is missing\n  kubectl capi init list-images --repository ./repo -i docker  # no cluster needed\n\nOn a first run (no core provider installed) the core provider cluster-api and the kubeadm bootstrap\nand control plane providers are added unless asked otherwise (-b - and -c - leave them out).\nProviders come from --repository DIR, laid out as DIR/<provider-label>/<version>/{metadata.yaml,\n<type>-components.yaml} (clusterctl's overrides layout), or from the providers: list of the clusterctl\nconfig file; cert-manager from DIR/cert-manager/<version>/cert-manager.yaml or the file's cert-manager:\nsection. A version is name:v1.2.3; without one the newest release of the newest series that fits the\ncore provider's contract is taken. Everything is checked before anything is written, then applied with\nserver-side apply, so a re-run converges instead of failing; the clusterctl inventory is updated so\nclusterctl and `kubectl capi upgrade providers plan` see what was installed.\n\nExit codes: 0 done, 1 failed or refused, 2 bad usage, 3 --wait-providers timed out.";

#[derive(Parser)]
#[command(
    name = "kubectl capi init",
    bin_name = "kubectl capi init",
    version,
    about = "Install Cluster API providers and cert-manager into a cluster from a local repository",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    providers: ProviderArgs,
    /// Wait until every provider Deployment is Available.
    #[arg(long)]
    wait_providers: bool,
    /// How long --wait-providers waits (5m, 300s, or seconds as clusterctl takes them); then exit code 3.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_seconds_or_duration)]
    wait_provider_timeout: Duration,
    /// Check one instance per provider, one core provider, contracts and CRD names before writing.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    validate: bool,
    #[command(flatten)]
    dry_run: DryRunArg,
    /// Print what was installed as JSON or YAML (progress goes to stderr).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<Format>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the images the providers would run, from the repository alone: no cluster needed
    /// (give --kubeconfig or --context to take a re-run's defaults from the cluster's inventory).
    ListImages(ListArgs),
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    providers: ProviderArgs,
    /// JSON or YAML instead of one image per line.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<Format>,
}

/// The providers asked for and where they come from.
#[derive(Args, Clone, Default)]
struct ProviderArgs {
    /// The core provider, NAME[:VERSION] (default on a first run: cluster-api).
    #[arg(long, value_name = "NAME[:VERSION]")]
    core: Option<String>,
    /// Bootstrap providers, NAME[:VERSION] (repeatable or comma-separated; default on a first run: kubeadm; - for none).
    #[arg(short = 'b', long, value_name = "NAME[:VERSION]", value_delimiter = ',')]
    bootstrap: Vec<String>,
    /// Control plane providers (default on a first run: kubeadm; - for none).
    #[arg(short = 'c', long, value_name = "NAME[:VERSION]", value_delimiter = ',')]
    control_plane: Vec<String>,
    /// Infrastructure providers.
    #[arg(short = 'i', long, value_name = "NAME[:VERSION]", value_delimiter = ',')]
    infrastructure: Vec<String>,
    /// IPAM providers.
    #[arg(long, value_name = "NAME[:VERSION]", value_delimiter = ',')]
    ipam: Vec<String>,
    /// Runtime extension providers.
    #[arg(long, value_name = "NAME[:VERSION]", value_delimiter = ',')]
    runtime_extension: Vec<String>,
    /// Add-on providers.
    #[arg(long, value_name = "NAME[:VERSION]", value_delimiter = ',')]
    addon: Vec<String>,
    /// The namespace every provider of this run goes to (default: each components file's own).
    #[arg(long, value_name = "NS")]
    target_namespace: Option<String>,
    /// The provider repository, DIR/<provider-label>/<version>/ (clusterctl's overrides layout).
    #[arg(long, value_name = "DIR")]
    repository: Option<PathBuf>,
    /// The clusterctl config file (providers:, images:, cert-manager:, variables).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// What the provider flags ask for.
struct Asked {
    wanted: Vec<Wanted>,
    skip_bootstrap: bool,
    skip_control_plane: bool,
}

impl ProviderArgs {
    fn asked(&self) -> Result<Asked> {
        let mut wanted = vec![];
        let mut skip = |ty: ProviderType, args: &[String]| -> Result<bool> {
            let mut none = false;
            for a in args {
                if a.trim() == "-" {
                    none = true;
                } else {
                    wanted.push(Wanted::parse(ty, a)?);
                }
            }
            Ok(none)
        };
        skip(ProviderType::Core, self.core.as_slice())?;
        let skip_bootstrap = skip(ProviderType::Bootstrap, &self.bootstrap)?;
        let skip_control_plane = skip(ProviderType::ControlPlane, &self.control_plane)?;
        skip(ProviderType::Infrastructure, &self.infrastructure)?;
        skip(ProviderType::Ipam, &self.ipam)?;
        skip(ProviderType::RuntimeExtension, &self.runtime_extension)?;
        skip(ProviderType::Addon, &self.addon)?;
        Ok(Asked {
            wanted,
            skip_bootstrap,
            skip_control_plane,
        })
    }

    fn repositories(&self) -> Result<Repositories> {
        if let Some(dir) = &self.repository
            && !dir.is_dir()
        {
            return Err(Error::NotFound(format!(
                "--repository {}: no such directory; give a folder laid out as DIR/<provider-label>/<version>/metadata.yaml",
                dir.display()
            )));
        }
        let cfg = config::load(self.config.as_deref())?;
        Ok(Repositories::new(self.repository.clone(), cfg))
    }
}

/// `300` (clusterctl's seconds) or a duration such as `5m`.
fn parse_seconds_or_duration(s: &str) -> std::result::Result<Duration, String> {
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    parse_duration(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    let verbosity = match &cli.cmd {
        Some(Cmd::ListImages(a)) => a.conn.verbosity,
        None => cli.conn.verbosity,
    };
    capi_shared::cli::run_async(verbosity, dispatch(cli))
}

async fn dispatch(cli: Cli) -> Result<()> {
    match cli.cmd {
        Some(Cmd::ListImages(a)) => list_images(a).await,
        None => init(cli).await,
    }
}

/// Variable values: the environment, then the config file (no cluster-specific flags here).
fn variables(p: &ProviderArgs) -> Result<std::collections::BTreeMap<String, String>> {
    load_config(p.config.as_deref())
}

fn target_namespace(p: &ProviderArgs, conn: &ConnArgs) -> Option<String> {
    p.target_namespace
        .clone()
        .or_else(|| conn.namespace.clone())
        .filter(|n| !n.is_empty())
}

async fn init(cli: Cli) -> Result<()> {
    let mode = cli.dry_run.mode();
    if mode.is_dry_run() && cli.wait_providers {
        return Err(Error::Usage(
            "--wait-providers cannot be used with --dry-run (nothing is installed)".into(),
        ));
    }
    let asked = cli.providers.asked()?;
    let repos = cli.providers.repositories()?;
    let vars = variables(&cli.providers)?;
    let inputs = Inputs::default();
    let values = Values::new(&inputs, &vars);
    let ns = target_namespace(&cli.providers, &cli.conn);
    let kube = Kube::connect(&cli.conn, None).await?;
    let req = Request {
        wanted: asked.wanted,
        skip_bootstrap: asked.skip_bootstrap,
        skip_control_plane: asked.skip_control_plane,
        settings: Settings {
            target_namespace: ns.as_deref(),
            values: &values,
            validate: cli.validate,
            keep_missing: false,
        },
        mode,
        wait: cli.wait_providers.then_some(cli.wait_provider_timeout),
    };
    let report = run::run(&kube, &repos, req, &mut |line| eprintln!("{line}")).await?;
    match cli.output {
        Some(f) => output::print(&output::render(&report, f)?),
        None => output::print(&run::text(&report)),
    }
}

async fn list_images(a: ListArgs) -> Result<()> {
    let asked = a.providers.asked()?;
    let repos = a.providers.repositories()?;
    let vars = variables(&a.providers)?;
    let inputs = Inputs::default();
    let values = Values::new(&inputs, &vars);
    let ns = target_namespace(&a.providers, &a.conn);
    // Offline unless a cluster is named: its inventory gives a re-run's defaults.
    let have = if a.conn.kubeconfig.is_some() || a.conn.context.is_some() {
        let kube = Kube::connect(&a.conn, None).await?;
        let catalog = capi_shared::capi::Catalog::fetch(&kube).await?;
        run::installed(&kube, &catalog).await?
    } else {
        vec![]
    };
    let req = Request {
        wanted: asked.wanted,
        skip_bootstrap: asked.skip_bootstrap,
        skip_control_plane: asked.skip_control_plane,
        settings: Settings {
            target_namespace: ns.as_deref(),
            values: &values,
            validate: false,
            keep_missing: true,
        },
        mode: WriteMode::ServerDryRun,
        wait: None,
    };
    let rows = run::list_images(&repos, req, &have).await?;
    match a.output {
        Some(f) => output::print(&output::render(&rows, f)?),
        None => {
            let mut images: Vec<&String> = rows.iter().flat_map(|r| &r.images).collect();
            images.sort();
            images.dedup();
            let text: String = images.iter().map(|i| format!("{i}\n")).collect();
            output::print(&text)
        }
    }
}
