//! The sandbox through the `kube` crate: typed APIs, conflicts, paging, the scale subresource,
//! delete results, condition waits and the watcher's relist after an expired resourceVersion; all
//! but the relist (it needs a short watch history) on the real API server too.

use std::time::Duration;

use capi_e2e::{TestSandbox, on_both_backends};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

on_both_backends! {
fn typed_crud_conflicts_and_delete_results(backend) {
    let sb = TestSandbox::on(backend);
    let client = sb.client(false);
    sb.block_on(async {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let created = api.create(&PostParams::default(), &cm("a")).await.unwrap();
        let rv = created.metadata.resource_version.clone().unwrap();
        let err = api.create(&PostParams::default(), &cm("a")).await.unwrap_err();
        assert!(
            matches!(&err, kube::Error::Api(s) if s.is_already_exists()),
            "{err:?}"
        );
        let mut changed = created.clone();
        changed.data = Some([("k".to_string(), "v2".to_string())].into());
        api.replace("a", &PostParams::default(), &changed).await.unwrap();
        // The same stale object again: 409 Conflict.
        let err = api
            .replace("a", &PostParams::default(), &changed)
            .await
            .unwrap_err();
        assert!(matches!(&err, kube::Error::Api(s) if s.is_conflict()), "{err:?}");
        assert_ne!(rv, api.get("a").await.unwrap().metadata.resource_version.unwrap());
        assert!(api.get_opt("missing").await.unwrap().is_none());
        // Delete answers with a Status (gone) or the object (finalizers pending).
        let gone = api.delete("a", &DeleteParams::default()).await.unwrap();
        assert!(gone.is_right());
        let mut held = cm("held");
        held.metadata.finalizers = Some(vec!["x.io/hold".into()]);
        api.create(&PostParams::default(), &held).await.unwrap();
        let pending = api.delete("held", &DeleteParams::default()).await.unwrap();
        let obj = pending.left().expect("object while finalizers remain");
        assert!(obj.metadata.deletion_timestamp.is_some());
        api.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
        assert!(api.get_opt("held").await.unwrap().is_none());
        // Dry run creates nothing.
        api.create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm("dry"),
        )
        .await
        .unwrap();
        assert!(api.get_opt("dry").await.unwrap().is_none());
    });
}
}

on_both_backends! {
fn paging_follows_continue_tokens(backend) {
    let sb = TestSandbox::on(backend);
    let client = sb.client(false);
    sb.block_on(async {
        let ns: Api<Namespace> = Api::all(client.clone());
        ns.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "paging"}})).unwrap(),
        )
        .await
        .unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "paging");
        for i in 0..25 {
            api.create(&PostParams::default(), &cm(&format!("cm-{i:02}")))
                .await
                .unwrap();
        }
        let mut names = vec![];
        let mut lp = ListParams::default().limit(4);
        loop {
            let page = api.list(&lp).await.unwrap();
            assert!(page.items.len() <= 4);
            names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                _ => break,
            }
        }
        // 25 of ours plus kube-root-ca.crt, each once, in name order.
        assert_eq!(names.len(), 26);
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        let labelled = api
            .list(&ListParams::default().fields("metadata.name=cm-07"))
            .await
            .unwrap();
        assert_eq!(labelled.items.len(), 1);
    });
}
}

on_both_backends! {
fn scale_subresource_through_kube(backend) {
    let sb = TestSandbox::on(backend);
    sb.apply(
        "apiVersion: cluster.x-k8s.io/v1beta2\nkind: MachineDeployment\nmetadata: {name: md-0, namespace: default}\nspec:\n  clusterName: c1\n  replicas: 1\n  selector: {matchLabels: {a: b}}\n  template:\n    spec: {clusterName: c1, bootstrap: {dataSecretName: x}, infrastructureRef: {apiGroup: infrastructure.cluster.x-k8s.io, kind: DevMachineTemplate, name: t}}\n",
    );
    let client = sb.client(false);
    sb.block_on(async {
        let gvk = GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta2", "MachineDeployment");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "machinedeployments");
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
        let scale = api.get_scale("md-0").await.unwrap();
        assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(1));
        let scaled = api.patch_scale("md-0", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}}))).await.unwrap();
        assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(4));
        let md = api.get("md-0").await.unwrap();
        assert_eq!(md.data["spec"]["replicas"], 4);
        assert_eq!(md.metadata.generation, Some(2));
        // Status writes leave spec alone and do not bump the generation.
        api.patch_status("md-0", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"replicas": 4}})))
            .await
            .unwrap();
        let md = api.get("md-0").await.unwrap();
        assert_eq!((md.data["spec"]["replicas"].as_i64(), md.data["status"]["replicas"].as_i64(), md.metadata.generation), (Some(4), Some(4), Some(2)));
        // Server-side apply with force, as controllers do.
        let pp = PatchParams::apply("test-controller").force();
        let applied = api
            .patch("md-0", &pp, &Patch::Apply(json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineDeployment", "metadata": {"name": "md-0", "labels": {"x": "y"}}})))
            .await
            .unwrap();
        assert_eq!(applied.metadata.labels.unwrap()["x"], "y");
        // Strategic merge on a custom resource: 415.
        let err = api.patch("md-0", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"paused": true}}))).await.unwrap_err();
        assert!(matches!(&err, kube::Error::Api(s) if s.code == 415), "{err:?}");
    });
}
}

on_both_backends! {
fn await_condition_uses_name_field_selectors(backend) {
    let sb = TestSandbox::on(backend);
    let client = sb.client(false);
    sb.block_on(async {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        api.create(&PostParams::default(), &cm("waited")).await.unwrap();
        let waiter = tokio::spawn(kube::runtime::wait::await_condition(
            api.clone(),
            "waited",
            |o: Option<&ConfigMap>| {
                o.and_then(|c| c.data.as_ref())
                    .and_then(|d| d.get("k"))
                    .is_some_and(|v| v == "done")
            },
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        api.patch(
            "waited",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "done"}})),
        )
        .await
        .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("condition seen")
            .unwrap()
            .unwrap();
        assert_eq!(got.unwrap().data.unwrap()["k"], "done");
    });
}
}

#[test]
fn watcher_relists_after_410() {
    let sb = TestSandbox::with(capi_e2e::Opts {
        watch_history: Some(64),
        ..Default::default()
    });
    let client = sb.client(false);
    sb.block_on(async {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        api.create(&PostParams::default(), &cm("first")).await.unwrap();
        let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
        // Initial list: Init, InitApply..., InitDone.
        loop {
            match stream.try_next().await.unwrap().unwrap() {
                watcher::Event::InitDone => break,
                _ => continue,
            }
        }
        // While the watcher is not reading, far more changes happen than the history keeps.
        for i in 0..400 {
            api.create(&PostParams::default(), &cm(&format!("burst-{i:03}")))
                .await
                .unwrap();
        }
        let mut relisted = false;
        let mut seen_last = false;
        let mut saw_410 = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !(relisted && seen_last) && tokio::time::Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await {
                Ok(Ok(Some(watcher::Event::Init))) => relisted = true,
                Ok(Ok(Some(watcher::Event::InitApply(o) | watcher::Event::Apply(o))))
                    if o.metadata.name.as_deref() == Some("burst-399") =>
                {
                    seen_last = true
                }
                Ok(Ok(Some(_))) => {}
                // The watcher reports the expired resourceVersion, then relists on the next poll.
                Ok(Err(watcher::Error::WatchError(s))) if s.code == 410 => saw_410 = true,
                other => panic!("watcher stream ended or failed: {other:?}"),
            }
        }
        assert!(saw_410, "the watch reported 410 Expired as an event");
        assert!(relisted, "the watcher relisted after the 410");
        assert!(seen_last, "the relist brought the newest object");
    });
}

on_both_backends! {
fn bundled_capi_crds_prune_and_reject_unknown_fields_like_upstream(backend) {
    let sb = TestSandbox::on(backend);
    let cluster = "apiVersion: cluster.x-k8s.io/v1beta2\nkind: Cluster\nmetadata: {name: typo, namespace: default}\nspec:\n  bogus: 1\n  topology: {classRef: {name: quick-start}, version: v1.33.0, controlPlane: {replicas: 1, bogusToo: 2}}\n";
    // kubectl validates strictly by default: both typos are named, nothing is created.
    let o = sb.kubectl().args(["create", "-f", "-"]).stdin_str(cluster);
    let err = capi_e2e::stderr(&o);
    assert!(!o.status.success(), "a typo was accepted");
    assert!(err.contains(r#"unknown field "spec.bogus""#), "{err}");
    assert!(err.contains(r#"unknown field "spec.topology.controlPlane.bogusToo""#), "{err}");
    // Through the kube crate: a POST without fieldValidation keeps the object and prunes them.
    let client = sb.client(false);
    sb.block_on(async {
        let gvk = GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta2", "Cluster");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "clusters");
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": "typo"},
            "spec": {"bogus": 1, "paused": true, "clusterNetwork": {"serviceDomain": "cluster.local", "nope": "x"}}
        }))
        .unwrap();
        let created = api.create(&PostParams::default(), &obj).await.unwrap();
        assert!(created.data["spec"].get("bogus").is_none(), "{:?}", created.data);
        assert!(created.data["spec"]["clusterNetwork"].get("nope").is_none(), "{:?}", created.data);
        assert_eq!(created.data["spec"]["paused"], true);
        assert_eq!(created.data["spec"]["clusterNetwork"]["serviceDomain"], "cluster.local");
        // Where upstream keeps unknown fields (a topology variable's value), so does the sandbox.
        let patch = json!({"spec": {"topology": {"classRef": {"name": "c"}, "version": "v1.33.0",
            "variables": [{"name": "v", "value": {"any": {"shape": [1, 2]}}}]}}});
        let patched = api.patch("typo", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
        assert_eq!(patched.data["spec"]["topology"]["variables"][0]["value"]["any"]["shape"], json!([1, 2]));
    });
}
}
