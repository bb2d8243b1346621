//! The REST layer: get, list, create, update, patch (every type), delete and the status, scale
//! and finalize subresources, all through one write pipeline:
//! decode → patch → subresource masking → kind rules → pruning/defaulting/validation → system
//! metadata → managedFields → no-op detection → commit (retried on conflicts, like the real
//! server's guaranteed update) → watch event.
//!
//! Embedded controllers call this layer directly, so their writes behave exactly like clients'.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Map, Value, json};

use crate::api::builtins::OBJECT_META_FIELDS;
use crate::api::error::{ApiError, ApiResult, Cause, field_forbidden, field_invalid, field_required};
use crate::api::fieldmanager::{self, Scope};
use crate::api::patch::{self, JsonPatchError, PatchType};
use crate::api::registry::Registry;
use crate::api::resource::{Builtin, ResourceDef, VersionDef};
use crate::api::schema;
use crate::api::selector::{FieldSelector, LabelSelector};
use crate::api::{defaulting, webhooks};
use crate::api::{strategy, validation};
use crate::store::time;
use crate::store::{CommitError, ObjKey, Precondition, ResKey, Store, StoredObject, Write};
use capi_shared::capi::object::str_at;

/// `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Unknown fields fail the request with 400.
    Strict,
    /// Unknown fields are dropped with a warning (the server default).
    #[default]
    Warn,
    /// Unknown fields are dropped silently.
    Ignore,
}

/// Which part of a resource a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// The resource itself.
    Main,
    /// `/status`.
    Status,
    /// `/scale`.
    Scale,
    /// `/finalize` (namespaces).
    Finalize,
}

impl Sub {
    /// The subresource name as in URLs and managedFields.
    pub fn as_str(self) -> &'static str {
        match self {
            Sub::Main => "",
            Sub::Status => "status",
            Sub::Scale => "scale",
            Sub::Finalize => "finalize",
        }
    }
}

/// Options of a write.
#[derive(Debug, Clone)]
pub struct WriteOpts {
    /// `dryRun=All`: run everything, store nothing.
    pub dry_run: bool,
    /// The field manager recorded in managedFields.
    pub manager: String,
    /// Whether the manager was given explicitly (`fieldManager`), required for apply.
    pub manager_explicit: bool,
    /// `fieldValidation`.
    pub validation: FieldValidation,
    /// `force` (apply only).
    pub force: bool,
}

impl WriteOpts {
    /// Options for an in-process controller write.
    pub fn controller(manager: &str) -> WriteOpts {
        WriteOpts {
            dry_run: false,
            manager: manager.into(),
            manager_explicit: true,
            validation: FieldValidation::Ignore,
            force: false,
        }
    }
}

/// DeleteOptions.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// `propagationPolicy`: `Background`, `Foreground` or `Orphan`.
    pub propagation: Option<String>,
    /// Legacy `orphanDependents`.
    pub orphan_dependents: Option<bool>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub rv: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The object (or Scale) as the client asked for it.
    pub value: Value,
    /// Whether the write created the object (201).
    pub created: bool,
    /// `Warning` headers to send.
    pub warnings: Vec<String>,
}

/// What DELETE returns.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// The object still exists (finalizers pending): 200 with the object.
    Pending(Value),
    /// The object is gone: 200 with a Success Status.
    Gone(Value),
}

/// Options of a list.
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit`.
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// resourceVersion of the snapshot.
    pub rv: u64,
    /// The items, in key order.
    pub items: Vec<Arc<StoredObject>>,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Items after this page (only without selectors, as the real server does).
    pub remaining: Option<usize>,
}

/// The REST layer over a store and a registry.
#[derive(Debug, Clone)]
pub struct Api {
    /// The store.
    pub store: Arc<Store>,
    /// The served resources.
    pub registry: Arc<Registry>,
    /// Writes of the simulated controllers the server refused (a simulator bug, or a schema
    /// the simulation does not follow): kept so that tests can require there are none.
    pub rejected_writes: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Computes the desired object from the current one (None when absent); the bool says whether
/// managedFields are already final (server-side apply).
type Desired<'a> = dyn FnMut(Option<&Value>, &mut Vec<String>) -> ApiResult<(Value, bool)> + 'a;

enum Prepared {
    NoOp,
    Put(Value),
    Delete(Value),
}

const GENERATE_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = json!({});
    }
    match v.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

use capi_shared::capi::value::finalizers;
pub use capi_shared::capi::value::is_deleting;

fn ns_spec_finalizers(v: &Value) -> usize {
    v.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0)
}

/// Drops empty metadata lists and maps, as the real server omits them.
fn normalise_meta(v: &mut Value) {
    let m = meta_mut(v);
    for k in [
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "managedFields",
    ] {
        let empty = match m.get(k) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            m.remove(k);
        }
    }
    m.remove("selfLink");
}

fn without_meta_and(v: &Value, drop_status: bool) -> Value {
    let mut c = v.clone();
    if let Some(o) = c.as_object_mut() {
        o.remove("metadata");
        o.remove("apiVersion");
        o.remove("kind");
        if drop_status {
            o.remove("status");
        }
    }
    c
}

fn comparable(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf.iter_mut() {
                if let Some(o) = e.as_object_mut() {
                    o.remove("time");
                }
            }
        }
    }
    c
}

fn parse_json(body: &[u8], what: &str) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "the request body for {what} is empty"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding request body as JSON: {e}")))
}

/// A replica count at a scale path that is not a non-negative int32, as apiextensions words it.
fn scale_path_cause(obj: &Value, path: &str) -> Option<Cause> {
    let v = crate::api::jsonpath::get_simple(obj, path)?;
    let n = v.as_i64().or_else(|| v.as_u64().map(|_| i64::MAX))?;
    if n < 0 {
        Some(field_invalid(path, v, "should be a non-negative integer"))
    } else if n > i64::from(i32::MAX) {
        Some(field_invalid(
            path,
            v,
            "should be less than or equal to 2147483647",
        ))
    } else {
        None
    }
}

/// Parses an apply body: YAML or JSON.
pub fn parse_apply(body: &[u8]) -> ApiResult<Value> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the apply body is not valid UTF-8"))?;
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    capi_shared::yaml::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

impl Api {
    /// A REST layer over the given store and registry.
    pub fn new(store: Arc<Store>, registry: Arc<Registry>) -> Api {
        Api {
            store,
            registry,
            rejected_writes: Arc::default(),
        }
    }

    /// Whether watch history must keep previous bodies: only for kinds whose field selectors
    /// (or controllers) read more than metadata.
    fn keep_prev(def: &ResourceDef) -> bool {
        def.builtin.is_some() || def.versions.iter().any(|v| !v.selectable_fields.is_empty())
    }

    fn res_key(def: &ResourceDef) -> ResKey {
        Arc::from(def.key().as_str())
    }

    fn obj_key(def: &ResourceDef, ns: Option<&str>, name: &str) -> ObjKey {
        ObjKey::new(if def.namespaced { ns.unwrap_or("") } else { "" }, name)
    }

    fn version<'d>(def: &'d ResourceDef, version: &str) -> ApiResult<&'d VersionDef> {
        def.version(version).ok_or_else(ApiError::not_found_path)
    }

    /// The object as seen through a served version (conversion strategy None: apiVersion only).
    pub fn convert_out(def: &ResourceDef, version: &str, mut v: Value) -> Value {
        if version != def.storage_version
            && let Some(o) = v.as_object_mut()
        {
            o.insert("apiVersion".into(), json!(def.api_version(version)));
        }
        v
    }

    /// Reads one object.
    pub fn get(&self, def: &ResourceDef, version: &str, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        Self::version(def, version)?;
        let obj = self
            .store
            .get(&Self::res_key(def), &Self::obj_key(def, ns, name))
            .ok_or_else(|| ApiError::not_found(&def.plural, &def.group, name))?;
        Ok(Self::convert_out(def, version, obj.value()))
    }

    /// A ClusterClass as stored, for the admission checks.
    fn read_class(&self, ns: &str, name: &str) -> Option<Value> {
        let def = self.registry.get("cluster.x-k8s.io", "clusterclasses")?;
        Some(self.get_stored(&def, Some(ns), name)?.value())
    }

    /// Reads one stored object without conversion.
    pub fn get_stored(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> Option<Arc<StoredObject>> {
        self.store.get(&Self::res_key(def), &Self::obj_key(def, ns, name))
    }

    /// Lists objects (one page when `limit` is set), from a consistent snapshot.
    pub fn list(&self, def: &ResourceDef, ns: Option<&str>, opts: &ListOpts) -> ApiResult<ListPage> {
        let res = Self::res_key(def);
        let ns = if def.namespaced { ns } else { None };
        let (rv, table, start) = match &opts.continue_token {
            Some(tok) => {
                let (rv, start) = decode_continue(tok)?;
                match self.store.recall_snapshot(&res, rv) {
                    Some(t) => (rv, t, Some(start)),
                    None => {
                        let (cur_rv, cur) = self.store.snapshot(&res);
                        self.store.remember_snapshot(&res, cur_rv, cur);
                        let mut e = ApiError::expired(
                            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                        );
                        e.name = Some(encode_continue(cur_rv, &start));
                        return Err(e);
                    }
                }
            }
            None => {
                let (rv, t) = self.store.snapshot(&res);
                (rv, t, None)
            }
        };
        let lower = match (&start, ns) {
            (Some(k), _) => std::ops::Bound::Excluded(k.clone()),
            (None, Some(n)) => std::ops::Bound::Included(ObjKey::new(n, "")),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let limit = opts.limit.filter(|l| *l > 0);
        let plain = opts.labels.is_empty() && opts.fields.is_empty();
        let mut items = vec![];
        let mut last_key = None;
        let mut more = false;
        let mut remaining = 0usize;
        for (k, obj) in table.range((lower, std::ops::Bound::Unbounded)) {
            if let Some(n) = ns
                && k.ns != n
            {
                break;
            }
            if !matches(obj, &opts.labels, &opts.fields) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                more = true;
                if !plain {
                    break;
                }
                remaining += 1;
                continue;
            }
            last_key = Some(k.clone());
            items.push(obj.clone());
        }
        let continue_token = if more {
            self.store.remember_snapshot(&res, rv, table.clone());
            last_key.map(|k| encode_continue(rv, &k))
        } else {
            None
        };
        Ok(ListPage {
            rv,
            items,
            remaining: (more && plain).then_some(remaining),
            continue_token,
        })
    }

    fn check_namespace(&self, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<()> {
        let Some(nsdef) = self.registry.get("", "namespaces") else {
            return Ok(());
        };
        match self.store.get(&Self::res_key(&nsdef), &ObjKey::new("", ns)) {
            None => Err(ApiError::not_found("namespaces", "", ns)),
            Some(n) if n.deleting => {
                let mut e = ApiError::forbidden(
                    &def.plural,
                    &def.group,
                    name,
                    &format!("unable to create new content in namespace {ns} because it is being terminated"),
                );
                e.causes = vec![Cause {
                    reason: "NamespaceTerminating".into(),
                    message: format!("namespace {ns} is being terminated"),
                    field: "metadata.namespace".into(),
                }];
                Err(e)
            }
            Some(_) => Ok(()),
        }
    }

    /// Prunes unknown fields, applies defaults and validates; 400 for unknown fields under
    /// `Strict`, 422 with causes for invalid values.
    fn shape(
        &self,
        def: &ResourceDef,
        version: &str,
        obj: &mut Value,
        opts: &WriteOpts,
        warnings: &mut Vec<String>,
    ) -> ApiResult<()> {
        let vdef = Self::version(def, version)?;
        let mut unknown = vec![];
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            let extra: Vec<String> = meta
                .keys()
                .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
                .cloned()
                .collect();
            for k in extra {
                meta.remove(&k);
                unknown.push(format!("metadata.{k}"));
            }
        }
        schema::prune(obj, &vdef.schema, "", true, &mut unknown);
        report_unknown_fields(def, version, opts.validation, &unknown, warnings)?;
        schema::apply_defaults(obj, &vdef.schema);
        let name = str_at(obj, "/metadata/name").unwrap_or("").to_string();
        let mut causes = vec![];
        let mut body = obj.clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("metadata");
        }
        schema::validate(&body, &vdef.schema, "", &mut causes);
        if let Some(scale) = &vdef.scale {
            // The scale subresource's paths hold int32 replica counts (apiextensions checks them
            // on every write, whatever the schema says).
            for path in [&scale.spec_replicas, &scale.status_replicas] {
                causes.extend(scale_path_cause(obj, path));
            }
        }
        if let Some(meta) = obj.get("metadata") {
            causes.extend(validation::validate_labels_annotations(meta));
            validate_owner_refs(meta, &mut causes);
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(&def.kind, &def.group, &name, causes));
        }
        Ok(())
    }

    fn scope(def: &ResourceDef, version: &str, sub: Sub) -> Scope {
        let has_status = def.version(version).is_some_and(|v| v.status);
        match sub {
            Sub::Status => Scope::StatusOnly,
            _ if has_status => Scope::MainWithoutStatus,
            _ => Scope::All,
        }
    }

    fn check_type_meta(def: &ResourceDef, version: &str, body: &Value, require: bool) -> ApiResult<()> {
        let want_av = def.api_version(version);
        match body.get("kind").and_then(Value::as_str) {
            None | Some("") if require => {
                let body = truncate(&body.to_string());
                return Err(ApiError::bad_request(format!(
                    "the object provided is unrecognized (must be of type {}): Object 'Kind' is missing in '{body}' ({body})",
                    def.kind
                )));
            }
            Some(k) if !k.is_empty() && k != def.kind => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    def.kind
                )));
            }
            _ => {}
        }
        match body.get("apiVersion").and_then(Value::as_str) {
            None | Some("") if require => Err(ApiError::bad_request(format!(
                "Object 'apiVersion' is missing in '{}'",
                truncate(&body.to_string())
            ))),
            Some(av) if !av.is_empty() && av != want_av => Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            ))),
            _ => Ok(()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_create(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
        applied: bool,
        warnings: &mut Vec<String>,
    ) -> ApiResult<Value> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the request body must be a JSON object"));
        }
        // Built-in kinds take their type from the URL when the body leaves it out (what the
        // API server's codec does); custom resources must say it.
        Self::check_type_meta(def, version, &obj, def.builtin.is_none())?;
        obj["apiVersion"] = json!(def.api_version(&def.storage_version));
        obj["kind"] = json!(def.kind);
        // Protobuf bodies carry every string field; the API server omits an empty one.
        if let Some(m) = obj["metadata"].as_object_mut()
            && m.get("generateName").and_then(Value::as_str) == Some("")
        {
            m.remove("generateName");
        }
        let has_status = def.version(version).is_some_and(|v| v.status);
        {
            let m = meta_mut(&mut obj);
            for k in [
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
            ] {
                m.remove(k);
            }
        }
        let mut name = str_at(&obj, "/metadata/name").unwrap_or("").to_string();
        if name.is_empty() {
            let prefix = str_at(&obj, "/metadata/generateName").unwrap_or("").to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &def.kind,
                    &def.group,
                    "",
                    vec![field_required(
                        "metadata.name",
                        "name or generateName is required",
                    )],
                ));
            }
            let mut p = prefix.clone();
            p.truncate(58);
            let suffix: String = (0..5)
                .map(|_| GENERATE_CHARS[rand::random::<u8>() as usize % GENERATE_CHARS.len()] as char)
                .collect();
            name = format!("{p}{suffix}");
            meta_mut(&mut obj).insert("name".into(), json!(name));
        }
        if def.namespaced {
            let path_ns = ns.unwrap_or("");
            match str_at(&obj, "/metadata/namespace") {
                Some(b) if !b.is_empty() && b != path_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta_mut(&mut obj).insert("namespace".into(), json!(path_ns));
                }
            }
        } else {
            meta_mut(&mut obj).remove("namespace");
        }
        let label_only = def.builtin == Some(Builtin::Namespace);
        let causes = validation::validate_name(&name, label_only, "metadata.name");
        if !causes.is_empty() {
            return Err(ApiError::invalid(&def.kind, &def.group, &name, causes));
        }
        if def.namespaced {
            self.check_namespace(def, ns.unwrap_or(""), &name)?;
        }
        if has_status && let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
        {
            let m = meta_mut(&mut obj);
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(time::now_rfc3339()));
            if def.uses_generation {
                m.insert("generation".into(), json!(1));
            }
        }
        strategy::on_create(def, &mut obj)?;
        defaulting::on_create(def, &mut obj);
        self.shape(def, version, &mut obj, opts, warnings)?;
        if !applied {
            meta_mut(&mut obj).remove("managedFields");
            let entries = fieldmanager::record_update(
                vec![],
                None,
                &obj,
                &Self::version(def, version)?.schema,
                Self::scope(def, version, Sub::Main),
                &opts.manager,
                &def.api_version(version),
                "",
                &time::now_rfc3339(),
            );
            fieldmanager::write_entries(&mut obj, &entries);
        }
        normalise_meta(&mut obj);
        Ok(obj)
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_update(
        &self,
        def: &ResourceDef,
        version: &str,
        sub: Sub,
        old: &Value,
        new: Value,
        opts: &WriteOpts,
        applied: bool,
        warnings: &mut Vec<String>,
    ) -> ApiResult<Prepared> {
        let name = Self::check_update_identity(def, version, sub, old, &new)?;
        let has_status = def.version(version).is_some_and(|v| v.status);
        let request_managed = new.pointer("/metadata/managedFields").cloned();
        let mut new = scope_to_subresource(def, sub, has_status, old, new);
        keep_server_metadata(def, old, &mut new);
        if is_deleting(old) {
            refuse_new_finalizers(def, &name, old, &new)?;
        }
        strategy::on_update(def, old, &mut new)?;
        if sub == Sub::Main {
            webhooks::on_update(def, old, &new, |ns, name| self.read_class(ns, name))?;
        }
        self.shape(def, version, &mut new, opts, warnings)?;
        if def.uses_generation && without_meta_and(old, has_status) != without_meta_and(&new, has_status) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        if !applied {
            Self::record_update_fields(def, version, sub, old, &mut new, opts, request_managed.as_ref())?;
        }
        normalise_meta(&mut new);
        if comparable(old) == comparable(&new) {
            return Ok(Prepared::NoOp);
        }
        let ns_fin = def.builtin == Some(Builtin::Namespace) && ns_spec_finalizers(&new) > 0;
        if is_deleting(&new) && finalizers(&new).is_empty() && !ns_fin {
            return Ok(Prepared::Delete(new));
        }
        Ok(Prepared::Put(new))
    }

    /// An update must name the object it replaces (name, namespace, type, resourceVersion when
    /// given); returns the name.
    fn check_update_identity(
        def: &ResourceDef,
        version: &str,
        sub: Sub,
        old: &Value,
        new: &Value,
    ) -> ApiResult<String> {
        if !new.is_object() {
            return Err(ApiError::bad_request("the request body must be a JSON object"));
        }
        let name = str_at(old, "/metadata/name").unwrap_or("").to_string();
        if let Some(n) = str_at(new, "/metadata/name")
            && !n.is_empty()
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        if def.namespaced {
            let ons = str_at(old, "/metadata/namespace").unwrap_or("");
            if let Some(n) = str_at(new, "/metadata/namespace")
                && !n.is_empty()
                && n != ons
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        if sub != Sub::Scale {
            Self::check_type_meta(def, version, new, false)?;
        }
        if let Some(rv) = str_at(new, "/metadata/resourceVersion").filter(|s| !s.is_empty())
            && Some(rv) != str_at(old, "/metadata/resourceVersion")
        {
            return Err(ApiError::conflict(&def.plural, &def.group, &name));
        }
        Ok(name)
    }

    /// Records the update in `managedFields` (an update, not an apply): from the request's own
    /// managedFields when it replaces them, else the stored ones.
    fn record_update_fields(
        def: &ResourceDef,
        version: &str,
        sub: Sub,
        old: &Value,
        new: &mut Value,
        opts: &WriteOpts,
        request_managed: Option<&Value>,
    ) -> ApiResult<()> {
        let base = match request_managed {
            Some(m) if Some(m) != old.pointer("/metadata/managedFields") && sub == Sub::Main => {
                let mut tmp = json!({"metadata": {"managedFields": m}});
                normalise_meta(&mut tmp);
                fieldmanager::read_entries(&tmp)
            }
            _ => fieldmanager::read_entries(old),
        };
        let entries = fieldmanager::record_update(
            base,
            Some(old),
            new,
            &Self::version(def, version)?.schema,
            Self::scope(def, version, sub),
            &opts.manager,
            &def.api_version(version),
            if sub == Sub::Main { "" } else { sub.as_str() },
            &time::now_rfc3339(),
        );
        fieldmanager::write_entries(new, &entries);
        Ok(())
    }

    /// Creates an object (POST).
    pub fn create(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Outcome> {
        Self::version(def, version)?;
        let mut warnings = vec![];
        let generated = str_at(&body, "/metadata/name").is_none_or(str::is_empty);
        for _ in 0..8 {
            let obj = self.prepare_create(def, version, ns, body.clone(), opts, false, &mut warnings)?;
            let name = str_at(&obj, "/metadata/name").unwrap_or("").to_string();
            if opts.dry_run {
                return Ok(Outcome {
                    value: Self::convert_out(def, version, obj),
                    created: true,
                    warnings,
                });
            }
            match self.store.commit(
                &Self::res_key(def),
                &Self::obj_key(def, ns, &name),
                Precondition::MustNotExist,
                Write::Put(obj),
            ) {
                Ok(c) => {
                    return Ok(Outcome {
                        value: Self::convert_out(def, version, c.obj.value()),
                        created: true,
                        warnings,
                    });
                }
                Err(CommitError::AlreadyExists) if generated => continue,
                Err(e) => return Err(commit_error(def, &name, e)),
            }
        }
        Err(ApiError::internal("could not generate a unique name"))
    }

    /// The guaranteed-update loop shared by PUT, PATCH and the subresources.
    #[allow(clippy::too_many_arguments)]
    fn write_loop(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        sub: Sub,
        opts: &WriteOpts,
        allow_create: bool,
        make: &mut Desired<'_>,
    ) -> ApiResult<(Value, bool, Vec<String>)> {
        let res = Self::res_key(def);
        let key = Self::obj_key(def, ns, name);
        for _ in 0..32 {
            let mut warnings = vec![];
            let current = self.store.get(&res, &key);
            match current {
                None => {
                    if !allow_create {
                        return Err(ApiError::not_found(&def.plural, &def.group, name));
                    }
                    let (desired, applied) = make(None, &mut warnings)?;
                    let obj = self.prepare_create(def, version, ns, desired, opts, applied, &mut warnings)?;
                    if opts.dry_run {
                        return Ok((obj, true, warnings));
                    }
                    match self
                        .store
                        .commit(&res, &key, Precondition::MustNotExist, Write::Put(obj))
                    {
                        Ok(c) => return Ok((c.obj.value(), true, warnings)),
                        Err(CommitError::AlreadyExists) => continue,
                        Err(e) => return Err(commit_error(def, name, e)),
                    }
                }
                Some(cur) => {
                    let old = cur.value();
                    let (desired, applied) = make(Some(&old), &mut warnings)?;
                    let (write, result) = match self.prepare_update(
                        def,
                        version,
                        sub,
                        &old,
                        desired,
                        opts,
                        applied,
                        &mut warnings,
                    )? {
                        Prepared::NoOp => return Ok((old, false, warnings)),
                        Prepared::Put(v) => (Write::Put(v.clone()), v),
                        Prepared::Delete(v) => (Write::Delete(Some(v.clone())), v),
                    };
                    if opts.dry_run {
                        return Ok((result, false, warnings));
                    }
                    match self.store.commit_with(
                        &res,
                        &key,
                        Precondition::Rv(cur.rv),
                        write,
                        Self::keep_prev(def),
                    ) {
                        Ok(c) => return Ok((c.obj.value(), false, warnings)),
                        Err(CommitError::Conflict) | Err(CommitError::NotFound) => continue,
                        Err(e) => return Err(commit_error(def, name, e)),
                    }
                }
            }
        }
        Err(ApiError::conflict(&def.plural, &def.group, name))
    }

    /// Replaces an object or subresource (PUT).
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        sub: Sub,
        body: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Outcome> {
        Self::version(def, version)?;
        if sub == Sub::Scale {
            return self.write_scale(def, version, ns, name, opts, &mut |scale: &mut Value| {
                *scale = body.clone();
                Ok(())
            });
        }
        if def.is_custom()
            && sub == Sub::Main
            && str_at(&body, "/metadata/resourceVersion").is_none_or(str::is_empty)
        {
            let n = str_at(&body, "/metadata/name").unwrap_or(name);
            return Err(ApiError::invalid(
                &def.kind,
                &def.group,
                n,
                vec![field_invalid(
                    "metadata.resourceVersion",
                    &json!(0),
                    "must be specified for an update",
                )],
            ));
        }
        let (v, created, warnings) =
            self.write_loop(def, version, ns, name, sub, opts, false, &mut |_cur, _w| {
                Ok((body.clone(), false))
            })?;
        Ok(Outcome {
            value: Self::convert_out(def, version, v),
            created,
            warnings,
        })
    }

    /// Patches an object or subresource. `body` is the raw request body.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        sub: Sub,
        ptype: PatchType,
        body: &[u8],
        opts: &WriteOpts,
    ) -> ApiResult<Outcome> {
        Self::version(def, version)?;
        if opts.force && ptype != PatchType::Apply {
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                vec![field_forbidden(
                    "force",
                    "may not be specified for non-apply patch",
                )],
            ));
        }
        if ptype == PatchType::Apply && !opts.manager_explicit {
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                vec![field_required("fieldManager", "is required for apply patch")],
            ));
        }
        if ptype == PatchType::Strategic && def.is_custom() && sub != Sub::Scale {
            return Err(ApiError::unsupported_media(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        let patch_doc = match ptype {
            PatchType::Apply => parse_apply(body)?,
            _ => parse_json(body, "patch")?,
        };
        if sub == Sub::Scale {
            return self.write_scale(def, version, ns, name, opts, &mut |scale: &mut Value| {
                apply_patch(scale, ptype, &patch_doc, false)
            });
        }
        if ptype == PatchType::Apply {
            return self.server_side_apply(def, version, ns, name, sub, &patch_doc, opts);
        }
        let mut make = |cur: Option<&Value>, _w: &mut Vec<String>| -> ApiResult<(Value, bool)> {
            let Some(cur) = cur else {
                return Err(ApiError::not_found(&def.plural, &def.group, name));
            };
            let mut v = Self::convert_out(def, version, cur.clone());
            apply_patch(&mut v, ptype, &patch_doc, !def.is_custom())?;
            Ok((v, false))
        };
        let (v, created, warnings) = self.write_loop(def, version, ns, name, sub, opts, false, &mut make)?;
        Ok(Outcome {
            value: Self::convert_out(def, version, v),
            created,
            warnings,
        })
    }

    /// Server-side apply of `patch_doc`: the fields it sets become its manager's, conflicts
    /// with other managers refuse it unless forced; creates the object when missing.
    #[allow(clippy::too_many_arguments)]
    fn server_side_apply(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        sub: Sub,
        patch_doc: &Value,
        opts: &WriteOpts,
    ) -> ApiResult<Outcome> {
        Self::check_type_meta(def, version, patch_doc, true)?;
        if let Some(n) = str_at(patch_doc, "/metadata/name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let schema = Self::version(def, version)?.schema.clone();
        let scope = Self::scope(def, version, sub);
        let av = def.api_version(version);
        let mut make = |cur: Option<&Value>, warnings: &mut Vec<String>| -> ApiResult<(Value, bool)> {
            let mut applied = patch_doc.clone();
            let mut unknown = vec![];
            schema::prune(&mut applied, &schema, "", true, &mut unknown);
            report_unknown_fields(def, version, opts.validation, &unknown, warnings)?;
            let cur_view = cur.map(|c| Self::convert_out(def, version, c.clone()));
            let res = fieldmanager::apply(
                cur_view.as_ref(),
                &applied,
                &schema,
                scope,
                &opts.manager,
                &av,
                if sub == Sub::Main { "" } else { sub.as_str() },
                opts.force,
                &time::now_rfc3339(),
            )
            .map_err(|c| apply_conflict(def, name, &c))?;
            let mut obj = res.object;
            if cur.is_none() && def.namespaced {
                meta_mut(&mut obj).insert("namespace".into(), json!(ns.unwrap_or("")));
            }
            Ok((obj, true))
        };
        let (v, created, warnings) =
            self.write_loop(def, version, ns, name, sub, opts, sub == Sub::Main, &mut make)?;
        Ok(Outcome {
            value: Self::convert_out(def, version, v),
            created,
            warnings,
        })
    }

    /// The Scale view of an object.
    pub fn scale_of(def: &ResourceDef, version: &str, obj: &Value) -> ApiResult<Value> {
        let scale = def
            .version(version)
            .and_then(|v| v.scale.clone())
            .ok_or_else(ApiError::not_found_path)?;
        let spec = crate::api::jsonpath::get_simple(obj, &scale.spec_replicas)
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let status = crate::api::jsonpath::get_simple(obj, &scale.status_replicas)
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
        let pick = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
        let mut m = json!({"name": pick("name"), "uid": pick("uid"), "resourceVersion": pick("resourceVersion"), "creationTimestamp": pick("creationTimestamp")});
        if def.namespaced {
            m["namespace"] = pick("namespace");
        }
        let mut st = json!({"replicas": status});
        if let Some(sel) = scale
            .label_selector
            .as_deref()
            .and_then(|p| crate::api::jsonpath::get_simple(obj, p))
            .and_then(Value::as_str)
        {
            st["selector"] = json!(sel);
        }
        Ok(
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": m, "spec": {"replicas": spec}, "status": st}),
        )
    }

    /// Reads `/scale`.
    pub fn get_scale(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        let obj = self.get(def, version, ns, name)?;
        Self::scale_of(def, version, &obj)
    }

    fn write_scale(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        opts: &WriteOpts,
        change: &mut dyn FnMut(&mut Value) -> ApiResult<()>,
    ) -> ApiResult<Outcome> {
        let scale_def = def
            .version(version)
            .and_then(|v| v.scale.clone())
            .ok_or_else(ApiError::not_found_path)?;
        let mut make = |cur: Option<&Value>, _w: &mut Vec<String>| -> ApiResult<(Value, bool)> {
            let Some(cur) = cur else {
                return Err(ApiError::not_found(&def.plural, &def.group, name));
            };
            let mut scale = Self::scale_of(def, version, cur)?;
            change(&mut scale)?;
            let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            let Some(n) = replicas.as_i64() else {
                return Err(ApiError::bad_request(
                    "Scale in version \"v1\" cannot be handled as a Scale: spec.replicas must be an integer",
                ));
            };
            // autoscaling/v1 Scale holds an int32: a larger count does not decode.
            if i32::try_from(n).is_err() {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "patch: Invalid value: {scale}: json: cannot unmarshal number {n} into Go struct field ScaleSpec.spec.replicas of type int32"
                    ),
                ));
            }
            if n < 0 {
                return Err(ApiError::invalid(
                    "Scale",
                    "autoscaling",
                    name,
                    vec![field_invalid(
                        "spec.replicas",
                        &replicas,
                        "must be greater than or equal to 0",
                    )],
                ));
            }
            let mut obj = cur.clone();
            if let Some(rv) = str_at(&scale, "/metadata/resourceVersion").filter(|s| !s.is_empty()) {
                obj["metadata"]["resourceVersion"] = json!(rv);
            } else if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            crate::api::jsonpath::set_simple(&mut obj, &scale_def.spec_replicas, json!(n));
            Ok((obj, false))
        };
        let (v, created, warnings) =
            self.write_loop(def, version, ns, name, Sub::Scale, opts, false, &mut make)?;
        Ok(Outcome {
            value: Self::scale_of(def, version, &v)?,
            created,
            warnings,
        })
    }

    /// Deletes an object. Objects with finalizers (or a foreground/orphan policy) get a
    /// deletionTimestamp and stay until their finalizers are gone.
    pub fn delete(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<Deleted> {
        Self::version(def, version)?;
        let res = Self::res_key(def);
        let key = Self::obj_key(def, ns, name);
        if def.builtin == Some(Builtin::Namespace)
            && ["default", "kube-system", "kube-public"].contains(&name)
        {
            return Err(ApiError::forbidden(
                "namespaces",
                "",
                name,
                "this namespace may not be deleted",
            ));
        }
        let policy = deletion_policy(opts)?;
        for _ in 0..32 {
            let cur = self
                .store
                .get(&res, &key)
                .ok_or_else(|| ApiError::not_found(&def.plural, &def.group, name))?;
            check_delete_preconditions(def, name, opts, &cur)?;
            let old = cur.value();
            // Finalizers (or a Namespace's own lifecycle) keep the object, marked as deleting.
            let (write, answer) = match marked_for_deletion(def, &old, &policy) {
                Some(new) if comparable(&new) == comparable(&old) => {
                    return Ok(Deleted::Pending(Self::convert_out(def, version, old)));
                }
                Some(new) if opts.dry_run => {
                    return Ok(Deleted::Pending(Self::convert_out(def, version, new)));
                }
                Some(new) => (Write::Put(new), None),
                None => {
                    let status = json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "group": def.group, "kind": def.plural, "uid": cur.uid},
                    });
                    if opts.dry_run {
                        return Ok(Deleted::Gone(status));
                    }
                    (Write::Delete(None), Some(status))
                }
            };
            match self
                .store
                .commit_with(&res, &key, Precondition::Rv(cur.rv), write, Self::keep_prev(def))
            {
                Ok(c) => {
                    return Ok(match answer {
                        Some(status) => Deleted::Gone(status),
                        None => Deleted::Pending(Self::convert_out(def, version, c.obj.value())),
                    });
                }
                Err(CommitError::Conflict) => continue,
                Err(e) => return Err(commit_error(def, name, e)),
            }
        }
        Err(ApiError::conflict(&def.plural, &def.group, name))
    }
}

/// The propagation policy of a deletion: as given, else `Orphan` for `orphanDependents`, else
/// `Background`.
fn deletion_policy(opts: &DeleteOpts) -> ApiResult<String> {
    Ok(match (&opts.propagation, opts.orphan_dependents) {
        (Some(p), _) => match p.as_str() {
            "Background" | "Foreground" | "Orphan" => p.clone(),
            other => {
                return Err(ApiError::invalid(
                    "DeleteOptions",
                    "meta.k8s.io",
                    "",
                    vec![Cause {
                        reason: "FieldValueNotSupported".into(),
                        message: format!(
                            "Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                        ),
                        field: "propagationPolicy".into(),
                    }],
                ));
            }
        },
        (None, Some(true)) => "Orphan".into(),
        _ => "Background".into(),
    })
}

/// The uid and resourceVersion preconditions of a deletion.
fn check_delete_preconditions(
    def: &ResourceDef,
    name: &str,
    opts: &DeleteOpts,
    cur: &crate::store::StoredObject,
) -> ApiResult<()> {
    let failed = |what: &str, want: &str, have: String| {
        Err(ApiError::conflict_msg(
            &def.plural,
            &def.group,
            name,
            format!("Precondition failed: {what} in precondition: {want}, {what} in object meta: {have}"),
        ))
    };
    if let Some(uid) = &opts.uid
        && *uid != cur.uid
    {
        return failed("UID", uid, cur.uid.clone());
    }
    if let Some(rv) = &opts.rv
        && *rv != cur.rv.to_string()
    {
        return failed("ResourceVersion", rv, cur.rv.to_string());
    }
    Ok(())
}

/// The object marked as being deleted (timestamp, the policy's finalizer, a Namespace
/// `Terminating`), or None when nothing keeps it and it goes at once.
fn marked_for_deletion(def: &ResourceDef, old: &Value, policy: &str) -> Option<Value> {
    let mut fins = finalizers(old);
    let extra = match policy {
        "Foreground" => Some("foregroundDeletion"),
        "Orphan" => Some("orphan"),
        _ => None,
    };
    let already = is_deleting(old);
    if let Some(f) = extra
        && !fins.iter().any(|x| x == f)
        && (!already || fins.is_empty())
    {
        fins.push(f.to_string());
    }
    let is_ns = def.builtin == Some(Builtin::Namespace);
    if fins.is_empty() && !is_ns {
        return None;
    }
    let mut new = old.clone();
    if !already {
        let m = meta_mut(&mut new);
        m.insert("deletionTimestamp".into(), json!(time::now_rfc3339()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        if def.uses_generation {
            let g = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
            m.insert("generation".into(), json!(g + 1));
        }
    }
    meta_mut(&mut new).insert("finalizers".into(), json!(fins));
    if is_ns {
        new["status"]["phase"] = json!("Terminating");
    }
    normalise_meta(&mut new);
    Some(new)
}

fn apply_patch(target: &mut Value, ptype: PatchType, doc: &Value, builtin: bool) -> ApiResult<()> {
    match ptype {
        PatchType::Merge => {
            if !doc.is_object() {
                return Err(ApiError::bad_request("the merge patch must be a JSON object"));
            }
            patch::merge(target, doc);
            Ok(())
        }
        PatchType::Json => patch::json(target, doc).map_err(|e| match e {
            JsonPatchError::Malformed(m) => ApiError::bad_request(m),
            JsonPatchError::Failed(m) => ApiError::new(422, "Invalid", m),
            // What kube-apiserver answers for a failed `test`: 422 with a generic message.
            JsonPatchError::TestFailed => ApiError::new(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request".to_string(),
            ),
            JsonPatchError::TooMany(n) => ApiError::too_large(format!(
                "The allowed maximum operations in a JSON patch is {}, got {n}",
                patch::MAX_JSON_PATCH_OPS
            )),
        }),
        PatchType::Strategic => {
            if builtin || target.get("kind").and_then(Value::as_str) == Some("Scale") {
                patch::strategic(target, doc).map_err(|e| ApiError::bad_request(e.to_string()))
            } else {
                patch::merge(target, doc);
                Ok(())
            }
        }
        PatchType::Apply => {
            patch::merge(target, doc);
            Ok(())
        }
    }
}

fn commit_error(def: &ResourceDef, name: &str, e: CommitError) -> ApiError {
    match e {
        CommitError::AlreadyExists => ApiError::already_exists(&def.plural, &def.group, name),
        CommitError::NotFound => ApiError::not_found(&def.plural, &def.group, name),
        CommitError::Conflict => ApiError::conflict(&def.plural, &def.group, name),
        CommitError::Storage => {
            ApiError::internal("the state directory could not be written; the change was not made")
        }
    }
}

fn validate_owner_refs(meta: &Value, causes: &mut Vec<Cause>) {
    let Some(refs) = meta.get("ownerReferences").and_then(Value::as_array) else {
        return;
    };
    let mut controllers = 0;
    for (i, r) in refs.iter().enumerate() {
        for f in ["apiVersion", "kind", "name", "uid"] {
            if r.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                causes.push(field_required(&format!("metadata.ownerReferences[{i}].{f}"), ""));
            }
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers += 1;
        }
    }
    if controllers > 1 {
        causes.push(field_invalid(
            "metadata.ownerReferences",
            &json!(controllers),
            "Only one reference can have Controller set to true",
        ));
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 200 {
        format!(
            "{}...",
            &s[..s
                .char_indices()
                .take_while(|(i, _)| *i < 200)
                .last()
                .map(|(i, c)| i + c.len_utf8())
                .unwrap_or(0)]
        )
    } else {
        s.to_string()
    }
}

/// Whether a stored object passes label and field selectors.
pub fn matches(obj: &StoredObject, labels: &LabelSelector, fields: &FieldSelector) -> bool {
    if !labels.matches_with(|k| obj.labels.get(k)) {
        return false;
    }
    if fields.is_empty() {
        return true;
    }
    if fields.only_metadata() {
        return fields.matches(&obj.name, &obj.ns, None);
    }
    let v = obj.value();
    fields.matches(&obj.name, &obj.ns, Some(&v))
}

fn encode_continue(rv: u64, key: &ObjKey) -> String {
    B64URL.encode(
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}/{}", key.ns, key.name)}).to_string(),
    )
}

fn decode_continue(tok: &str) -> ApiResult<(u64, ObjKey)> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = B64URL.decode(tok.trim_end_matches('=')).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((rv, ObjKey::new(ns, name)))
}

/// What an update through `sub` may change: the main resource keeps the stored status (and a
/// Namespace its spec); `status` changes only the status; `finalize` only a Namespace's
/// `spec.finalizers`.
fn scope_to_subresource(def: &ResourceDef, sub: Sub, has_status: bool, old: &Value, mut new: Value) -> Value {
    let with_status_of = |mut target: Value, source: &Value| {
        match source.get("status") {
            Some(st) => target["status"] = st.clone(),
            None => {
                if let Some(o) = target.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        target
    };
    match sub {
        Sub::Main | Sub::Scale => {
            if has_status {
                new = with_status_of(new, old);
            }
            if def.builtin == Some(Builtin::Namespace) {
                new["spec"] = old.get("spec").cloned().unwrap_or(json!({}));
            }
            new
        }
        Sub::Status => with_status_of(old.clone(), &new),
        Sub::Finalize => {
            let fins = new.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            let mut merged = old.clone();
            merged["spec"]["finalizers"] = fins;
            merged
        }
    }
}

/// The fields only the server sets keep their stored values: type, identity, timestamps,
/// generation; resourceVersion is assigned on write.
fn keep_server_metadata(def: &ResourceDef, old: &Value, new: &mut Value) {
    new["apiVersion"] = json!(def.api_version(&def.storage_version));
    if new.get("kind").is_none() {
        new["kind"] = json!(def.kind);
    }
    let old_meta = old
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let m = meta_mut(new);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "name",
        "namespace",
        "generateName",
    ] {
        match old_meta.get(k) {
            Some(v) => {
                m.insert(k.into(), v.clone());
            }
            None => {
                m.remove(k);
            }
        }
    }
    m.remove("resourceVersion");
}

/// An object being deleted may lose finalizers but not gain any.
fn refuse_new_finalizers(def: &ResourceDef, name: &str, old: &Value, new: &Value) -> ApiResult<()> {
    let before = finalizers(old);
    let added: Vec<String> = finalizers(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &def.kind,
        &def.group,
        name,
        vec![field_forbidden(
            "metadata.finalizers",
            &format!(
                "no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
            ),
        )],
    ))
}
/// Fields the schema does not know: refused under `Strict` (400, as kube-apiserver's strict
/// decoding), warned about under `Warn`, dropped silently under `Ignore`.
fn report_unknown_fields(
    def: &ResourceDef,
    version: &str,
    validation: FieldValidation,
    unknown: &[String],
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    if unknown.is_empty() {
        return Ok(());
    }
    let each = unknown.iter().map(|u| format!("unknown field \"{u}\""));
    match validation {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {list}",
            kind = def.kind,
            list = each.collect::<Vec<_>>().join(", ")
        ))),
        FieldValidation::Warn => {
            warnings.extend(each);
            Ok(())
        }
        FieldValidation::Ignore => Ok(()),
    }
}

/// The 409 of an apply that conflicts with other field managers, one cause per field.
fn apply_conflict(def: &ResourceDef, name: &str, c: &fieldmanager::Conflicts) -> ApiError {
    let mut e = ApiError::conflict_msg(&def.plural, &def.group, name, c.message());
    e.causes =
        c.0.iter()
            .map(|(m, _, p)| Cause {
                reason: "FieldManagerConflict".into(),
                message: format!("conflict with \"{m}\""),
                field: p.clone(),
            })
            .collect();
    e
}
