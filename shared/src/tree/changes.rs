//! A stream that yields whenever an object of a cluster changes: watches (never polling) of the
//! Cluster, its Machines, MachineSets, MachineDeployments, MachinePools (label-selected),
//! MachineHealthChecks, control plane, infrastructure cluster and provider machine kinds. Used by
//! `describe --watch` to redraw and by `delete --wait` to follow a deletion.

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::runtime::watcher;

use crate::Result;
use crate::capi::object::{obj_ref, to_value};
use crate::capi::{CLUSTER_NAME_LABEL, Catalog};
use crate::client::Kube;
use crate::tree::fetch::{ClusterObjects, core};

/// Watches everything `objs` (a fetch of the cluster) holds, merged into one stream of "something
/// changed" ticks.
pub async fn cluster_changes(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    name: &str,
    objs: &ClusterObjects,
) -> Result<BoxStream<'static, ()>> {
    let selector = format!("{CLUSTER_NAME_LABEL}={name}");
    let mut streams = vec![];
    let cluster_ar = core(kube, catalog, "Cluster").await?;
    streams.push(
        watcher(
            kube.api(&cluster_ar, Some(ns)),
            watcher::Config::default().fields(&format!("metadata.name={name}")),
        )
        .map(|_| ())
        .boxed(),
    );
    for kind in ["Machine", "MachineSet", "MachineDeployment", "MachinePool"] {
        let ar = core(kube, catalog, kind).await?;
        streams.push(
            watcher(
                kube.api(&ar, Some(ns)),
                watcher::Config::default().labels(&selector),
            )
            .map(|_| ())
            .boxed(),
        );
    }
    let mhc = core(kube, catalog, "MachineHealthCheck").await?;
    streams.push(
        watcher(kube.api(&mhc, Some(ns)), watcher::Config::default())
            .map(|_| ())
            .boxed(),
    );
    // The control plane and infrastructure cluster, found through the Cluster's references.
    let cv = to_value(&objs.cluster);
    for p in ["/spec/controlPlaneRef", "/spec/infrastructureRef"] {
        if let Some(r) = obj_ref(&cv, p)
            && let Some((ar, _)) = catalog.resolve(kube, &r.group, &r.kind).await?
        {
            let cfg = watcher::Config::default().fields(&format!("metadata.name={}", r.name));
            streams.push(watcher(kube.api(&ar, Some(ns)), cfg).map(|_| ()).boxed());
        }
    }
    let kinds: std::collections::BTreeSet<(String, String)> = objs
        .provider_objects
        .iter()
        .filter_map(|o| o.types.as_ref().map(|t| (t.api_version.clone(), t.kind.clone())))
        .collect();
    for (av, kind) in kinds {
        if let Some((ar, _)) = catalog.resolve_api_version(kube, &av, &kind).await? {
            streams.push(
                watcher(
                    kube.api(&ar, Some(ns)),
                    watcher::Config::default().labels(&selector),
                )
                .map(|_| ())
                .boxed(),
            );
        }
    }
    Ok(futures::stream::select_all(streams).boxed())
}
