//! `kubectl capi diagnose`: why a cluster is stuck, which object holds it, and what to do.

use std::process::ExitCode;

use capi_shared::capi::Catalog;
use capi_shared::client::Kube;
use capi_shared::diagnose::report::{self, API_VERSION, ClusterReport, Document};
use capi_shared::diagnose::{diagnose, signatures, workload};
use capi_shared::flags::{ColorChoice, ConnArgs, UserArg};
use capi_shared::output::color::Palette;
use capi_shared::output::{self, Format};
use capi_shared::rollout::restart::server_now;
use capi_shared::tree::fetch::{FetchOptions, core, fetch_cluster};
use capi_shared::workload_kubeconfig::{self, Fetched};
use capi_shared::{Error, Result};
use clap::{Args, Parser, Subcommand};
use futures::stream::{self, StreamExt, TryStreamExt};

const AFTER_HELP: &str = "Examples:
  kubectl capi diagnose cluster my-cluster -n prod
  kubectl capi diagnose cluster my-cluster -o json
  kubectl capi diagnose clusters -A
  kubectl capi diagnose explain NodeStartupTimeout

Each finding names the object at the root of the problem, the evidence (condition, reason, message
and for how long, or the field), what it means and what to do; the symptoms above it (a Cluster not
Available because ...) are shown as its chain, not as findings of their own.
Exit codes: 0 no error-level finding, 1 an error-level finding (or a failure), 2 bad flags.";

#[derive(Parser)]
#[command(
    name = "kubectl capi diagnose",
    bin_name = "kubectl capi diagnose",
    version,
    about = "Say why a cluster is stuck, which object holds it, and what to do",
    after_help = AFTER_HELP
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
    /// Diagnose one cluster.
    Cluster(ClusterArgs),
    /// One line per cluster with its findings.
    Clusters(FleetArgs),
    /// What the tool knows about a condition type, reason or signature.
    Explain {
        /// A condition type, reason or signature id (e.g. NodeStartupTimeout).
        word: String,
    },
}

#[derive(Args)]
struct ClusterArgs {
    /// The Cluster's name.
    name: String,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Args)]
struct FleetArgs {
    /// Every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Args)]
struct OutArgs {
    /// Also read the workload cluster's Nodes (through its kubeconfig Secret), with a short
    /// timeout.
    #[arg(long)]
    workload: bool,
    /// How long --workload waits for the workload cluster.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = capi_shared::flags::parse_duration)]
    workload_timeout: std::time::Duration,
    /// Print json or yaml.
    #[arg(short = 'o', long, value_enum)]
    output: Option<Format>,
    /// Colour: auto, always or never.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    let v = cli.conn.verbosity;
    capi_shared::cli::run_async(v, run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    match &cli.what {
        What::Explain { word } => explain(word),
        What::Cluster(a) => {
            let (kube, catalog, _) = Catalog::connect(&cli.conn, cli.user.user.as_deref()).await?;
            let ns = kube.namespace.clone();
            let now = server_now(&kube).await?;
            let r = one(&kube, &catalog, &ns, &a.name, now, &a.out).await?;
            let errors = r.summary.errors;
            let doc = Document {
                api_version: API_VERSION,
                kind: "Diagnosis",
                clusters: vec![r],
            };
            match a.out.output {
                Some(f) => output::print(&output::render(&doc, f)?)?,
                None => output::print(&report::cluster_text(
                    &doc.clusters[0],
                    &Palette::new(a.out.color),
                ))?,
            }
            gate(errors, &format!("Cluster {ns}/{}", a.name))
        }
        What::Clusters(f) => fleet(&cli, f).await,
    }
}

/// Exit 1 when there are error-level findings.
fn gate(errors: usize, what: &str) -> Result<()> {
    if errors > 0 {
        return Err(Error::Refused(format!("{what}: {errors} error-level finding(s)")));
    }
    Ok(())
}

/// Diagnoses one cluster: the tree's LISTs, plus its kubeconfig Secret (one GET; skipped when
/// the user may not read Secrets). How long a condition has held is measured on the API
/// server's clock (`now`), which set its transition time.
async fn one(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    name: &str,
    now: jiff::Timestamp,
    out: &OutArgs,
) -> Result<ClusterReport> {
    let (objs, kubeconfig) = tokio::try_join!(
        fetch_cluster(kube, catalog, ns, name, FetchOptions::default()),
        stored_kubeconfig(kube, ns, name)
    )?;
    // The certificate's expiry as `get-kubeconfig` reads it (the current context's user).
    let expiry = kubeconfig
        .as_ref()
        .and_then(|f| workload_kubeconfig::inspect(f).ok())
        .and_then(|(_, info)| info.client_certificate_expiry);
    let mut nodes = vec![];
    let mut unreachable = None;
    if out.workload {
        match kubeconfig
            .as_ref()
            .and_then(|f| std::str::from_utf8(&f.data).ok())
        {
            Some(k) => match workload::nodes(k, out.workload_timeout).await {
                Ok(n) => nodes = n,
                Err(why) => unreachable = Some(why),
            },
            None => unreachable = Some("the Secret is missing or not readable".to_string()),
        }
    }
    let mut findings = diagnose(&objs, expiry.as_deref(), &nodes, now);
    if let Some(why) = unreachable {
        let subject = capi_shared::diagnose::finding::Subject {
            kind: "Cluster".into(),
            namespace: ns.into(),
            name: name.into(),
        };
        findings.push(workload::unreachable(&subject, &why));
    }
    Ok(ClusterReport::new(ns, name, findings))
}

/// The cluster's admin kubeconfig as stored (`<name>-kubeconfig`, key `value`), when it exists
/// and the user may read it.
async fn stored_kubeconfig(kube: &Kube, ns: &str, name: &str) -> Result<Option<Fetched>> {
    let secret = format!("{name}-kubeconfig");
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(kube.client.clone(), ns);
    let what = format!("reading Secret {ns}/{secret}");
    match kube.call(&what, api.get_opt(&secret)).await {
        Ok(Some(s)) => Ok(s
            .data
            .and_then(|d| d.get(workload_kubeconfig::KEY).map(|b| b.0.clone()))
            .map(|data| Fetched {
                namespace: ns.into(),
                cluster: name.into(),
                secret,
                data,
            })),
        Ok(None) | Err(Error::Forbidden(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn fleet(cli: &Cli, f: &FleetArgs) -> Result<()> {
    let (kube, catalog, _) = Catalog::connect(&cli.conn, cli.user.user.as_deref()).await?;
    let ar = core(&kube, &catalog, "Cluster").await?;
    let ns = (!f.all_namespaces).then(|| kube.namespace.clone());
    let ((clusters, _), now) =
        tokio::try_join!(kube.list_all(&ar, ns.as_deref(), None, None), server_now(&kube))?;
    let keys: Vec<(String, String)> = clusters
        .iter()
        .map(|c| {
            (
                c.metadata.namespace.clone().unwrap_or_default(),
                c.metadata.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let (kube, catalog) = (&kube, &catalog);
    let reports: Vec<ClusterReport> = stream::iter(&keys)
        .map(|(ns, name)| one(kube, catalog, ns, name, now, &f.out))
        .buffered(4)
        .try_collect()
        .await?;
    let errors: usize = reports.iter().map(|r| r.summary.errors).sum();
    match f.out.output {
        Some(fmt) => {
            let doc = Document {
                api_version: API_VERSION,
                kind: "FleetDiagnosis",
                clusters: reports,
            };
            output::print(&output::render(&doc, fmt)?)?;
        }
        None if reports.is_empty() => eprintln!("No clusters found."),
        None => output::print(&report::fleet_text(&reports))?,
    }
    gate(errors, "the fleet")
}

fn explain(word: &str) -> Result<()> {
    let rules = signatures::explain(word);
    if rules.is_empty() {
        return Err(Error::NotFound(format!(
            "nothing known about {word:?}: try a condition type (NodeReady), a reason (NodeStartupTimeout) or a signature id (MachineWithoutNode); the README lists them all"
        )));
    }
    let mut out = String::new();
    for r in rules {
        let reasons = if r.reasons.is_empty() {
            "any reason".to_string()
        } else {
            r.reasons.join(", ")
        };
        out.push_str(&format!(
            "{} ({}): {} on {:?} ({}{}), {}\n  why: {}\n  next: {}\n",
            r.id,
            r.severity.as_str(),
            r.v2,
            r.on,
            reasons,
            if r.v1.is_empty() {
                String::new()
            } else {
                format!("; v1beta1: {}", r.v1)
            },
            match r.when {
                signatures::When::False => "when False",
                signatures::When::True => "when True",
                signatures::When::NotTrue => "when not True",
            },
            r.explanation,
            r.next_step
        ));
    }
    output::print(&out)
}
