//! upgrade benchmark: `upgrade plan` and `upgrade apply --dry-run=server` of a hand-built cluster
//! of 1,000 Machines (3 control plane, 4 MachineDeployments). Reports wall time, API requests
//! (from the sandbox's /metrics) and peak RSS: the plan reads one list per kind, whatever the
//! cluster's size.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use capi_bench::{Bench, bin_dir, figure, median, run_measured};
use capi_sandbox::SandboxConfig;
use capi_sandbox::process::fixtures::{ClusterSpec, load};

fn main() {
    let bench = Bench::start(SandboxConfig {
        controllers: false,
        ..Default::default()
    });
    let api = bench.sandbox.api().clone();
    let mut spec = ClusterSpec::new("big", "bench", 3, 0);
    spec.deployments = (0..4)
        .map(|i| (format!("md-{i}"), 250 - usize::from(i > 0)))
        .collect();
    let objects = load(&api, &spec).unwrap();
    let bin = bin_dir();
    let upgrade = bin.join("kubectl-capi-upgrade");
    let runs = 5;
    let measure = |args: &[&str]| {
        let mut times = vec![];
        let mut peak = 0;
        let mut requests = 0;
        for i in 0..runs {
            let before = bench.requests();
            let mut c = bench.command(&upgrade, &bin);
            c.args(args);
            let (t, p, out) = run_measured(c);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            times.push(t);
            peak = peak.max(p);
            if i == 0 {
                requests = bench.requests() - before;
            }
        }
        (median(times), requests, peak)
    };
    let plan = measure(&["plan", "cluster", "big", "-n", "bench", "--to", "v1.34.0"]);
    let dry = measure(&[
        "apply",
        "cluster",
        "big",
        "-n",
        "bench",
        "--to",
        "v1.34.0",
        "--dry-run=server",
    ]);
    let ms = |d: std::time::Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "upgrade benchmark: hand-built cluster of 1,000 Machines ({objects} objects), median of {runs} runs"
    );
    println!("{:<48} {:>16}   target", "figure", "value");
    figure("upgrade plan: wall time", ms(plan.0), "< 300 ms");
    figure("upgrade plan: API requests", plan.1.to_string(), "<= 12");
    figure(
        "upgrade plan: peak RSS",
        format!("{:.1} MB", plan.2 as f64 / 1e6),
        "< 60 MB",
    );
    figure("upgrade apply --dry-run=server: wall time", ms(dry.0), "< 500 ms");
    figure(
        "upgrade apply --dry-run=server: API requests",
        dry.1.to_string(),
        "-",
    );
    figure(
        "upgrade apply --dry-run=server: peak RSS",
        format!("{:.1} MB", dry.2 as f64 / 1e6),
        "-",
    );
}
