//! Authentication (bearer tokens for the management API, each workload cluster's client
//! certificates for its own paths) and the read-only user's authorisation (Kubernetes' `view`
//! role with the Cluster API groups aggregated into it).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, header};

use super::target::{Target, Verb};
use super::{PeerCerts, ServerState, User, header_str};
use crate::api::error::{ApiError, ApiResult};
use crate::api::rest::Sub;

/// Who sent a request: a workload cluster's client certificate on its paths, else the bearer
/// token (none is `system:anonymous`).
pub(super) fn authenticate(
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

/// Refuses `system:anonymous` the paths RBAC does not make public (resources are checked later,
/// by [`authorize`]).
pub(super) fn check_path(st: &ServerState, user: &User, path: &str) -> ApiResult<()> {
    if user.name == ANONYMOUS
        && st.tokens.is_some()
        && !public_path(path)
        && !resource_path(path)
        && !path.starts_with("/workload/")
    {
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!("forbidden: User \"{ANONYMOUS}\" cannot get path \"{path}\""),
        ));
    }
    Ok(())
}

/// Whether `user` may do `verb` on `target` (in `group`). The read-only user has the rights of
/// Kubernetes' built-in `view` role, which leaves out Secrets: credentials (workload
/// kubeconfigs, certificate keys) stay with the admin.
pub(super) fn authorize(
    st: &ServerState,
    user: &User,
    verb: Verb,
    group: &str,
    target: &Target,
) -> ApiResult<()> {
    if !user.readonly {
        return Ok(());
    }
    let plural = &target.def.plural;
    let resource = if verb.is_write() && target.sub != Sub::Main {
        format!("{plural}/{}", target.sub.as_str())
    } else {
        plural.clone()
    };
    if !verb.is_write() {
        let secret = plural == "secrets" && group.is_empty();
        let anonymous = user.name == ANONYMOUS && st.tokens.is_some();
        if !(secret || anonymous || !viewable(group, plural)) {
            return Ok(());
        }
    }
    Err(ApiError::forbidden_rbac(
        &user.name,
        verb.rbac(),
        &resource,
        group,
        target.ns.as_deref(),
        target.name.as_deref(),
    ))
}
