//! move benchmark: `kubectl capi move` of one hand-built cluster of 1,000 Machines (3 control
//! plane, 4 MachineDeployments; with their infrastructure machines, bootstrap configs and
//! Secrets, templates and the cluster's Secrets) from one sandbox to another. Reports wall time,
//! the API requests of both servers (from their /metrics) per moved object, and peak RSS; then,
//! where the real clusterctl is built (`cargo xtask realstack build`), `clusterctl move` of the
//! same fixture between two fresh sandboxes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use capi_bench::{Bench, bin_dir, figure, run_measured};
use capi_sandbox::SandboxConfig;
use capi_sandbox::process::fixtures::{ClusterSpec, load};

fn spec() -> ClusterSpec {
    let mut spec = ClusterSpec::new("big", "bench", 3, 0);
    spec.deployments = (0..4)
        .map(|i| (format!("md-{i}"), 250 - usize::from(i > 0)))
        .collect();
    spec
}

fn pair() -> (Bench, Bench, usize) {
    let cfg = || SandboxConfig {
        controllers: false,
        ..Default::default()
    };
    let (src, dst) = (Bench::start(cfg()), Bench::start(cfg()));
    let objects = load(src.sandbox.api(), &spec()).unwrap();
    (src, dst, objects)
}

struct Figures {
    time: Duration,
    requests: u64,
    peak: u64,
    moved: u64,
}

/// Runs `program args` from `src` to `dst`, checks the target got the Machines.
fn measure(src: &Bench, dst: &Bench, program: &std::path::Path, args: &[&str], moved: u64) -> Figures {
    let before = src.requests() + dst.requests();
    let mut c = src.command(program, &bin_dir());
    c.args(args).env("HOME", src.dir.path());
    let (time, peak, out) = run_measured(c);
    assert!(
        out.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = src.requests() + dst.requests() - before;
    Figures {
        time,
        requests,
        peak,
        moved,
    }
}

fn print(tool: &str, f: &Figures) {
    let ms = f.time.as_secs_f64() * 1000.0;
    figure(&format!("{tool}: wall time"), format!("{ms:.0} ms"), "-");
    figure(
        &format!("{tool}: API requests (both servers)"),
        f.requests.to_string(),
        "-",
    );
    figure(
        &format!("{tool}: requests per moved object"),
        format!("{:.2}", f.requests as f64 / f.moved.max(1) as f64),
        "<= 3 (clusterctl ~8)",
    );
    figure(
        &format!("{tool}: peak RSS"),
        format!("{:.1} MB", f.peak as f64 / 1e6),
        "-",
    );
}

fn clusterctl() -> Option<PathBuf> {
    let dir = std::env::var_os("CAPI_REALSTACK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/realstack/bin"));
    Some(dir.join("clusterctl")).filter(|p| p.is_file())
}

fn main() {
    let ours = bin_dir().join("kubectl-capi-move");
    let (src, dst, objects) = pair();
    let to = dst.kubeconfig.to_str().unwrap().to_string();
    let probe = {
        let mut c = src.command(&ours, &bin_dir());
        c.args(["--dry-run", "-n", "bench", "-o", "json"]);
        let (_, _, out) = run_measured(c);
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["count"].as_u64().unwrap()
    };
    println!(
        "move benchmark: one cluster of 1,000 Machines ({objects} objects loaded, {probe} moved) between two sandboxes"
    );
    println!("{:<48} {:>16}   target", "figure", "value");
    for (label, extra) in [
        ("kubectl capi move", vec![]),
        ("kubectl capi move --skip-status", vec!["--skip-status"]),
    ] {
        let (src, dst) = if extra.is_empty() {
            (&src, &dst)
        } else {
            // A fresh pair: the first one's source is empty now.
            let (s, d, _) = pair();
            let f = {
                let to = d.kubeconfig.to_str().unwrap().to_string();
                let mut args = vec!["-n", "bench", "--to-kubeconfig", to.as_str()];
                args.extend(extra.iter().copied());
                measure(&s, &d, &ours, &args, probe)
            };
            print(label, &f);
            continue;
        };
        let mut args = vec!["-n", "bench", "--to-kubeconfig", to.as_str()];
        args.extend(extra.iter().copied());
        let f = measure(src, dst, &ours, &args, probe);
        print(label, &f);
    }
    match clusterctl() {
        Some(cc) => {
            let (s, d, _) = pair();
            let to = d.kubeconfig.to_str().unwrap().to_string();
            let f = measure(
                &s,
                &d,
                &cc,
                &["move", "-n", "bench", "--to-kubeconfig", to.as_str()],
                probe,
            );
            print("clusterctl move", &f);
        }
        None => {
            println!("clusterctl move: SKIPPED (no clusterctl: run `cargo xtask realstack build`, needs Go)")
        }
    }
}
