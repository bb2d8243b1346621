//! Following one object through the watch API until a deadline: the loop `scale --wait` and
//! `rollout status` share. The watcher re-lists by itself (e.g. after 410 Gone).

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::api::DynamicObject;
use kube::core::ApiResource;
use kube::runtime::watcher;

use crate::client::Kube;
use crate::{Error, Result};

/// A watch of one object by name.
pub struct Follow {
    stream: BoxStream<'static, std::result::Result<watcher::Event<DynamicObject>, watcher::Error>>,
    deadline: tokio::time::Instant,
    deleted: String,
    /// The last watch error while the server is unreachable.
    lost: Option<String>,
}

impl Follow {
    /// Watches `ns/name` until `deadline`; `deleted` is the error message if the object goes away.
    pub fn new(
        kube: &Kube,
        ar: &ApiResource,
        ns: &str,
        name: &str,
        deadline: tokio::time::Instant,
        deleted: String,
    ) -> Follow {
        let api = kube.api(ar, Some(ns));
        let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
        Follow {
            stream: watcher(api, cfg).boxed(),
            deadline,
            deleted,
            lost: None,
        }
    }

    /// The object's next state, or `None` once the deadline has passed. A lost connection is
    /// reported on stderr as it happens (and its return), retried until the deadline, and a
    /// deadline reached while the server is unreachable says so instead of a stale state.
    pub async fn next(&mut self) -> Result<Option<DynamicObject>> {
        loop {
            let ev = match tokio::time::timeout_at(self.deadline, self.stream.next()).await {
                Err(_) => {
                    return match &self.lost {
                        Some(e) => Err(Error::Timeout(format!(
                            "the API server was unreachable when the wait ran out (last error: {e})"
                        ))),
                        None => Ok(None),
                    };
                }
                Ok(None) => return Err(Error::Connection("the watch ended".into())),
                Ok(Some(ev)) => ev,
            };
            match ev {
                Ok(ev) => {
                    if self.lost.take().is_some() {
                        say("reconnected to the API server");
                    }
                    match ev {
                        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => return Ok(Some(o)),
                        watcher::Event::Delete(_) => return Err(Error::NotFound(self.deleted.clone())),
                        _ => {}
                    }
                }
                Err(e) => {
                    if self.lost.is_none() {
                        say(&format!(
                            "lost the connection to the API server ({e}); retrying until the deadline"
                        ));
                    }
                    self.lost = Some(e.to_string());
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
