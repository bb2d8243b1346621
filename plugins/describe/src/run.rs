//! Running `describe`: connect, fetch, build, render; and the watch loop.

use std::time::Duration;

use capi_shared::capi::{Catalog, Generation};
use capi_shared::client::Kube;
use capi_shared::flags::ConnArgs;
use capi_shared::output::color::Palette;
use capi_shared::output::{self, Format};
use capi_shared::tree::build::{BuildOptions, build};
use capi_shared::tree::fetch::{FetchOptions, core, fetch_cluster};
use capi_shared::tree::text::{ConditionFilter, RenderOptions, render};
use capi_shared::{Error, Result, fleet};
use futures::StreamExt;

use crate::{ClusterArgs, FleetArgs};

async fn draw(
    kube: &Kube,
    catalog: &Catalog,
    g: Generation,
    ns: &str,
    name: &str,
    a: &ClusterArgs,
    filter: &ConditionFilter,
) -> Result<String> {
    let objs = fetch_cluster(
        kube,
        catalog,
        ns,
        name,
        FetchOptions {
            resource_sets: a.show_resourcesets,
        },
    )
    .await?;
    let tree = build(
        &objs,
        BuildOptions {
            show_machinesets: a.show_machinesets,
            show_templates: a.show_templates,
            show_resourcesets: a.show_resourcesets,
            echo: a.echo,
            grouping: a.grouping,
            mode: match a.v1beta2 {
                Some(true) => Generation::V1beta2,
                Some(false) => Generation::V1beta1,
                None => g,
            },
        },
    );
    match a.output {
        Some(f) => output::render(&tree, f),
        None => Ok(render(
            &tree,
            &RenderOptions {
                conditions: filter.clone(),
                palette: Palette::new(a.color),
            },
        )),
    }
}

/// `describe cluster NAME`.
pub async fn cluster(conn: &ConnArgs, user: Option<&str>, name: &str, a: &ClusterArgs) -> Result<()> {
    let filter = ConditionFilter::parse(&a.show_conditions).map_err(|e| Error::Usage(e.to_string()))?;
    let (kube, catalog, g) = Catalog::connect(conn, user).await?;
    let ns = kube.namespace.clone();
    let first = draw(&kube, &catalog, g, &ns, name, a, &filter).await?;
    if !a.watch {
        return output::print(&first);
    }
    watch(&kube, &catalog, g, &ns, name, a, &filter, first).await
}

/// Redraws on every change seen by watches of the cluster's kinds, at most every 250 ms.
#[allow(clippy::too_many_arguments)]
async fn watch(
    kube: &Kube,
    catalog: &Catalog,
    g: Generation,
    ns: &str,
    name: &str,
    a: &ClusterArgs,
    filter: &ConditionFilter,
    first: String,
) -> Result<()> {
    use std::io::IsTerminal;
    let tty = std::io::stdout().is_terminal() && a.output.is_none();
    let show = |text: &str| -> Result<()> {
        if tty {
            output::print(&format!("\x1b[H\x1b[2J{text}"))
        } else {
            output::print(&format!("---\n{text}"))
        }
    };
    show(&first)?;
    let objs = fetch_cluster(kube, catalog, ns, name, FetchOptions::default()).await?;
    let mut events = capi_shared::tree::changes::cluster_changes(kube, catalog, ns, name, &objs).await?;
    let mut last = first;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            ev = events.next() => {
                if ev.is_none() {
                    return Err(Error::Connection("the watch streams ended".into()));
                }
                // Let a burst of events settle, then draw once.
                tokio::time::sleep(Duration::from_millis(250)).await;
                while let Some(Some(_)) = futures::FutureExt::now_or_never(events.next()) {}
                match draw(kube, catalog, g, ns, name, a, filter).await {
                    Ok(text) if text != last => {
                        show(&text)?;
                        last = text;
                    }
                    Ok(_) => {}
                    Err(Error::NotFound(m)) => {
                        show(&format!("{m}\n"))?;
                        return Err(Error::NotFound(m));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// `describe clusters`.
pub async fn fleet(conn: &ConnArgs, user: Option<&str>, f: &FleetArgs) -> Result<()> {
    let (kube, catalog, g) = Catalog::connect(conn, user).await?;
    let ar = core(&kube, &catalog, "Cluster").await?;
    let ns = if f.all_namespaces {
        None
    } else {
        Some(kube.namespace.as_str())
    };
    let (clusters, _) = kube.list_all(&ar, ns, None, None).await?;
    let rows: Vec<fleet::FleetRow> = clusters.iter().map(|c| fleet::row(c, g)).collect();
    match f.output {
        Some(Format::Json) | Some(Format::Yaml) => {
            let doc = fleet_doc(&rows);
            output::print(&output::render(&doc, f.output.unwrap_or(Format::Json))?)
        }
        None => {
            if rows.is_empty() {
                let scope = match ns {
                    Some(n) => format!("in namespace {n:?}"),
                    None => "in any namespace".to_string(),
                };
                eprintln!("No clusters found {scope}.");
                return Ok(());
            }
            output::print(&fleet::render(&rows, f.all_namespaces, Palette::new(f.color)))
        }
    }
}

fn fleet_doc(rows: &[fleet::FleetRow]) -> impl serde::Serialize + '_ {
    #[derive(serde::Serialize)]
    struct Fleet<'a> {
        kind: &'static str,
        items: &'a [fleet::FleetRow],
    }
    Fleet {
        kind: "ClusterList",
        items: rows,
    }
}
