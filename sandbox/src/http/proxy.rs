//! The workload clusters' API servers, served under `/workload/NAMESPACE/NAME/` on the sandbox's
//! port: a request there is handed, path shortened, to that cluster's own server.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use http::Method;
use http::request::Parts;

use super::workloads::Workloads;
use super::{ServerState, User};
use crate::api::error::{ApiError, ApiResult};

/// The workload server `rest` (the path after `/workload/`) addresses, and the request for it.
pub(super) fn to_workload(
    workloads: &Workloads,
    user: &User,
    rest: &str,
    parts: &Parts,
    body: Body,
) -> ApiResult<(Arc<ServerState>, Request)> {
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
    Ok((ws, inner))
}
