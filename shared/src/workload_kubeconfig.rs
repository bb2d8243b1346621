//! Workload cluster kubeconfigs: fetching the `<cluster>-kubeconfig` Secret (or the provider's
//! `<cluster>-user-kubeconfig`) with errors that say why it is not there, reading what a
//! kubeconfig points at and when its client certificate expires, and merging it into a user's
//! kubeconfig under names that cannot collide. Nothing here logs credentials.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde::Serialize;
use serde_json::{Value, json};

use crate::capi::Catalog;
use crate::capi::value::is_deleting;
use crate::client::Kube;
use crate::kubeconfig::file::{KubeconfigDoc, Refusal, Section};
use crate::{Error, Result};

/// The Secret key holding the kubeconfig.
pub const KEY: &str = "value";
/// Days of remaining certificate validity below which a warning is printed.
pub const WARN_DAYS: i64 = 30;

/// A fetched kubeconfig, exactly as stored.
#[derive(Clone)]
pub struct Fetched {
    /// Namespace of the Cluster.
    pub namespace: String,
    /// Name of the Cluster.
    pub cluster: String,
    /// The Secret it came from.
    pub secret: String,
    /// The stored bytes.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Fetched {
    // The data is a credential: never in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("namespace", &self.namespace)
            .field("cluster", &self.cluster)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Fetches a cluster's kubeconfig. `prefer_user` takes `<name>-user-kubeconfig` when it exists.
pub async fn fetch(
    kube: &Kube,
    catalog: &Catalog,
    ns: &str,
    name: &str,
    prefer_user: bool,
) -> Result<Fetched> {
    let secrets: Api<Secret> = Api::namespaced(kube.client.clone(), ns);
    let admin_name = format!("{name}-kubeconfig");
    let user_name = format!("{name}-user-kubeconfig");
    let cluster_ar = crate::tree::fetch::core(kube, catalog, "Cluster").await?;
    let clusters = kube.api(&cluster_ar, Some(ns));
    let (what_cluster, what_admin, what_user) = (
        format!("reading Cluster {ns}/{name}"),
        format!("reading Secret {ns}/{admin_name}"),
        format!("reading Secret {ns}/{user_name}"),
    );
    // The three reads are independent: one round trip.
    let (cluster, admin, user) = futures::join!(
        kube.call(&what_cluster, clusters.get_opt(name)),
        kube.call(&what_admin, secrets.get_opt(&admin_name)),
        async {
            if prefer_user {
                kube.call(&what_user, secrets.get_opt(&user_name)).await
            } else {
                Ok(None)
            }
        }
    );
    let Some(cluster) = cluster? else {
        return Err(crate::tree::fetch::cluster_not_found(kube, &cluster_ar, ns, name).await);
    };
    // Users often may read Clusters but not Secrets (Kubernetes' `view` role): say what is missing.
    let forbidden = |e: Error| match e {
        Error::Forbidden(m) => Error::Forbidden(format!(
            "{m}; fetching a workload kubeconfig needs permission to get Secrets in namespace {ns:?} (ask for it, or use a context that has it)"
        )),
        other => other,
    };
    let (secret_name, secret) = match (user.map_err(forbidden)?, admin.map_err(forbidden)?) {
        (Some(u), _) => (user_name, u),
        (None, Some(a)) => (admin_name, a),
        (None, None) => {
            let v = serde_json::to_value(&cluster).unwrap_or(Value::Null);
            return Err(Error::NotFound(not_ready_message(&v, ns, name)));
        }
    };
    let data = secret.data.as_ref().and_then(|d| d.get(KEY)).map(|b| b.0.clone());
    match data {
        Some(d) if !d.is_empty() => Ok(Fetched {
            namespace: ns.into(),
            cluster: name.into(),
            secret: secret_name,
            data: d,
        }),
        _ => {
            let keys: Vec<String> = secret.data.iter().flat_map(|d| d.keys().cloned()).collect();
            Err(Error::Api(format!(
                "Secret {ns}/{secret_name} has no {KEY:?} key (keys: {}); it was not written by Cluster API or was edited",
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            )))
        }
    }
}

/// Why a Cluster has no kubeconfig Secret yet, from its status.
fn not_ready_message(cluster: &Value, ns: &str, name: &str) -> String {
    let initialized = cluster
        .pointer("/status/initialization/controlPlaneInitialized")
        .and_then(Value::as_bool)
        == Some(true)
        || cluster
            .pointer("/status/controlPlaneReady")
            .and_then(Value::as_bool)
            == Some(true);
    if is_deleting(cluster) {
        format!("cluster {ns}/{name} is being deleted and its kubeconfig Secret {name}-kubeconfig is gone")
    } else if initialized {
        format!(
            "cluster {ns}/{name} reports an initialised control plane but Secret {ns}/{name}-kubeconfig does not exist; the control plane provider has not written it (check its logs)"
        )
    } else {
        format!(
            "cluster {ns}/{name} has no kubeconfig yet: its control plane is not initialised, so Secret {ns}/{name}-kubeconfig does not exist; wait with `kubectl wait --for=condition=ControlPlaneInitialized cluster/{name} -n {ns}`"
        )
    }
}

/// What a kubeconfig points at (no credentials).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// Namespace of the Cluster.
    pub namespace: String,
    /// Name of the Cluster.
    pub cluster: String,
    /// The Secret it came from.
    pub secret: String,
    /// The context (as written, or as in the Secret).
    pub context: String,
    /// The API server URL.
    pub server: String,
    /// When the client certificate expires (RFC 3339), if the user has one.
    pub client_certificate_expiry: Option<String>,
    /// Whole days until then (negative: expired).
    pub days_left: Option<i64>,
    /// Where it was written, if anywhere.
    pub written_to: Option<String>,
}

/// The parts of a kubeconfig's current context.
struct Current {
    context: String,
    cluster: Value,
    user: Value,
}

fn current(doc: &KubeconfigDoc) -> std::result::Result<Current, String> {
    let context = doc
        .current_context()
        .map(str::to_string)
        .or_else(|| doc.names(Section::Contexts).into_iter().next())
        .ok_or("it has no context")?;
    let body = doc
        .get(Section::Contexts, &context)
        .ok_or_else(|| format!("context {context:?} is missing"))?;
    let cluster_name = body.get("cluster").and_then(Value::as_str).unwrap_or("");
    let user_name = body.get("user").and_then(Value::as_str).unwrap_or("");
    let cluster = doc
        .get(Section::Clusters, cluster_name)
        .cloned()
        .ok_or_else(|| format!("cluster entry {cluster_name:?} is missing"))?;
    let user = doc.get(Section::Users, user_name).cloned().unwrap_or(json!({}));
    Ok(Current {
        context,
        cluster,
        user,
    })
}

/// Expiry of a base64 PEM client certificate, as (RFC 3339, whole days left).
fn cert_expiry(b64_pem: &str) -> Option<(String, i64)> {
    let pem_bytes = B64.decode(b64_pem.trim()).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem_bytes).ok()?;
    let cert = pem.parse_x509().ok()?;
    let not_after = cert.validity().not_after.timestamp();
    let now = jiff::Timestamp::now().as_second();
    let ts = jiff::Timestamp::from_second(not_after).ok()?;
    Some((ts.to_string(), (not_after - now).div_euclid(86_400)))
}

/// Reads what a fetched kubeconfig points at.
pub fn inspect(f: &Fetched) -> Result<(KubeconfigDoc, Info)> {
    let bad = |why: String| {
        Error::Api(format!(
            "Secret {}/{} does not hold a usable kubeconfig: {why}",
            f.namespace, f.secret
        ))
    };
    let text = std::str::from_utf8(&f.data).map_err(|_| bad("it is not UTF-8 text".into()))?;
    let doc = KubeconfigDoc::parse(text).map_err(|e| bad(e.to_string()))?;
    let cur = current(&doc).map_err(bad)?;
    let expiry = cur
        .user
        .get("client-certificate-data")
        .and_then(Value::as_str)
        .and_then(cert_expiry);
    let info = Info {
        namespace: f.namespace.clone(),
        cluster: f.cluster.clone(),
        secret: f.secret.clone(),
        context: cur.context,
        server: cur
            .cluster
            .get("server")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        client_certificate_expiry: expiry.as_ref().map(|e| e.0.clone()),
        days_left: expiry.map(|e| e.1),
        written_to: None,
    };
    Ok((doc, info))
}

/// A standalone kubeconfig with its entries renamed to `context` (cluster `context`, user
/// `context-admin`) and, when asked, another server URL.
pub fn renamed(doc: &KubeconfigDoc, context: &str, server: Option<&str>) -> Result<KubeconfigDoc> {
    let cur = current(doc).map_err(|e| Error::Api(format!("the kubeconfig is not usable: {e}")))?;
    let mut cluster = cur.cluster;
    if let Some(s) = server {
        cluster["server"] = json!(s);
    }
    let user_name = format!("{context}-admin");
    let mut out = KubeconfigDoc::default();
    out.upsert(Section::Clusters, context, cluster);
    out.upsert(Section::Users, &user_name, cur.user);
    out.upsert(
        Section::Contexts,
        context,
        json!({"cluster": context, "user": user_name}),
    );
    out.set_current_context(context);
    Ok(out)
}

/// The default context name of a workload cluster: `<name>` prefixed by its namespace.
pub fn default_context_name(ns: &str, name: &str) -> String {
    format!("{ns}-{name}")
}

/// The outcome of one merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// New entries under this context name.
    Added(String),
    /// Entries of an earlier merge of the same cluster (same name, same server) refreshed.
    Refreshed(String),
}

impl Merged {
    /// The context name written.
    pub fn context(&self) -> &str {
        match self {
            Merged::Added(c) | Merged::Refreshed(c) => c,
        }
    }
}

/// Merges a renamed single-context kubeconfig (see [`renamed`]) into `target`. An existing
/// context of that name pointing at the same server is refreshed; otherwise, with `exact` the
/// merge fails, and without it the next free name (`-2`, `-3`, ...) is used. Other entries are
/// never touched.
pub fn merge(
    target: &mut KubeconfigDoc,
    single: &KubeconfigDoc,
    exact: bool,
    use_context: bool,
) -> std::result::Result<Merged, Refusal> {
    let src = current(single)?;
    let server = src.cluster.get("server").and_then(Value::as_str).unwrap_or("");
    let base = src.context.clone();
    let same_server = |t: &KubeconfigDoc, ctx: &str| {
        t.get(Section::Contexts, ctx)
            .and_then(|c| c.get("cluster").and_then(Value::as_str))
            .and_then(|c| t.get(Section::Clusters, c))
            .and_then(|c| c.get("server").and_then(Value::as_str))
            == Some(server)
    };
    let free = |t: &KubeconfigDoc, ctx: &str| {
        t.get(Section::Contexts, ctx).is_none()
            && t.get(Section::Clusters, ctx).is_none()
            && t.get(Section::Users, &format!("{ctx}-admin")).is_none()
    };
    let (name, refreshed) = if free(target, &base) {
        (base.clone(), false)
    } else if same_server(target, &base)
        && target
            .get(Section::Contexts, &base)
            .and_then(|c| c.get("cluster"))
            .and_then(Value::as_str)
            == Some(base.as_str())
    {
        (base.clone(), true)
    } else if exact {
        return Err(Refusal(format!(
            "context {base:?} already exists and points elsewhere; choose another --context-name"
        )));
    } else {
        let n = (2..)
            .map(|i| format!("{base}-{i}"))
            .find(|c| free(target, c) || same_server(target, c))
            .unwrap_or(base.clone());
        let refreshed = !free(target, &n);
        (n, refreshed)
    };
    let user_name = format!("{name}-admin");
    target.upsert(Section::Clusters, &name, src.cluster);
    target.upsert(Section::Users, &user_name, src.user);
    target.upsert(
        Section::Contexts,
        &name,
        json!({"cluster": name, "user": user_name}),
    );
    if use_context {
        target.set_current_context(&name);
    }
    Ok(if refreshed {
        Merged::Refreshed(name)
    } else {
        Merged::Added(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(ctx: &str, server: &str) -> KubeconfigDoc {
        let mut d = KubeconfigDoc::default();
        d.upsert(Section::Clusters, "c", json!({"server": server}));
        d.upsert(Section::Users, "u", json!({"token": "secret"}));
        d.upsert(
            Section::Contexts,
            "kubernetes-admin@c",
            json!({"cluster": "c", "user": "u"}),
        );
        d.set_current_context("kubernetes-admin@c");
        renamed(&d, ctx, None).unwrap()
    }

    #[test]
    fn merges_refreshes_and_never_overwrites_others() {
        let mut t = KubeconfigDoc::default();
        t.upsert(Section::Clusters, "ns-a", json!({"server": "https://other"}));
        t.upsert(
            Section::Contexts,
            "mine",
            json!({"cluster": "ns-a", "user": "me"}),
        );
        // The name is taken by something else: the next free name.
        let m = merge(&mut t, &single("ns-a", "https://a"), false, false).unwrap();
        assert_eq!(m, Merged::Added("ns-a-2".into()));
        assert_eq!(
            t.get(Section::Clusters, "ns-a").unwrap()["server"],
            "https://other"
        );
        // The same cluster again: refreshed in place, no duplicate.
        let m = merge(&mut t, &single("ns-a", "https://a"), false, true).unwrap();
        assert_eq!(m, Merged::Refreshed("ns-a-2".into()));
        assert_eq!(t.names(Section::Contexts), vec!["mine", "ns-a-2"]);
        assert_eq!(t.current_context(), Some("ns-a-2"));
        // An exact name that points elsewhere is refused.
        assert!(merge(&mut t, &single("mine", "https://b"), true, false).is_err());
    }

    #[test]
    fn renamed_keeps_credentials_and_overrides_the_server() {
        let r = single("x", "https://a");
        let o = renamed(&r, "y", Some("https://tunnel:6443")).unwrap();
        assert_eq!(o.current_context(), Some("y"));
        assert_eq!(
            o.get(Section::Clusters, "y").unwrap()["server"],
            "https://tunnel:6443"
        );
        assert_eq!(o.get(Section::Users, "y-admin").unwrap()["token"], "secret");
    }

    #[test]
    fn not_ready_messages_say_why() {
        let c = json!({"status": {"initialization": {"controlPlaneInitialized": false}}});
        assert!(not_ready_message(&c, "ns", "c").contains("not initialised"));
        let c = json!({"status": {"controlPlaneReady": true}});
        assert!(not_ready_message(&c, "ns", "c").contains("has not written it"));
    }
}
