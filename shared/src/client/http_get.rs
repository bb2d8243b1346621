//! Downloading a template over HTTPS: GitHub "blob" page addresses are turned into their raw
//! content, redirects (GitHub release assets) are followed, and the system's trust store (or
//! `SSL_CERT_FILE` / `SSL_CERT_DIR`) decides which servers are trusted.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::{Error, Result};

/// Templates larger than this are refused (a cluster template is a few kilobytes).
const MAX_BYTES: usize = 16 << 20;
const MAX_REDIRECTS: usize = 5;

/// `https://github.com/O/R/blob/REF/PATH` → `https://raw.githubusercontent.com/O/R/REF/PATH`;
/// anything else unchanged.
pub fn raw_github(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("https://github.com/") {
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        if parts.len() == 4 && parts[2] == "blob" {
            return format!(
                "https://raw.githubusercontent.com/{}/{}/{}",
                parts[0], parts[1], parts[3]
            );
        }
    }
    url.to_string()
}

/// GETs an https:// URL and returns the body as text.
pub async fn get_text(url: &str, timeout: Duration) -> Result<String> {
    let first = raw_github(url);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .map_err(|e| Error::Other(format!("loading the system's trusted certificates: {e}")))?
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let mut current = first;
    for _ in 0..=MAX_REDIRECTS {
        let uri: http::Uri = current
            .parse()
            .map_err(|e| Error::Usage(format!("{current:?} is not a valid URL: {e}")))?;
        let req = http::Request::get(uri)
            .header(http::header::USER_AGENT, "kubectl-capi")
            .body(Empty::new())
            .map_err(|e| Error::Usage(format!("{current:?}: {e}")))?;
        let resp = tokio::time::timeout(timeout, client.request(req))
            .await
            .map_err(|_| Error::Connection(format!("downloading {current}: no answer within {timeout:?}")))?
            .map_err(|e| {
                Error::Connection(format!("downloading {current}: {}", crate::error::root_cause(&e)))
            })?;
        let status = resp.status();
        if status.is_redirection() {
            let Some(next) = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Err(Error::Api(format!(
                    "downloading {current}: {status} without a Location"
                )));
            };
            current = resolve(&current, next);
            if !current.starts_with("https://") {
                return Err(Error::Api(format!(
                    "downloading {url}: redirected to {current}, which is not https"
                )));
            }
            continue;
        }
        if !status.is_success() {
            return Err(Error::NotFound(format!("downloading {current}: {status}")));
        }
        let body = Limited::new(resp.into_body(), MAX_BYTES)
            .collect()
            .await
            .map_err(|e| Error::Connection(format!("downloading {current}: {e}")))?
            .to_bytes();
        return String::from_utf8(body.to_vec())
            .map_err(|_| Error::Api(format!("{current} is not UTF-8 text")));
    }
    Err(Error::Api(format!(
        "downloading {url}: more than {MAX_REDIRECTS} redirects"
    )))
}

/// A Location header relative to the URL it came from.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    if location.starts_with('/') {
        format!("{}{location}", &base[..origin_end])
    } else {
        let dir = base.rfind('/').filter(|i| *i >= origin_end).unwrap_or(origin_end);
        format!("{}/{location}", &base[..dir])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_blob_pages_become_raw_content() {
        assert_eq!(
            raw_github("https://github.com/kubernetes-sigs/cluster-api/blob/main/test/t.yaml"),
            "https://raw.githubusercontent.com/kubernetes-sigs/cluster-api/main/test/t.yaml"
        );
        let release = "https://github.com/o/r/releases/download/v1/cluster-template.yaml";
        assert_eq!(raw_github(release), release);
    }

    #[test]
    fn relative_redirects() {
        assert_eq!(resolve("https://a/b/c", "https://x/y"), "https://x/y");
        assert_eq!(resolve("https://a/b/c", "/z"), "https://a/z");
        assert_eq!(resolve("https://a/b/c", "d"), "https://a/b/d");
    }
}
