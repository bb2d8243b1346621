//! The HTTP front end: routing of Kubernetes API paths, authentication and the read-only user's
//! authorisation, request decoding (JSON, YAML, Protobuf), response representations (JSON, YAML,
//! Table, PartialObjectMetadata, aggregated discovery), metrics and watches.

pub mod audit;
pub mod metrics;
pub mod negotiate;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::patch::PatchType;
use crate::resource::ResourceDef;
use crate::rest::{Api, DeleteOpts, Deleted, FieldValidation, ListOpts, Sub, WriteOpts};
use crate::selector::{FieldSelector, LabelSelector};
use crate::table::{self, IncludeObject};
use crate::{discovery, openapi, protobuf};
use metrics::{Labels, Metrics};
use negotiate::{BodyType, Repr};

/// The largest request body accepted (the real API server's limit).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// A user the server knows by bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name, as shown in RBAC errors.
    pub name: String,
    /// Whether writes are forbidden.
    pub readonly: bool,
}

/// Shared state of the HTTP front end.
#[derive(Debug)]
pub struct ServerState {
    /// The REST layer.
    pub api: Api,
    /// OpenAPI documents.
    pub openapi: openapi::OpenApiCache,
    /// Request counters.
    pub metrics: Metrics,
    /// Tokens → users; `None` disables authentication (in-process use).
    pub tokens: Option<HashMap<String, User>>,
    /// `host:port` reported by `/api`.
    pub address: String,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_every: Duration,
    /// Workload cluster API servers served under `/workload/NS/NAME/` (the management server's).
    pub workloads: Option<Arc<crate::capi::workload::Workloads>>,
    /// The path this server is mounted at (empty for the management server).
    pub path_prefix: String,
    /// The audit log of writes, when enabled.
    pub audit: Option<audit::Audit>,
    /// Seconds added to the Date header: simulates a server whose clock differs from the client's.
    pub clock_skew_secs: i64,
}

/// The client certificate chain of a connection (leaf first; empty when none was presented).
/// The handshake proved the client holds the leaf's key; which CA must have issued it depends
/// on the workload cluster a request addresses.
#[derive(Debug, Clone, Default)]
pub struct PeerCerts(pub Vec<rustls::pki_types::CertificateDer<'static>>);

/// The router serving the Kubernetes API for this state.
pub fn router(state: Arc<ServerState>) -> Router {
    let skew = state.clock_skew_secs;
    let r = Router::new().fallback(handle).with_state(state);
    if skew == 0 {
        return r;
    }
    // hyper only adds a Date header when the response has none.
    r.layer(axum::middleware::map_response(
        move |mut resp: Response| async move {
            let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(skew);
            let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&t);
            if let Ok(Ok(v)) = date.map(|d| header::HeaderValue::from_str(&d)) {
                resp.headers_mut().insert(header::DATE, v);
            }
            resp
        },
    ))
}

/// Parses a query string the way Go's `url.ParseQuery` does (`+` is a space).
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k)).or_insert_with(|| percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &Value, warnings: &[String]) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes_response(status, "application/json", Bytes::from(bytes), warnings)
}

fn bytes_response(status: StatusCode, content_type: &str, body: Bytes, warnings: &[String]) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if e.reason == crate::error::PAGE_NOT_FOUND {
        return bytes_response(
            status,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"404 page not found\n"),
            &[],
        );
    }
    let mut r = json_response(status, &e.to_status(), &[]);
    if let Some(after) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&after.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn represent(status: StatusCode, repr: Repr, v: &Value, warnings: &[String]) -> Response {
    match repr {
        Repr::Yaml => {
            let text = serde_saphyr::to_string(v).unwrap_or_default();
            bytes_response(status, "application/yaml", Bytes::from(text), warnings)
        }
        _ => json_response(status, v, warnings),
    }
}

async fn handle(State(st): State<Arc<ServerState>>, req: Request) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut labels = Labels {
        verb: method.as_str().to_string(),
        group: String::new(),
        version: String::new(),
        resource: String::new(),
        subresource: path.clone(),
        scope: String::new(),
        code: 0,
    };
    let mut pending = None;
    let resp = match dispatch(&st, req, &mut labels, &mut pending).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    labels.code = resp.status().as_u16();
    if let (Some(audit), Some(p)) = (&st.audit, pending) {
        audit.record(p, labels.code);
    }
    tracing::debug!(method = %method, path = %path, code = labels.code, elapsed_us = start.elapsed().as_micros() as u64, "request");
    if path != "/metrics" {
        st.metrics.record(labels);
    }
    resp
}

fn authenticate(
    st: &ServerState,
    headers: &HeaderMap,
    path: &str,
    peer: Option<&PeerCerts>,
) -> ApiResult<User> {
    // Workload cluster endpoints take a certificate issued by that cluster's own CA, as its
    // kubeconfig holds; `system:masters` may write, anyone else only read. The management API
    // keeps to its bearer tokens, like separate clusters would.
    if let (Some(workloads), Some(rest), Some(_)) =
        (&st.workloads, path.strip_prefix("/workload/"), &st.tokens)
    {
        let mut it = rest.splitn(3, '/');
        let (ns, name) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
        let chain = peer.map(|p| p.0.as_slice()).unwrap_or_default();
        let identity =
            cluster_ca(st, ns, name).and_then(|ca| workloads.client_identity(ns, name, &ca, chain));
        return match identity {
            Some(id) => Ok(User {
                name: id.common_name.clone(),
                readonly: !id.organizations.iter().any(|o| o == "system:masters"),
            }),
            None => Err(ApiError::new(401, "Unauthorized", "Unauthorized".to_string())),
        };
    }
    let Some(tokens) = &st.tokens else {
        return Ok(User {
            name: "system:admin".into(),
            readonly: false,
        });
    };
    let token = header_str(headers, header::AUTHORIZATION)
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim);
    // As kube-apiserver with anonymous requests on (its default): a token it does not know is
    // refused everywhere (401), no token at all is `system:anonymous`, whom RBAC lets see only
    // the public paths (403 elsewhere, decided in `dispatch`).
    match token {
        Some(t) => tokens.get(t).cloned().ok_or_else(ApiError::unauthorized),
        None => Ok(User {
            name: ANONYMOUS.into(),
            readonly: true,
        }),
    }
}

/// The CA certificate (PEM) in workload cluster `ns/name`'s `<name>-ca` Secret.
fn cluster_ca(st: &ServerState, ns: &str, name: &str) -> Option<String> {
    let def = st.api.registry.get("", "secrets")?;
    let secret = st.api.get_stored(&def, Some(ns), &format!("{name}-ca"))?;
    let v: serde_json::Value = serde_json::from_slice(&secret.json).ok()?;
    let pem = B64.decode(v.pointer("/data/tls.crt")?.as_str()?).ok()?;
    String::from_utf8(pem).ok()
}

/// The user of requests without credentials.
const ANONYMOUS: &str = "system:anonymous";

/// Paths every client may read (`system:public-info-viewer`).
fn public_path(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    matches!(p, "/version" | "/healthz" | "/livez" | "/readyz")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

/// Whether a path names resources (RBAC then checks the resource, not the path).
fn resource_path(path: &str) -> bool {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(segs.as_slice(), ["api", _, _, ..] | ["apis", _, _, _, ..])
}

/// What Kubernetes' `view` ClusterRole lets a user read of the kinds served here, plus the Cluster
/// API groups (granted on real management clusters by a role aggregated into `view`): namespaces,
/// configmaps, events and services; not secrets, nodes, CRDs or other custom resources.
fn viewable(group: &str, plural: &str) -> bool {
    match group {
        "" => matches!(plural, "namespaces" | "configmaps" | "events" | "services"),
        g => capi_shared::capi::API_GROUPS.contains(&g),
    }
}

async fn dispatch(
    st: &Arc<ServerState>,
    req: Request,
    labels: &mut Labels,
    pending: &mut Option<audit::Pending>,
) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parse_query(parts.uri.query());
    let user = authenticate(st, &parts.headers, &path, parts.extensions.get::<PeerCerts>())?;
    if user.name == ANONYMOUS
        && st.tokens.is_some()
        && !public_path(&path)
        && !resource_path(&path)
        && !path.starts_with("/workload/")
    {
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!("forbidden: User \"{ANONYMOUS}\" cannot get path \"{path}\""),
        ));
    }
    if let (Some(workloads), Some(rest)) = (&st.workloads, path.strip_prefix("/workload/")) {
        let mut it = rest.splitn(3, '/');
        let (ns, name, tail) = (
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
        );
        let ws = workloads.get(ns, name).ok_or_else(ApiError::not_found_path)?;
        if user.readonly && parts.method != Method::GET {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "User {:?} cannot write to workload cluster {ns}/{name}",
                    user.name
                ),
            ));
        }
        let mut uri = format!("/{tail}");
        if let Some(q) = parts.uri.query() {
            uri.push('?');
            uri.push_str(q);
        }
        let mut inner = Request::new(body);
        *inner.method_mut() = parts.method.clone();
        *inner.headers_mut() = parts.headers.clone();
        *inner.uri_mut() = uri.parse().map_err(|_| ApiError::bad_request("invalid path"))?;
        return Box::pin(dispatch(&ws, inner, labels, pending)).await;
    }
    let accept = header_str(&parts.headers, header::ACCEPT);
    let reg = &st.api.registry;
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let get_only = |m: &Method| {
        if *m == Method::GET {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(m.as_str(), "", ""))
        }
    };
    match segs.as_slice() {
        ["version"] => {
            get_only(&parts.method)?;
            return Ok(json_response(StatusCode::OK, &version_info(), &[]));
        }
        ["healthz" | "livez" | "readyz", ..] => {
            return Ok(bytes_response(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                Bytes::from_static(b"ok"),
                &[],
            ));
        }
        ["metrics"] => {
            return Ok(bytes_response(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                Bytes::from(st.metrics.render()),
                &[],
            ));
        }
        ["openapi", "v2"] => return Err(ApiError::not_found_path()),
        ["openapi", "v3"] => {
            get_only(&parts.method)?;
            return Ok(json_response(StatusCode::OK, &st.openapi.index(reg), &[]));
        }
        ["openapi", "v3", rest @ ..] => {
            get_only(&parts.method)?;
            let (hash, doc) = st
                .openapi
                .get(reg, &rest.join("/"))
                .ok_or_else(ApiError::not_found_path)?;
            let mut r = bytes_response(StatusCode::OK, "application/json", doc, &[]);
            if let Ok(v) = HeaderValue::from_str(&format!("\"{hash}\"")) {
                r.headers_mut().insert(header::ETAG, v);
            }
            return Ok(r);
        }
        ["api"] | ["apis"] => {
            get_only(&parts.method)?;
            let core = segs[0] == "api";
            return Ok(match negotiate::choose(accept, true, false) {
                Some(Repr::Discovery(v)) => {
                    let body = discovery::aggregated(reg, core, &format!("apidiscovery.k8s.io/{v}"));
                    let ct = format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList");
                    bytes_response(
                        StatusCode::OK,
                        &ct,
                        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
                        &[],
                    )
                }
                Some(repr) => {
                    let body = if core {
                        discovery::api_versions(&st.address)
                    } else {
                        discovery::api_group_list(reg)
                    };
                    represent(StatusCode::OK, repr, &body, &[])
                }
                None => return Err(ApiError::not_acceptable(accept.unwrap_or(""))),
            });
        }
        ["apis", group] => {
            get_only(&parts.method)?;
            let body = discovery::api_group(reg, group).ok_or_else(ApiError::page_not_found)?;
            return Ok(json_response(StatusCode::OK, &body, &[]));
        }
        ["api", "v1"] | ["apis", _, _] => {
            get_only(&parts.method)?;
            let (g, v) = if segs[0] == "api" {
                ("", "v1")
            } else {
                (segs[1], segs[2])
            };
            let body = discovery::resource_list(reg, g, v).ok_or_else(|| {
                if matches!(g, "" | "apiextensions.k8s.io") {
                    ApiError::not_found_path()
                } else {
                    ApiError::page_not_found()
                }
            })?;
            return Ok(json_response(StatusCode::OK, &body, &[]));
        }
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::page_not_found()),
    };
    // Custom resource groups are served by a handler that knows only its CRDs: anything else
    // there is the plain-text 404 of a real API server; built-in groups answer with a Status.
    let builtin_group = matches!(group, "" | "apiextensions.k8s.io");
    let target = resolve(st, group, version, rest).map_err(|e| {
        if !builtin_group && e == ApiError::not_found_path() {
            ApiError::page_not_found()
        } else {
            e
        }
    })?;
    labels.group = group.to_string();
    labels.version = version.to_string();
    labels.resource = target.def.plural.clone();
    labels.subresource = target.sub.as_str().to_string();
    labels.scope = match (&target.ns, target.name.is_some()) {
        (_, true) => "resource".into(),
        (Some(_), false) => "namespace".into(),
        (None, false) => "cluster".into(),
    };
    let content_type = header_str(&parts.headers, header::CONTENT_TYPE).map(str::to_string);
    let user_agent = header_str(&parts.headers, header::USER_AGENT)
        .unwrap_or("")
        .to_string();
    let mut warnings = vec![];
    if let Some(v) = target.def.version(version)
        && v.deprecated
    {
        warnings.push(
            v.deprecation_warning.clone().unwrap_or_else(|| {
                format!("{}/{version} {} is deprecated", target.def.group, target.def.kind)
            }),
        );
    }
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let method = parts.method.clone();
    let verb = match (&method, target.name.is_some(), watch) {
        (&Method::GET, false, true) | (&Method::GET, true, true) => "WATCH",
        (&Method::GET, false, false) => "LIST",
        (&Method::GET, true, false) => "GET",
        (&Method::POST, false, _) => "POST",
        (&Method::PUT, true, _) => "PUT",
        (&Method::PATCH, true, _) => {
            if content_type.as_deref().and_then(PatchType::from_content_type) == Some(PatchType::Apply) {
                "APPLY"
            } else {
                "PATCH"
            }
        }
        (&Method::DELETE, true, _) => "DELETE",
        (&Method::DELETE, false, _) => "DELETECOLLECTION",
        _ => {
            return Err(ApiError::method_not_allowed(
                method.as_str(),
                &target.def.plural,
                group,
            ));
        }
    };
    labels.verb = verb.to_string();
    let write = !matches!(verb, "GET" | "LIST" | "WATCH");
    // The read-only user has the rights of Kubernetes' built-in `view` role, which leaves out
    // Secrets: credentials (workload kubeconfigs, the sandbox CA key) stay with the admin.
    let secret = target.def.plural == "secrets" && group.is_empty();
    let anonymous = user.name == ANONYMOUS && st.tokens.is_some();
    if user.readonly && !write && (secret || anonymous || !viewable(group, &target.def.plural)) {
        let rbac_verb = match verb {
            "GET" => "get",
            "LIST" => "list",
            _ => "watch",
        };
        return Err(ApiError::forbidden_rbac(
            &user.name,
            rbac_verb,
            &target.def.plural,
            group,
            target.ns.as_deref(),
            target.name.as_deref(),
        ));
    }
    if write && user.readonly {
        let rbac_verb = match verb {
            "POST" => "create",
            "PUT" => "update",
            "PATCH" | "APPLY" => "patch",
            "DELETE" => "delete",
            _ => "deletecollection",
        };
        let res = if target.sub == Sub::Main {
            target.def.plural.clone()
        } else {
            format!("{}/{}", target.def.plural, target.sub.as_str())
        };
        return Err(ApiError::forbidden_rbac(
            &user.name,
            rbac_verb,
            &res,
            group,
            target.ns.as_deref(),
            target.name.as_deref(),
        ));
    }
    if verb == "WATCH" {
        let repr = negotiate::choose(accept, false, true)
            .ok_or_else(|| ApiError::not_acceptable(accept.unwrap_or("")))?;
        return watch::serve(
            st.clone(),
            target.def.clone(),
            version.to_string(),
            target.ns.clone(),
            target.name.clone(),
            &query,
            repr,
        );
    }
    let body = if write {
        read_body(body).await?
    } else {
        Bytes::new()
    };
    if write && st.audit.is_some() {
        *pending = Some(audit::Pending {
            verb: match verb {
                "POST" => "create",
                "PUT" => "update",
                "PATCH" | "APPLY" => "patch",
                "DELETE" => "delete",
                _ => "deletecollection",
            },
            request_uri: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            user: user.name.clone(),
            object_ref: json!({
                "resource": target.def.plural,
                "namespace": target.ns,
                // A create names its object in the body; the real audit log records that name.
                "name": target.name.clone().or_else(|| {
                    serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|b| b.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
                }),
                "apiGroup": group,
                "apiVersion": version,
                "subresource": (target.sub != Sub::Main).then(|| target.sub.as_str()),
            }),
            content_type: content_type.clone(),
            request_object: serde_json::from_slice(&body).ok(),
        });
    }
    let opts = write_opts(&query, &user_agent)?;
    let api = &st.api;
    let def = &*target.def;
    let ns = target.ns.as_deref();
    let repr = negotiate::choose(accept, false, verb == "GET" || verb == "LIST")
        .ok_or_else(|| ApiError::not_acceptable(accept.unwrap_or("")))?;
    match verb {
        "GET" => {
            let name = target.name.as_deref().unwrap_or("");
            // The stored bytes are the answer when no conversion or reshaping is needed.
            if repr == Repr::Json && target.sub != Sub::Scale && version == def.storage_version {
                let obj = api
                    .get_stored(def, ns, name)
                    .ok_or_else(|| ApiError::not_found(&def.plural, &def.group, name))?;
                return Ok(bytes_response(
                    StatusCode::OK,
                    "application/json",
                    obj.json.clone(),
                    &warnings,
                ));
            }
            let v = match target.sub {
                Sub::Scale => api.get_scale(def, version, ns, name)?,
                _ => api.get(def, version, ns, name)?,
            };
            Ok(match repr {
                Repr::Table if target.sub != Sub::Scale => {
                    let cols = table::columns(def, version);
                    let include = IncludeObject::parse(query.get("includeObject").map(String::as_str));
                    let rv = v
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    json_response(
                        StatusCode::OK,
                        &table::table(&cols, &[v], include, rv, None, None, true),
                        &warnings,
                    )
                }
                Repr::Metadata => json_response(StatusCode::OK, &table::partial_metadata(&v), &warnings),
                _ => represent(StatusCode::OK, repr, &v, &warnings),
            })
        }
        "LIST" => list(st, def, version, ns, &query, repr, &warnings),
        "POST" => {
            let obj = decode_object(&body, content_type.as_deref())?;
            let out = api.create(def, version, ns, obj, &opts)?;
            warnings.extend(out.warnings);
            Ok(represent(StatusCode::CREATED, repr, &out.value, &warnings))
        }
        "PUT" => {
            let obj = decode_object(&body, content_type.as_deref())?;
            let name = target.name.as_deref().unwrap_or("");
            let out = api.update(def, version, ns, name, target.sub, obj, &opts)?;
            warnings.extend(out.warnings);
            Ok(represent(
                if out.created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                repr,
                &out.value,
                &warnings,
            ))
        }
        "PATCH" | "APPLY" => {
            let ptype = content_type.as_deref().and_then(PatchType::from_content_type).ok_or_else(|| {
                ApiError::unsupported_media(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
                    if def.is_custom() { "" } else { ", application/strategic-merge-patch+json" }
                ))
            })?;
            let name = target.name.as_deref().unwrap_or("");
            let out = api.patch(def, version, ns, name, target.sub, ptype, &body, &opts)?;
            warnings.extend(out.warnings);
            Ok(represent(
                if out.created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                repr,
                &out.value,
                &warnings,
            ))
        }
        "DELETE" => {
            let dopts = delete_opts(&body, &query)?;
            let name = target.name.as_deref().unwrap_or("");
            Ok(match api.delete(def, version, ns, name, &dopts)? {
                Deleted::Pending(v) | Deleted::Gone(v) => represent(StatusCode::OK, repr, &v, &warnings),
            })
        }
        _ => {
            let dopts = delete_opts(&body, &query)?;
            let lopts = list_opts(def, version, &query)?;
            let page = api.list(
                def,
                ns,
                &ListOpts {
                    limit: None,
                    continue_token: None,
                    ..lopts
                },
            )?;
            let mut items = vec![];
            for obj in page.items {
                match api.delete(
                    def,
                    version,
                    Some(&obj.ns).filter(|n| !n.is_empty()).map(|s| s.as_str()),
                    &obj.name,
                    &dopts,
                ) {
                    Ok(Deleted::Pending(v)) => items.push(v),
                    Ok(Deleted::Gone(_)) => items.push(Api::convert_out(def, version, obj.value())),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let body = json!({"kind": def.list_kind, "apiVersion": def.api_version(version), "metadata": {"resourceVersion": st.api.store.current_rv().to_string()}, "items": items});
            Ok(represent(StatusCode::OK, repr, &body, &warnings))
        }
    }
}

/// A resolved resource request.
struct Target {
    def: Arc<ResourceDef>,
    ns: Option<String>,
    name: Option<String>,
    sub: Sub,
}

fn resolve(st: &ServerState, group: &str, version: &str, rest: &[&str]) -> ApiResult<Target> {
    let reg = &st.api.registry;
    let find = |plural: &str| {
        reg.find(group, version, plural)
            .ok_or_else(ApiError::not_found_path)
    };
    let sub_of = |def: &ResourceDef, s: &str| -> ApiResult<Sub> {
        let v = def.version(version).ok_or_else(ApiError::not_found_path)?;
        match s {
            "status" if v.status => Ok(Sub::Status),
            "scale" if v.scale.is_some() => Ok(Sub::Scale),
            "finalize" if def.builtin == Some(crate::resource::Builtin::Namespace) => Ok(Sub::Finalize),
            _ => Err(ApiError::not_found_path()),
        }
    };
    let owned = |s: &str| Some(s.to_string());
    match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !matches!(*plural, "status" | "finalize") || !tail.is_empty() =>
        {
            let def = find(plural)?;
            if !def.namespaced {
                return Err(ApiError::not_found_path());
            }
            let (name, sub) = match tail {
                [] => (None, Sub::Main),
                [name] => (owned(name), Sub::Main),
                [name, s] => (owned(name), sub_of(&def, s)?),
                _ => return Err(ApiError::not_found_path()),
            };
            Ok(Target {
                def,
                ns: owned(ns),
                name,
                sub,
            })
        }
        [plural, tail @ ..] => {
            let def = find(plural)?;
            let (name, sub) = match tail {
                [] => (None, Sub::Main),
                [name] => (owned(name), Sub::Main),
                [name, s] => (owned(name), sub_of(&def, s)?),
                _ => return Err(ApiError::not_found_path()),
            };
            if def.namespaced && name.is_some() {
                return Err(ApiError::not_found_path());
            }
            Ok(Target {
                def,
                ns: None,
                name,
                sub,
            })
        }
        [] => Err(ApiError::not_found_path()),
    }
}

/// How much of an oversized body is still read (and dropped) so the client can finish sending
/// and then read the 413; past this the connection is simply closed.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

async fn read_body(mut body: Body) -> ApiResult<Bytes> {
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("could not read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= MAX_BODY {
                buf.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
    if seen > MAX_BODY {
        return Err(ApiError::too_large(format!(
            "Request entity too large: limit is {MAX_BODY}"
        )));
    }
    Ok(buf.freeze())
}

fn decode_object(body: &[u8], content_type: Option<&str>) -> ApiResult<Value> {
    let v = match negotiate::body_type(content_type) {
        BodyType::Json => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::bad_request("the request body is empty"));
            }
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding request body as JSON: {e}")))?
        }
        BodyType::Yaml => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("the YAML body is not valid UTF-8"))?;
            capi_shared::yaml::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
        }
        BodyType::Protobuf => protobuf::decode(body)?,
        BodyType::Other => {
            return Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {:?})",
                content_type.unwrap_or("")
            )));
        }
    };
    if !v.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    Ok(v)
}

fn write_opts(q: &HashMap<String, String>, user_agent: &str) -> ApiResult<WriteOpts> {
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            )));
        }
    };
    let validation = match q.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Warn\", \"Strict\""
            )));
        }
    };
    let explicit = q.get("fieldManager").filter(|m| !m.is_empty()).cloned();
    if explicit.as_ref().is_some_and(|m| m.len() > 128) {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            vec![crate::error::field_invalid(
                "fieldManager",
                &json!(explicit),
                "must be no more than 128 characters",
            )],
        ));
    }
    let derived = user_agent
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string();
    let force = match q.get("force").map(String::as_str) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::bad_request(format!("force: invalid value {other:?}"))),
    };
    Ok(WriteOpts {
        dry_run,
        manager_explicit: explicit.is_some(),
        manager: explicit.unwrap_or(derived),
        validation,
        force,
    })
}

fn delete_opts(body: &[u8], q: &HashMap<String, String>) -> ApiResult<DeleteOpts> {
    let mut o = DeleteOpts::default();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
        o.propagation = v
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.orphan_dependents = v.get("orphanDependents").and_then(Value::as_bool);
        o.uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.rv = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.dry_run = v
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    }
    if let Some(p) = q.get("propagationPolicy").filter(|p| !p.is_empty()) {
        o.propagation = Some(p.clone());
    }
    if let Some(x) = q.get("orphanDependents") {
        o.orphan_dependents = Some(x == "true");
    }
    match q.get("dryRun").map(String::as_str) {
        None | Some("") => {}
        Some("All") => o.dry_run = true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            )));
        }
    }
    Ok(o)
}

fn fields_supported(def: &ResourceDef, version: &str) -> Vec<String> {
    def.version(version)
        .map(|v| v.selectable_fields.clone())
        .unwrap_or_default()
}

/// Parses list/watch selectors and paging parameters.
pub fn list_opts(def: &ResourceDef, version: &str, q: &HashMap<String, String>) -> ApiResult<ListOpts> {
    let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let field_q = q.get("fieldSelector").map(String::as_str).unwrap_or("");
    let fields = FieldSelector::parse(field_q, &fields_supported(def, version)).map_err(|e| {
        // The API server's wording: which resource, which selectors, then why.
        ApiError::bad_request(format!(
            "Unable to find \"{}/{version}, Resource={}\" that match label selector \"{}\", field selector \"{field_q}\": {e}",
            def.group,
            def.plural,
            q.get("labelSelector").map(String::as_str).unwrap_or("")
        ))
    })?;
    let limit = match q.get("limit").map(String::as_str) {
        None | Some("") => None,
        Some(l) => Some(
            l.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("limit: invalid value {l:?}")))?
                .max(0) as usize,
        ),
    };
    let watching = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    if !watching
        && q.get("resourceVersionMatch").is_some_and(|m| !m.is_empty())
        && q.get("resourceVersion").is_none_or(|r| r.is_empty())
    {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            vec![crate::error::field_forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            )],
        ));
    }
    if q.get("sendInitialEvents").is_some_and(|s| s == "true") && !watching {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            vec![crate::error::field_forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            )],
        ));
    }
    Ok(ListOpts {
        labels,
        fields,
        limit,
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

fn list(
    st: &ServerState,
    def: &ResourceDef,
    version: &str,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    repr: Repr,
    warnings: &[String],
) -> ApiResult<Response> {
    let opts = list_opts(def, version, q)?;
    let page = st.api.list(def, ns, &opts)?;
    let rv = page.rv.to_string();
    match repr {
        Repr::Json if version == def.storage_version => {
            let mut meta = json!({"resourceVersion": rv});
            if let Some(c) = &page.continue_token {
                meta["continue"] = json!(c);
            }
            if let Some(r) = page.remaining {
                meta["remainingItemCount"] = json!(r);
            }
            let head =
                json!({"apiVersion": def.api_version(version), "kind": def.list_kind, "metadata": meta});
            let mut out = serde_json::to_vec(&head).unwrap_or_default();
            out.pop();
            let total: usize = page.items.iter().map(|o| o.json.len() + 1).sum();
            out.reserve(total + 16);
            out.extend_from_slice(b",\"items\":[");
            for (i, o) in page.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&o.json);
            }
            out.extend_from_slice(b"]}");
            Ok(bytes_response(
                StatusCode::OK,
                "application/json",
                Bytes::from(out),
                warnings,
            ))
        }
        Repr::Table => {
            let cols = table::columns(def, version);
            let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));
            let objs: Vec<Value> = page
                .items
                .iter()
                .map(|o| Api::convert_out(def, version, o.value()))
                .collect();
            let t = table::table(
                &cols,
                &objs,
                include,
                Some(rv),
                page.continue_token,
                page.remaining,
                true,
            );
            Ok(json_response(StatusCode::OK, &t, warnings))
        }
        Repr::Metadata => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|o| table::partial_metadata(&o.value()))
                .collect();
            let mut meta = json!({"resourceVersion": rv});
            if let Some(c) = &page.continue_token {
                meta["continue"] = json!(c);
            }
            let body = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items});
            Ok(json_response(StatusCode::OK, &body, warnings))
        }
        _ => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|o| Api::convert_out(def, version, o.value()))
                .collect();
            let mut meta = json!({"resourceVersion": rv});
            if let Some(c) = &page.continue_token {
                meta["continue"] = json!(c);
            }
            if let Some(r) = page.remaining {
                meta["remainingItemCount"] = json!(r);
            }
            let body = json!({"apiVersion": def.api_version(version), "kind": def.list_kind, "metadata": meta, "items": items});
            Ok(represent(StatusCode::OK, repr, &body, warnings))
        }
    }
}

/// The `/version` document; minor 33 makes the kubectl dispatcher pick kubectl 1.33.
pub fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0",
        "gitCommit": "capi-sandbox",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = parse_query(Some(
            "fieldSelector=metadata.name%3Dw1&labelSelector=a+in+(x)&limit=500&watch",
        ));
        assert_eq!(q["fieldSelector"], "metadata.name=w1");
        assert_eq!(q["labelSelector"], "a in (x)");
        assert_eq!(q["limit"], "500");
        assert_eq!(q["watch"], "");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
