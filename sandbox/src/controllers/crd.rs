//! CRD registration: a new or changed CRD gets its names accepted and becomes Established (its
//! resources are then served, discovered and described in OpenAPI); a deleted CRD has its
//! instances removed before it goes away.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Controller, delete_quietly, mutate, remove_finalizer};
use crate::api::registry::def_from_crd;
use crate::api::rest::{Api, Sub};
use crate::api::strategy::CRD_CLEANUP_FINALIZER;
use crate::store::{Event, EventType, ObjKey};

const MANAGER: &str = "apiextensions-controller";
const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// The CRD controller.
pub struct CrdController {
    api: Api,
    pending: BTreeSet<String>,
    terminating: BTreeSet<String>,
}

fn condition(t: &str, status: &str, reason: &str, message: &str, old: &Value) -> Value {
    let prev = old.as_array().and_then(|a| a.iter().find(|c| c["type"] == t));
    let time = match prev {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(crate::store::time::now_rfc3339()),
    };
    json!({"type": t, "status": status, "reason": reason, "message": message, "lastTransitionTime": time})
}

impl CrdController {
    /// A controller over the given API.
    pub fn new(api: Api) -> Self {
        CrdController {
            api,
            pending: BTreeSet::new(),
            terminating: BTreeSet::new(),
        }
    }

    /// Establishes one CRD now (also used at start-up, before serving).
    pub fn establish(&self, name: &str) {
        let Some(crddef) = self
            .api
            .registry
            .get("apiextensions.k8s.io", "customresourcedefinitions")
        else {
            return;
        };
        let Some(stored) = self.api.get_stored(&crddef, None, name) else {
            return;
        };
        let obj = stored.value();
        let Ok(def) = def_from_crd(&obj) else { return };
        let already_ours = self
            .api
            .registry
            .get(&def.group, &def.plural)
            .is_some_and(|d| d.is_custom());
        let conflict = if already_ours {
            None
        } else {
            self.api.registry.name_conflict(&def)
        };
        let storage = def.storage_version.clone();
        let names = {
            let mut n = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            n["singular"] = json!(def.singular);
            n["listKind"] = json!(def.list_kind);
            n
        };
        if conflict.is_none() {
            self.api.registry.upsert(def);
        }
        let _ = mutate(&self.api, &crddef, None, name, Sub::Status, MANAGER, |v| {
            let old_conds = v.pointer("/status/conditions").cloned().unwrap_or(json!([]));
            let conds = match &conflict {
                None => json!([
                    condition(
                        "NamesAccepted",
                        "True",
                        "NoConflicts",
                        "no conflicts found",
                        &old_conds
                    ),
                    condition(
                        "Established",
                        "True",
                        "InitialNamesAccepted",
                        "the initial names have been accepted",
                        &old_conds
                    ),
                ]),
                Some(msg) => json!([
                    condition("NamesAccepted", "False", "NameConflict", msg, &old_conds),
                    condition(
                        "Established",
                        "False",
                        "NotAccepted",
                        "not all names are accepted",
                        &old_conds
                    ),
                ]),
            };
            let mut stored_versions: Vec<Value> = v
                .pointer("/status/storedVersions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !stored_versions.contains(&json!(storage)) {
                stored_versions.push(json!(storage));
            }
            let accepted = if conflict.is_none() {
                names.clone()
            } else {
                json!({"plural": "", "kind": ""})
            };
            let new_status =
                json!({"acceptedNames": accepted, "conditions": conds, "storedVersions": stored_versions});
            if v.get("status") == Some(&new_status) {
                return false;
            }
            v["status"] = new_status;
            true
        });
    }

    /// Removes instances of a CRD being deleted; true while some remain.
    fn cleanup(&self, name: &str) -> bool {
        let Some(crddef) = self
            .api
            .registry
            .get("apiextensions.k8s.io", "customresourcedefinitions")
        else {
            return false;
        };
        let Some(stored) = self.api.get_stored(&crddef, None, name) else {
            return false;
        };
        if !stored.deleting {
            return false;
        }
        let obj = stored.value();
        let group = obj
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let plural = obj
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let _ = mutate(&self.api, &crddef, None, name, Sub::Status, MANAGER, |v| {
            let conds = v.pointer_mut("/status/conditions").and_then(Value::as_array_mut);
            match conds {
                Some(c) if c.iter().any(|x| x["type"] == "Terminating") => false,
                Some(c) => {
                    c.push(json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress",
                        "message": "CustomResource deletion is in progress", "lastTransitionTime": crate::store::time::now_rfc3339()}));
                    true
                }
                None => false,
            }
        });
        let mut remaining = 0;
        if let Some(def) = self.api.registry.get(&group, &plural).filter(|d| d.is_custom()) {
            let (_, table) = self.api.store.snapshot(&Arc::from(def.key().as_str()));
            for (key, o) in table.iter() {
                remaining += 1;
                if !o.deleting {
                    delete_quietly(&self.api, &def, key, "Background");
                }
            }
        }
        if remaining == 0 {
            let _ = remove_finalizer(
                &self.api,
                &crddef,
                &ObjKey::new("", name),
                CRD_CLEANUP_FINALIZER,
                MANAGER,
            );
            return false;
        }
        true
    }
}

impl Controller for CrdController {
    fn name(&self) -> &'static str {
        "crd"
    }

    fn resync(&mut self) {
        let (_, table) = self.api.store.snapshot(&Arc::from(CRDS));
        for (key, obj) in table.iter() {
            if obj.deleting {
                self.terminating.insert(key.name.clone());
            } else {
                self.pending.insert(key.name.clone());
            }
        }
    }

    fn handle(&mut self, e: &Event) {
        if &*e.res != CRDS {
            return;
        }
        match e.ty {
            EventType::Deleted => {
                let v = e.obj.value();
                let group = v.pointer("/spec/group").and_then(Value::as_str).unwrap_or("");
                let plural = v
                    .pointer("/spec/names/plural")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.api.registry.remove(group, plural);
            }
            _ if e.obj.deleting => {
                self.terminating.insert(e.obj.name.clone());
            }
            _ => {
                // Status-only changes (our own writes) need no work.
                let spec_changed = e
                    .prev
                    .as_ref()
                    .is_none_or(|p| p.value().get("spec") != e.obj.value().get("spec"));
                if spec_changed {
                    self.pending.insert(e.obj.name.clone());
                }
            }
        }
    }

    fn tick(&mut self) -> Option<Duration> {
        for name in std::mem::take(&mut self.pending) {
            self.establish(&name);
        }
        let mut still = BTreeSet::new();
        for name in std::mem::take(&mut self.terminating) {
            if self.cleanup(&name) {
                still.insert(name);
            }
        }
        let waiting = !still.is_empty();
        self.terminating = still;
        waiting.then_some(Duration::from_millis(200))
    }
}
