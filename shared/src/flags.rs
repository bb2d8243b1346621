//! kubectl-style flags shared by every plugin.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Parses a Go-style duration flag (`30s`, `10m`, `1h30m`).
pub fn parse_duration(s: &str) -> Result<Duration, crate::duration::DurationError> {
    crate::duration::parse_go(s)
}

/// Connection flags: which cluster, as whom, and how patiently.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Connection")]
pub struct ConnArgs {
    /// Path to the kubeconfig file (default: the KUBECONFIG list, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (`--kubeconfig-context` is accepted for clusterctl users).
    #[arg(
        long,
        visible_alias = "kubeconfig-context",
        global = true,
        value_name = "NAME"
    )]
    pub context: Option<String>,
    /// The kubeconfig cluster to use instead of the context's.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The namespace (default: the context's namespace, else "default").
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// How long to wait for each API request, e.g. 30s or 1m; 0 means no limit.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "0")]
    pub request_timeout: Duration,
    /// Log verbosity like kubectl: 6 and above logs every HTTP request with status and latency.
    #[arg(short = 'v', long = "v", global = true, value_name = "N", default_value_t = 0)]
    pub verbosity: u8,
}

/// The kubeconfig user override (`--user`), kept apart because `get-kubeconfig` uses `--user`
/// for something else.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Connection")]
pub struct UserArg {
    /// The kubeconfig user to use instead of the context's.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
}

/// Colour choice shared by the plugins that print coloured output.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// `--dry-run` values, as kubectl spells them.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun {
    /// Send the change with dryRun=All: the API server checks it and stores nothing.
    Server,
    /// Change for real (the default).
    None,
}

/// `--dry-run[=server|none]` of every verb that writes (flattened into its arguments).
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct DryRunArg {
    /// server: send every write with dryRun=All (the API server and its webhooks check it; nothing is stored).
    #[arg(long = "dry-run", value_name = "server", num_args = 0..=1, default_missing_value = "server", value_enum)]
    dry_run: Option<DryRun>,
}

impl DryRunArg {
    /// How the verb's writes are sent.
    pub fn mode(&self) -> WriteMode {
        match self.dry_run {
            Some(DryRun::Server) => WriteMode::ServerDryRun,
            Some(DryRun::None) | None => WriteMode::Apply,
        }
    }
}

/// Whether writes are stored or only checked by the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriteMode {
    /// Writes are stored.
    #[default]
    Apply,
    /// Writes carry dryRun=All: checked by the API server (admission, webhooks) and not stored.
    ServerDryRun,
}

impl WriteMode {
    /// Whether this is a server dry run.
    pub fn is_dry_run(self) -> bool {
        self == WriteMode::ServerDryRun
    }

    /// What a message about a write ends with: ` (server dry run)` or nothing.
    pub fn suffix(self) -> &'static str {
        match self {
            WriteMode::ServerDryRun => " (server dry run)",
            WriteMode::Apply => "",
        }
    }
}
