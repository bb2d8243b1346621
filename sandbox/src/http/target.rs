//! What a resource request addresses and does: the resource, namespace, name and subresource a
//! path names, and the request's verb (as metrics, RBAC and the audit log name it).

use std::sync::Arc;

use http::Method;

use super::ServerState;
use crate::api::error::{ApiError, ApiResult};
use crate::api::patch::PatchType;
use crate::api::resource::ResourceDef;
use crate::api::rest::Sub;

/// A resolved resource request.
pub(super) struct Target {
    /// The resource.
    pub def: Arc<ResourceDef>,
    /// The namespace in the path.
    pub ns: Option<String>,
    /// The object's name, for requests on one object.
    pub name: Option<String>,
    /// The subresource.
    pub sub: Sub,
}

/// The resource a path after `/api/v1` or `/apis/GROUP/VERSION` names.
pub(super) fn resolve(st: &ServerState, group: &str, version: &str, rest: &[&str]) -> ApiResult<Target> {
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
            "finalize" if def.builtin == Some(crate::api::resource::Builtin::Namespace) => Ok(Sub::Finalize),
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

/// The verb of a resource request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    /// Read one object.
    Get,
    /// Read a collection.
    List,
    /// Watch one object or a collection.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH other than server-side apply.
    Patch,
    /// Server-side apply.
    Apply,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
}

impl Verb {
    /// The verb of `method` on `target`; None when the method is not allowed there.
    pub fn of(method: &Method, target: &Target, watch: bool, content_type: Option<&str>) -> Option<Verb> {
        Some(match (method, target.name.is_some(), watch) {
            (&Method::GET, _, true) => Verb::Watch,
            (&Method::GET, false, false) => Verb::List,
            (&Method::GET, true, false) => Verb::Get,
            (&Method::POST, false, _) => Verb::Create,
            (&Method::PUT, true, _) => Verb::Update,
            (&Method::PATCH, true, _) => {
                if content_type.and_then(PatchType::from_content_type) == Some(PatchType::Apply) {
                    Verb::Apply
                } else {
                    Verb::Patch
                }
            }
            (&Method::DELETE, true, _) => Verb::Delete,
            (&Method::DELETE, false, _) => Verb::DeleteCollection,
            _ => return None,
        })
    }

    /// The name in request metrics.
    pub fn metric(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::List => "LIST",
            Verb::Watch => "WATCH",
            Verb::Create => "POST",
            Verb::Update => "PUT",
            Verb::Patch => "PATCH",
            Verb::Apply => "APPLY",
            Verb::Delete => "DELETE",
            Verb::DeleteCollection => "DELETECOLLECTION",
        }
    }

    /// The name in RBAC rules and the audit log.
    pub fn rbac(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch | Verb::Apply => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    /// Whether the request changes something.
    pub fn is_write(self) -> bool {
        !matches!(self, Verb::Get | Verb::List | Verb::Watch)
    }
}
