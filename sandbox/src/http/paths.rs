//! The paths that are not resources: version, health, metrics, OpenAPI and discovery.

use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode, header};

use super::negotiate::{self, Repr};
use super::{ServerState, bytes_response, header_str, json_response, represent, version_info};
use crate::api::error::{ApiError, ApiResult};
use crate::http::discovery;

/// The answer to a non-resource path (`segs` are its segments), or None for a resource path.
pub(super) fn serve(st: &ServerState, segs: &[&str], parts: &Parts) -> Option<ApiResult<Response>> {
    let get_only = || {
        if parts.method == Method::GET {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(parts.method.as_str(), "", ""))
        }
    };
    let reg = &st.api.registry;
    let text = |content_type: &str, body: Bytes| Ok(bytes_response(StatusCode::OK, content_type, body, &[]));
    Some(match segs {
        ["version"] => get_only().map(|_| json_response(StatusCode::OK, &version_info(), &[])),
        ["healthz" | "livez" | "readyz", ..] => text("text/plain; charset=utf-8", Bytes::from_static(b"ok")),
        ["metrics"] => text("text/plain; version=0.0.4", Bytes::from(st.metrics.render())),
        ["openapi", "v2"] => Err(ApiError::not_found_path()),
        ["openapi", "v3"] => get_only().map(|_| json_response(StatusCode::OK, &st.openapi.index(reg), &[])),
        ["openapi", "v3", rest @ ..] => get_only().and_then(|_| openapi_document(st, &rest.join("/"))),
        ["api"] | ["apis"] => get_only().and_then(|_| root_discovery(st, segs[0] == "api", parts)),
        ["apis", group] => get_only().and_then(|_| {
            let body = discovery::api_group(reg, group).ok_or_else(ApiError::page_not_found)?;
            Ok(json_response(StatusCode::OK, &body, &[]))
        }),
        ["api", "v1"] | ["apis", _, _] => get_only().and_then(|_| {
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
            Ok(json_response(StatusCode::OK, &body, &[]))
        }),
        _ => return None,
    })
}

/// An OpenAPI v3 document, with its hash as ETag.
fn openapi_document(st: &ServerState, path: &str) -> ApiResult<Response> {
    let (hash, doc) = st
        .openapi
        .get(&st.api.registry, path)
        .ok_or_else(ApiError::not_found_path)?;
    let mut r = bytes_response(StatusCode::OK, "application/json", doc, &[]);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

/// `/api` or `/apis`: aggregated discovery when asked for, else the legacy lists.
fn root_discovery(st: &ServerState, core: bool, parts: &Parts) -> ApiResult<Response> {
    let accept = header_str(&parts.headers, header::ACCEPT);
    let reg = &st.api.registry;
    match negotiate::choose(accept, true, false) {
        Some(Repr::Discovery(v)) => {
            let body = discovery::aggregated(reg, core, &format!("apidiscovery.k8s.io/{v}"));
            let ct = format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList");
            Ok(bytes_response(
                StatusCode::OK,
                &ct,
                Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
                &[],
            ))
        }
        Some(repr) => {
            let body = if core {
                discovery::api_versions(&st.address)
            } else {
                discovery::api_group_list(reg)
            };
            Ok(represent(StatusCode::OK, repr, &body, &[]))
        }
        None => Err(ApiError::not_acceptable(accept.unwrap_or(""))),
    }
}
