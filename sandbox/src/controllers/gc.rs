//! Garbage collection by owner references: background (dependents of a vanished owner are
//! deleted), foreground (the owner waits, with the `foregroundDeletion` finalizer, until
//! dependents that block it are gone) and orphan (references to the owner are stripped, then the
//! `orphan` finalizer is removed).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::{Controller, def_of, delete_quietly, mutate, remove_finalizer};
use crate::api::rest::{Api, Sub};
use crate::store::{Event, EventType, ObjKey, ResKey, StoredObject};

const MANAGER: &str = "generic-garbage-collector";
const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";

/// The garbage collector.
pub struct Gc {
    api: Api,
    check: BTreeSet<(ResKey, ObjKey)>,
    foreground: BTreeSet<(ResKey, ObjKey)>,
    orphan: BTreeSet<(ResKey, ObjKey)>,
}

impl Gc {
    /// A collector over the given API.
    pub fn new(api: Api) -> Gc {
        Gc {
            api,
            check: BTreeSet::new(),
            foreground: BTreeSet::new(),
            orphan: BTreeSet::new(),
        }
    }

    fn note(&mut self, res: &ResKey, obj: &StoredObject) {
        let key = obj.key();
        if !obj.owners.is_empty() {
            self.check.insert((res.clone(), key.clone()));
        }
        if obj.deleting && obj.finalizers.iter().any(|f| f == FOREGROUND) {
            self.foreground.insert((res.clone(), key.clone()));
        }
        if obj.deleting && obj.finalizers.iter().any(|f| f == ORPHAN) {
            self.orphan.insert((res.clone(), key));
        }
    }

    /// Whether the owner named by a reference exists (same uid, and in scope).
    fn owner_present(
        &self,
        dependent: &StoredObject,
        owner_uid: &str,
    ) -> Option<std::sync::Arc<StoredObject>> {
        let (res, key) = self.api.store.lookup_uid(owner_uid)?;
        // A namespaced owner must live in the dependent's namespace.
        if !key.ns.is_empty() && key.ns != dependent.ns {
            return None;
        }
        self.api.store.get(&res, &key)
    }

    fn check_one(&mut self, res: &ResKey, key: &ObjKey) {
        let Some(obj) = self.api.store.get(res, key) else {
            return;
        };
        if obj.owners.is_empty() || obj.deleting {
            return;
        }
        let Some(def) = def_of(&self.api, res) else { return };
        let present: Vec<_> = obj
            .owners
            .iter()
            .map(|o| (o, self.owner_present(&obj, &o.uid)))
            .collect();
        if present.iter().all(|(_, p)| p.is_none()) {
            delete_quietly(&self.api, &def, key, "Background");
            return;
        }
        // An owner being deleted in the foreground takes its dependents with it.
        let foreground_owner = present.iter().any(|(_, p)| {
            p.as_ref()
                .is_some_and(|o| o.deleting && o.finalizers.iter().any(|f| f == FOREGROUND))
        });
        let all_present_deleting_fg = present
            .iter()
            .filter_map(|(_, p)| p.as_ref())
            .all(|o| o.deleting && o.finalizers.iter().any(|f| f == FOREGROUND));
        if foreground_owner && all_present_deleting_fg {
            let blocking = obj.owners.iter().any(|o| o.block);
            delete_quietly(
                &self.api,
                &def,
                key,
                if blocking { "Foreground" } else { "Background" },
            );
            return;
        }
        let dangling: Vec<String> = present
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(o, _)| o.uid.to_string())
            .collect();
        if !dangling.is_empty() {
            let _ = mutate(&self.api, &def, opt_ns(key), &key.name, Sub::Main, MANAGER, |v| {
                strip_owner_refs(v, &dangling)
            });
        }
    }

    /// Returns true while the owner still waits for blocking dependents.
    fn foreground_one(&mut self, res: &ResKey, key: &ObjKey) -> bool {
        let Some(obj) = self.api.store.get(res, key) else {
            return false;
        };
        if !obj.deleting || !obj.finalizers.iter().any(|f| f == FOREGROUND) {
            return false;
        }
        let Some(def) = def_of(&self.api, res) else {
            return false;
        };
        let mut waiting = false;
        for (dres, dkey) in self.api.store.dependents_of(&obj.uid) {
            let Some(dep) = self.api.store.get(&dres, &dkey) else {
                continue;
            };
            let blocks = dep.owners.iter().any(|o| *o.uid == *obj.uid && o.block);
            if blocks {
                waiting = true;
            }
            if !dep.deleting
                && let Some(ddef) = def_of(&self.api, &dres)
            {
                delete_quietly(
                    &self.api,
                    &ddef,
                    &dkey,
                    if blocks { "Foreground" } else { "Background" },
                );
            }
        }
        if !waiting {
            let _ = remove_finalizer(&self.api, &def, key, FOREGROUND, MANAGER);
        }
        waiting
    }

    fn orphan_one(&mut self, res: &ResKey, key: &ObjKey) {
        let Some(obj) = self.api.store.get(res, key) else {
            return;
        };
        if !obj.deleting || !obj.finalizers.iter().any(|f| f == ORPHAN) {
            return;
        }
        for (dres, dkey) in self.api.store.dependents_of(&obj.uid) {
            if let Some(ddef) = def_of(&self.api, &dres) {
                let uid = vec![obj.uid.clone()];
                let _ = mutate(
                    &self.api,
                    &ddef,
                    opt_ns(&dkey),
                    &dkey.name,
                    Sub::Main,
                    MANAGER,
                    |v| strip_owner_refs(v, &uid),
                );
            }
        }
        if let Some(def) = def_of(&self.api, res) {
            let _ = remove_finalizer(&self.api, &def, key, ORPHAN, MANAGER);
        }
    }
}

fn opt_ns(key: &ObjKey) -> Option<&str> {
    if key.ns.is_empty() { None } else { Some(&key.ns) }
}

fn strip_owner_refs(v: &mut Value, uids: &[String]) -> bool {
    let Some(refs) = v
        .pointer_mut("/metadata/ownerReferences")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let before = refs.len();
    refs.retain(|r| {
        !r.get("uid")
            .and_then(Value::as_str)
            .is_some_and(|u| uids.iter().any(|x| x == u))
    });
    before != refs.len()
}

impl Controller for Gc {
    fn name(&self) -> &'static str {
        "garbage-collector"
    }

    fn resync(&mut self) {
        let (_, tables) = self.api.store.snapshot_all();
        for (res, table) in tables {
            for (_, obj) in table.iter() {
                self.note(&res, obj);
            }
        }
    }

    fn handle(&mut self, e: &Event) {
        match e.ty {
            EventType::Deleted => {
                for (res, key) in self.api.store.dependents_of(&e.obj.uid) {
                    self.check.insert((res, key));
                }
                // An owner in foreground deletion may have been waiting for this dependent.
                for o in &e.obj.owners {
                    if let Some((res, key)) = self.api.store.lookup_uid(&o.uid) {
                        self.foreground.insert((res, key));
                    }
                }
            }
            EventType::Added | EventType::Modified => {
                self.note(&e.res, &e.obj);
                if let Some(prev) = &e.prev {
                    for o in &prev.owners {
                        if !e.obj.owners.iter().any(|x| x.uid == o.uid)
                            && let Some((res, key)) = self.api.store.lookup_uid(&o.uid)
                        {
                            self.foreground.insert((res, key));
                        }
                    }
                }
                if e.obj.deleting {
                    for (res, key) in self.api.store.dependents_of(&e.obj.uid) {
                        self.check.insert((res, key));
                    }
                }
            }
        }
    }

    fn tick(&mut self) -> Option<Duration> {
        for (res, key) in std::mem::take(&mut self.orphan) {
            self.orphan_one(&res, &key);
        }
        for (res, key) in std::mem::take(&mut self.check) {
            self.check_one(&res, &key);
        }
        let mut still = BTreeSet::new();
        for (res, key) in std::mem::take(&mut self.foreground) {
            if self.foreground_one(&res, &key) {
                still.insert((res, key));
            }
        }
        let waiting = !still.is_empty();
        self.foreground.extend(still);
        waiting.then_some(Duration::from_millis(200))
    }
}
