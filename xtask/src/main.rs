//! Project tasks, run as `cargo xtask TASK`:
//!
//! - `demo`: build everything, start a sandbox with demo clusters and show `kubectl capi describe`;
//! - `test`: build the binaries, then run every test of the workspace;
//! - `bench [NAME]`: build optimised binaries and run the benchmarks (they print figures);
//! - `demo-stop`: stop the demo sandbox.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    match c.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{what} failed ({s})")),
        Err(e) => Err(format!("{what}: cannot run: {e}")),
    }
}

fn build_bins(release: bool) -> Result<PathBuf, String> {
    let mut c = cargo();
    c.args(["build", "--workspace", "--bins"]);
    if release {
        c.arg("--release");
    }
    run(c, "cargo build")?;
    Ok(root()
        .join("target")
        .join(if release { "release" } else { "debug" }))
}

fn with_path(c: &mut Command, bin: &Path) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    if let Ok(p) = std::env::join_paths(dirs) {
        c.env("PATH", p);
    }
}

fn demo() -> Result<(), String> {
    let bin = build_bins(false)?;
    let dir = root().join("target").join("demo");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let kubeconfig = dir.join("kubeconfig");
    let workload = dir.join("demo.kubeconfig");
    let home = dir.join("sandboxes");
    let sandbox = |args: &[&str]| {
        let mut c = Command::new(bin.join("kubectl-capi-sandbox"));
        c.args(args).env("CAPI_SANDBOX_HOME", &home);
        c
    };
    let _ = sandbox(&["stop", "--name", "demo"]).output();
    // A quarter of real-life delays: the clusters provision in seconds, slowly enough to watch.
    run(
        sandbox(&[
            "start",
            "--name",
            "demo",
            "--demo",
            "--speed",
            "0.25",
            "--kubeconfig",
            &kubeconfig.display().to_string(),
        ]),
        "starting the demo sandbox",
    )?;
    let kubectl = |args: &[&str]| {
        let mut c = Command::new("kubectl");
        c.args(args).env("KUBECONFIG", &kubeconfig);
        with_path(&mut c, &bin);
        c
    };
    println!("\n$ kubectl wait --for=condition=Available cluster/demo cluster/edge --timeout=2m");
    run(
        kubectl(&[
            "wait",
            "--for=condition=Available",
            "cluster/demo",
            "cluster/edge",
            "--timeout=2m",
        ]),
        "waiting for the demo clusters",
    )?;
    // Available comes with a control plane quorum; the demo shows every machine up: all created
    // (scaling up is over), then all Ready.
    println!("$ kubectl wait --for=condition=ScalingUp=false cluster/demo cluster/edge --timeout=2m");
    run(
        kubectl(&[
            "wait",
            "--for=condition=ScalingUp=false",
            "cluster/demo",
            "cluster/edge",
            "--timeout=2m",
        ]),
        "waiting for the demo clusters to finish scaling up",
    )?;
    for cond in ["ControlPlaneMachinesReady", "WorkerMachinesReady"] {
        println!("$ kubectl wait --for=condition={cond} cluster/demo cluster/edge --timeout=2m");
        run(
            kubectl(&[
                "wait",
                &format!("--for=condition={cond}"),
                "cluster/demo",
                "cluster/edge",
                "--timeout=2m",
            ]),
            "waiting for the demo clusters' machines",
        )?;
    }
    println!("\n$ kubectl capi describe cluster demo");
    run(
        kubectl(&["capi", "describe", "cluster", "demo"]),
        "kubectl capi describe",
    )?;
    println!("\n$ kubectl capi describe clusters -A");
    run(
        kubectl(&["capi", "describe", "clusters", "-A"]),
        "kubectl capi describe clusters",
    )?;
    let workload_arg = workload.display().to_string();
    println!("\n$ kubectl capi get-kubeconfig demo --output {workload_arg}");
    run(
        kubectl(&["capi", "get-kubeconfig", "demo", "--output", &workload_arg]),
        "kubectl capi get-kubeconfig",
    )?;
    println!("\n$ kubectl --kubeconfig {} get nodes", workload.display());
    let mut nodes = Command::new("kubectl");
    nodes.args(["--kubeconfig", &workload.display().to_string(), "get", "nodes"]);
    run(nodes, "listing the workload cluster's nodes")?;
    println!(
        "\nThe sandbox keeps running, its controllers too. Try it yourself:\n  export KUBECONFIG={} PATH={}:$PATH\n  kubectl capi describe cluster demo --watch      # and, in another terminal:\n  kubectl patch cluster demo --type=merge -p '{{\"spec\":{{\"topology\":{{\"version\":\"v1.34.0\"}}}}}}'\nStop it with: cargo xtask demo-stop",
        kubeconfig.display(),
        bin.display()
    );
    Ok(())
}

fn demo_stop() -> Result<(), String> {
    let bin = root().join("target").join("debug");
    let mut c = Command::new(bin.join("kubectl-capi-sandbox"));
    c.args(["stop", "--name", "demo"]).env(
        "CAPI_SANDBOX_HOME",
        root().join("target").join("demo").join("sandboxes"),
    );
    run(c, "stopping the demo sandbox")
}

fn test(extra: &[String]) -> Result<(), String> {
    build_bins(false)?;
    let mut c = cargo();
    c.args(["test", "--workspace"]).args(extra);
    run(c, "cargo test")
}

fn bench(which: &[String]) -> Result<(), String> {
    let bin = build_bins(true)?;
    let mut c = cargo();
    c.args(["build", "--release", "-p", "capi-bench"]);
    run(c, "building the benchmarks")?;
    let all = ["sandbox", "describe", "controllers"];
    let chosen: Vec<&str> = if which.is_empty() {
        all.to_vec()
    } else {
        which.iter().map(String::as_str).collect()
    };
    for b in chosen {
        if !all.contains(&b) {
            return Err(format!(
                "unknown benchmark {b:?} (choose from {})",
                all.join(", ")
            ));
        }
        println!("\n=== bench {b} ===");
        let mut c = Command::new(bin.join(format!("bench-{b}")));
        with_path(&mut c, &bin);
        run(c, &format!("bench {b}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("demo-stop") => demo_stop(),
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        _ => Err("usage: cargo xtask demo | demo-stop | test [cargo test args] | bench [sandbox|describe|controllers]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
