//! Connecting to the management cluster: kubeconfig → kube client with per-request timeouts, a
//! `-v=6` request log (method, URL, status, latency; never bodies, so never secrets), and API
//! errors turned into one-line messages that say what to do.

pub(crate) mod follow;
pub mod http_get;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response};
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, KubeconfigError};
use kube::core::ApiResource;
use tower::{Layer, Service};

use crate::error::{Error, Result};
use crate::flags::ConnArgs;

/// Logs every request at debug level on the `capi_shared::client` target (enabled by `-v=6`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLog;

impl<S> Layer<S> for RequestLog {
    type Service = RequestLogService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestLogService(inner)
    }
}

/// The service of [`RequestLog`].
#[derive(Clone, Debug)]
pub struct RequestLogService<S>(S);

impl<S, B, RB> Service<Request<B>> for RequestLogService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let start = Instant::now();
        let fut = self.0.call(req);
        Box::pin(async move {
            let r = fut.await;
            let ms = start.elapsed().as_millis();
            match &r {
                Ok(resp) => {
                    tracing::debug!(target: "capi_shared::client", "{method} {uri} {} in {ms} milliseconds", resp.status())
                }
                Err(e) => {
                    tracing::debug!(target: "capi_shared::client", "{method} {uri} failed after {ms} milliseconds: {e}")
                }
            }
            r
        })
    }
}

/// A connection to a cluster.
#[derive(Clone)]
pub struct Kube {
    /// The client.
    pub client: kube::Client,
    /// The namespace to use when none is given (`-n`, else the context's, else "default").
    pub namespace: String,
    /// The context name (for messages).
    pub context: String,
    /// The API server URL (for messages).
    pub server: String,
    /// The per-request timeout, if any.
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish()
    }
}

fn kubeconfig_error(e: KubeconfigError, available: &[String]) -> Error {
    let text = e.to_string();
    match e {
        KubeconfigError::LoadContext(name) => Error::Config(format!(
            "context {name:?} not found in the kubeconfig{}",
            if available.is_empty() {
                String::new()
            } else {
                format!(" (available: {})", available.join(", "))
            }
        )),
        KubeconfigError::CurrentContextNotSet => Error::Config(
            "the kubeconfig has no current context: pass --context, or run `kubectl config use-context NAME`"
                .into(),
        ),
        _ => Error::Config(format!("invalid kubeconfig: {text}")),
    }
}

/// `--user`, `--cluster`, and the user and cluster the context names, must exist in the
/// kubeconfig: otherwise the server's 401 would be the only, misleading, clue.
fn check_names(
    cfg: &kube::config::Kubeconfig,
    context: &str,
    cluster: Option<&str>,
    user: Option<&str>,
) -> Result<()> {
    let ctx = cfg
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref());
    // (what, its flag, the flag's value, the context's value, the names the kubeconfig has)
    let checks = [
        (
            "user",
            user,
            ctx.and_then(|c| c.user.as_deref()),
            cfg.auth_infos.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        ),
        (
            "cluster",
            cluster,
            ctx.map(|c| c.cluster.as_str()),
            cfg.clusters.iter().map(|c| c.name.as_str()).collect(),
        ),
    ];
    for (what, flag, from_context, known) in checks {
        let Some(want) = flag.or(from_context).filter(|n| !n.is_empty()) else {
            continue;
        };
        if !known.contains(&want) {
            let whose = match flag {
                Some(_) => format!("--{what}"),
                None => format!("context {context:?}"),
            };
            return Err(Error::Config(format!(
                "{what} {want:?} ({whose}) not found in the kubeconfig ({what}s: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

impl Kube {
    /// Connects using the kubectl-style flags. `user` overrides the context's user.
    pub async fn connect(conn: &ConnArgs, user: Option<&str>) -> Result<Kube> {
        let loaded = crate::kubeconfig::load(conn.kubeconfig.as_deref())?;
        let available: Vec<String> = loaded.config.contexts.iter().map(|c| c.name.clone()).collect();
        let context = conn
            .context
            .clone()
            .or_else(|| loaded.config.current_context.clone())
            .unwrap_or_default();
        check_names(&loaded.config, &context, conn.cluster.as_deref(), user)?;
        let opts = KubeConfigOptions {
            context: conn.context.clone(),
            cluster: conn.cluster.clone(),
            user: user.map(str::to_string),
        };
        let mut config = kube::Config::from_custom_kubeconfig(loaded.config, &opts)
            .await
            .map_err(|e| kubeconfig_error(e, &available))?;
        let timeout = (!conn.request_timeout.is_zero()).then_some(conn.request_timeout);
        // The request timeout bounds each whole request (`Kube::call`); only connecting gets it
        // here too, so an answer that never comes is reported as that timeout, naming the flag.
        if let Some(t) = timeout {
            config.connect_timeout = Some(t);
        }
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        let namespace = conn
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| config.default_namespace.clone());
        let builder = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| Error::Config(format!("cannot build a client for context {context:?}: {e}")))?;
        let client = builder.with_layer(&RequestLog).build();
        Ok(Kube {
            client,
            namespace,
            context,
            server,
            timeout,
        })
    }

    /// A client for an already built `kube::Client` (tests, in-process use).
    pub fn from_client(client: kube::Client, namespace: &str) -> Kube {
        Kube {
            client,
            namespace: namespace.to_string(),
            context: String::new(),
            server: String::new(),
            timeout: None,
        }
    }

    /// Runs one API call with the request timeout and error mapping. `what` says what was being
    /// done, for the error message.
    pub async fn call<T>(
        &self,
        what: &str,
        fut: impl Future<Output = std::result::Result<T, kube::Error>>,
    ) -> Result<T> {
        let r = match self.timeout {
            Some(t) => match tokio::time::timeout(t, fut).await {
                Ok(r) => r,
                Err(_) => return Err(self.request_timed_out(what, "", t)),
            },
            None => fut.await,
        };
        r.map_err(|e| self.map_err(e, what))
    }

    /// A request that got no answer within `--request-timeout`: exit 1 like any failed request
    /// (exit 3 is for waits that run out), naming the timeout and its flag.
    fn request_timed_out(&self, what: &str, ctx: &str, t: Duration) -> Error {
        Error::Connection(format!(
            "{what}: no answer from {}{ctx} within the request timeout of {t:?} (raise it with --request-timeout)",
            self.server
        ))
    }

    /// Turns a kube error into a one-line, actionable error that keeps what the server said
    /// (code, reason, message) as fields and the client's error as its source.
    pub fn map_err(&self, e: kube::Error, what: &str) -> Error {
        let ctx = if self.context.is_empty() {
            String::new()
        } else {
            format!(" (context {:?})", self.context)
        };
        match e {
            kube::Error::Api(s) => match s.code {
                401 => Error::Unauthorized(format!(
                    "{what}: the API server at {}{ctx} rejected the credentials (401 Unauthorized); refresh the kubeconfig's token or certificate",
                    self.server
                )),
                403 => Error::Forbidden(format!("{what}: {} (403 Forbidden)", s.message)),
                404 => Error::NotFound(format!("{what}: {}", s.message)),
                code => Error::Status {
                    what: what.to_string(),
                    code,
                    reason: s.reason.clone(),
                    message: s.message.clone(),
                },
            },
            kube::Error::Auth(a) => Error::Unauthorized(format!(
                "{what}: cannot authenticate to {}{ctx}: {a}",
                self.server
            )),
            other => {
                // A timeout from the connection layer is the request timeout: name it and its flag.
                let cause = crate::error::root_cause(&other);
                if let Some(t) = self
                    .timeout
                    .filter(|_| cause.contains("deadline has elapsed") || cause.contains("timed out"))
                {
                    return self.request_timed_out(what, &ctx, t);
                }
                Error::Unreachable {
                    what: what.to_string(),
                    server: self.server.clone(),
                    context: (!self.context.is_empty()).then(|| self.context.clone()),
                    source: Box::new(other),
                }
            }
        }
    }

    /// A dynamic API for a resource, namespaced (Some) or across all namespaces / cluster-scoped.
    pub fn api(&self, ar: &ApiResource, ns: Option<&str>) -> Api<DynamicObject> {
        match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    /// Lists every object (following continue tokens, 500 per page) with optional selectors.
    /// Returns the objects and the list's resourceVersion.
    pub async fn list_all(
        &self,
        ar: &ApiResource,
        ns: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<(Vec<DynamicObject>, String)> {
        self.list_paged(ar, ns, labels, fields, 500).await
    }

    /// [`Kube::list_all`] with a page size. Items are decoded without `managedFields` and without
    /// serde's `flatten` buffering, which halves time and memory on large lists.
    pub async fn list_paged(
        &self,
        ar: &ApiResource,
        ns: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
        page: u32,
    ) -> Result<(Vec<DynamicObject>, String)> {
        let mut out = vec![];
        let mut rv = String::new();
        self.each_page(ar, ns, labels, fields, page, |p: slim::List| {
            out.extend(p.items.into_iter().map(|i| i.into_dynamic(ar)));
            rv = p.metadata.resource_version.unwrap_or_default();
            p.metadata.continue_
        })
        .await?;
        Ok((out, rv))
    }

    /// Lists every object whole (every field, managedFields included), following continue
    /// tokens: what a move copies must be the object exactly as stored.
    pub async fn list_values(
        &self,
        ar: &ApiResource,
        ns: Option<&str>,
        labels: Option<&str>,
        page: u32,
    ) -> Result<Vec<serde_json::Value>> {
        let mut out = vec![];
        self.each_page(ar, ns, labels, None, page, |mut p: serde_json::Value| {
            if let Some(serde_json::Value::Array(items)) = p.get_mut("items").map(std::mem::take) {
                // Items of a list carry neither apiVersion nor kind on every server.
                out.extend(items.into_iter().map(|mut i| {
                    if let Some(o) = i.as_object_mut() {
                        o.entry("apiVersion")
                            .or_insert_with(|| ar.api_version.clone().into());
                        o.entry("kind").or_insert_with(|| ar.kind.clone().into());
                    }
                    i
                }));
            }
            p.pointer("/metadata/continue")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        })
        .await?;
        Ok(out)
    }

    /// Requests the pages of a LIST one after the other, decoding each as `P` and handing it to
    /// `take`, which returns the page's continue token.
    async fn each_page<P: serde::de::DeserializeOwned>(
        &self,
        ar: &ApiResource,
        ns: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
        page: u32,
        mut take: impl FnMut(P) -> Option<String>,
    ) -> Result<()> {
        let api = self.api(ar, ns);
        let mut lp = ListParams::default().limit(page);
        if let Some(l) = labels {
            lp = lp.labels(l);
        }
        if let Some(f) = fields {
            lp = lp.fields(f);
        }
        let what = format!("listing {}", ar.plural);
        let request = kube::core::Request::new(api.resource_url());
        loop {
            let req = request
                .list(&lp)
                .map_err(|e| Error::Other(format!("{what}: {e}")))?;
            let text = self.call(&what, self.client.request_text(req)).await?;
            let decoded: P = serde_json::from_str(&text)
                .map_err(|e| Error::Api(format!("{what}: cannot decode the answer: {e}")))?;
            drop(text);
            match take(decoded) {
                Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                _ => return Ok(()),
            }
        }
    }
}

/// Lean decoding of list items: only the metadata fields the plugins read.
mod slim {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
    use kube::api::{DynamicObject, TypeMeta};
    use kube::core::ApiResource;
    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Deserialize)]
    pub struct ListMeta {
        #[serde(rename = "continue")]
        pub continue_: Option<String>,
        #[serde(rename = "resourceVersion")]
        pub resource_version: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct List {
        pub metadata: ListMeta,
        #[serde(default)]
        pub items: Vec<Item>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Meta {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        generation: Option<i64>,
        creation_timestamp: Option<Time>,
        deletion_timestamp: Option<Time>,
        labels: Option<BTreeMap<String, String>>,
        annotations: Option<BTreeMap<String, String>>,
        owner_references: Option<Vec<OwnerReference>>,
        finalizers: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Item {
        api_version: Option<String>,
        kind: Option<String>,
        metadata: Meta,
        spec: Option<Value>,
        status: Option<Value>,
    }

    impl Item {
        pub fn into_dynamic(self, ar: &ApiResource) -> DynamicObject {
            let m = self.metadata;
            let mut data = serde_json::Map::new();
            if let Some(s) = self.spec {
                data.insert("spec".into(), s);
            }
            if let Some(s) = self.status {
                data.insert("status".into(), s);
            }
            DynamicObject {
                types: Some(TypeMeta {
                    api_version: self.api_version.unwrap_or_else(|| ar.api_version.clone()),
                    kind: self.kind.unwrap_or_else(|| ar.kind.clone()),
                }),
                metadata: ObjectMeta {
                    name: m.name,
                    namespace: m.namespace,
                    uid: m.uid,
                    resource_version: m.resource_version,
                    generation: m.generation,
                    creation_timestamp: m.creation_timestamp,
                    deletion_timestamp: m.deletion_timestamp,
                    labels: m.labels,
                    annotations: m.annotations,
                    owner_references: m.owner_references,
                    finalizers: m.finalizers,
                    ..Default::default()
                },
                data: Value::Object(data),
            }
        }
    }
}
