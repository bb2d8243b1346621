//! Child processes that cannot outlive their owner. Each one runs under a small `sh` guard that
//! holds the read end of a pipe from us: when we drop it, exit or are killed (even `kill -9`),
//! the pipe closes and the guard stops the child. The guard leads its own process group, so a
//! final signal to the group leaves nothing behind.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

/// Stops the child when stdin (our pipe) closes; `$@` is the command.
const GUARD: &str = r#"exec 3<&0
"$@" </dev/null &
child=$!
{ cat <&3 >/dev/null; kill -TERM "$child" 2>/dev/null; } &
wait "$child"
"#;

/// A process that is stopped when this value is dropped.
#[derive(Debug)]
pub struct Guarded {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

/// Starting a process failed.
#[derive(Debug, thiserror::Error)]
#[error("starting {name} ({path})")]
pub struct SpawnError {
    /// The component.
    pub name: String,
    /// The binary.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

impl Guarded {
    /// Starts `bin args...` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, bin: &Path, args: &[String], log: &Path) -> Result<Guarded, SpawnError> {
        Self::spawn_with_env(name, bin, args, &[], log)
    }

    /// [`Guarded::spawn`] with environment variables added.
    pub fn spawn_with_env(
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: &Path,
    ) -> Result<Guarded, SpawnError> {
        let err = |source| SpawnError {
            name: name.to_string(),
            path: bin.to_path_buf(),
            source,
        };
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(err)?;
        let errs = out.try_clone().map_err(err)?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(GUARD)
            .arg("guard")
            .arg(bin)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(errs)
            .process_group(0)
            .spawn()
            .map_err(err)?;
        Ok(Guarded {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| !matches!(c.try_wait(), Ok(None)))
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last `lines` lines of the process's log (for error messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops the process: closes its pipe (the guard sends SIGTERM), waits up to `grace`, then
    /// kills what is left of its process group.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        drop(child.stdin.take());
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if !matches!(child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(pgid) = Pid::from_raw(child.id() as i32) {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
        let _ = child.wait();
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}
