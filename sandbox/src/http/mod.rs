//! The HTTP front end: routing of Kubernetes API paths, authentication and the read-only user's
//! authorisation, request decoding (JSON, YAML, Protobuf), response representations (JSON, YAML,
//! Table, PartialObjectMetadata, aggregated discovery), metrics and watches.

pub mod audit;
mod auth;
pub(crate) mod discovery;
pub mod faults;
pub mod metrics;
pub mod negotiate;
pub(crate) mod openapi;
mod paths;
pub(crate) mod protobuf;
mod proxy;
mod resources;
mod target;
pub mod tls;
pub mod watch;
pub mod workloads;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::api::error::{ApiError, ApiResult};
use crate::api::resource::ResourceDef;
use crate::api::rest::{Api, DeleteOpts, FieldValidation, ListOpts, WriteOpts};
use crate::api::selector::{FieldSelector, LabelSelector};
use crate::api::table::{self, IncludeObject};
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
    pub workloads: Option<Arc<workloads::Workloads>>,
    /// The path this server is mounted at (empty for the management server).
    pub path_prefix: String,
    /// The audit log of writes, when enabled.
    pub audit: Option<audit::Audit>,
    /// Seconds added to the Date header: simulates a server whose clock differs from the client's.
    pub clock_skew_secs: i64,
    /// Faults a test injected.
    pub faults: faults::Faults,
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
    if e.reason == crate::api::error::PAGE_NOT_FOUND {
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

/// Routes a request: authentication, then a workload cluster's server, a non-resource path, or
/// a resource.
async fn dispatch(
    st: &Arc<ServerState>,
    req: Request,
    labels: &mut Labels,
    pending: &mut Option<audit::Pending>,
) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let user = auth::authenticate(st, &parts.headers, &path, parts.extensions.get::<PeerCerts>())?;
    auth::check_path(st, &user, &path)?;
    if let (Some(workloads), Some(rest)) = (&st.workloads, path.strip_prefix("/workload/")) {
        let (ws, inner) = proxy::to_workload(workloads, &user, rest, &parts, body)?;
        return Box::pin(dispatch(&ws, inner, labels, pending)).await;
    }
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(answer) = paths::serve(st, &segs, &parts) {
        return answer;
    }
    resources::serve(st, &user, &segs, &parts, body, labels, pending).await
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
            vec![crate::api::error::field_invalid(
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
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
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
            vec![crate::api::error::field_forbidden(
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
            vec![crate::api::error::field_forbidden(
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
