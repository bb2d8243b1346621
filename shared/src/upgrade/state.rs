//! Reading what an upgrade is planned from: the Cluster, its control plane, its
//! MachineDeployments, MachinePools and Machines (one list per kind, by the cluster-name label,
//! concurrently) and its ClusterClass.

use serde_json::{Value, json};

use crate::capi::class::class_of;
use crate::capi::object::{str_at, to_value};
use crate::capi::target::{self, Resolved, TargetKind};
use crate::capi::value::is_deleting;
use crate::capi::{CLUSTER_NAME_LABEL, CORE_GROUP, Catalog};
use crate::client::Kube;
use crate::rollout::Target;
use crate::tree::fetch::{core, read_cluster};
use crate::{Error, Result};

/// One object of the cluster that an upgrade changes or waits for.
#[derive(Debug, Clone)]
pub struct Member {
    /// How to reach it.
    pub target: Target,
    /// Its state when read.
    pub value: Value,
}

impl Member {
    /// `Kind/name`.
    pub fn display(&self) -> String {
        format!("{}/{}", self.target.resolved.resource.kind, self.target.name)
    }
}

/// Everything a plan is computed from.
#[derive(Debug, Clone)]
pub struct ClusterState {
    /// Namespace.
    pub namespace: String,
    /// Cluster name.
    pub name: String,
    /// The Cluster.
    pub cluster: Value,
    /// Its control plane.
    pub control_plane: Option<Member>,
    /// Its MachineDeployments, by name.
    pub deployments: Vec<Member>,
    /// Its MachinePools, by name.
    pub pools: Vec<Member>,
    /// Its Machines (name and spec.version only).
    pub machines: Vec<Value>,
    /// Its ClusterClass, for a topology.
    pub class: Option<Value>,
}

fn not_deleting(v: &Value) -> bool {
    !is_deleting(v)
}

async fn members(kube: &Kube, resolved: Option<Resolved>, ns: &str, selector: &str) -> Result<Vec<Member>> {
    let Some(resolved) = resolved else {
        return Ok(vec![]);
    };
    let (items, _) = kube
        .list_all(&resolved.resource, Some(ns), Some(selector), None)
        .await?;
    let mut out: Vec<Member> = items
        .iter()
        .map(to_value)
        .filter(not_deleting)
        .map(|value| Member {
            target: Target {
                resolved: resolved.clone(),
                ns: ns.to_string(),
                name: str_at(&value, "/metadata/name").unwrap_or("").to_string(),
            },
            value,
        })
        .collect();
    out.sort_by(|a, b| a.target.name.cmp(&b.target.name));
    Ok(out)
}

/// Reads the cluster and everything its upgrade touches.
pub async fn load(kube: &Kube, catalog: &Catalog, ns: &str, name: &str) -> Result<ClusterState> {
    let cluster = to_value(&read_cluster(kube, catalog, ns, name).await?);
    let selector = format!("{CLUSTER_NAME_LABEL}={name}");
    let cp_target = crate::rollout::targets::control_plane_of(kube, catalog, &cluster).await?;
    let md = target::resolve(kube, catalog, "machinedeployment").await?;
    let mp = catalog
        .resolve(kube, CORE_GROUP, "MachinePool")
        .await?
        .map(|(resource, served)| Resolved {
            kind: TargetKind::MachinePool,
            resource,
            served,
        });
    let machine_ar = core(kube, catalog, "Machine").await?;
    let class_ref = class_of(&cluster);
    let cp_fut = async {
        match &cp_target {
            Some(t) => Ok::<_, Error>(Some(Member {
                target: t.clone(),
                value: to_value(&t.get(kube).await?),
            })),
            None => Ok(None),
        }
    };
    let class_fut = async {
        match &class_ref {
            Some((cns, cname)) => {
                let ar = core(kube, catalog, "ClusterClass").await?;
                Ok::<_, Error>(
                    kube.call(
                        &format!("reading ClusterClass {cns}/{cname}"),
                        kube.api(&ar, Some(cns)).get_opt(cname),
                    )
                    .await?
                    .map(|c| to_value(&c)),
                )
            }
            None => Ok(None),
        }
    };
    let machines_fut = async {
        let (items, _) = kube
            .list_all(&machine_ar, Some(ns), Some(&selector), None)
            .await?;
        // Only what the checks read: a cluster may have thousands of Machines.
        Ok::<_, Error>(
            items
                .into_iter()
                .filter(|m| m.metadata.deletion_timestamp.is_none())
                .map(|m| {
                    json!({"metadata": {"name": m.metadata.name}, "spec": {"version": m.data.pointer("/spec/version")}})
                })
                .collect::<Vec<_>>(),
        )
    };
    let (control_plane, deployments, pools, machines, class) = tokio::try_join!(
        cp_fut,
        members(kube, Some(md), ns, &selector),
        members(kube, mp, ns, &selector),
        machines_fut,
        class_fut,
    )?;
    if class_ref.is_some() && class.is_none() {
        let (cns, cname) = class_ref.unwrap_or_default();
        return Err(Error::NotFound(format!(
            "Cluster {ns}/{name} uses ClusterClass {cns}/{cname}, which does not exist"
        )));
    }
    Ok(ClusterState {
        namespace: ns.to_string(),
        name: name.to_string(),
        cluster,
        control_plane,
        deployments,
        pools,
        machines,
        class,
    })
}
