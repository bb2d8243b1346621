//! `kubectl capi generate cluster`: render a cluster template with clusterctl's variable syntax
//! into YAML that `kubectl apply -f -` accepts.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use capi_shared::capi::{CORE_GROUP, Catalog};
use capi_shared::client::Kube;
use capi_shared::flags::ConnArgs;
use capi_shared::generate::{self as g, Inputs, Source, Values};
use capi_shared::{Error, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kubectl capi generate",
    bin_name = "kubectl capi generate",
    version,
    about = "Render Cluster API cluster templates with clusterctl's variable syntax"
)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Render a cluster template for the cluster NAME.
    #[command(after_help = AFTER_HELP)]
    Cluster(ClusterArgs),
}

const AFTER_HELP: &str = "Examples:\n  kubectl capi generate cluster dev1 --from ./templates --flavor development --kubernetes-version v1.33.0 | kubectl apply -f -\n  kubectl capi generate cluster dev1 --from https://github.com/ORG/REPO/blob/main/cluster-template.yaml --list-variables\n  AWS_REGION=eu-west-1 kubectl capi generate cluster prod1 --from template.yaml -n prod --write-to prod1.yaml\n\nVariables: ${VAR} (required), ${VAR:=default}, ${VAR=default}, ${VAR:-default}, and the functions\n${#VAR} ${VAR^} ${VAR^^} ${VAR,} ${VAR,,} ${VAR:offset[:length]} ${VAR#p} ${VAR##p} ${VAR%p} ${VAR%%p}\n${VAR/p/r} ${VAR//p/r} ${VAR/#p/r} ${VAR/%p/r}. Values come from the flags, then the environment, then\nthe clusterctl config file ($XDG_CONFIG_HOME/cluster-api/clusterctl.yaml or ~/.cluster-api/clusterctl.yaml,\nor --config). Every missing variable is listed in one error; nothing is printed then.\n\nWith a directory (or a URL ending in /) as --from, a topology Cluster's ClusterClass is added from\nclusterclass-<class>.yaml beside the template when the management cluster does not have it yet.";

#[derive(clap::Args)]
struct ClusterArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// The cluster name (${CLUSTER_NAME}).
    name: String,
    /// The template: a file, a directory holding cluster-template[-FLAVOR].yaml, an https:// URL, or - for standard input.
    #[arg(long, value_name = "FILE|DIR|URL|-")]
    from: String,
    /// The template flavor: cluster-template-FLAVOR.yaml in the --from directory or URL.
    #[arg(short = 'f', long)]
    flavor: Option<String>,
    /// ${KUBERNETES_VERSION}, e.g. v1.33.0.
    #[arg(long, value_name = "VERSION")]
    kubernetes_version: Option<String>,
    /// ${CONTROL_PLANE_MACHINE_COUNT} (default: environment or config file, else 1).
    #[arg(long, value_name = "N")]
    control_plane_machine_count: Option<u32>,
    /// ${WORKER_MACHINE_COUNT} (default: environment or config file, else 0).
    #[arg(long, value_name = "N")]
    worker_machine_count: Option<u32>,
    /// Print the template's variables (required and optional, with their values) instead of the YAML.
    #[arg(long)]
    list_variables: bool,
    /// Write the YAML to FILE (mode 0600, atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    write_to: Option<PathBuf>,
    /// The clusterctl config file to read variables from.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Never add the ClusterClass from beside the template (and do not contact the management cluster).
    #[arg(long)]
    no_class: bool,
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    let What::Cluster(args) = cli.what;
    capi_shared::cli::run_async(args.conn.verbosity, run(args))
}

/// The namespace without contacting the cluster: `-n`, else the context's, else "default".
fn offline_namespace(conn: &ConnArgs) -> String {
    if let Some(n) = conn.namespace.clone().filter(|n| !n.is_empty()) {
        return n;
    }
    let Ok(loaded) = capi_shared::kubeconfig::load(conn.kubeconfig.as_deref()) else {
        return "default".into();
    };
    let ctx = conn.context.clone().or(loaded.config.current_context.clone());
    loaded
        .config
        .contexts
        .iter()
        .find(|c| Some(&c.name) == ctx.as_ref())
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.namespace.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// Where sibling files of the template (its ClusterClass) are looked up.
enum Base {
    Dir(PathBuf),
    Url(String),
}

async fn read_source(source: &Source, timeout: Duration) -> Result<String> {
    match source {
        Source::Stdin => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|source| Error::Io {
                    context: "reading the template from",
                    path: PathBuf::from("standard input"),
                    source,
                })?;
            Ok(s)
        }
        Source::File(p) => std::fs::read_to_string(p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(missing_file_message(p))
            } else {
                Error::Io {
                    context: "reading the template",
                    path: p.clone(),
                    source: e,
                }
            }
        }),
        Source::Url(u) => capi_shared::client::http_get::get_text(u, timeout).await,
    }
}

/// "not found", listing the flavors the directory does have.
fn missing_file_message(p: &std::path::Path) -> String {
    let mut flavors: Vec<String> = p
        .parent()
        .and_then(|d| std::fs::read_dir(d).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| {
            let stem = n.strip_suffix(".yaml")?;
            if stem == "cluster-template" {
                Some("(default)".to_string())
            } else {
                stem.strip_prefix("cluster-template-").map(str::to_string)
            }
        })
        .collect();
    flavors.sort();
    if flavors.is_empty() {
        format!("template {} does not exist", p.display())
    } else {
        format!(
            "template {} does not exist; flavors there: {}",
            p.display(),
            flavors.join(", ")
        )
    }
}

async fn run(a: ClusterArgs) -> Result<()> {
    let inputs = Inputs {
        cluster_name: a.name.clone(),
        namespace: offline_namespace(&a.conn),
        kubernetes_version: a.kubernetes_version.clone(),
        control_plane_count: a.control_plane_machine_count,
        worker_count: a.worker_machine_count,
    };
    g::validate_inputs(&inputs)?;
    let source = g::parse_source(&a.from, a.flavor.as_deref())?;
    let base = match &source {
        Source::File(p) if std::path::Path::new(&a.from).is_dir() || a.from.starts_with("file://") => {
            p.parent().map(|d| Base::Dir(d.to_path_buf()))
        }
        Source::Url(u) if a.from.ends_with('/') => Some(Base::Url(
            u.rsplit_once('/')
                .map(|(d, _)| format!("{d}/"))
                .unwrap_or_default(),
        )),
        _ => None,
    };
    let timeout = if a.conn.request_timeout.is_zero() {
        Duration::from_secs(30)
    } else {
        a.conn.request_timeout
    };
    let text = read_source(&source, timeout).await?;
    let config = g::load_config(a.config.as_deref())?;
    let values = Values::new(&inputs, &config);
    if a.list_variables {
        return capi_shared::output::print(&g::variables_text(&g::list_variables(&text, &values)));
    }
    let mut docs = g::render(&text, &values, &inputs.namespace)?;
    if let (Some(base), false) = (&base, a.no_class)
        && let Some((class, class_ns)) = g::class_of(&docs)
    {
        let class_ns = class_ns.unwrap_or_else(|| inputs.namespace.clone());
        let class_docs = class_to_add(&a.conn, base, &class, &class_ns, &values, timeout).await?;
        if !class_docs.is_empty() {
            class_docs.into_iter().rev().for_each(|d| docs.insert(0, d));
        }
    }
    let yaml = g::to_yaml(&docs)?;
    match &a.write_to {
        Some(path) => {
            capi_shared::kubeconfig::file::write_atomic(path, yaml.as_bytes(), 0o600).map_err(|source| {
                Error::Io {
                    context: "writing",
                    path: path.clone(),
                    source,
                }
            })?;
            eprintln!("wrote {} objects to {}", docs.len(), path.display());
            Ok(())
        }
        None => capi_shared::output::print(&yaml),
    }
}

/// The ClusterClass objects to prepend: those of `clusterclass-<class>.yaml` beside the template,
/// unless the management cluster already has the class (when it cannot be asked, they are added,
/// as clusterctl does).
async fn class_to_add(
    conn: &ConnArgs,
    base: &Base,
    class: &str,
    class_ns: &str,
    values: &Values<'_>,
    timeout: Duration,
) -> Result<Vec<serde_json::Value>> {
    let file = format!("clusterclass-{class}.yaml");
    let text = match base {
        Base::Dir(d) => match std::fs::read_to_string(d.join(&file)) {
            Ok(t) => t,
            Err(_) => return Ok(vec![]),
        },
        Base::Url(u) => match capi_shared::client::http_get::get_text(&format!("{u}{file}"), timeout).await {
            Ok(t) => t,
            Err(Error::NotFound(_)) => return Ok(vec![]),
            Err(e) => return Err(e),
        },
    };
    match class_exists(conn, class, class_ns).await {
        Ok(true) => {
            eprintln!("ClusterClass {class_ns}/{class} exists on the management cluster; {file} not added");
            return Ok(vec![]);
        }
        Ok(false) => eprintln!("adding ClusterClass {class_ns}/{class} from {file}"),
        Err(e) => eprintln!(
            "adding ClusterClass {class_ns}/{class} from {file} (could not check the management cluster: {e})"
        ),
    }
    g::render(&text, values, class_ns)
}

async fn class_exists(conn: &ConnArgs, class: &str, ns: &str) -> Result<bool> {
    let mut conn = conn.clone();
    if conn.request_timeout.is_zero() {
        conn.request_timeout = Duration::from_secs(5);
    }
    let kube = Kube::connect(&conn, None).await?;
    let catalog = Catalog::fetch(&kube).await?;
    let Some((ar, _)) = catalog.resolve(&kube, CORE_GROUP, "ClusterClass").await? else {
        return Ok(false);
    };
    let found = kube
        .call(
            &format!("reading ClusterClass {ns}/{class}"),
            kube.api(&ar, Some(ns)).get_opt(class),
        )
        .await?;
    Ok(found.is_some())
}
