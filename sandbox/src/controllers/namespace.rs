//! Namespace lifecycle: every new namespace gets the `kube-root-ca.crt` ConfigMap; a namespace
//! being deleted has its contents deleted (honouring their finalizers), reports what remains in
//! its conditions, and is finalized once empty.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Controller, delete_quietly, mutate};
use crate::api::rest::{Api, Sub, WriteOpts};
use crate::store::{Event, EventType, ObjKey};

const MANAGER: &str = "namespace-controller";

/// The namespace controller.
pub struct NamespaceController {
    api: Api,
    root_ca: Option<String>,
    created: BTreeSet<String>,
    terminating: BTreeSet<String>,
}

impl NamespaceController {
    /// A controller; `root_ca` is the PEM published in `kube-root-ca.crt`.
    pub fn new(api: Api, root_ca: Option<String>) -> Self {
        NamespaceController {
            api,
            root_ca,
            created: BTreeSet::new(),
            terminating: BTreeSet::new(),
        }
    }

    fn ensure_root_ca(&self, ns: &str) {
        let Some(ca) = &self.root_ca else { return };
        let Some(def) = self.api.registry.get("", "configmaps") else {
            return;
        };
        if self.api.get_stored(&def, Some(ns), "kube-root-ca.crt").is_some() {
            return;
        }
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "namespace": ns,
                "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": ca},
        });
        let _ = self.api.create(
            &def,
            "v1",
            Some(ns),
            cm,
            &WriteOpts::controller("kube-controller-manager"),
        );
    }

    /// Deletes what is left in the namespace; true while something remains.
    fn terminate(&self, ns: &str) -> bool {
        let Some(nsdef) = self.api.registry.get("", "namespaces") else {
            return false;
        };
        let Some(nsobj) = self.api.get_stored(&nsdef, None, ns) else {
            return false;
        };
        if !nsobj.deleting {
            return false;
        }
        let mut remaining: Vec<(String, usize)> = vec![];
        let mut finalizers: BTreeSet<String> = BTreeSet::new();
        for def in self.api.registry.all().into_iter().filter(|d| d.namespaced) {
            let (_, table) = self.api.store.snapshot(&Arc::from(def.key().as_str()));
            let mut count = 0;
            for (key, obj) in table.range(ObjKey::new(ns, "")..) {
                if key.ns != ns {
                    break;
                }
                count += 1;
                finalizers.extend(obj.finalizers.iter().cloned());
                if !obj.deleting {
                    delete_quietly(&self.api, &def, key, "Background");
                }
            }
            if count > 0 {
                let name = if def.group.is_empty() {
                    def.plural.clone()
                } else {
                    format!("{}.{}", def.plural, def.group)
                };
                remaining.push((name, count));
            }
        }
        if remaining.is_empty() {
            let _ = mutate(&self.api, &nsdef, None, ns, Sub::Finalize, MANAGER, |v| {
                let Some(list) = v.pointer_mut("/spec/finalizers").and_then(Value::as_array_mut) else {
                    return false;
                };
                let before = list.len();
                list.retain(|f| f != "kubernetes");
                before != list.len()
            });
            return false;
        }
        let now = crate::store::time::now_rfc3339();
        let content_msg = format!(
            "Some resources are remaining: {}",
            remaining
                .iter()
                .map(|(r, n)| format!("{r} has {n} resource instances"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let fin_msg = if finalizers.is_empty() {
            "All content-preserving finalizers finished".to_string()
        } else {
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                finalizers.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        let conditions = json!([
            {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain", "message": content_msg, "lastTransitionTime": now},
            {"type": "NamespaceFinalizersRemaining", "status": if finalizers.is_empty() { "False" } else { "True" },
             "reason": if finalizers.is_empty() { "ContentHasNoFinalizers" } else { "SomeFinalizersRemain" }, "message": fin_msg, "lastTransitionTime": now},
        ]);
        let _ = mutate(&self.api, &nsdef, None, ns, Sub::Status, MANAGER, |v| {
            let old = v.pointer("/status/conditions").cloned().unwrap_or(json!([]));
            let strip = |c: &Value| -> Vec<(Value, Value, Value)> {
                c.as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| (x["type"].clone(), x["status"].clone(), x["message"].clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            if strip(&old) == strip(&conditions) {
                return false;
            }
            v["status"]["conditions"] = conditions.clone();
            true
        });
        true
    }
}

impl Controller for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace"
    }

    fn resync(&mut self) {
        let Some(def) = self.api.registry.get("", "namespaces") else {
            return;
        };
        let (_, table) = self.api.store.snapshot(&Arc::from(def.key().as_str()));
        for (key, obj) in table.iter() {
            if obj.deleting {
                self.terminating.insert(key.name.clone());
            } else {
                self.created.insert(key.name.clone());
            }
        }
    }

    fn handle(&mut self, e: &Event) {
        if &*e.res == "/namespaces" {
            match e.ty {
                EventType::Added => {
                    self.created.insert(e.obj.name.clone());
                }
                EventType::Modified if e.obj.deleting => {
                    self.terminating.insert(e.obj.name.clone());
                }
                _ => {}
            }
        } else if e.ty == EventType::Deleted && !e.obj.ns.is_empty() && self.terminating.contains(&e.obj.ns) {
            // Progress in a terminating namespace: look again soon (tick does).
        }
    }

    fn tick(&mut self) -> Option<Duration> {
        for ns in std::mem::take(&mut self.created) {
            self.ensure_root_ca(&ns);
        }
        let mut still = BTreeSet::new();
        for ns in std::mem::take(&mut self.terminating) {
            if self.terminate(&ns) {
                still.insert(ns);
            }
        }
        let waiting = !still.is_empty();
        self.terminating = still;
        waiting.then_some(Duration::from_millis(200))
    }
}
