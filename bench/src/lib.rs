//! Shared helpers of the benchmarks: an in-process sandbox with a kubeconfig, memory readings,
//! request counting from the sandbox's /metrics, and timing of child processes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use capi_sandbox::{Sandbox, SandboxConfig};

/// A line of a figure table.
pub fn figure(name: &str, value: String, target: &str) {
    println!("{name:<48} {value:>16}   {target}");
}

/// Resident memory of a process in bytes (VmRSS), and its peak (VmHWM).
pub fn rss(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Runs a command, returning wall time, peak RSS (sampled from /proc while it runs) and output.
pub fn run_measured(mut cmd: Command) -> (Duration, u64, std::process::Output) {
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let pid = child.id();
    let mut peak = 0;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut v = vec![];
        if let Some(mut s) = stdout {
            let _ = std::io::Read::read_to_end(&mut s, &mut v);
        }
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = vec![];
        if let Some(mut s) = stderr {
            let _ = std::io::Read::read_to_end(&mut s, &mut v);
        }
        v
    });
    let status = loop {
        peak = peak.max(rss(pid).1);
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let elapsed = start.elapsed();
    let output = std::process::Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (elapsed, peak, output)
}

/// A sandbox running in this process, with its kubeconfig written to a temporary directory.
pub struct Bench {
    pub rt: tokio::runtime::Runtime,
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Bench {
    pub fn start(cfg: SandboxConfig) -> Bench {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = rt.block_on(Sandbox::start(cfg)).expect("sandbox");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            serde_saphyr::to_string(&sandbox.kubeconfig("capi-sandbox")).unwrap(),
        )
        .unwrap();
        Bench {
            rt,
            sandbox,
            dir,
            kubeconfig,
        }
    }

    pub fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        self.rt.block_on(async {
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .unwrap();
            kube::Client::try_from(cfg).unwrap()
        })
    }

    /// Total of apiserver_request_total.
    pub fn requests(&self) -> u64 {
        self.sandbox
            .state
            .metrics
            .render()
            .lines()
            .filter(|l| l.starts_with("apiserver_request_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// A command with this sandbox's kubeconfig and `bin` first on PATH.
    pub fn command(&self, program: &Path, bin: &Path) -> Command {
        let mut c = Command::new(program);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1");
        c
    }
}

/// The directory of the running benchmark binary (target/release), where the plugins are.
pub fn bin_dir() -> PathBuf {
    std::env::current_exe().unwrap().parent().unwrap().to_path_buf()
}

/// Median of durations.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Repeated runs of one command: wall times, the peak RSS, and the API requests of the first
/// counted run.
#[derive(Debug, Default)]
pub struct Runs {
    pub times: Vec<Duration>,
    pub peak: u64,
    pub requests: u64,
}

impl Bench {
    /// Runs `command()` `warmups + runs` times, each checked to succeed (and by `check`),
    /// counting only the last `runs`.
    pub fn measure(
        &self,
        warmups: usize,
        runs: usize,
        command: impl Fn() -> Command,
        check: impl Fn(&std::process::Output),
    ) -> Runs {
        let mut out = Runs::default();
        for i in 0..warmups + runs {
            let before = self.requests();
            let (t, peak, o) = run_measured(command());
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            check(&o);
            if i < warmups {
                continue;
            }
            out.times.push(t);
            out.peak = out.peak.max(peak);
            if i == warmups {
                out.requests = self.requests() - before;
            }
        }
        out
    }
}
