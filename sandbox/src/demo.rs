//! The demo clusters `--demo` creates: `demo` (3 control plane machines, 3 workers, one of them
//! with a node that stopped reporting, and a MachineHealthCheck) and `prod-eu` in namespace
//! `prod` (a topology-managed cluster).

use crate::crds::Generation;
use crate::error::ApiResult;
use crate::fixtures::{ClusterSpec, load};
use crate::rest::Api;

/// Creates the demo clusters unless a Cluster already exists.
pub fn create(api: &Api, generation: Generation) -> ApiResult<bool> {
    let Some(clusters) = api.registry.get("cluster.x-k8s.io", "clusters") else {
        return Ok(false);
    };
    let (_, table) = api.store.snapshot(&std::sync::Arc::from(clusters.key().as_str()));
    if !table.is_empty() {
        return Ok(false);
    }
    let mut demo = ClusterSpec::new("demo", "default", 3, 3);
    demo.generation = generation;
    demo.unhealthy = vec!["demo-md-0-7d9f8c-00001".into()];
    demo.health_check = true;
    load(api, &demo)?;
    let mut prod = ClusterSpec::new("prod-eu", "prod", 3, 5);
    prod.generation = generation;
    prod.class = Some("quick-start".into());
    prod.deployments.push(("md-1".into(), 2));
    load(api, &prod)?;
    Ok(true)
}
