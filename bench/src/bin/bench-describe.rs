//! describe benchmark: a cluster of 1,000 Machines (3 control plane, 4 MachineDeployments, with
//! infrastructure machines and bootstrap configs). Reports wall time, API requests (from the
//! sandbox's /metrics) and peak RSS of `kubectl-capi-describe cluster`, next to `kubectl get` of
//! the same kinds with the same label selector; then the fleet view over 2,000 Clusters.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use capi_bench::{Bench, bin_dir, figure, median};
use capi_sandbox::SandboxConfig;
use capi_sandbox::api::rest::{Api, Sub, WriteOpts};
use capi_sandbox::process::fixtures::{ClusterSpec, cluster_objects, load};

fn main() {
    let bench = Bench::start(SandboxConfig {
        controllers: false,
        ..Default::default()
    });
    let api = bench.sandbox.api().clone();
    let objects = load_big_cluster(&api);
    let bin = bin_dir();
    let describe = bin.join("kubectl-capi-describe");
    let runs = 5;
    let (b, program, dir) = (&bench, &describe, &bin);
    let tree = |grouping: &'static str| {
        move || {
            let mut c = b.command(program, dir);
            c.args(["cluster", "big", "-n", "bench", &format!("--grouping={grouping}")]);
            c
        }
    };
    // Grouped runs warm the caches; the ungrouped ones (every Machine a row) are measured.
    bench.measure(0, runs, tree("true"), |_| {});
    let described = bench.measure(0, runs, tree("false"), |_| {});
    let sel = "cluster.x-k8s.io/cluster-name=big";
    let kinds = "clusters,kubeadmcontrolplanes,machinedeployments,machinesets,machines,devmachines,kubeadmconfigs,machinehealthchecks,devclusters";
    let cache = bench.dir.path().join("kubectl-cache");
    // The first run fills kubectl's discovery cache; it is not counted.
    let kubectl = bench.measure(
        1,
        runs,
        || {
            let mut c = bench.command(std::path::Path::new("kubectl"), &bin);
            c.args([
                &format!("--cache-dir={}", cache.display()),
                "get",
                kinds,
                "-n",
                "bench",
                "-l",
                sel,
            ]);
            c
        },
        |_| {},
    );
    load_fleet(&api);
    let fleet = bench.measure(
        0,
        runs,
        || {
            let mut c = bench.command(&describe, &bin);
            c.args(["clusters", "-A"]);
            c
        },
        |o| assert!(String::from_utf8_lossy(&o.stdout).lines().count() > 2000),
    );
    let ms = |d: std::time::Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let d = median(described.times);
    let k = median(kubectl.times);
    println!("describe benchmark: cluster of 1,000 Machines ({objects} objects), median of {runs} runs");
    println!("{:<48} {:>16}   target", "figure", "value");
    figure("describe cluster --grouping=false: wall time", ms(d), "< 300 ms");
    figure(
        "describe cluster: API requests",
        described.requests.to_string(),
        "<= 12",
    );
    figure(
        "describe cluster: peak RSS",
        format!("{:.1} MB", described.peak as f64 / 1e6),
        "< 60 MB",
    );
    figure("kubectl get (same kinds, same selector): wall", ms(k), "-");
    figure(
        "kubectl get: API requests (discovery cached)",
        kubectl.requests.to_string(),
        "-",
    );
    figure(
        "describe time / kubectl time",
        format!("{:.2}", d.as_secs_f64() / k.as_secs_f64()),
        "<= 0.5",
    );
    figure(
        "describe clusters -A (2,000 Clusters): wall",
        ms(median(fleet.times)),
        "< 1.5 s",
    );
    figure(
        "describe clusters -A: API requests",
        fleet.requests.to_string(),
        "-",
    );
    figure(
        "describe clusters -A: peak RSS",
        format!("{:.1} MB", fleet.peak as f64 / 1e6),
        "-",
    );
}

/// The cluster `bench/big`: 3 control plane Machines, 4 MachineDeployments of 997 workers, two
/// unhealthy Machines and a health check. The objects written.
fn load_big_cluster(api: &Api) -> usize {
    let mut spec = ClusterSpec::new("big", "bench", 3, 0);
    spec.deployments = vec![
        ("md-0".into(), 250),
        ("md-1".into(), 249),
        ("md-2".into(), 249),
        ("md-3".into(), 249),
    ];
    spec.unhealthy = vec!["big-md-1-7d9f8c-00007".into(), "big-control-plane-00001".into()];
    spec.health_check = true;
    load(api, &spec).unwrap()
}

/// 2,000 Clusters (Cluster objects with full status) in 20 namespaces, for the fleet view.
fn load_fleet(api: &Api) {
    let opts = WriteOpts::controller("bench");
    let def = api.registry.get("cluster.x-k8s.io", "clusters").unwrap();
    let nsdef = api.registry.get("", "namespaces").unwrap();
    for ns in 0..20 {
        let _ = api.create(&nsdef, "v1", None, serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("fleet-{ns:02}")}}), &opts);
    }
    for i in 0..2000 {
        let ns = format!("fleet-{:02}", i % 20);
        let spec = ClusterSpec::new(&format!("cluster-{i:04}"), &ns, 3, 3);
        let (_, _, obj, status) = cluster_objects(&spec)
            .into_iter()
            .find(|(_, p, _, _)| p == "clusters")
            .unwrap();
        let created = api.create(&def, "v1beta2", Some(&ns), obj, &opts).unwrap();
        let mut o = created.value;
        o["status"] = status.unwrap();
        let name = o["metadata"]["name"].as_str().unwrap().to_string();
        api.update(&def, "v1beta2", Some(&ns), &name, Sub::Status, o, &opts)
            .unwrap();
    }
}
