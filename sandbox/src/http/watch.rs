//! Watches: one JSON event per line, flushed as it happens. Replays history after a given
//! resourceVersion, sends synthetic ADDED events for "from now" watches, re-evaluates selectors so
//! objects entering or leaving a selection arrive as ADDED or DELETED, sends bookmarks only when
//! asked, and reports an expired resourceVersion as an `ERROR` event (410) inside a 200 stream.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::negotiate::Repr;
use super::{ServerState, list_opts};
use crate::api::error::{ApiError, ApiResult};
use crate::api::resource::ResourceDef;
use crate::api::rest::{Api, ListOpts, matches};
use crate::api::selector::FieldRequirement;
use crate::api::table::{self, IncludeObject};
use crate::store::{Event, EventType, StoredObject};

struct Watcher {
    def: Arc<ResourceDef>,
    version: String,
    ns: Option<String>,
    opts: ListOpts,
    repr: Repr,
    include: IncludeObject,
    table_header_sent: bool,
}

impl Watcher {
    fn selects(&self, o: &StoredObject) -> bool {
        self.ns.as_deref().is_none_or(|n| o.ns == n) && matches(o, &self.opts.labels, &self.opts.fields)
    }

    fn classify(&self, e: &Event) -> Option<&'static str> {
        let now = self.selects(&e.obj);
        match e.ty {
            EventType::Added => now.then_some("ADDED"),
            EventType::Deleted => now.then_some("DELETED"),
            EventType::Modified => match (e.prev.as_deref().is_some_and(|p| self.selects(p)), now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
        }
    }

    fn encode(&mut self, ty: &str, obj: &StoredObject) -> Bytes {
        let mut line = Vec::with_capacity(obj.json.len() + 32);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(ty.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        match self.repr {
            Repr::Json | Repr::Yaml if self.version == self.def.storage_version => {
                line.extend_from_slice(&obj.json)
            }
            Repr::Table => {
                let v = Api::convert_out(&self.def, &self.version, obj.value());
                let cols = table::columns(&self.def, &self.version);
                let rv = Some(obj.rv.to_string());
                let t = table::table(&cols, &[v], self.include, rv, None, None, !self.table_header_sent);
                self.table_header_sent = true;
                line.extend_from_slice(&serde_json::to_vec(&t).unwrap_or_default());
            }
            Repr::Metadata => {
                let v = table::partial_metadata(&obj.value());
                line.extend_from_slice(&serde_json::to_vec(&v).unwrap_or_default());
            }
            _ => {
                let v = Api::convert_out(&self.def, &self.version, obj.value());
                line.extend_from_slice(&serde_json::to_vec(&v).unwrap_or_default());
            }
        }
        line.extend_from_slice(b"}\n");
        Bytes::from(line)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.def.kind, "apiVersion": self.def.api_version(&self.version), "metadata": meta});
        line(&json!({"type": "BOOKMARK", "object": obj}))
    }
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn expired_event(rv: u64, oldest: u64) -> Bytes {
    let status = ApiError::expired(format!("too old resource version: {rv} ({oldest})")).to_status();
    line(&json!({"type": "ERROR", "object": status}))
}

/// What a watch request asks for, beyond the list options.
struct WatchParams {
    /// Where to start (`None`: from a snapshot of the current state).
    start_rv: Option<u64>,
    send_initial_events: bool,
    bookmarks: bool,
    timeout: Duration,
}

impl WatchParams {
    /// Reads and checks the watch parameters as kube-apiserver does.
    fn parse(q: &HashMap<String, String>) -> ApiResult<WatchParams> {
        let rv_param = q.get("resourceVersion").map(String::as_str).unwrap_or("");
        let rv_match = q.get("resourceVersionMatch").map(String::as_str).unwrap_or("");
        let send_initial_param = q.get("sendInitialEvents").map(String::as_str);
        let send_initial_events = send_initial_param == Some("true");
        let bookmarks = q
            .get("allowWatchBookmarks")
            .is_some_and(|b| b == "true" || b == "1");
        if send_initial_param.is_some() && rv_match != "NotOlderThan" {
            return Err(ApiError::invalid(
                "ListOptions",
                "meta.k8s.io",
                "",
                vec![crate::api::error::field_forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                )],
            ));
        }
        if !rv_match.is_empty() && send_initial_param.is_none() {
            return Err(ApiError::invalid(
                "ListOptions",
                "meta.k8s.io",
                "",
                vec![crate::api::error::field_forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                )],
            ));
        }
        let start_rv: Option<u64> = match rv_param {
            "" | "0" => None,
            s => Some(s.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "resourceVersion: Invalid value: {s:?}: must be a non-negative integer"
                ))
            })?),
        };
        let timeout = match q.get("timeoutSeconds").map(String::as_str) {
            None | Some("") => Duration::from_secs(1800 + rand::random::<u64>() % 1800),
            Some(t) => Duration::from_secs(
                t.parse()
                    .map_err(|_| ApiError::bad_request(format!("timeoutSeconds: invalid value {t:?}")))?,
            ),
        };
        Ok(WatchParams {
            start_rv,
            send_initial_events,
            bookmarks,
            timeout,
        })
    }
}

/// Sends the watch's events into `tx` until the timeout, the client leaving, or an expired
/// resourceVersion: the initial state first when asked, then every change, with bookmarks.
async fn stream_events(
    mut w: Watcher,
    store: Arc<crate::store::Store>,
    params: WatchParams,
    bookmark_every: Duration,
    tx: mpsc::Sender<Bytes>,
) {
    let WatchParams {
        start_rv,
        send_initial_events,
        bookmarks,
        timeout,
    } = params;
    let res_key = w.def.key();
    let mut notify = store.subscribe();
    let deadline = Instant::now() + timeout;
    let initial = start_rv.is_none() || send_initial_events;
    let mut last_rv;
    if initial {
        let _ = notify.borrow_and_update();
        let (snap_rv, table) = store.snapshot(&Arc::from(res_key.as_str()));
        last_rv = snap_rv;
        for (_, obj) in table.iter() {
            if w.selects(obj) {
                let b = w.encode("ADDED", obj);
                if tx.send(b).await.is_err() {
                    return;
                }
            }
        }
        if send_initial_events && bookmarks && tx.send(w.bookmark(last_rv, true)).await.is_err() {
            return;
        }
    } else {
        last_rv = start_rv.unwrap_or(0);
    }
    let mut next_bookmark = Instant::now() + bookmark_every;
    loop {
        let _ = notify.borrow_and_update();
        match store.events_since(last_rv) {
            Err(e) => {
                let _ = tx.send(expired_event(last_rv, e.oldest)).await;
                return;
            }
            Ok(events) => {
                for e in events {
                    last_rv = e.rv;
                    if *e.res != *res_key {
                        continue;
                    }
                    if let Some(ty) = w.classify(&e) {
                        let b = w.encode(ty, &e.obj);
                        if tx.send(b).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        tokio::select! {
            changed = notify.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(next_bookmark), if bookmarks => {
                if tx.send(w.bookmark(last_rv, false)).await.is_err() {
                    return;
                }
                next_bookmark = Instant::now() + bookmark_every;
            }
            _ = tokio::time::sleep_until(deadline) => {
                if bookmarks {
                    let _ = tx.send(w.bookmark(last_rv, false)).await;
                }
                return;
            }
            _ = tx.closed() => return,
        }
    }
}

/// Starts a watch and returns the streaming response.
pub fn serve(
    st: Arc<ServerState>,
    def: Arc<ResourceDef>,
    version: String,
    ns: Option<String>,
    name: Option<String>,
    q: &HashMap<String, String>,
    repr: Repr,
) -> ApiResult<Response> {
    let mut opts = list_opts(&def, &version, q)?;
    if let Some(n) = &name {
        if opts.fields.pinned_name().is_some_and(|p| p != n) {
            return Err(ApiError::bad_request(
                "fieldSelector metadata.name doesn't match requested name",
            ));
        }
        opts.fields.0.push(FieldRequirement {
            field: "metadata.name".into(),
            value: n.clone(),
            negate: false,
        });
    }
    let params = WatchParams::parse(q)?;
    let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));
    let w = Watcher {
        def,
        version,
        ns,
        opts,
        repr,
        include,
        table_header_sent: false,
    };
    let (tx, mut rx_body) = mpsc::channel::<Bytes>(256);
    let store = st.api.store.clone();
    let bookmark_every = st.bookmark_every;
    tokio::spawn(stream_events(w, store, params, bookmark_every, tx));
    let stream =
        futures::stream::poll_fn(move |cx| rx_body.poll_recv(cx).map(|o| o.map(Ok::<Bytes, Infallible>)));
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}
