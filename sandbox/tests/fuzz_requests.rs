//! Property test of request handling: arbitrary methods, paths, content types and bodies never
//! crash the server, never produce a 5xx, always answer errors with a `Status`, and never leave
//! a malformed object in the store.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use axum::body::Body;
use capi_sandbox::api::registry::Registry;
use capi_sandbox::api::rest::{Api, WriteOpts};
use capi_sandbox::http::{ServerState, router};
use capi_sandbox::store::Store;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

fn state() -> Arc<ServerState> {
    let store = Arc::new(Store::new(1_000, 1000));
    let registry = Arc::new(Registry::new());
    let api = Api::new(store, registry.clone());
    let ns = registry.get("", "namespaces").unwrap();
    for n in ["default", "t1"] {
        api.create(
            &ns,
            "v1",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}),
            &WriteOpts::controller("test"),
        )
        .unwrap();
    }
    let crds = registry
        .get("apiextensions.k8s.io", "customresourcedefinitions")
        .unwrap();
    for crd in capi_sandbox::api::crds::bundled(capi_sandbox::api::crds::Generation::V1beta2) {
        let name = crd["metadata"]["name"].as_str().unwrap().to_string();
        api.create(&crds, "v1", None, crd, &WriteOpts::controller("test"))
            .unwrap();
        let obj = api.get(&crds, "v1", None, &name).unwrap();
        registry.upsert(capi_sandbox::api::registry::def_from_crd(&obj).unwrap());
    }
    Arc::new(ServerState {
        api,
        openapi: Default::default(),
        metrics: Default::default(),
        tokens: None,
        address: "127.0.0.1:0".into(),
        bookmark_every: std::time::Duration::from_secs(60),
        workloads: None,
        path_prefix: String::new(),
        // Audited, so the fuzzer also covers recording odd bodies.
        audit: Some(Default::default()),
        clock_skew_secs: 0,
        faults: Default::default(),
    })
}

fn path_strategy() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        Just("api".to_string()),
        Just("apis".to_string()),
        Just("v1".to_string()),
        Just("v1beta2".to_string()),
        Just("cluster.x-k8s.io".to_string()),
        Just("namespaces".to_string()),
        Just("t1".to_string()),
        Just("configmaps".to_string()),
        Just("secrets".to_string()),
        Just("machinedeployments".to_string()),
        Just("clusters".to_string()),
        Just("status".to_string()),
        Just("scale".to_string()),
        Just("finalize".to_string()),
        Just("c1".to_string()),
        Just("openapi".to_string()),
        Just("v3".to_string()),
        Just("..".to_string()),
        "[a-zA-Z0-9._%-]{0,12}",
    ];
    (
        prop::collection::vec(seg, 0..7),
        prop::option::of("[a-zA-Z=&%.,!()-]{0,30}"),
    )
        .prop_map(|(segs, q)| {
            let mut p = format!("/{}", segs.join("/"));
            if let Some(q) = q {
                p.push('?');
                p.push_str(&q);
            }
            p
        })
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let object = (
        prop::option::of("[a-z0-9.-]{0,20}"),
        prop::option::of(prop_oneof![
            Just("ConfigMap"),
            Just("Secret"),
            Just("MachineDeployment"),
            Just("Cluster"),
            Just("X")
        ]),
        prop::option::of(prop_oneof![
            Just("v1"),
            Just("cluster.x-k8s.io/v1beta2"),
            Just("bad")
        ]),
        any::<bool>(),
        any::<i32>(),
    )
        .prop_map(|(name, kind, av, with_data, n)| {
            let mut v = json!({"metadata": {}});
            if let Some(name) = name {
                v["metadata"]["name"] = json!(name);
            }
            if let Some(k) = kind {
                v["kind"] = json!(k);
            }
            if let Some(a) = av {
                v["apiVersion"] = json!(a);
            }
            if with_data {
                v["data"] = json!({"k": n.to_string(), "bad key": n});
                v["spec"] = json!({"replicas": n, "clusterName": "c1"});
                v["metadata"]["labels"] = json!({"l": n.to_string()});
            }
            serde_json::to_vec(&v).unwrap()
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        object,
        Just(br#"[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]"#.to_vec()),
        Just(br#"[{"op":"remove","path":"/x/y/z"}]"#.to_vec()),
        Just(br#"{"spec":{"replicas":-5}}"#.to_vec()),
        Just(b"k8s\0garbage".to_vec()),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop_oneof![
        Just("application/json"),
        Just("application/yaml"),
        Just("application/vnd.kubernetes.protobuf"),
        Just("application/merge-patch+json"),
        Just("application/json-patch+json"),
        Just("application/strategic-merge-patch+json"),
        Just("application/apply-patch+yaml"),
        Just("text/plain"),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]
    #[test]
    fn arbitrary_requests_never_crash_or_5xx(
        reqs in prop::collection::vec((prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("PATCH"), Just("DELETE"), Just("OPTIONS")], path_strategy(), content_type(), body_strategy()), 1..8)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let st = state();
        rt.block_on(async {
            for (method, path, ct, body) in reqs {
                // Watches stream forever; they are covered by the conformance tests.
                if path.contains("watch") { continue; }
                let mut b = http::Request::builder().method(method).uri(&path);
                if let Some(ct) = ct { b = b.header("Content-Type", ct); }
                let Ok(req) = b.body(Body::from(body)) else { continue };
                let resp = router(st.clone()).oneshot(req).await.unwrap();
                let status = resp.status().as_u16();
                let bytes = resp.into_body().collect().await.unwrap().to_bytes();
                prop_assert!(status < 500, "{method} {path} -> {status}: {}", String::from_utf8_lossy(&bytes));
                // Paths no handler serves get kube-apiserver's plain-text 404.
                if status == 404 && &bytes[..] == b"404 page not found\n" { continue; }
                if status >= 400 {
                    let v: Value = serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(format!("{method} {path}: error body is not JSON: {e}")))?;
                    prop_assert_eq!(v["kind"].as_str(), Some("Status"));
                    prop_assert_eq!(v["code"].as_u64(), Some(status as u64));
                }
            }
            let (_, tables) = st.api.store.snapshot_all();
            for (res, table) in tables {
                for (key, obj) in table.iter() {
                    let v = obj.value();
                    prop_assert!(v.is_object(), "{res} {key:?}");
                    prop_assert_eq!(v["metadata"]["name"].as_str(), Some(key.name.as_str()));
                    prop_assert!(v["metadata"]["uid"].is_string());
                }
            }
            Ok(())
        })?;
    }
}
