//! `kubectl capi sandbox start|stop|status|serve`: running sandboxes as background processes.
//!
//! Each sandbox NAME has a run directory (`$CAPI_SANDBOX_HOME/NAME`, else
//! `$XDG_STATE_HOME/kubectl-capi/sandbox/NAME`, else `~/.local/state/kubectl-capi/sandbox/NAME`)
//! holding `ready.json` (pid, URL), a standalone `kubeconfig` and `sandbox.log`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use capi_shared::kubeconfig::file::{self as kubeconfig_file, EditOptions, KubeconfigDoc, Section};
use capi_shared::{Error, Result};
use serde_json::{Value, json};

use crate::api::crds::Generation;
use crate::process::server::{Sandbox, SandboxConfig, context_base};

/// Options shared by `start` and `serve`.
#[derive(Debug, Clone)]
pub struct RunOpts {
    /// Sandbox name (`default` unless given).
    pub name: String,
    /// Port; `None` picks (and on restart reuses) one.
    pub port: Option<u16>,
    /// Write a standalone kubeconfig here instead of merging into the user's.
    pub kubeconfig: Option<PathBuf>,
    /// State directory.
    pub state_dir: Option<PathBuf>,
    /// CAPI API generation.
    pub capi_api: Generation,
    /// Run the simulated CAPI controllers.
    pub controllers: bool,
    /// CRD directory instead of the bundled CRDs.
    pub crds: Option<PathBuf>,
    /// Controller delay scale.
    pub speed: f64,
    /// fsync every write.
    pub fsync: bool,
    /// Start even if the state's log is damaged, dropping the damaged records (logged).
    pub discard_damaged_state: bool,
    /// Create the demo clusters at start (when the store has no clusters yet).
    pub demo: bool,
    /// Start without Cluster API CRDs and inventory.
    pub bare: bool,
}

/// The directory all sandboxes' run directories live in.
pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("CAPI_SANDBOX_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| kubeconfig_file::home_dir().map(|h| h.join(".local").join("state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kubectl-capi").join("sandbox")
}

/// The run directory of one sandbox.
pub fn run_dir(name: &str) -> PathBuf {
    home().join(name)
}

/// Validates a sandbox name.
pub fn check_name(name: &str) -> Result<()> {
    if crate::api::validation::is_dns1123_label(name) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid sandbox name {name:?}: use lower-case letters, digits and '-', at most 63 characters"
        )))
    }
}

/// What a running (or dead) sandbox recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Name.
    pub name: String,
    /// Server pid.
    pub pid: i32,
    /// URL.
    pub url: String,
    /// State directory, if any.
    pub state_dir: Option<String>,
    /// Start time (RFC 3339).
    pub started: String,
    /// Whether the process is alive.
    pub running: bool,
    /// Where the start command merged or wrote the kubeconfig.
    pub kubeconfig: Option<String>,
    /// The context name.
    pub context: String,
}

impl Instance {
    /// JSON form for `status -o json`.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "pid": self.pid, "url": self.url, "stateDir": self.state_dir, "started": self.started,
               "running": self.running, "kubeconfig": self.kubeconfig, "context": self.context})
    }
}

/// The command line of a process (Linux: /proc; elsewhere `ps`), if it runs.
fn command_line(pid: i32) -> Option<String> {
    if let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) {
        return Some(
            raw.split(|b| *b == 0)
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let out = std::process::Command::new("ps")
        .args(["-o", "command=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether `pid` is this sandbox's server: alive, and running `serve --name NAME` (PIDs are
/// reused, and the recorded one survives reboots: a stranger must never be trusted or signalled).
fn is_our_server(pid: i32, name: &str) -> bool {
    pid > 0
        && kubeconfig_file::process_alive(pid)
        && command_line(pid).is_some_and(|c| {
            let words: Vec<&str> = c.split_whitespace().collect();
            words.contains(&"serve") && words.windows(2).any(|w| w == ["--name", name])
        })
}

fn read_instance(name: &str) -> Option<Instance> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir(name).join("ready.json")).ok()?).ok()?;
    let pid = v.get("pid")?.as_i64()? as i32;
    Some(Instance {
        name: name.to_string(),
        pid,
        url: v.get("url")?.as_str()?.to_string(),
        state_dir: v.get("stateDir").and_then(Value::as_str).map(str::to_string),
        started: v.get("started").and_then(Value::as_str).unwrap_or("").to_string(),
        running: is_our_server(pid, name),
        kubeconfig: v.get("kubeconfig").and_then(Value::as_str).map(str::to_string),
        context: v
            .get("context")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| context_base(Some(name))),
    })
}

/// Every known sandbox.
pub fn status() -> Vec<Instance> {
    let Ok(entries) = std::fs::read_dir(home()) else {
        return vec![];
    };
    let mut out: Vec<Instance> = entries
        .filter_map(Result::ok)
        .filter_map(|e| read_instance(&e.file_name().to_string_lossy()))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The result of `start`.
#[derive(Debug, Clone)]
pub struct Started {
    /// The instance.
    pub instance: Instance,
    /// The kubeconfig file written or merged into.
    pub kubeconfig: PathBuf,
    /// Whether entries were merged into an existing file (vs. a standalone file).
    pub merged: bool,
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Starts a sandbox in the background (running `exe serve ...`) and waits until it answers.
pub fn start(opts: &RunOpts, exe: &Path) -> Result<Started> {
    check_name(&opts.name)?;
    if let Some(i) = read_instance(&opts.name).filter(|i| i.running) {
        return Err(Error::Other(format!(
            "sandbox {:?} is already running at {} (pid {}); stop it with `kubectl capi sandbox stop --name {}`",
            opts.name, i.url, i.pid, opts.name
        )));
    }
    let dir = run_dir(&opts.name);
    std::fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
    let _ = std::fs::remove_file(dir.join("ready.json"));
    // Reuse the previous port when it is free, so an existing kubeconfig keeps working.
    let previous_port = read_port(&dir);
    let port = opts.port.or(previous_port.filter(|p| port_free(*p))).unwrap_or(0);
    let log_path = dir.join("sandbox.log");
    let log = std::fs::File::create(&log_path).map_err(Error::io("creating", &log_path))?;
    let log2 = log.try_clone().map_err(Error::io("opening", &log_path))?;
    let mut cmd = Command::new(exe);
    cmd.arg("serve")
        .arg("--name")
        .arg(&opts.name)
        .arg("--port")
        .arg(port.to_string());
    cmd.arg("--capi-api")
        .arg(opts.capi_api.as_str())
        .arg("--speed")
        .arg(opts.speed.to_string());
    if let Some(s) = &opts.state_dir {
        cmd.arg("--state-dir").arg(absolute(s));
    }
    if let Some(c) = &opts.crds {
        cmd.arg("--crds").arg(absolute(c));
    }
    if !opts.controllers {
        cmd.arg("--no-controllers");
    }
    if opts.bare {
        cmd.arg("--bare");
    }
    if opts.fsync {
        cmd.arg("--fsync");
    }
    if opts.discard_damaged_state {
        cmd.arg("--discard-damaged-state");
    }
    if opts.demo {
        cmd.arg("--demo");
    }
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .process_group(0);
    let mut child = cmd.spawn().map_err(Error::io("starting", exe))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let instance = loop {
        if let Some(i) = read_instance(&opts.name).filter(|i| i.pid as u32 == child.id()) {
            break i;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Other(format!(
                "the sandbox server exited ({status}) before it was ready; its log ({}) ends with:\n{}",
                log_path.display(),
                tail(&log_path, 20)
            )));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(Error::Timeout(format!(
                "the sandbox server did not become ready within 60s; see {}",
                log_path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    // A start that cannot hand out its kubeconfig must not leave a server behind.
    match publish(opts, &dir, instance) {
        Ok(s) => Ok(s),
        Err(e) => {
            let _ = stop(&opts.name);
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// Writes (or merges) the kubeconfig of a sandbox that is ready.
fn publish(opts: &RunOpts, dir: &Path, instance: Instance) -> Result<Started> {
    let standalone = dir.join("kubeconfig");
    let text = std::fs::read_to_string(&standalone).map_err(Error::io("reading", &standalone))?;
    let src =
        KubeconfigDoc::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", standalone.display())))?;
    let (target, merged) = match &opts.kubeconfig {
        Some(p) => {
            kubeconfig_file::write_atomic(p, text.as_bytes(), 0o600).map_err(Error::io("writing", p))?;
            (p.clone(), false)
        }
        None => {
            let target = kubeconfig_file::default_write_target().ok_or_else(|| {
                Error::Config(
                    "cannot find a kubeconfig to merge into: set KUBECONFIG or HOME, or pass --kubeconfig"
                        .into(),
                )
            })?;
            let base = context_base(Some(&opts.name));
            kubeconfig_file::edit(&target, &EditOptions::default(), |doc| {
                for section in [Section::Clusters, Section::Users, Section::Contexts] {
                    for name in src.names(section) {
                        if let Some(body) = src.get(section, &name) {
                            doc.upsert(section, &name, body.clone());
                        }
                    }
                }
                doc.set_current_context(&base);
                Ok(())
            })?;
            (target, true)
        }
    };
    record_kubeconfig(dir, &target, merged);
    let mut instance = instance;
    instance.kubeconfig = Some(target.display().to_string());
    Ok(Started {
        instance,
        kubeconfig: target,
        merged,
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn read_port(dir: &Path) -> Option<u16> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("last-port")).ok()?).ok()?;
    v.as_u64().map(|p| p as u16)
}

fn record_kubeconfig(dir: &Path, target: &Path, merged: bool) {
    let path = dir.join("ready.json");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(mut v) = serde_json::from_str::<Value>(&text)
    {
        v["kubeconfig"] = json!(target.display().to_string());
        v["merged"] = json!(merged);
        let _ = kubeconfig_file::write_atomic(&path, v.to_string().as_bytes(), 0o600);
    }
}

/// The result of `stop`.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// Whether a process was stopped (vs. already gone).
    pub was_running: bool,
    /// The kubeconfig file entries were removed from, if any.
    pub cleaned: Option<PathBuf>,
}

/// Stops a sandbox and removes the kubeconfig entries `start` merged.
pub fn stop(name: &str) -> Result<Stopped> {
    check_name(name)?;
    let dir = run_dir(name);
    let ready: Value = match std::fs::read_to_string(dir.join("ready.json")) {
        Ok(t) => serde_json::from_str(&t).unwrap_or(json!({})),
        Err(_) => {
            return Err(Error::NotFound(format!(
                "no sandbox named {name:?} (looked in {}); `kubectl capi sandbox status` lists them",
                dir.display()
            )));
        }
    };
    let pid = ready.get("pid").and_then(Value::as_i64).unwrap_or(0) as i32;
    let mut was_running = false;
    if pid > 0 && kubeconfig_file::process_alive(pid) && !is_our_server(pid, name) {
        tracing::warn!("pid {pid} recorded for sandbox {name:?} is another process now: not signalled");
    }
    if is_our_server(pid, name) {
        was_running = true;
        if let Some(p) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while kubeconfig_file::process_alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(25));
            }
            if kubeconfig_file::process_alive(pid) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
    }
    let mut cleaned = None;
    if ready.get("merged").and_then(Value::as_bool) == Some(true)
        && let Some(path) = ready.get("kubeconfig").and_then(Value::as_str).map(PathBuf::from)
    {
        let base = context_base(Some(name));
        let url = ready.get("url").and_then(Value::as_str).unwrap_or("").to_string();
        let r = kubeconfig_file::edit(&path, &EditOptions::default(), |doc| {
            // Only remove entries that still point at this sandbox.
            let ours = doc
                .get(Section::Clusters, &base)
                .and_then(|c| c.get("server"))
                .and_then(Value::as_str)
                == Some(url.as_str());
            if !ours {
                return Ok(false);
            }
            doc.remove(Section::Clusters, &base);
            for u in [format!("{base}-admin"), format!("{base}-readonly")] {
                doc.remove(Section::Users, &u);
            }
            for c in [base.clone(), format!("{base}-readonly")] {
                doc.remove(Section::Contexts, &c);
            }
            if doc
                .current_context()
                .is_some_and(|c| c == base || c == format!("{base}-readonly"))
            {
                doc.set_current_context("");
            }
            Ok(true)
        });
        if let Ok((true, _)) = r {
            cleaned = Some(path);
        }
    }
    let _ = std::fs::remove_file(dir.join("ready.json"));
    Ok(Stopped { was_running, cleaned })
}

/// Runs a sandbox in the foreground until SIGINT/SIGTERM.
pub async fn serve(opts: &RunOpts, on_ready: impl FnOnce(&Sandbox)) -> Result<()> {
    check_name(&opts.name)?;
    let cfg = SandboxConfig {
        port: opts.port.unwrap_or(0),
        state_dir: opts.state_dir.clone(),
        generation: opts.capi_api,
        crds_dir: opts.crds.clone(),
        controllers: opts.controllers,
        speed: opts.speed,
        fsync: opts.fsync,
        discard_damaged_state: opts.discard_damaged_state,
        bare: opts.bare,
        ..Default::default()
    };
    let sandbox = Sandbox::start(cfg)
        .await
        .map_err(|e| Error::Other(format!("starting the sandbox: {e}")))?;
    if opts.demo {
        crate::process::demo::create(sandbox.api(), opts.capi_api, opts.controllers)
            .map_err(|e| Error::Other(format!("creating the demo clusters: {e}")))?;
    }
    let base = context_base(Some(&opts.name));
    let kc = serde_saphyr::to_string(&sandbox.kubeconfig(&base)).unwrap_or_default();
    let dir = run_dir(&opts.name);
    std::fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
    kubeconfig_file::write_atomic(&dir.join("kubeconfig"), kc.as_bytes(), 0o600)
        .map_err(Error::io("writing", dir.join("kubeconfig")))?;
    if let Some(p) = &opts.kubeconfig {
        kubeconfig_file::write_atomic(p, kc.as_bytes(), 0o600).map_err(Error::io("writing", p))?;
    }
    let _ = kubeconfig_file::write_atomic(&dir.join("last-port"), sandbox.port.to_string().as_bytes(), 0o600);
    let ready = json!({
        "pid": std::process::id(), "url": sandbox.url, "port": sandbox.port, "context": base,
        "stateDir": opts.state_dir.as_ref().map(|p| p.display().to_string()),
        "started": crate::store::time::now_rfc3339(), "capiApi": opts.capi_api.as_str(),
    });
    kubeconfig_file::write_atomic(&dir.join("ready.json"), ready.to_string().as_bytes(), 0o600)
        .map_err(Error::io("writing", dir.join("ready.json")))?;
    on_ready(&sandbox);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(Error::io("installing a signal handler", "SIGTERM"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    sandbox.shutdown().await;
    Ok(())
}
