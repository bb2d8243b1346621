//! Resource requests: from a path under `/api/v1` or `/apis/GROUP/VERSION` and a method to the
//! REST layer's get, list, watch, create, update, patch and delete, and back to a response in
//! the representation the client asked for.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::{StatusCode, header};
use serde_json::{Value, json};

use super::faults;
use super::metrics::Labels;
use super::negotiate::{self, Repr};
use super::target::{Target, Verb, resolve};
use super::{
    ServerState, User, audit, auth, bytes_response, decode_object, delete_opts, header_str, json_response,
    list, list_opts, parse_query, read_body, represent, watch, write_opts,
};
use crate::api::error::{ApiError, ApiResult};
use crate::api::patch::PatchType;
use crate::api::resource::ResourceDef;
use crate::api::rest::{Api, Deleted, ListOpts, Sub, WriteOpts};
use crate::api::table::{self, IncludeObject};

/// Serves a resource request (`segs`: the path's segments).
pub(super) async fn serve(
    st: &Arc<ServerState>,
    user: &User,
    segs: &[&str],
    parts: &Parts,
    body: Body,
    labels: &mut Labels,
    pending: &mut Option<audit::Pending>,
) -> ApiResult<Response> {
    let query = parse_query(parts.uri.query());
    let (group, version, rest) = match segs {
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
    record_target(labels, group, version, &target);
    let content_type = header_str(&parts.headers, header::CONTENT_TYPE).map(str::to_string);
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = Verb::of(&parts.method, &target, watch, content_type.as_deref())
        .ok_or_else(|| ApiError::method_not_allowed(parts.method.as_str(), &target.def.plural, group))?;
    labels.verb = verb.metric().to_string();
    auth::authorize(st, user, verb, group, &target)?;
    let accept = header_str(&parts.headers, header::ACCEPT);
    if verb == Verb::Watch {
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
    match st
        .faults
        .check(verb.rbac(), &target.def.plural, target.sub.as_str())
    {
        Some(faults::Effect::Fail) => {
            return Err(ApiError::internal(format!(
                "injected fault: {} of {} refused",
                verb.rbac(),
                target.def.plural
            )));
        }
        Some(faults::Effect::Hang) => std::future::pending::<()>().await,
        None => {}
    }
    let body = if verb.is_write() {
        read_body(body).await?
    } else {
        Bytes::new()
    };
    if verb.is_write() && st.audit.is_some() {
        *pending = Some(audit_record(
            parts,
            user,
            verb,
            group,
            version,
            &target,
            content_type.clone(),
            &body,
        ));
    }
    let user_agent = header_str(&parts.headers, header::USER_AGENT).unwrap_or("");
    let opts = write_opts(&query, user_agent)?;
    let repr = negotiate::choose(accept, false, matches!(verb, Verb::Get | Verb::List))
        .ok_or_else(|| ApiError::not_acceptable(accept.unwrap_or("")))?;
    let req = Req {
        st,
        def: &target.def,
        version,
        target: &target,
        query: &query,
        repr,
        opts,
        content_type: content_type.as_deref(),
        body: &body,
        warnings: deprecation_warning(&target.def, version).into_iter().collect(),
    };
    match verb {
        Verb::Get => req.get(),
        Verb::List => list(st, req.def, version, req.ns(), &query, req.repr, &req.warnings),
        Verb::Create => req.create(),
        Verb::Update => req.update(),
        Verb::Patch | Verb::Apply => req.patch(),
        Verb::Delete => req.delete(),
        Verb::DeleteCollection => req.delete_collection(),
        Verb::Watch => Err(ApiError::internal("a watch reached the request handlers")),
    }
}

/// The metric labels a resolved request carries.
fn record_target(labels: &mut Labels, group: &str, version: &str, target: &Target) {
    labels.group = group.to_string();
    labels.version = version.to_string();
    labels.resource = target.def.plural.clone();
    labels.subresource = target.sub.as_str().to_string();
    labels.scope = match (&target.ns, target.name.is_some()) {
        (_, true) => "resource".into(),
        (Some(_), false) => "namespace".into(),
        (None, false) => "cluster".into(),
    };
}

/// The warning a deprecated version of a resource carries.
fn deprecation_warning(def: &ResourceDef, version: &str) -> Option<String> {
    let v = def.version(version).filter(|v| v.deprecated)?;
    Some(
        v.deprecation_warning
            .clone()
            .unwrap_or_else(|| format!("{}/{version} {} is deprecated", def.group, def.kind)),
    )
}

/// The audit log's record of a write, completed with the response code when it is done.
#[allow(clippy::too_many_arguments)]
fn audit_record(
    parts: &Parts,
    user: &User,
    verb: Verb,
    group: &str,
    version: &str,
    target: &Target,
    content_type: Option<String>,
    body: &[u8],
) -> audit::Pending {
    let request_object: Option<Value> = serde_json::from_slice(body).ok();
    audit::Pending {
        verb: verb.rbac(),
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
                request_object
                    .as_ref()
                    .and_then(|b| b.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
            }),
            "apiGroup": group,
            "apiVersion": version,
            "subresource": (target.sub != Sub::Main).then(|| target.sub.as_str()),
        }),
        content_type,
        request_object,
    }
}

/// A resource request that is not a watch, ready for the REST layer.
struct Req<'a> {
    st: &'a ServerState,
    def: &'a ResourceDef,
    version: &'a str,
    target: &'a Target,
    query: &'a HashMap<String, String>,
    repr: Repr,
    opts: WriteOpts,
    content_type: Option<&'a str>,
    body: &'a [u8],
    warnings: Vec<String>,
}

impl Req<'_> {
    fn api(&self) -> &Api {
        &self.st.api
    }

    fn ns(&self) -> Option<&str> {
        self.target.ns.as_deref()
    }

    fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or("")
    }

    fn respond(&self, status: StatusCode, v: &Value, warnings: &[String]) -> Response {
        represent(status, self.repr, v, warnings)
    }

    fn get(&self) -> ApiResult<Response> {
        let (api, def, version, name) = (self.api(), self.def, self.version, self.name());
        // The stored bytes are the answer when no conversion or reshaping is needed.
        if self.repr == Repr::Json && self.target.sub != Sub::Scale && version == def.storage_version {
            let obj = api
                .get_stored(def, self.ns(), name)
                .ok_or_else(|| ApiError::not_found(&def.plural, &def.group, name))?;
            return Ok(bytes_response(
                StatusCode::OK,
                "application/json",
                obj.json.clone(),
                &self.warnings,
            ));
        }
        let v = match self.target.sub {
            Sub::Scale => api.get_scale(def, version, self.ns(), name)?,
            _ => api.get(def, version, self.ns(), name)?,
        };
        Ok(match self.repr {
            Repr::Table if self.target.sub != Sub::Scale => {
                let cols = table::columns(def, version);
                let include = IncludeObject::parse(self.query.get("includeObject").map(String::as_str));
                let rv = v
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                json_response(
                    StatusCode::OK,
                    &table::table(&cols, &[v], include, rv, None, None, true),
                    &self.warnings,
                )
            }
            Repr::Metadata => json_response(StatusCode::OK, &table::partial_metadata(&v), &self.warnings),
            _ => self.respond(StatusCode::OK, &v, &self.warnings),
        })
    }

    fn create(&self) -> ApiResult<Response> {
        let obj = decode_object(self.body, self.content_type)?;
        let out = self
            .api()
            .create(self.def, self.version, self.ns(), obj, &self.opts)?;
        Ok(self.respond(StatusCode::CREATED, &out.value, &self.with(out.warnings)))
    }

    fn update(&self) -> ApiResult<Response> {
        let obj = decode_object(self.body, self.content_type)?;
        let out = self.api().update(
            self.def,
            self.version,
            self.ns(),
            self.name(),
            self.target.sub,
            obj,
            &self.opts,
        )?;
        Ok(self.respond(created_or_ok(out.created), &out.value, &self.with(out.warnings)))
    }

    fn patch(&self) -> ApiResult<Response> {
        let ptype = self.content_type.and_then(PatchType::from_content_type).ok_or_else(|| {
            ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
                if self.def.is_custom() { "" } else { ", application/strategic-merge-patch+json" }
            ))
        })?;
        let out = self.api().patch(
            self.def,
            self.version,
            self.ns(),
            self.name(),
            self.target.sub,
            ptype,
            self.body,
            &self.opts,
        )?;
        Ok(self.respond(created_or_ok(out.created), &out.value, &self.with(out.warnings)))
    }

    fn delete(&self) -> ApiResult<Response> {
        let dopts = delete_opts(self.body, self.query)?;
        Ok(
            match self
                .api()
                .delete(self.def, self.version, self.ns(), self.name(), &dopts)?
            {
                Deleted::Pending(v) | Deleted::Gone(v) => self.respond(StatusCode::OK, &v, &self.warnings),
            },
        )
    }

    /// Deletes every object the selectors match, one by one (as kube-apiserver does), and
    /// answers with the list of what was deleted or is now being deleted.
    fn delete_collection(&self) -> ApiResult<Response> {
        let (api, def, version) = (self.api(), self.def, self.version);
        let dopts = delete_opts(self.body, self.query)?;
        let lopts = list_opts(def, version, self.query)?;
        let page = api.list(
            def,
            self.ns(),
            &ListOpts {
                limit: None,
                continue_token: None,
                ..lopts
            },
        )?;
        let mut items = vec![];
        for obj in page.items {
            let ns = Some(&obj.ns).filter(|n| !n.is_empty()).map(|s| s.as_str());
            match api.delete(def, version, ns, &obj.name, &dopts) {
                Ok(Deleted::Pending(v)) => items.push(v),
                Ok(Deleted::Gone(_)) => items.push(Api::convert_out(def, version, obj.value())),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let body = json!({"kind": def.list_kind, "apiVersion": def.api_version(version), "metadata": {"resourceVersion": api.store.current_rv().to_string()}, "items": items});
        Ok(self.respond(StatusCode::OK, &body, &self.warnings))
    }

    /// The request's warnings and then the REST layer's.
    fn with(&self, more: Vec<String>) -> Vec<String> {
        let mut all = self.warnings.clone();
        all.extend(more);
        all
    }
}

fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}
