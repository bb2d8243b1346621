//! An in-memory audit log of write requests, shaped like the Kubernetes audit API's events at
//! the `Request` level (verb, requestURI, user, objectRef, responseStatus, requestObject), so a
//! test can read exactly what a client sent: which fields, which patch type, which subresource.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{Value, json};

/// Events kept; older ones are dropped first.
const CAPACITY: usize = 10_000;

/// The audit log of one server.
#[derive(Debug, Default)]
pub struct Audit {
    events: Mutex<VecDeque<Value>>,
}

/// What the request handler knows about a write before it runs.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The Kubernetes audit verb (`create`, `update`, `patch`, `delete`, `deletecollection`).
    pub verb: &'static str,
    /// Path and query.
    pub request_uri: String,
    /// The user name.
    pub user: String,
    /// `{resource, namespace, name, apiGroup, apiVersion, subresource}`.
    pub object_ref: Value,
    /// The request's Content-Type.
    pub content_type: Option<String>,
    /// The body as JSON (`None` for non-JSON bodies such as protobuf, or no body).
    pub request_object: Option<Value>,
}

impl Audit {
    /// Records a finished write.
    pub fn record(&self, p: Pending, code: u16) {
        let ev = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Request",
            "stage": "ResponseComplete",
            "verb": p.verb,
            "requestURI": p.request_uri,
            "user": {"username": p.user},
            "objectRef": p.object_ref,
            "responseStatus": {"code": code},
            "requestObject": p.request_object,
            "contentType": p.content_type,
            "stageTimestamp": crate::store::time::now_rfc3339(),
        });
        let Ok(mut q) = self.events.lock() else {
            return;
        };
        if q.len() >= CAPACITY {
            q.pop_front();
        }
        q.push_back(ev);
    }

    /// Every event kept, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.events
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets every event.
    pub fn clear(&self) {
        if let Ok(mut q) = self.events.lock() {
            q.clear();
        }
    }
}
