//! `kubectl capi describe`: the cluster tree (`describe cluster NAME`) and the fleet view
//! (`describe clusters`, or `describe cluster -A`).

mod run;

use std::process::ExitCode;

use capi_shared::flags::{ColorChoice, ConnArgs, UserArg};
use capi_shared::output::Format;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kubectl capi describe",
    bin_name = "kubectl capi describe",
    version,
    about = "Show a Cluster API cluster as a tree of its objects and their conditions, or every cluster at a glance",
    after_help = "Examples:\n  kubectl capi describe cluster my-cluster -n prod\n  kubectl capi describe cluster my-cluster --show-conditions=Machine+ --grouping=false\n  kubectl capi describe cluster my-cluster -o json\n  kubectl capi describe cluster my-cluster --watch\n  kubectl capi describe clusters -A"
)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    user: UserArg,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Describe one cluster as a tree (or, with -A and no name, list every cluster).
    #[command(visible_alias = "cl")]
    Cluster(ClusterArgs),
    /// List clusters with their health, versions and replica counts (one row per cluster).
    Clusters(FleetArgs),
}

/// Options of `describe cluster`.
#[derive(Args, Clone)]
pub struct ClusterArgs {
    /// Name of the Cluster.
    name: Option<String>,
    /// With no name: list clusters of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Show every condition of matching objects: Kind, Kind/name or all, comma-separated; a `+` suffix keeps only conditions that are not in their normal state.
    #[arg(long, default_value = "", value_name = "FILTER")]
    show_conditions: String,
    /// Show MachineSets between MachineDeployments and their Machines.
    #[arg(long)]
    show_machinesets: bool,
    /// Show the ClusterResourceSets applied to the cluster.
    #[arg(long)]
    show_resourcesets: bool,
    /// Show the templates referenced by the control plane and MachineDeployments.
    #[arg(long)]
    show_templates: bool,
    /// Show infrastructure machines and bootstrap configs even when they only repeat their Machine's state.
    #[arg(long)]
    echo: bool,
    /// Group Machines in the same state into one row (`--grouping=false` lists every Machine).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    grouping: bool,
    /// Condition columns: `--v1beta2=false` shows v1beta1 columns (READY, SEVERITY) even on a v1beta2 management cluster, like clusterctl's flag; `--v1beta2` shows v1beta2 columns on a v1beta1 one. Default: the generation the server serves.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true, action = clap::ArgAction::Set)]
    v1beta2: Option<bool>,
    /// Output format: json or yaml (default: the tree as a table).
    #[arg(short = 'o', long, value_enum)]
    output: Option<Format>,
    /// Keep the tree on screen and redraw it whenever an object of the cluster changes (Ctrl-C to stop).
    #[arg(short = 'w', long)]
    watch: bool,
    /// Colour the output: auto (terminal and no NO_COLOR), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

/// Options of `describe clusters`.
#[derive(Args, Clone)]
pub struct FleetArgs {
    /// List clusters of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Output format: json or yaml (default: a table).
    #[arg(short = 'o', long, value_enum)]
    output: Option<Format>,
    /// Colour the output: auto, always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    let verbosity = cli.conn.verbosity;
    capi_shared::cli::run_async(verbosity, async move {
        match cli.what {
            What::Cluster(a) => match a.name.clone() {
                Some(name) => run::cluster(&cli.conn, cli.user.user.as_deref(), &name, &a).await,
                None if a.all_namespaces => {
                    let fleet = FleetArgs { all_namespaces: true, output: a.output, color: a.color };
                    run::fleet(&cli.conn, cli.user.user.as_deref(), &fleet).await
                }
                None => Err(capi_shared::Error::Usage(
                    "please specify a cluster name (or use -A, or `kubectl capi describe clusters`, to list clusters)".into(),
                )),
            },
            What::Clusters(f) => run::fleet(&cli.conn, cli.user.user.as_deref(), &f).await,
        }
    })
}
