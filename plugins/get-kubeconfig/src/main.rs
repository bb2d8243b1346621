//! `kubectl capi get-kubeconfig`: print a workload cluster's kubeconfig exactly as stored, write
//! it to a private file, or merge it into your kubeconfig under names that cannot collide.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use capi_shared::capi::Catalog;
use capi_shared::client::Kube;
use capi_shared::flags::ConnArgs;
use capi_shared::kubeconfig::file::{EditOptions, edit, write_atomic};
use capi_shared::output::{self, Format};
use capi_shared::workload_kubeconfig::{self as wk, Fetched, Info, Merged};
use capi_shared::{Error, Result};
use clap::Parser;
use futures::StreamExt;

#[derive(Parser)]
#[command(
    name = "kubectl capi get-kubeconfig",
    bin_name = "kubectl capi get-kubeconfig",
    version,
    about = "Get a workload cluster's kubeconfig: print it as stored, write it to a private file, or merge it into your kubeconfig",
    after_help = "Examples:\n  kubectl capi get-kubeconfig my-cluster -n prod > my-cluster.kubeconfig\n  kubectl capi get-kubeconfig my-cluster -n prod --output ~/.kube/my-cluster\n  kubectl capi get-kubeconfig my-cluster -n prod --merge --use-context\n  kubectl capi get-kubeconfig -A --merge\n  kubectl capi get-kubeconfig --all -n prod --output-dir ./kubeconfigs\n\nThe printed kubeconfig is byte for byte what Secret <NAME>-kubeconfig (key `value`) holds.\nMerged entries are named <namespace>-<name> (users <namespace>-<name>-admin); a name another\nentry already uses gets a -2, -3... suffix, and merging the same cluster again refreshes its entries."
)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    /// Name of the Cluster.
    name: Option<String>,
    /// Every cluster of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Every cluster of the namespace (-n).
    #[arg(long)]
    all: bool,
    /// Prefer the provider's user kubeconfig (Secret <NAME>-user-kubeconfig) when it exists.
    #[arg(long)]
    user: bool,
    /// Write the kubeconfig to this file (mode 0600, atomically) instead of printing it.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["merge", "output_dir"])]
    output: Option<PathBuf>,
    /// With --all/-A: write one <namespace>-<name>.kubeconfig file per cluster into DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "merge")]
    output_dir: Option<PathBuf>,
    /// Merge into your kubeconfig (first file of KUBECONFIG, else ~/.kube/config) with unique names, a backup, a lock and an atomic write.
    #[arg(long)]
    merge: bool,
    /// With --merge: the kubeconfig file to merge into.
    #[arg(long, value_name = "PATH", requires = "merge")]
    into: Option<PathBuf>,
    /// Name of the context to write (default: <namespace>-<name>); an existing one pointing elsewhere is an error.
    #[arg(long, value_name = "NAME")]
    context_name: Option<String>,
    /// With --merge: make the merged context the current one.
    #[arg(long, requires = "merge")]
    use_context: bool,
    /// Use this API server URL instead of the stored one (private endpoints, tunnels).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Print what was fetched or written (contexts, servers, certificate expiry; never credentials) as json or yaml.
    #[arg(short = 'o', long = "output-format", value_enum)]
    format: Option<Format>,
}

fn main() -> ExitCode {
    capi_shared::cli::completion::handle(<Cli as clap::CommandFactory>::command());
    let cli = Cli::parse();
    capi_shared::cli::run_async(cli.conn.verbosity, run(cli))
}

fn validate(cli: &Cli) -> Result<()> {
    let many = cli.all || cli.all_namespaces;
    match (&cli.name, many) {
        (Some(_), true) => return Err(Error::Usage("give a cluster name or --all/-A, not both".into())),
        (None, false) => {
            return Err(Error::Usage(
                "please specify a cluster name (or --all for every cluster of the namespace, -A for every namespace)".into(),
            ));
        }
        _ => {}
    }
    if many && !cli.merge && cli.output_dir.is_none() && cli.format.is_none() {
        return Err(Error::Usage(
            "with --all/-A, choose where the kubeconfigs go: --merge or --output-dir DIR".into(),
        ));
    }
    if many && cli.context_name.is_some() {
        return Err(Error::Usage(
            "--context-name names one cluster's context; it cannot be used with --all/-A".into(),
        ));
    }
    if !many && cli.output_dir.is_some() {
        return Err(Error::Usage(
            "--output-dir is for --all/-A; use --output FILE for one cluster".into(),
        ));
    }
    if let Some(s) = &cli.server
        && !(s.starts_with("https://") || s.starts_with("http://"))
    {
        return Err(Error::Usage(format!(
            "--server {s:?} is not a URL (expected https://HOST[:PORT])"
        )));
    }
    if let Some(c) = &cli.context_name
        && c.trim().is_empty()
    {
        return Err(Error::Usage("--context-name must not be empty".into()));
    }
    Ok(())
}

/// A fetched and checked workload kubeconfig.
type Found = (Fetched, capi_shared::kubeconfig::file::KubeconfigDoc, Info);

async fn run(cli: Cli) -> Result<()> {
    validate(&cli)?;
    let (kube, catalog, _) = Catalog::connect(&cli.conn, None).await?;
    let targets: Vec<(String, String)> = match &cli.name {
        Some(n) => vec![(kube.namespace.clone(), n.clone())],
        None => list_clusters(&kube, &catalog, cli.all_namespaces).await?,
    };
    if targets.is_empty() {
        let scope = if cli.all_namespaces {
            "any namespace".to_string()
        } else {
            format!("namespace {:?}", kube.namespace)
        };
        return Err(Error::NotFound(format!("there are no clusters in {scope}")));
    }
    let single = cli.name.is_some();
    let (ok, failures) = fetch_all(&kube, &catalog, &targets, &cli).await?;
    for (_, _, info) in &ok {
        warn_expiry(info);
    }
    let infos = if cli.merge {
        merge_all(&cli, &ok)?
    } else if let Some(dir) = &cli.output_dir {
        write_all(&cli, dir, ok)?
    } else if single {
        vec![write_one(&cli, ok)?]
    } else {
        // -A/--all with only -o: report what would be exported.
        ok.into_iter().map(|(_, _, i)| i).collect()
    };
    if let Some(fmt) = cli.format {
        let text = if single {
            output::render(&infos[0], fmt)?
        } else {
            output::render(&infos, fmt)?
        };
        print!("{text}");
    }
    match failures.len() {
        0 => Ok(()),
        n => {
            for e in &failures {
                eprintln!("warning: {e}");
            }
            Err(Error::Api(format!(
                "{n} of {} clusters have no usable kubeconfig (see the warnings above)",
                targets.len()
            )))
        }
    }
}

/// Reads and checks every target's kubeconfig, a few at a time. For one named cluster a
/// failure is the error; for several, the failures are returned beside what worked.
async fn fetch_all(
    kube: &Kube,
    catalog: &Catalog,
    targets: &[(String, String)],
    cli: &Cli,
) -> Result<(Vec<Found>, Vec<Error>)> {
    let fetched: Vec<Result<Fetched>> = futures::stream::iter(targets.iter().cloned())
        .map(|(ns, name)| async move { wk::fetch(kube, catalog, &ns, &name, cli.user).await })
        .buffered(8)
        .collect()
        .await;
    let mut ok: Vec<Found> = vec![];
    let mut failures: Vec<Error> = vec![];
    for f in fetched {
        match f.and_then(|f| wk::inspect(&f).map(|(doc, info)| (f, doc, info))) {
            Ok(x) => ok.push(x),
            Err(e) if cli.name.is_some() => return Err(e),
            Err(e) => failures.push(e),
        }
    }
    Ok((ok, failures))
}

/// `--merge`: every kubeconfig into yours (or `--into`), in one locked edit.
fn merge_all(cli: &Cli, ok: &[Found]) -> Result<Vec<Info>> {
    let path = match &cli.into {
        Some(p) => p.clone(),
        None => capi_shared::kubeconfig::file::default_write_target().ok_or_else(|| {
            Error::Config("cannot find your kubeconfig: set KUBECONFIG or HOME, or pass --into PATH".into())
        })?,
    };
    let mut singles = vec![];
    for (f, doc, info) in ok {
        let name = cli
            .context_name
            .clone()
            .unwrap_or_else(|| wk::default_context_name(&f.namespace, &f.cluster));
        singles.push((wk::renamed(doc, &name, cli.server.as_deref())?, info.clone()));
    }
    let exact = cli.context_name.is_some();
    let opts = EditOptions {
        lock_timeout: Duration::from_secs(60),
        backup: true,
    };
    let (merged, _) = edit(&path, &opts, |target| {
        singles
            .iter()
            .map(|(s, _)| wk::merge(target, s, exact, cli.use_context))
            .collect::<std::result::Result<Vec<_>, _>>()
    })?;
    let mut infos = vec![];
    for (m, (_, mut info)) in merged.iter().zip(singles) {
        info.context = m.context().to_string();
        info.server = cli.server.clone().unwrap_or(info.server);
        info.written_to = Some(path.display().to_string());
        if cli.format.is_none() {
            let verb = if matches!(m, Merged::Refreshed(_)) {
                "Refreshed"
            } else {
                "Added"
            };
            println!(
                "{verb} context {:?} for cluster {}/{} in {}{}",
                m.context(),
                info.namespace,
                info.cluster,
                path.display(),
                expiry_note(&info)
            );
        }
        infos.push(info);
    }
    if cli.use_context
        && cli.format.is_none()
        && let Some(m) = merged.last()
    {
        println!("switched to context {:?}", m.context());
    }
    Ok(infos)
}

/// `--output-dir`: one private file per cluster.
fn write_all(cli: &Cli, dir: &Path, ok: Vec<Found>) -> Result<Vec<Info>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        context: "creating directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut infos = vec![];
    for (f, doc, mut info) in ok {
        let file = dir.join(format!("{}-{}.kubeconfig", f.namespace, f.cluster));
        let data = bytes_for(&f, &doc, &info, cli.server.as_deref(), None)?;
        write_private(&file, &data)?;
        info.written_to = Some(file.display().to_string());
        info.server = cli.server.clone().unwrap_or(info.server);
        if cli.format.is_none() {
            println!("wrote {}{}", file.display(), expiry_note(&info));
        }
        infos.push(info);
    }
    Ok(infos)
}

/// One named cluster: to `--output`, or printed as stored.
fn write_one(cli: &Cli, ok: Vec<Found>) -> Result<Info> {
    let Some((f, doc, mut info)) = ok.into_iter().next() else {
        return Err(Error::Other("nothing fetched".into()));
    };
    let data = bytes_for(
        &f,
        &doc,
        &info,
        cli.server.as_deref(),
        cli.context_name.as_deref(),
    )?;
    if let Some(o) = &cli.context_name {
        info.context = o.clone();
    }
    info.server = cli.server.clone().unwrap_or(info.server);
    match &cli.output {
        Some(file) => {
            write_private(file, &data)?;
            info.written_to = Some(file.display().to_string());
            if cli.format.is_none() {
                println!("wrote {}{}", file.display(), expiry_note(&info));
            }
        }
        None if cli.format.is_some() => {}
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&data)
                .and_then(|_| out.flush())
                .map_err(|source| Error::Io {
                    context: "writing to",
                    path: PathBuf::from("stdout"),
                    source,
                })?;
        }
    }
    Ok(info)
}

/// The bytes to write: as stored, unless a server or context name change was asked for.
fn bytes_for(
    f: &Fetched,
    doc: &capi_shared::kubeconfig::file::KubeconfigDoc,
    info: &Info,
    server: Option<&str>,
    context: Option<&str>,
) -> Result<Vec<u8>> {
    if server.is_none() && context.is_none() {
        return Ok(f.data.clone());
    }
    let name = context
        .map(str::to_string)
        .unwrap_or_else(|| info.context.clone());
    Ok(wk::renamed(doc, &name, server)?.to_yaml().into_bytes())
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic(path, data, 0o600).map_err(|source| Error::Io {
        context: "writing",
        path: path.to_path_buf(),
        source,
    })
}

fn expiry_note(info: &Info) -> String {
    match (&info.client_certificate_expiry, info.days_left) {
        (Some(at), Some(d)) => format!(" (client certificate expires {at}, in {d} days)"),
        _ => String::new(),
    }
}

fn warn_expiry(info: &Info) {
    if let (Some(at), Some(d)) = (&info.client_certificate_expiry, info.days_left) {
        if d < 0 {
            eprintln!(
                "warning: the client certificate of cluster {}/{} expired at {at}",
                info.namespace, info.cluster
            );
        } else if d < wk::WARN_DAYS {
            eprintln!(
                "warning: the client certificate of cluster {}/{} expires in {d} days ({at})",
                info.namespace, info.cluster
            );
        }
    }
}

async fn list_clusters(
    kube: &Kube,
    catalog: &Catalog,
    all_namespaces: bool,
) -> Result<Vec<(String, String)>> {
    let ar = capi_shared::tree::fetch::core(kube, catalog, "Cluster").await?;
    let ns = (!all_namespaces).then_some(kube.namespace.as_str());
    let (list, _) = kube.list_all(&ar, ns, None, None).await?;
    let mut out: Vec<(String, String)> = list
        .into_iter()
        .filter_map(|c| {
            Some((
                c.metadata.namespace.clone().unwrap_or_default(),
                c.metadata.name.clone()?,
            ))
        })
        .collect();
    out.sort();
    Ok(out)
}
