//! A client that opens a connection and never finishes its request headers loses the connection
//! after the header read timeout, while other clients are served.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use capi_sandbox::process::server::{Sandbox, SandboxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(sb: &Sandbox) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut sb.credentials.ca.cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", sb.port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_headers_are_cut_off_and_others_are_served() {
    let sb = Sandbox::start(SandboxConfig {
        controllers: false,
        header_read_timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut slow = connect(&sb).await;
    slow.write_all(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();

    // Meanwhile a complete request is answered.
    let mut quick = connect(&sb).await;
    quick
        .write_all(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), quick.read_to_end(&mut answer))
        .await
        .expect("the complete request is answered")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");

    // The slow one is closed: its read ends (an error or end of stream), well within the bound.
    let mut buf = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(
        ended.is_ok(),
        "the unfinished request still holds its connection after 10 s"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&buf).contains("200 OK"),
        "the unfinished request was answered"
    );
}
