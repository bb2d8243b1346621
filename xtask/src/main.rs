//! Project tasks, run as `cargo xtask TASK`:
//!
//! - `demo`: build everything, start a sandbox with demo clusters and show `kubectl capi describe`;
//! - `test`: build the binaries, then run every test of the workspace;
//! - `bench [NAME]`: build optimised binaries and run the benchmarks (they print figures);
//! - `demo-stop`: stop the demo sandbox;
//! - `realstack build|start|stop`: the real kube-apiserver, etcd, kube-controller-manager and
//!   clusterctl built from their Go modules, and a real management cluster started by hand;
//! - `release [--version vX.Y.Z] [--out DIR] [--base-url URL]`: optimised, stripped binaries (the
//!   `dist` profile) packed per platform into `capi-VERSION-OS-ARCH.tar.gz` with LICENSE and
//!   README, their sha256, and `krew-manifests/capi.yaml` rendered from its template.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use xtask::TaskError;

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

fn run(mut c: Command, what: &str) -> Result<(), TaskError> {
    match c.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{what} failed ({s})").into()),
        Err(e) => Err(format!("{what}: cannot run: {e}").into()),
    }
}

fn build_bins(release: bool) -> Result<PathBuf, TaskError> {
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

/// The packages of the plugin binaries (all the demo and an install need).
const PLUGIN_PACKAGES: &[&str] = &[
    "kubectl-capi",
    "kubectl-capi-sandbox",
    "kubectl-capi-describe",
    "kubectl-capi-get-kubeconfig",
    "kubectl-capi-generate",
    "kubectl-capi-scale",
    "kubectl-capi-rollout",
    "kubectl-capi-delete",
    "kubectl-capi-upgrade",
    "kubectl-capi-move",
    "kubectl-capi-diagnose",
    "kubectl-capi-init",
];

/// Builds only the plugin binaries, saying first what a cold build costs.
fn build_plugins(release: bool) -> Result<PathBuf, TaskError> {
    let profile = if release { "release" } else { "debug" };
    let out = root().join("target").join(profile);
    if !out.join("kubectl-capi-sandbox").exists() {
        eprintln!(
            "Building the plugins ({profile} profile). A first build compiles about 350 crates: \
             roughly {} on 2 cores, and target/ grows to about {}; later builds take seconds.",
            if release { "12 minutes" } else { "10 minutes" },
            if release { "1 GB" } else { "1.5 GB" }
        );
    }
    let mut c = cargo();
    c.arg("build");
    for p in PLUGIN_PACKAGES {
        c.args(["-p", p]);
    }
    if release {
        c.arg("--release");
    }
    run(c, "building the plugins")?;
    Ok(out)
}

/// `cargo xtask install [--dir DIR]`: release build, then only the binaries into DIR (default
/// `~/.local/bin`).
fn install(args: &[String]) -> Result<(), TaskError> {
    let dir = match args {
        [] => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".local/bin"))
            .ok_or("HOME is not set: pass --dir DIR")?,
        [flag, d] if flag == "--dir" => PathBuf::from(d),
        _ => return Err("usage: cargo xtask install [--dir DIR]".into()),
    };
    let bin = build_plugins(true)?;
    let installed = xtask::pack::install(&bin, &dir)?;
    println!("Installed {} binaries into {}:", installed.len(), dir.display());
    for p in &installed {
        println!("  {}", p.display());
    }
    let on_path = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == dir));
    if !on_path {
        println!(
            "{} is not on PATH: add it (export PATH={}:$PATH) so kubectl finds the plugins.",
            dir.display(),
            dir.display()
        );
    }
    println!("Check with: kubectl plugin list; kubectl capi");
    Ok(())
}

fn demo() -> Result<(), TaskError> {
    let built = build_plugins(false)?;
    let dir = root().join("target").join("demo");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    // A PATH directory holding only the plugin executables (target/debug also has cargo's
    // `.d` files, which kubectl would report as broken plugins).
    let bin = dir.join("bin");
    xtask::pack::install(&built, &bin)?;
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
    // Its own hints are left out: they name commands for sandboxes of the default home, and
    // the demo's is stopped with `cargo xtask demo-stop` (said once, at the end).
    let started = sandbox(&[
        "start",
        "--name",
        "demo",
        "--demo",
        "--speed",
        "0.25",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
    ])
    .output()
    .map_err(|e| format!("starting the demo sandbox: {e}"))?;
    if !started.status.success() {
        return Err(format!(
            "starting the demo sandbox failed: {}",
            String::from_utf8_lossy(&started.stderr).trim()
        )
        .into());
    }
    for line in String::from_utf8_lossy(&started.stdout)
        .lines()
        .take_while(|l| !l.is_empty())
    {
        println!("{line}");
    }
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
        "\nThe sandbox keeps running, its controllers too. Try it yourself:\n  export KUBECONFIG={} PATH={}:$PATH\n  kubectl capi describe cluster demo --watch      # and, in another terminal:\n  kubectl patch cluster demo --type=merge -p '{{\"spec\":{{\"topology\":{{\"version\":\"v1.34.0\"}}}}}}'\nStop it with: cargo xtask demo-stop (then unset KUBECONFIG)",
        kubeconfig.display(),
        bin.display()
    );
    Ok(())
}

fn demo_stop() -> Result<(), TaskError> {
    let dir = root().join("target").join("demo");
    let mut c = Command::new(dir.join("bin").join("kubectl-capi-sandbox"));
    c.args(["stop", "--name", "demo"])
        .env("CAPI_SANDBOX_HOME", dir.join("sandboxes"));
    let out = c
        .output()
        .map_err(|e| format!("stopping the demo sandbox (has `cargo xtask demo` run?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "stopping the demo sandbox failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let said = String::from_utf8_lossy(&out.stdout);
    println!(
        "{}",
        said.lines().next().unwrap_or("The demo sandbox is stopped.")
    );
    let kc = dir.join("kubeconfig");
    if std::env::var_os("KUBECONFIG").is_some_and(|k| Path::new(&k) == kc) {
        println!(
            "Your KUBECONFIG still points at the stopped sandbox ({}): unset KUBECONFIG",
            kc.display()
        );
    }
    Ok(())
}

/// Builds the binaries and the real stack, then runs every test. The end-to-end tests run on
/// the sandbox and on the real kube-apiserver; then, in a stage of their own, the tests that wait
/// on controllers run against Cluster API's real managers, one at a time (the Dev provider's
/// in-memory backend listens on fixed ports). Only where Go is missing (and not in CI, which must
/// run everything) the real-server tests are left out, with one line saying so. With test
/// arguments (filters), one `cargo test` runs with them as given.
fn test(extra: &[String]) -> Result<(), TaskError> {
    build_bins(false)?;
    let mut skipped: Vec<String> = vec![];
    let real = match capi_realstack::build::go_version() {
        Ok(_) => Some(xtask::realstack::build(&root())?),
        Err(e) if std::env::var_os("CI").is_none() => {
            let line = format!(
                "real-server backend (every `on_real_apiserver` and `on_real_controllers` test): {e}. The sandbox backend runs alone; CI runs both."
            );
            println!("SKIPPED {line}");
            skipped.push(line);
            None
        }
        Err(e) => return Err(format!("CI must run the real-server backend: {e}").into()),
    };
    let staged = extra.is_empty();
    let mut c = cargo();
    c.args(["test", "--workspace"]).args(extra);
    let mut skips: Vec<&str> = vec![];
    match &real {
        Some(bin) => {
            c.env("CAPI_REALSTACK_BIN", bin);
            if staged {
                skips.push("on_real_controllers");
            }
        }
        None => skips.extend(["on_real_apiserver", "on_real_controllers"]),
    }
    if !skips.is_empty() {
        if !extra.iter().any(|a| a == "--") {
            c.arg("--");
        }
        for s in skips {
            c.args(["--skip", s]);
        }
    }
    let mut result = run_counting_skips(c, &mut skipped);
    if let (Some(bin), true, Ok(())) = (&real, staged, &result) {
        println!("\n--- tests on Cluster API's real managers (one at a time)");
        let started = std::time::Instant::now();
        let mut c = cargo();
        c.args(["test", "-p", "capi-e2e", "--test", "e2e", "--"])
            .args(["on_real_controllers", "--test-threads=1"])
            .env("CAPI_REALSTACK_BIN", bin);
        result = run_counting_skips(c, &mut skipped);
        println!(
            "--- Cluster API's real managers: {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    if skipped.is_empty() {
        println!("\nSummary: nothing skipped.");
    } else {
        println!(
            "\nSummary: {} skipped (counted as passed by cargo test, not run here):",
            skipped.len()
        );
        for s in &skipped {
            println!("  SKIPPED {s}");
        }
    }
    result
}

/// Runs `cargo test`, passing its stderr through and collecting the `SKIPPED ...` lines the
/// tests print (libtest has no notion of a test skipped at run time).
fn run_counting_skips(mut c: Command, skipped: &mut Vec<String>) -> Result<(), TaskError> {
    use std::io::{BufRead, Write};
    c.stderr(std::process::Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("cargo test: cannot run: {e}"))?;
    if let Some(err) = child.stderr.take() {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = writeln!(std::io::stderr(), "{line}");
            if let Some(rest) = line.strip_prefix("SKIPPED ") {
                skipped.push(rest.to_string());
            }
        }
    }
    match child.wait() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("cargo test failed ({s})").into()),
        Err(e) => Err(format!("cargo test: {e}").into()),
    }
}

fn bench(which: &[String]) -> Result<(), TaskError> {
    let bin = build_bins(true)?;
    let mut c = cargo();
    c.args(["build", "--release", "-p", "capi-bench"]);
    run(c, "building the benchmarks")?;
    let all = [
        "sandbox",
        "describe",
        "controllers",
        "upgrade",
        "clusterctl",
        "move",
    ];
    let chosen: Vec<&str> = if which.is_empty() {
        all.to_vec()
    } else {
        which.iter().map(String::as_str).collect()
    };
    for b in chosen {
        if !all.contains(&b) {
            return Err(format!("unknown benchmark {b:?} (choose from {})", all.join(", ")).into());
        }
        println!("\n=== bench {b} ===");
        let mut c = Command::new(bin.join(format!("bench-{b}")));
        with_path(&mut c, &bin);
        if b == "clusterctl" {
            // The real clusterctl and kube-apiserver, built from their Go modules.
            c.env("CAPI_REALSTACK_BIN", xtask::realstack::build(&root())?);
        }
        run(c, &format!("bench {b}"))?;
    }
    Ok(())
}

/// Platforms of a release: Go's os/arch names and the Rust target that builds them.
const PLATFORMS: &[(&str, &str, &str)] = &[
    ("linux", "amd64", "x86_64-unknown-linux-gnu"),
    ("linux", "arm64", "aarch64-unknown-linux-gnu"),
    ("darwin", "amd64", "x86_64-apple-darwin"),
    ("darwin", "arm64", "aarch64-apple-darwin"),
];

fn host_triple() -> Option<String> {
    let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("-vV")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
}

fn installed_targets() -> Vec<String> {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The package names under plugins/ (only they ship).
fn plugin_packages() -> Result<Vec<String>, TaskError> {
    let dir = root().join("plugins");
    let mut out = vec![];
    for e in std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))? {
        let manifest = e.map_err(|e| e.to_string())?.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if let Some(name) = text.lines().find_map(|l| {
            l.strip_prefix("name = \"")
                .and_then(|r| r.strip_suffix('"'))
                .map(str::to_string)
        }) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn release(args: &[String]) -> Result<(), TaskError> {
    let mut version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let mut out = root().join("target").join("krew");
    let mut base = String::new();
    let mut base_set = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--version" => version = val()?,
            "--out" => out = PathBuf::from(val()?),
            "--base-url" => {
                base = val()?;
                base_set = true;
            }
            other => return Err(format!("unknown release option {other:?}").into()),
        }
    }
    if !base_set {
        base = format!("https://github.com/kubectl-capi/kubectl-capi/releases/download/{version}");
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let host = host_triple().unwrap_or_default();
    let installed = installed_targets();
    let mut platforms = vec![];
    for (os, arch, triple) in PLATFORMS {
        let native = *triple == host;
        if !native && !installed.iter().any(|t| t == triple) {
            println!(
                "skipping {os}/{arch}: no Rust toolchain for {triple} here (rustup target add {triple}, plus a linker)"
            );
            continue;
        }
        let mut c = cargo();
        c.args(["build", "--profile", "dist", "--bins"]);
        for p in plugin_packages()? {
            c.args(["-p", &p]);
        }
        if !native {
            c.args(["--target", triple]);
        }
        if let Err(e) = run(c, &format!("building {os}/{arch}")) {
            println!("skipping {os}/{arch}: {e}");
            continue;
        }
        let dir = if native {
            root().join("target").join("dist")
        } else {
            root().join("target").join(triple).join("dist")
        };
        let mut files = xtask::pack::binaries(&dir)?;
        files.push(root().join("LICENSE"));
        files.push(root().join("README.md"));
        let name = format!("capi-{version}-{os}-{arch}.tar.gz");
        let archive = out.join(&name);
        xtask::pack::archive(&files, &archive)?;
        let sha = xtask::pack::sha256(&archive)?;
        let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
        println!("{name}: {} bytes, sha256 {sha}", size);
        for f in &files {
            let s = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
            println!(
                "  {:<32} {:>10} bytes",
                f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                s
            );
        }
        std::fs::write(out.join(format!("{name}.sha256")), format!("{sha}  {name}\n"))
            .map_err(|e| format!("writing the checksum: {e}"))?;
        platforms.push(xtask::krew::Platform {
            os: os.to_string(),
            arch: arch.to_string(),
            uri: format!("{base}/{name}"),
            sha256: sha,
        });
    }
    if platforms.is_empty() {
        return Err("no platform could be built".into());
    }
    let tmpl_path = root().join("krew-manifests").join("capi.yaml.tmpl");
    let tmpl =
        std::fs::read_to_string(&tmpl_path).map_err(|e| format!("reading {}: {e}", tmpl_path.display()))?;
    let manifest = xtask::krew::render(&tmpl, &version, &platforms);
    let errs = xtask::krew::validate("capi.yaml", &manifest);
    if !errs.is_empty() {
        return Err(format!("the rendered manifest is invalid:\n  {}", errs.join("\n  ")).into());
    }
    let dest = root().join("krew-manifests").join("capi.yaml");
    std::fs::write(&dest, &manifest).map_err(|e| format!("writing {}: {e}", dest.display()))?;
    std::fs::write(out.join("capi.yaml"), &manifest).map_err(|e| format!("writing the manifest: {e}"))?;
    println!("wrote {} and {}", dest.display(), out.display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("demo-stop") => demo_stop(),
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("release") => release(&args[1..]),
        Some("realstack") => xtask::realstack::task(&root(), &args[1..]),
        Some("crd-structure") => xtask::crd_structure::task(&root(), &args[1..]),
        Some("install") => install(&args[1..]),
        Some("layers") => xtask::layers::task(&root()),
        _ => Err("usage: cargo xtask demo | demo-stop | install [--dir DIR] | test [cargo test args] | bench [sandbox|describe|controllers|upgrade|clusterctl|move] | realstack build|start|stop | crd-structure [--from DIR] [--check] | layers | release".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
