//! `kubectl capi sandbox`: a local, in-memory, Kubernetes-API-compatible management cluster with
//! simulated Cluster API controllers.

use std::path::PathBuf;
use std::process::ExitCode;

use capi_sandbox::api::crds::Generation;
use capi_sandbox::process::manage::{self, RunOpts};
use capi_shared::{Error, Result};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kubectl capi sandbox",
    bin_name = "kubectl capi sandbox",
    version,
    about = "Run a local, in-memory Cluster API management cluster that kubectl and the plugins use like a real one",
    long_about = "Run a local, in-memory Cluster API management cluster.\n\nThe sandbox is a Kubernetes-API-compatible server on 127.0.0.1 (HTTPS, token auth) with the Cluster API CRDs installed and simulated Cluster API controllers: clusters you create provision, scale, roll out, upgrade and delete as on a real management cluster. State is in memory unless --state-dir is given."
)]
struct Cli {
    /// Log verbosity (kubectl-style -v=N).
    #[arg(short = 'v', long = "v", global = true, default_value_t = 0, value_name = "N")]
    verbosity: u8,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a sandbox in the background and add its context to your kubeconfig.
    Start(RunArgs),
    /// Run a sandbox in the foreground until interrupted (for tests and debugging).
    Serve(RunArgs),
    /// Stop a sandbox and remove the kubeconfig entries `start` added.
    Stop {
        /// Sandbox name.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// List sandboxes and whether they are running.
    Status {
        /// Output format: table (default) or json.
        #[arg(short = 'o', long = "output", value_parser = ["json", "table"], default_value = "table")]
        output: String,
    },
    /// Write a local provider repository (clusterctl's layout) for `kubectl capi init --repository DIR`:
    /// core, kubeadm, docker and in-memory providers at v1.10.0 and v1.14.0, and cert-manager.
    Repository {
        /// The folder to write (created if missing; files already there are replaced).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Sandbox name; the context is `capi-sandbox` for "default", else `capi-sandbox-NAME`.
    #[arg(long, default_value = "default")]
    name: String,
    /// Port on 127.0.0.1 (default: a free one, reused on restart).
    #[arg(long)]
    port: Option<u16>,
    /// Write a standalone kubeconfig to this file instead of merging into your kubeconfig.
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Keep state here so it survives restarts (and kill -9); default: memory only.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Cluster API generation the bundled CRDs serve.
    #[arg(long, value_parser = ["v1beta1", "v1beta2"], default_value = "v1beta2")]
    capi_api: String,
    /// Do not run the simulated Cluster API controllers.
    #[arg(long)]
    no_controllers: bool,
    /// Load CRDs from this directory instead of the bundled ones.
    #[arg(long, value_name = "DIR")]
    crds: Option<PathBuf>,
    /// Scale of the simulated controllers' delays: 1 is realistic seconds, 0 is as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Sync the write-ahead log to disk on every write (survives OS crashes too; slower).
    #[arg(long)]
    fsync: bool,
    /// Start even if the state directory's log is damaged, dropping (and logging) what cannot be read. Without it a damaged log refuses to start, naming the file and line.
    #[arg(long)]
    discard_damaged_state: bool,
    /// Start as a fresh Kubernetes cluster: no Cluster API CRDs and no provider inventory, so
    /// that `kubectl capi init` makes it a management cluster.
    #[arg(long, conflicts_with_all = ["crds", "demo"])]
    bare: bool,
    /// Create demo clusters at start (skipped when clusters already exist): with controllers,
    /// those of templates/demo.yaml, which then provision; without, a still picture.
    #[arg(long)]
    demo: bool,
}

impl RunArgs {
    fn opts(&self) -> Result<RunOpts> {
        if !(self.speed.is_finite() && self.speed >= 0.0) {
            return Err(Error::Usage(format!(
                "--speed must be a number >= 0, got {}",
                self.speed
            )));
        }
        if let Some(dir) = &self.crds
            && !dir.is_dir()
        {
            return Err(Error::Usage(format!("--crds {}: not a directory", dir.display())));
        }
        Ok(RunOpts {
            name: self.name.clone(),
            port: self.port,
            kubeconfig: self.kubeconfig.clone(),
            state_dir: self.state_dir.clone(),
            capi_api: Generation::parse(&self.capi_api).unwrap_or(Generation::V1beta2),
            controllers: !self.no_controllers,
            crds: self.crds.clone(),
            speed: self.speed,
            fsync: self.fsync,
            discard_damaged_state: self.discard_damaged_state,
            demo: self.demo,
            bare: self.bare,
        })
    }
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    capi_shared::cli::init_logging(cli.verbosity);
    capi_shared::cli::exit_with(run(cli))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Repository { dir } => {
            let files = capi_sandbox::process::repository::write(&dir).map_err(Error::Other)?;
            println!(
                "Wrote {} files to {}; install from it with: kubectl capi init --repository {} -i docker",
                files.len(),
                dir.display(),
                dir.display()
            );
            Ok(())
        }
        Cmd::Start(args) => {
            let opts = args.opts()?;
            let exe = std::env::current_exe().map_err(Error::io("finding", "the current executable"))?;
            let s = manage::start(&opts, &exe)?;
            let ctx = &s.instance.context;
            println!(
                "Sandbox {:?} is running at {} (pid {}).",
                opts.name, s.instance.url, s.instance.pid
            );
            if s.merged {
                println!(
                    "Contexts {ctx:?} and \"{ctx}-readonly\" added to {} ({ctx:?} made current).",
                    s.kubeconfig.display()
                );
            } else {
                println!(
                    "Kubeconfig written to {} (contexts {ctx:?} and \"{ctx}-readonly\").",
                    s.kubeconfig.display()
                );
            }
            let kc = if s.merged {
                String::new()
            } else {
                format!(" --kubeconfig {}", s.kubeconfig.display())
            };
            println!(
                "\nTry:\n  kubectl{kc} --context {ctx} get clusters -A\n  kubectl capi describe clusters{kc} --context {ctx}\n\nStop it with: kubectl capi sandbox stop{}",
                if opts.name == "default" {
                    String::new()
                } else {
                    format!(" --name {}", opts.name)
                }
            );
            Ok(())
        }
        Cmd::Serve(args) => {
            let opts = args.opts()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(Error::io("starting", "the async runtime"))?;
            rt.block_on(manage::serve(&opts, |sb| {
                eprintln!("sandbox {:?} serving at {} (Ctrl-C to stop)", opts.name, sb.url);
            }))?;
            // The log's last line says the server ended on purpose.
            eprintln!("sandbox {:?} stopped", opts.name);
            Ok(())
        }
        Cmd::Stop { name } => {
            let s = manage::stop(&name)?;
            if s.was_running {
                println!("Sandbox {name:?} stopped.");
            } else {
                println!("Sandbox {name:?} was not running.");
            }
            if let Some(p) = s.cleaned {
                println!("Its contexts were removed from {}.", p.display());
            }
            Ok(())
        }
        Cmd::Status { output } => {
            let all = manage::status();
            if output == "json" {
                let v: Vec<_> = all.iter().map(|i| i.to_json()).collect();
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return Ok(());
            }
            if all.is_empty() {
                println!("No sandboxes. Start one with: kubectl capi sandbox start");
                return Ok(());
            }
            println!(
                "{:<16} {:<9} {:<28} {:<8} CONTEXT",
                "NAME", "STATUS", "URL", "PID"
            );
            for i in all {
                println!(
                    "{:<16} {:<9} {:<28} {:<8} {}",
                    i.name,
                    if i.running { "running" } else { "stopped" },
                    i.url,
                    i.pid,
                    i.context
                );
            }
            Ok(())
        }
    }
}
