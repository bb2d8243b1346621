//! What a new stack is given through its API once it is up: RBAC for the read-only user, the
//! Cluster API CRDs (waited for until established) and clusterctl's inventory. Also a loader that
//! writes fixture objects through the API (spec, then status), usable against any server.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

use crate::{CrdSet, StackError, StackOptions};

/// Whether `/readyz` answers 200.
pub async fn ready(client: &kube::Client) -> bool {
    let req = http::Request::get("/readyz").body(Vec::new());
    let Ok(req) = req else { return false };
    match client.send(req.map(kube::client::Body::from)).await {
        Ok(resp) => resp.status().is_success(),
        Err(_) => false,
    }
}

fn api_err(what: String) -> impl FnOnce(kube::Error) -> StackError {
    move |e| StackError::Bootstrap { what, source: e }
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn dynamic(v: Value) -> Result<DynamicObject, StackError> {
    serde_json::from_value(v).map_err(|e| StackError::Client(format!("not an object: {e}")))
}

/// Creates `obj` (cluster-scoped or in its namespace) unless it exists.
pub(crate) async fn create(client: &kube::Client, plural: &str, obj: Value) -> Result<Value, StackError> {
    let av = obj["apiVersion"].as_str().unwrap_or("v1").to_string();
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let ar = resource(&av, &kind, plural);
    let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    match api.create(&PostParams::default(), &dynamic(obj)?).await {
        Ok(o) => serde_json::to_value(o).map_err(|e| StackError::Client(e.to_string())),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let o = api
                .get(&name)
                .await
                .map_err(api_err(format!("reading {kind} {name}")))?;
            serde_json::to_value(o).map_err(|e| StackError::Client(e.to_string()))
        }
        Err(e) => Err(api_err(format!("creating {kind} {name}"))(e)),
    }
}

/// RBAC, CRDs and inventory, as the options ask.
pub async fn bootstrap(client: &kube::Client, opts: &StackOptions) -> Result<(), StackError> {
    rbac(client).await?;
    let (node, status) = capi_sandbox::process::server::management_node();
    let created = create(client, "nodes", node).await?;
    write_status(client, "nodes", &created, status).await?;
    let crds = match &opts.crds {
        CrdSet::Bundled(g) => capi_sandbox::api::crds::bundled(*g),
        CrdSet::Dir(d) => capi_sandbox::api::crds::load_dir(d).map_err(StackError::Crds)?,
        CrdSet::None => vec![],
    };
    install_crds(client, crds).await?;
    if let (CrdSet::Bundled(g), true) = (&opts.crds, opts.inventory) {
        for (ns, provider) in capi_sandbox::api::crds::inventory(*g) {
            namespace(client, ns).await?;
            create(client, "providers", provider).await?;
        }
    }
    Ok(())
}

/// Creates namespace `ns` unless it exists.
pub async fn namespace(client: &kube::Client, ns: &str) -> Result<(), StackError> {
    create(
        client,
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await?;
    Ok(())
}

/// The read-only user gets the built-in `view` ClusterRole. `view` reaches custom resources
/// only through roles aggregated into it; one for the Cluster API groups stands for what a
/// cluster admin adds (the sandbox's read-only user can read them too).
async fn rbac(client: &kube::Client) -> Result<(), StackError> {
    let groups = json!(capi_shared::capi::API_GROUPS);
    create(client, "clusterroles", json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "capi-realstack-aggregate-to-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": groups, "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    })).await?;
    create(client, "clusterrolebindings", json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "capi-sandbox-readonly-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": crate::files::READONLY_USER}]
    })).await?;
    Ok(())
}

/// Creates the CRDs and waits until every one is established.
pub async fn install_crds(client: &kube::Client, crds: Vec<Value>) -> Result<(), StackError> {
    let names: Vec<String> = crds
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    futures::future::try_join_all(
        crds.into_iter()
            .map(|c| create(client, "customresourcedefinitions", c)),
    )
    .await?;
    let ar = resource(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let end = Instant::now() + Duration::from_secs(60);
    for name in names {
        loop {
            let crd = api
                .get(&name)
                .await
                .map_err(api_err(format!("reading CRD {name}")))?;
            let established = crd.data["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            });
            if established {
                break;
            }
            if Instant::now() > end {
                return Err(StackError::NotReady {
                    name: format!("CRD {name}"),
                    seconds: 60,
                    log: serde_json::to_string(&crd.data["status"]).unwrap_or_default(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Writes fixture objects `(group, plural, object, status)` through the API: the namespace,
/// then the objects an owner level at a time (owners first, so the owner references get the
/// owners' real uids), each level concurrently; then each status through the status subresource.
pub async fn load(
    client: &kube::Client,
    namespace_name: &str,
    objects: Vec<(String, String, Value, Option<Value>)>,
) -> Result<usize, StackError> {
    namespace(client, namespace_name).await?;
    let mut uids: HashMap<(String, String), String> = HashMap::new();
    let mut pending = objects;
    let mut n = 0;
    while !pending.is_empty() {
        let (ready, later): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, _, o, _)| owners_known(o, &uids));
        if ready.is_empty() {
            return Err(StackError::Client(
                "fixture objects name owners that are not among them".into(),
            ));
        }
        pending = later;
        let jobs = ready.into_iter().map(|(_, plural, mut obj, status)| {
            fill_owner_uids(&mut obj, &uids);
            let client = client.clone();
            async move {
                let created = create(&client, &plural, obj).await?;
                if let Some(st) = status {
                    write_status(&client, &plural, &created, st).await?;
                }
                Ok::<Value, StackError>(created)
            }
        });
        let created: Vec<Value> = futures::stream::iter(jobs)
            .buffer_unordered(16)
            .try_collect()
            .await?;
        for c in created {
            let key = (
                c["kind"].as_str().unwrap_or("").to_string(),
                c["metadata"]["name"].as_str().unwrap_or("").to_string(),
            );
            uids.insert(key, c["metadata"]["uid"].as_str().unwrap_or("").to_string());
            n += 1;
        }
    }
    Ok(n)
}

use capi_sandbox::process::fixtures::{fill_owner_uids, owner_keys};
use futures::{StreamExt as _, TryStreamExt as _};

fn owners_known(obj: &Value, uids: &HashMap<(String, String), String>) -> bool {
    owner_keys(obj).iter().all(|k| uids.contains_key(k))
}

async fn write_status(
    client: &kube::Client,
    plural: &str,
    created: &Value,
    status: Value,
) -> Result<(), StackError> {
    let av = created["apiVersion"].as_str().unwrap_or("v1");
    let kind = created["kind"].as_str().unwrap_or("");
    let name = created["metadata"]["name"].as_str().unwrap_or("");
    let ar = resource(av, kind, plural);
    let api: Api<DynamicObject> = match created["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let mut obj = created.clone();
    obj["status"] = status;
    api.replace_status(name, &PostParams::default(), &dynamic(obj)?)
        .await
        .map_err(api_err(format!("writing the status of {kind} {name}")))?;
    Ok(())
}
