//! Controller benchmark: 100 topology clusters of 3 control plane + 3 worker machines created at
//! once in fast mode (`--speed 0`); time until every cluster is Available with all 600 Machines
//! Running and their Nodes registered, with the sandbox's CPU time and memory meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use capi_bench::{Bench, figure, rss};
use capi_sandbox::SandboxConfig;
use capi_sandbox::api::rest::{Api, WriteOpts};
use serde_json::{Value, json};

const CLUSTERS: usize = 100;
const CP: i64 = 3;
const WORKERS: i64 = 3;

/// CPU time (user + system) of this process, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name start at field 3 (state); utime and stime are
    // fields 14 and 15. Some fields can be negative, so they are counted, not parsed.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((field(14) + field(15)) * 10)
}

fn main() {
    let bench = Bench::start(SandboxConfig {
        controllers: true,
        speed: 0.0,
        ..Default::default()
    });
    let api = bench.sandbox.api().clone();
    let pid = std::process::id();
    install_class(&api);
    let (rss_before, _) = rss(pid);
    let cpu_before = cpu_time();
    let start = Instant::now();
    create_clusters(&api);
    let seen = wait_until_provisioned(&api, pid, start);
    let cpu = cpu_time() - cpu_before;
    let (rss_after, _) = rss(pid);
    let (_, all) = api.store.snapshot_all();
    let objects: usize = all.iter().map(|(_, t)| t.len()).sum();
    let done = seen.done;
    println!(
        "{CLUSTERS} topology clusters of {CP}+{WORKERS} machines, speed 0 (fast mode), 2 cores, in-process sandbox"
    );
    figure(
        "first cluster Available",
        format!("{:.2} s", seen.first_available.unwrap_or_default().as_secs_f64()),
        "",
    );
    figure(
        "all clusters Available, 600 Machines Running",
        format!("{:.2} s", done.as_secs_f64()),
        "target < 60 s",
    );
    figure(
        "sandbox CPU time while provisioning",
        format!("{:.2} s", cpu.as_secs_f64()),
        "",
    );
    figure(
        "average CPU use (of 2 cores)",
        format!("{:.0} %", 100.0 * cpu.as_secs_f64() / done.as_secs_f64()),
        "",
    );
    figure(
        "resident memory before",
        format!("{:.1} MB", rss_before as f64 / 1e6),
        "",
    );
    figure(
        "resident memory peak while provisioning",
        format!("{:.1} MB", seen.peak_rss as f64 / 1e6),
        "target < 500 MB",
    );
    figure(
        "resident memory after",
        format!("{:.1} MB", rss_after as f64 / 1e6),
        "",
    );
    figure("objects in the management store", format!("{objects}"), "");
    figure(
        "workload API servers",
        format!(
            "{}",
            bench.sandbox.state.workloads.as_ref().map_or(0, |w| w.len())
        ),
        "",
    );
}

/// The ClusterClass and its templates from the project's demo template (its first documents;
/// the rest are the demo clusters themselves), in `default`, and the `fleet` namespace.
fn install_class(api: &Api) {
    let class: String = capi_sandbox::process::demo::TEMPLATE
        .split("\n---\n")
        .take(7)
        .collect::<Vec<_>>()
        .join("\n---\n");
    capi_sandbox::process::demo::apply(api, &class).unwrap();
    let nsdef = api.registry.get("", "namespaces").unwrap();
    api.create(
        &nsdef,
        "v1",
        None,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fleet"}}),
        &WriteOpts::controller("bench"),
    )
    .unwrap();
}

/// The clusters, all at once, in `fleet`, pointing at the class in `default`.
fn create_clusters(api: &Api) {
    let cdef = api.registry.get("cluster.x-k8s.io", "clusters").unwrap();
    for i in 0..CLUSTERS {
        let c = json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": format!("c{i:03}"), "namespace": "fleet"},
            "spec": {"topology": {"classRef": {"name": "sandbox", "namespace": "default"}, "version": "v1.33.0",
                "controlPlane": {"replicas": CP},
                "workers": {"machineDeployments": [{"class": "default-worker", "name": "md-0", "replicas": WORKERS}]}}}
        });
        api.create(
            &cdef,
            "v1beta2",
            Some("fleet"),
            c,
            &WriteOpts::controller("bench"),
        )
        .unwrap();
    }
}

/// What the wait saw: when the first cluster and all were done, and the peak memory.
struct Seen {
    first_available: Option<Duration>,
    done: Duration,
    peak_rss: u64,
}

/// Polls (100 ms) until every cluster is Available, not scaling, with all Machines Running.
fn wait_until_provisioned(api: &Api, pid: u32, start: Instant) -> Seen {
    let cdef = api.registry.get("cluster.x-k8s.io", "clusters").unwrap();
    let mdef = api.registry.get("cluster.x-k8s.io", "machines").unwrap();
    let want = CLUSTERS * (CP + WORKERS) as usize;
    let mut peak_rss = 0;
    let mut first_available: Option<Duration> = None;
    let status = |v: &Value, t: &str| {
        v.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    loop {
        std::thread::sleep(Duration::from_millis(100));
        peak_rss = peak_rss.max(rss(pid).0);
        let clusters = api.list(&cdef, Some("fleet"), &Default::default()).unwrap().items;
        let available = clusters
            .iter()
            .filter(|c| status(&c.value(), "Available"))
            .count();
        if available > 0 && first_available.is_none() {
            first_available = Some(start.elapsed());
        }
        let machines = api.list(&mdef, Some("fleet"), &Default::default()).unwrap().items;
        let running = machines
            .iter()
            .filter(|m| m.value().pointer("/status/phase").and_then(Value::as_str) == Some("Running"))
            .count();
        let scaling = clusters
            .iter()
            .filter(|c| status(&c.value(), "ScalingUp"))
            .count();
        if available == CLUSTERS && running == want && scaling == 0 {
            return Seen {
                first_available,
                done: start.elapsed(),
                peak_rss,
            };
        }
        if start.elapsed() > Duration::from_secs(600) {
            panic!(
                "not done after 10 minutes: {available}/{CLUSTERS} clusters available, {running}/{want} machines running"
            );
        }
    }
}
