//! Sandbox benchmark: LIST of 20,000 realistic Machines, GET and PATCH throughput from one
//! client over loopback HTTPS, and resident memory against the stored JSON size.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use capi_bench::{Bench, figure, median, rss};
use capi_sandbox::SandboxConfig;
use capi_sandbox::process::fixtures::{ClusterSpec, load};
use http_body_util::BodyExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

const MACHINES: usize = 20_000;

fn main() {
    let bench = Bench::start(SandboxConfig {
        controllers: false,
        ..Default::default()
    });
    let pid = std::process::id();
    let (rss_before, _) = rss(pid);
    let api = bench.sandbox.api().clone();
    let (n, load) = load_fleet(&api);
    let (_, table) = api
        .store
        .snapshot(&std::sync::Arc::from("cluster.x-k8s.io/machines"));
    let (_, all) = api.store.snapshot_all();
    let json_bytes: usize = all
        .iter()
        .flat_map(|(_, t)| t.iter().map(|(_, o)| o.json.len()))
        .sum();
    let (rss_after, _) = rss(pid);
    let client = bench.client();
    let (list_ms, body_len) = list_once_median(&bench, &client);
    let paged = paged_list(&bench, &client);
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta2", "Machine"),
        "machines",
    );
    let machines: Api<DynamicObject> = Api::namespaced_with(client.clone(), "bench", &ar);
    let names: Vec<String> = table.iter().map(|(k, _)| k.name.clone()).collect();
    let get_rate = get_rate(&bench, &machines, &names);
    let patch_rate = patch_rate(&bench, &machines, &names);
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    let mem = rss_after.saturating_sub(rss_before);
    println!(
        "Sandbox benchmark ({} Machines among {n} objects, {} cores)",
        table.len(),
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1)
    );
    println!("{:<48} {:>16}   target", "figure", "value");
    figure(
        "load (create + status) of 20 clusters",
        format!("{:.2} s", load.as_secs_f64()),
        "-",
    );
    figure(
        "LIST 20,000 Machines, one request (median of 7)",
        format!("{list_ms:.0} ms"),
        "< 300 ms",
    );
    figure("  response size", mb(body_len as u64), "-");
    figure(
        "LIST 20,000 Machines, paged by 500 (40 requests)",
        format!("{:.0} ms", paged.as_secs_f64() * 1000.0),
        "-",
    );
    figure(
        "GET throughput, one client",
        format!("{get_rate:.0} /s"),
        ">= 5,000 /s",
    );
    figure(
        "PATCH (merge) throughput, one client",
        format!("{patch_rate:.0} /s"),
        ">= 1,000 /s",
    );
    figure("stored JSON of all objects", mb(json_bytes as u64), "-");
    figure(
        "resident memory added by the load",
        mb(mem),
        &format!("<= {} (2 x JSON + 50 MB)", mb(2 * json_bytes as u64 + 50_000_000)),
    );
}

/// 20 clusters of 1,000 Machines (3 control plane + 997 workers): realistic Machines with
/// status, labels, owner references and managed fields, written through the REST layer. Whole
/// clusters, so every Machine has its real owners (the garbage collector would otherwise collect
/// them) next to its DevMachine and KubeadmConfig. The objects written and the time taken.
fn load_fleet(api: &capi_sandbox::api::rest::Api) -> (usize, Duration) {
    let start = Instant::now();
    let mut n = 0;
    for c in 0..MACHINES / 1000 {
        let spec = ClusterSpec::new(&format!("c{c:02}"), "bench", 3, 997);
        n += load(api, &spec).unwrap();
    }
    (n, start.elapsed())
}

/// LIST all 20,000 over HTTPS, body fully received (kubectl and kube-rs page by 500; this is the
/// single-request worst case): the median of 7 after a warm-up, in ms, and the body's size.
fn list_once_median(bench: &Bench, client: &kube::Client) -> (f64, usize) {
    let list_once = || {
        bench.rt.block_on(async {
            let req = http::Request::get("/apis/cluster.x-k8s.io/v1beta2/namespaces/bench/machines")
                .body(kube::client::Body::empty())
                .unwrap();
            let start = Instant::now();
            let resp = client.send(req).await.unwrap();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (start.elapsed(), bytes.len())
        })
    };
    let _ = list_once();
    let mut times = vec![];
    let mut body_len = 0;
    for _ in 0..7 {
        let (t, len) = list_once();
        times.push(t);
        body_len = len;
    }
    (median(times).as_secs_f64() * 1000.0, body_len)
}

/// A paged LIST (limit=500) as clients actually do.
fn paged_list(bench: &Bench, client: &kube::Client) -> Duration {
    bench.rt.block_on(async {
        let start = Instant::now();
        let mut cont = String::new();
        loop {
            let uri =
                format!("/apis/cluster.x-k8s.io/v1beta2/namespaces/bench/machines?limit=500&continue={cont}");
            let text = client
                .request_text(http::Request::get(uri).body(vec![]).unwrap())
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            cont = v["metadata"]["continue"].as_str().unwrap_or("").to_string();
            if cont.is_empty() {
                break start.elapsed();
            }
        }
    })
}

/// Sequential GETs from one client (one connection), per second.
fn get_rate(bench: &Bench, machines: &Api<DynamicObject>, names: &[String]) -> f64 {
    let gets = 5_000;
    bench.rt.block_on(async {
        let start = Instant::now();
        for i in 0..gets {
            machines.get(&names[(i * 7) % names.len()]).await.unwrap();
        }
        gets as f64 / start.elapsed().as_secs_f64()
    })
}

/// Sequential merge PATCHes from one client, per second.
fn patch_rate(bench: &Bench, machines: &Api<DynamicObject>, names: &[String]) -> f64 {
    let patches = 2_000;
    bench.rt.block_on(async {
        let start = Instant::now();
        for i in 0..patches {
            let p =
                Patch::Merge(json!({"metadata": {"labels": {"bench.example.com/touched": i.to_string()}}}));
            machines
                .patch(&names[(i * 13) % names.len()], &PatchParams::default(), &p)
                .await
                .unwrap();
        }
        patches as f64 / start.elapsed().as_secs_f64()
    })
}
