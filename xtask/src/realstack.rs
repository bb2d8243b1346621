//! `cargo xtask realstack build|start|stop`: the pinned real components, built from their Go
//! modules, and a real management cluster started by hand in the background (a `serve` process of
//! this binary holds it, so it stops cleanly with `stop` or when that process is killed).

use crate::TaskError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use capi_realstack::build::{self, Layout};
use capi_realstack::{CrdSet, Generation, RealStack, StackOptions};

/// Builds every component (or takes it from the cache), printing progress on stderr.
pub fn build(root: &Path) -> Result<PathBuf, TaskError> {
    let layout = Layout::of_project(root);
    let started = Instant::now();
    let built =
        build::build_all(&layout, &mut |m| eprintln!("realstack: {m}")).map_err(|e| error_chain(&e))?;
    let fresh = built.iter().filter(|b| !b.cached).count();
    eprintln!(
        "realstack: {} components ready in {:.0} s ({fresh} built, {} cached)",
        built.len(),
        started.elapsed().as_secs_f64(),
        built.len() - fresh
    );
    Ok(layout.bin)
}

/// An error with its causes, one per line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

fn run_dir(root: &Path) -> PathBuf {
    root.join("target/realstack/run")
}

/// The CRDs a stack loads, and whether Cluster API's real managers run (`--crds cluster-api`:
/// their own CRDs, webhooks and inventory).
fn crd_set(arg: Option<&str>) -> Result<(CrdSet, bool), TaskError> {
    if arg == Some("cluster-api") {
        return Ok((CrdSet::None, true));
    }
    let set = match arg {
        None | Some("v1beta2") => Ok(CrdSet::Bundled(Generation::V1beta2)),
        Some("v1beta1") => Ok(CrdSet::Bundled(Generation::V1beta1)),
        Some("none") => Ok(CrdSet::None),
        Some(dir) if Path::new(dir).is_dir() => Ok(CrdSet::Dir(PathBuf::from(dir))),
        Some(other) => Err(format!(
            "--crds {other:?}: expected v1beta2 (the bundled CRDs, default), v1beta1, none, cluster-api (Cluster API's real managers with their CRDs) or a folder of CRD files"
        )),
    }?;
    Ok((set, false))
}

fn flag<'a>(args: &'a [String], name: &str) -> Result<Option<&'a str>, TaskError> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .map(|v| Some(v.as_str()))
            .ok_or_else(|| format!("{name} needs a value").into()),
        None => Ok(None),
    }
}

/// The `realstack` task.
pub fn task(root: &Path, args: &[String]) -> Result<(), TaskError> {
    let rest = args.get(1..).unwrap_or_default();
    for a in rest.iter().filter(|a| a.starts_with("--")) {
        if !["--crds", "--dir"].contains(&a.as_str()) {
            return Err(format!(
                "unknown realstack option {a:?} (options: --crds v1beta2|v1beta1|none|cluster-api|DIR, --dir DIR)"
            )
            .into());
        }
    }
    let dir = flag(rest, "--dir")?
        .map(PathBuf::from)
        .unwrap_or_else(|| run_dir(root));
    match args.first().map(String::as_str) {
        Some("build") => build(root).map(|_| ()),
        Some("start") => start(root, &dir, flag(rest, "--crds")?),
        Some("stop") => stop(&dir),
        Some("serve") => serve(root, &dir, flag(rest, "--crds")?),
        _ => Err("usage: cargo xtask realstack build | start [--crds v1beta2|v1beta1|none|cluster-api|DIR] [--dir DIR] | stop [--dir DIR]".into()),
    }
}

fn start(root: &Path, dir: &Path, crds: Option<&str>) -> Result<(), TaskError> {
    crd_set(crds)?;
    if read_pid(dir).is_some_and(is_ours) {
        return Err(format!(
            "a real stack is already running from {} (cargo xtask realstack stop)",
            dir.display()
        )
        .into());
    }
    build(root)?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let log = dir.join("serve.log");
    let out = std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let errs = out.try_clone().map_err(|e| e.to_string())?;
    let mut c = Command::new(exe);
    c.args(["realstack", "serve", "--dir"]).arg(dir);
    if let Some(x) = crds {
        c.args(["--crds", x]);
    }
    use std::os::unix::process::CommandExt;
    let mut child = c
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(errs)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting the stack: {e}"))?;
    eprintln!(
        "realstack: starting etcd, kube-apiserver and kube-controller-manager{}...",
        if crds == Some("cluster-api") {
            ", then Cluster API's managers"
        } else {
            ""
        }
    );
    let end = Instant::now() + Duration::from_secs(240);
    while !dir.join("ready").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("the stack did not start ({status}):\n{text}").into());
        }
        if Instant::now() > end {
            return Err(format!("the stack was not ready after 240 s; see {}", log.display()).into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let kubeconfig = dir.join("kubeconfig");
    println!(
        "A real management cluster (kube-apiserver, etcd, kube-controller-manager) runs on loopback.\n  export KUBECONFIG={}\nLogs in {}. Stop it with: cargo xtask realstack stop",
        kubeconfig.display(),
        dir.display()
    );
    Ok(())
}

fn serve(root: &Path, dir: &Path, crds: Option<&str>) -> Result<(), TaskError> {
    let layout = Layout::of_project(root);
    let mut opts = StackOptions::new(layout.bin);
    opts.dir = Some(dir.to_path_buf());
    (opts.crds, opts.cluster_api) = crd_set(crds)?;
    opts.audit = true;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let stack = RealStack::start(opts).await.map_err(|e| error_chain(&e))?;
        std::fs::write(dir.join("pid"), std::process::id().to_string()).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("ready"), &stack.url).map_err(|e| e.to_string())?;
        eprintln!("serving {} until SIGTERM or Ctrl-C", stack.url);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        drop(stack);
        let _ = std::fs::remove_file(dir.join("ready"));
        let _ = std::fs::remove_file(dir.join("pid"));
        Ok(())
    })
}

fn read_pid(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("pid")).ok()?.trim().parse().ok()
}

/// Whether `pid` is a `realstack serve` of this program (a recorded pid may belong to a
/// stranger after a reboot).
fn is_ours(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
        let words: Vec<&[u8]> = c.split(|b| *b == 0).collect();
        words.iter().any(|w| *w == b"realstack") && words.iter().any(|w| *w == b"serve")
    })
}

fn stop(dir: &Path) -> Result<(), TaskError> {
    let Some(pid) = read_pid(dir).filter(|p| is_ours(*p)) else {
        println!("no real stack is running from {}", dir.display());
        return Ok(());
    };
    let p = rustix::process::Pid::from_raw(pid).ok_or("bad pid")?;
    rustix::process::kill_process(p, rustix::process::Signal::TERM)
        .map_err(|e| format!("stopping process {pid}: {e}"))?;
    let end = Instant::now() + Duration::from_secs(30);
    while is_ours(pid) {
        if Instant::now() > end {
            return Err(format!("process {pid} did not stop within 30 s").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("stopped the real stack of {}", dir.display());
    Ok(())
}
