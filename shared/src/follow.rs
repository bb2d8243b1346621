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
        }
    }

    /// The object's next state, or `None` once the deadline has passed.
    pub async fn next(&mut self) -> Result<Option<DynamicObject>> {
        loop {
            let ev = match tokio::time::timeout_at(self.deadline, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err(Error::Connection("the watch ended".into())),
                Ok(Some(ev)) => ev,
            };
            match ev {
                Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => return Ok(Some(o)),
                Ok(watcher::Event::Delete(_)) => return Err(Error::NotFound(self.deleted.clone())),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!("watch error: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}
