//! clusterctl side by side: the real `clusterctl describe cluster` (built from its Go module, see
//! realstack/) and `kubectl-capi-describe cluster` on the same 1,000-Machine fixture, on the same
//! server: the real kube-apiserver, then the sandbox. Prints wall time (median), API requests
//! (from each server's `/metrics`) and peak RSS for both, and their ratios, from one run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use capi_bench::{Bench, bin_dir, median, run_measured};
use capi_realstack::{RealStack, StackOptions};
use capi_sandbox::SandboxConfig;
use capi_sandbox::process::fixtures::{ClusterSpec, cluster_objects, load};

const RUNS: usize = 3;

fn spec() -> ClusterSpec {
    let mut spec = ClusterSpec::new("big", "bench", 3, 0);
    spec.deployments = vec![
        ("md-0".into(), 250),
        ("md-1".into(), 249),
        ("md-2".into(), 249),
        ("md-3".into(), 249),
    ];
    spec.unhealthy = vec!["big-md-1-7d9f8c-00007".into()];
    spec
}

/// Requests a describe can make: the Cluster API groups, CRDs (clusterctl reads contracts from
/// them), Secrets and discovery. The real server's own background traffic (leases, the
/// controller manager's periodic discovery of workloads it does not run) is left out.
fn counted(labels: &BTreeMap<String, String>) -> bool {
    let group = labels.get("group").map(String::as_str).unwrap_or("");
    let resource = labels.get("resource").map(String::as_str).unwrap_or("");
    group.ends_with("cluster.x-k8s.io")
        || group == "apiextensions.k8s.io"
        || (group.is_empty() && matches!(resource, "" | "secrets" | "namespaces"))
}

/// The sum of `apiserver_request_total` over counted label sets.
fn requests(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("apiserver_request_total{"))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once("} ")?;
            let map: BTreeMap<String, String> = labels
                .split("\",")
                .filter_map(|kv| {
                    let (k, v) = kv.split_once("=\"")?;
                    Some((k.to_string(), v.trim_end_matches('"').to_string()))
                })
                .collect();
            counted(&map).then(|| value.trim().parse::<f64>().ok()).flatten()
        })
        .map(|v| v as u64)
        .sum()
}

async fn metrics(client: &kube::Client) -> String {
    let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let resp = client.send(req.map(kube::client::Body::from)).await.unwrap();
    use http_body_util::BodyExt;
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

struct Figures {
    time: Duration,
    requests: u64,
    peak: u64,
}

fn measure(
    rt: &tokio::runtime::Runtime,
    client: &kube::Client,
    kubeconfig: &Path,
    program: &Path,
    args: &[&str],
) -> Figures {
    let mut times = vec![];
    let mut peak = 0;
    let mut reqs = 0;
    for i in 0..RUNS {
        let before = requests(&rt.block_on(metrics(client)));
        let mut c = Command::new(program);
        c.args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("NO_COLOR", "1")
            .env("HOME", kubeconfig.parent().unwrap());
        let (t, p, out) = run_measured(c);
        assert!(
            out.status.success(),
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let machines = String::from_utf8_lossy(&out.stdout).matches("Machine").count();
        assert!(
            machines >= 1000,
            "{}: only {machines} Machine rows",
            program.display()
        );
        let after = requests(&rt.block_on(metrics(client)));
        // The last run: by then the real server's garbage collector has stopped looking up the
        // owners of the objects just loaded (its requests count in the same metric).
        if i == RUNS - 1 {
            reqs = after - before;
        }
        times.push(t);
        peak = peak.max(p);
    }
    Figures {
        time: median(times),
        requests: reqs,
        peak,
    }
}

fn report(server: &str, objects: usize, ours: &Figures, theirs: &Figures) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mb = |b: u64| b as f64 / 1_048_576.0;
    println!(
        "\n{server}: cluster of 1,000 Machines ({objects} objects), median of {RUNS} runs, --grouping=false"
    );
    println!(
        "{:<34} {:>12} {:>10} {:>12}",
        "tool", "wall time", "requests", "peak RSS"
    );
    println!(
        "{:<34} {:>9.0} ms {:>10} {:>9.1} MB",
        "kubectl capi describe cluster",
        ms(ours.time),
        ours.requests,
        mb(ours.peak)
    );
    println!(
        "{:<34} {:>9.0} ms {:>10} {:>9.1} MB",
        "clusterctl describe cluster",
        ms(theirs.time),
        theirs.requests,
        mb(theirs.peak)
    );
    println!(
        "{:<34} {:>12.2} {:>10.3} {:>12.2}",
        "ours / clusterctl",
        ms(ours.time) / ms(theirs.time),
        ours.requests as f64 / theirs.requests.max(1) as f64,
        mb(ours.peak) / mb(theirs.peak)
    );
}

fn realstack_bin() -> PathBuf {
    std::env::var_os("CAPI_REALSTACK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap()
                .join("target/realstack/bin")
        })
}

fn main() {
    let rs = realstack_bin();
    let clusterctl = rs.join("clusterctl");
    assert!(
        clusterctl.is_file(),
        "{} is missing: run `cargo xtask realstack build` (needs Go)",
        clusterctl.display()
    );
    let describe = bin_dir().join("kubectl-capi-describe");
    let ours: Vec<&str> = vec!["cluster", "big", "-n", "bench", "--grouping=false"];
    let theirs: Vec<&str> = vec!["describe", "cluster", "big", "-n", "bench", "--grouping=false"];

    // The real kube-apiserver.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stack = rt
        .block_on(RealStack::start(StackOptions::new(rs.clone())))
        .unwrap_or_else(|e| panic!("real stack: {e:?}"));
    let client = rt.block_on(stack.client(false)).unwrap();
    let objects = rt
        .block_on(capi_realstack::objects::load(
            &client,
            "bench",
            cluster_objects(&spec()),
        ))
        .unwrap();
    let o = measure(&rt, &client, &stack.kubeconfig, &describe, &ours);
    let t = measure(&rt, &client, &stack.kubeconfig, &clusterctl, &theirs);
    report("real kube-apiserver v1.34.4", objects, &o, &t);
    drop(stack);

    // The sandbox.
    let bench = Bench::start(SandboxConfig {
        controllers: false,
        ..Default::default()
    });
    let objects = load(bench.sandbox.api(), &spec()).unwrap();
    let client = bench.client();
    let o = measure(&bench.rt, &client, &bench.kubeconfig, &describe, &ours);
    let t = measure(&bench.rt, &client, &bench.kubeconfig, &clusterctl, &theirs);
    report("sandbox", objects, &o, &t);
}
