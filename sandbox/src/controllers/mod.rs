//! Embedded controllers. The system ones do what kube-controller-manager and the apiextensions
//! server do for a real cluster (garbage collection, namespace termination, CRD establishment);
//! the `capi` ones simulate Cluster API providers. All of them write through the REST layer, so
//! their changes get resourceVersions, generations, managedFields and watch events like any
//! client's.

pub mod crd;
pub mod deployment;
pub mod gc;
pub mod namespace;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::api::error::{ApiError, ApiResult};
use crate::api::resource::ResourceDef;
use crate::api::rest::{Api, DeleteOpts, Sub, WriteOpts};
use crate::store::{Event, ObjKey, ResKey};

/// A controller driven by the store's event log.
pub trait Controller: Send + 'static {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Looks at the whole state (at start and whenever events were missed).
    fn resync(&mut self);
    /// Reacts to one change.
    fn handle(&mut self, event: &Event);
    /// Does pending work; returns when it wants to be called again (None: only on events).
    fn tick(&mut self) -> Option<Duration>;
}

/// Runs a controller until the runtime shuts down.
pub fn spawn(api: Api, mut ctrl: Box<dyn Controller>) -> JoinHandle<()> {
    tokio::spawn(async move {
        tracing::debug!(controller = ctrl.name(), "controller started");
        let store = api.store.clone();
        let mut notify = store.subscribe();
        let mut last = store.current_rv();
        ctrl.resync();
        let mut since_resync = tokio::time::Instant::now();
        loop {
            let _ = notify.borrow_and_update();
            match store.events_since(last) {
                Ok(events) => {
                    for e in events {
                        last = e.rv;
                        ctrl.handle(&e);
                    }
                }
                Err(_) => {
                    last = store.current_rv();
                    ctrl.resync();
                }
            }
            if since_resync.elapsed() > Duration::from_secs(30) {
                ctrl.resync();
                since_resync = tokio::time::Instant::now();
            }
            let wait = ctrl.tick().unwrap_or(Duration::from_secs(5));
            tokio::select! {
                r = notify.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// The resource definition behind a store key.
pub fn def_of(api: &Api, res: &ResKey) -> Option<Arc<ResourceDef>> {
    let (group, plural) = res.rsplit_once('/')?;
    api.registry.get(group, plural)
}

fn ns_opt(key: &ObjKey) -> Option<&str> {
    if key.ns.is_empty() {
        None
    } else {
        Some(key.ns.as_str())
    }
}

/// Read-modify-write of one object (or its status) with conflict retries. `change` returns
/// whether it changed anything; nothing is written otherwise.
pub fn mutate(
    api: &Api,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    sub: Sub,
    manager: &str,
    mut change: impl FnMut(&mut Value) -> bool,
) -> ApiResult<Option<Value>> {
    let version = def.storage_version.clone();
    for _ in 0..16 {
        let mut obj = api.get(def, &version, ns, name)?;
        if !change(&mut obj) {
            return Ok(None);
        }
        match api.update(def, &version, ns, name, sub, obj, &WriteOpts::controller(manager)) {
            Ok(o) => return Ok(Some(o.value)),
            Err(e) if e.code == 409 && e.reason == "Conflict" => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(&def.plural, &def.group, name))
}

/// Takes `finalizer` out of an object's list; whether it was there.
pub fn drop_finalizer(obj: &mut Value, finalizer: &str) -> bool {
    let Some(list) = obj
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let before = list.len();
    list.retain(|f| f != finalizer);
    before != list.len()
}

/// Removes a finalizer from an object, if present.
pub fn remove_finalizer(
    api: &Api,
    def: &ResourceDef,
    key: &ObjKey,
    finalizer: &str,
    manager: &str,
) -> ApiResult<()> {
    let r = mutate(api, def, ns_opt(key), &key.name, Sub::Main, manager, |obj| {
        drop_finalizer(obj, finalizer)
    });
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes an object; a missing object is not an error.
pub fn delete_quietly(api: &Api, def: &ResourceDef, key: &ObjKey, propagation: &str) {
    let opts = DeleteOpts {
        propagation: Some(propagation.into()),
        ..Default::default()
    };
    if let Err(e) = api.delete(def, &def.storage_version, ns_opt(key), &key.name, &opts)
        && e.code != 404
    {
        tracing::warn!(resource = %def.plural, name = %key.name, error = %e, "delete failed");
    }
}
