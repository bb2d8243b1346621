//! The demo content `--demo` creates. With the simulated controllers running (and the v1beta2
//! API served), it applies the project's `templates/demo.yaml` as `kubectl apply -f` would: a
//! ClusterClass `sandbox`, a topology Cluster `demo` and a hand-built Cluster `edge`, which then
//! provision like real ones. Without controllers (or for v1beta1), nothing would ever reconcile
//! them, so it loads a still picture instead: `demo` (3 control plane machines, 3 workers, one
//! node that stopped reporting, a MachineHealthCheck) and the topology cluster `prod/prod-eu`.

use serde_json::Value;

use crate::api::crds::Generation;
use crate::api::error::{ApiError, ApiResult};
use crate::api::rest::{Api, WriteOpts};
use crate::process::fixtures::{ClusterSpec, load};

/// The demo template (v1beta2), also shipped as `templates/demo.yaml`.
pub const TEMPLATE: &str = include_str!("../../../templates/demo.yaml");

/// Creates the demo clusters unless a Cluster already exists; `live` when controllers run.
pub fn create(api: &Api, generation: Generation, live: bool) -> ApiResult<bool> {
    let Some(clusters) = api.registry.get("cluster.x-k8s.io", "clusters") else {
        return Ok(false);
    };
    let (_, table) = api.store.snapshot(&std::sync::Arc::from(clusters.key().as_str()));
    if !table.is_empty() {
        return Ok(false);
    }
    if live && generation == Generation::V1beta2 {
        apply(api, TEMPLATE)?;
        return Ok(true);
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

/// Creates every object of a multi-document YAML text, in order (as `kubectl create -f`).
pub fn apply(api: &Api, text: &str) -> ApiResult<usize> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| ApiError::bad_request(format!("parsing the template: {e}")))?;
    let mut n = 0;
    for obj in docs.into_iter().filter(|d| d.is_object()) {
        let api_version = obj["apiVersion"].as_str().unwrap_or("");
        let kind = obj["kind"].as_str().unwrap_or("");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let def = api
            .registry
            .find_kind(group, kind)
            .ok_or_else(|| ApiError::bad_request(format!("{kind}.{group} is not served")))?;
        let ns = def.namespaced.then(|| {
            obj.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string()
        });
        api.create(
            &def,
            version,
            ns.as_deref(),
            obj.clone(),
            &WriteOpts::controller("kubectl-client-side-apply"),
        )?;
        n += 1;
    }
    Ok(n)
}
