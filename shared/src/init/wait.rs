//! `--wait-providers`: every provider's Deployments followed through watches until each is
//! Available at its current generation, with progress on stderr and a deadline after which
//! the error names every Deployment that is not Available and why.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use kube::core::ApiResource;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use crate::client::Kube;
use crate::{Error, Result};

/// The Deployments of one component: those labelled `selector` in `namespace`.
#[derive(Debug, Clone)]
pub struct Group {
    /// What they belong to (`cluster-api`, `cert-manager`).
    pub what: String,
    /// Their namespace.
    pub namespace: String,
    /// Their label selector.
    pub selector: String,
}

fn deployments() -> ApiResource {
    ApiResource {
        group: "apps".into(),
        version: "v1".into(),
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        plural: "deployments".into(),
    }
}

/// Why a Deployment is not Available yet; `None` when it is.
pub fn not_available(d: &Value) -> Option<String> {
    let generation = d
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let observed = d
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if observed < generation {
        return Some(format!(
            "its controller has not observed generation {generation} yet (observed {observed})"
        ));
    }
    let conditions = d.pointer("/status/conditions").and_then(Value::as_array);
    let find = |ty: &str| conditions.and_then(|cs| cs.iter().find(|c| c["type"] == ty));
    let says = |c: &Value| {
        format!(
            "{}={} {}: {}",
            c["type"].as_str().unwrap_or(""),
            c["status"].as_str().unwrap_or("Unknown"),
            c["reason"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        )
    };
    match find("Available") {
        Some(c) if c["status"] == "True" => None,
        // Progressing says why the rollout does not finish (image pull, quota, deadline).
        Some(c) => Some(match find("Progressing") {
            Some(p) => format!("{}; {}", says(c), says(p)),
            None => says(c),
        }),
        None => Some("no Available condition yet".into()),
    }
}

struct State {
    /// (group, namespace/name) → why not available (`None` = Available).
    seen: BTreeMap<(usize, String), Option<String>>,
    listed: Vec<bool>,
}

impl State {
    fn done(&self) -> bool {
        self.listed.iter().all(|l| *l)
            && (0..self.listed.len()).all(|g| self.seen.keys().any(|(i, _)| *i == g))
            && self.seen.values().all(Option::is_none)
    }

    fn pending(&self, groups: &[Group]) -> Vec<String> {
        let mut out: Vec<String> = self
            .seen
            .iter()
            .filter_map(|((g, name), why)| {
                why.as_ref()
                    .map(|w| format!("{} Deployment {name}: {w}", groups[*g].what))
            })
            .collect();
        for (g, group) in groups.iter().enumerate() {
            if !self.seen.keys().any(|(i, _)| *i == g) {
                out.push(format!(
                    "{}: no Deployment labelled {} in namespace {}",
                    group.what, group.selector, group.namespace
                ));
            }
        }
        out
    }
}

/// Waits until every group's Deployments are Available. `progress` receives a line per change.
pub async fn available(
    kube: &Kube,
    groups: &[Group],
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let ar = deployments();
    let streams = groups.iter().enumerate().map(|(i, g)| {
        let cfg = watcher::Config::default().labels(&g.selector);
        watcher::watcher(kube.api(&ar, Some(&g.namespace)), cfg)
            .map(move |e| (i, e))
            .boxed()
    });
    let mut events = futures::stream::select_all(streams);
    let mut st = State {
        seen: BTreeMap::new(),
        listed: vec![false; groups.len()],
    };
    let deadline = tokio::time::Instant::now() + timeout;
    while !st.done() {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        let (g, ev) = match next {
            Err(_) => {
                return Err(Error::Timeout(format!(
                    "providers not Available within {}:\n  {}\n(`kubectl -n NAMESPACE describe deployment NAME` shows why; raise --wait-provider-timeout if they are only slow)",
                    humantime(timeout),
                    st.pending(groups).join("\n  ")
                )));
            }
            Ok(None) => return Err(Error::Other("the Deployment watch ended".into())),
            Ok(Some((g, Err(e)))) => {
                return Err(Error::Other(format!(
                    "watching {}'s Deployments in {}: {e}",
                    groups[g].what, groups[g].namespace
                )));
            }
            Ok(Some((g, Ok(ev)))) => (g, ev),
        };
        match ev {
            Event::Init => {}
            Event::InitDone => st.listed[g] = true,
            Event::Apply(o) | Event::InitApply(o) => {
                let v = crate::capi::object::to_value(&o);
                let name = format!(
                    "{}/{}",
                    groups[g].namespace,
                    o.metadata.name.clone().unwrap_or_default()
                );
                let why = not_available(&v);
                let key = (g, name.clone());
                if st.seen.get(&key) != Some(&why) {
                    match &why {
                        None => progress(&format!("Deployment {name} is Available")),
                        Some(w) => progress(&format!("waiting for Deployment {name}: {w}")),
                    }
                }
                st.seen.insert(key, why);
            }
            Event::Delete(o) => {
                let name = format!(
                    "{}/{}",
                    groups[g].namespace,
                    o.metadata.name.clone().unwrap_or_default()
                );
                st.seen.remove(&(g, name));
            }
        }
    }
    Ok(())
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn availability_needs_the_current_generation_and_the_condition() {
        let mut d = json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1,
            "conditions": [{"type": "Available", "status": "True"}]}});
        assert!(not_available(&d).unwrap().contains("generation 2"));
        d["status"]["observedGeneration"] = json!(2);
        assert_eq!(not_available(&d), None);
        d["status"]["conditions"][0] = json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "0 of 1"});
        assert_eq!(
            not_available(&d).unwrap(),
            "Available=False MinimumReplicasUnavailable: 0 of 1"
        );
        let p = json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "image pull back-off"});
        d["status"]["conditions"].as_array_mut().unwrap().push(p);
        assert!(
            not_available(&d)
                .unwrap()
                .ends_with("; Progressing=True ReplicaSetUpdated: image pull back-off")
        );
        assert!(not_available(&json!({})).unwrap().contains("no Available"));
    }
}
