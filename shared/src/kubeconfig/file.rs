//! Safe edits of kubeconfig files on disk.
//!
//! Every edit takes the same `<file>.lock` lock file that kubectl (client-go) uses, reads the
//! file, changes only the named entries, writes a temporary file in the same directory with the
//! original mode, syncs it and renames it over the original. A crash at any point leaves either
//! the old or the new file, never a truncated one, and concurrent editors serialise on the lock.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

/// Errors from reading, locking or writing a kubeconfig file.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigFileError {
    /// The file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a YAML kubeconfig.
    #[error("{path} is not a valid kubeconfig: {reason}")]
    Parse {
        /// The file concerned.
        path: PathBuf,
        /// Why parsing failed.
        reason: String,
    },
    /// The requested change was refused (for example a name already taken); nothing was written.
    #[error("{reason} (nothing was written to {path})")]
    Rejected {
        /// The file concerned.
        path: PathBuf,
        /// Why the change was refused.
        reason: String,
    },
    /// Another process held the lock for too long.
    #[error(
        "timed out after {waited:?} waiting for the lock {lock}; if no other kubectl is writing the file, remove the lock file"
    )]
    LockTimeout {
        /// The lock file.
        lock: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
}

type Result<T, E = KubeconfigFileError> = std::result::Result<T, E>;

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> KubeconfigFileError + 'a {
    move |source| KubeconfigFileError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A kubeconfig document held as generic JSON, so fields this crate does not model survive edits.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeconfigDoc {
    root: Map<String, Value>,
}

/// The three named lists of a kubeconfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `clusters[]`, entries hold a `cluster` body.
    Clusters,
    /// `users[]`, entries hold a `user` body.
    Users,
    /// `contexts[]`, entries hold a `context` body.
    Contexts,
}

impl Section {
    fn list_key(self) -> &'static str {
        match self {
            Section::Clusters => "clusters",
            Section::Users => "users",
            Section::Contexts => "contexts",
        }
    }
    fn body_key(self) -> &'static str {
        match self {
            Section::Clusters => "cluster",
            Section::Users => "user",
            Section::Contexts => "context",
        }
    }
}

impl Default for KubeconfigDoc {
    fn default() -> Self {
        let Value::Object(root) = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [],
            "users": [],
            "contexts": [],
            "current-context": "",
        }) else {
            unreachable!("literal is an object")
        };
        KubeconfigDoc { root }
    }
}

/// Text that is not a kubeconfig: not YAML, not a mapping, or a section that is not a list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAKubeconfig(String);

/// Why an edit of a kubeconfig was refused (the file is left as it was).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl From<String> for Refusal {
    fn from(why: String) -> Self {
        Refusal(why)
    }
}

impl From<&str> for Refusal {
    fn from(why: &str) -> Self {
        Refusal(why.to_string())
    }
}

impl KubeconfigDoc {
    /// Parses kubeconfig YAML (or JSON). An empty text gives an empty kubeconfig.
    pub fn parse(text: &str) -> std::result::Result<Self, NotAKubeconfig> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let value: Value = crate::yaml::from_str(text).map_err(|e| NotAKubeconfig(e.to_string()))?;
        match value {
            Value::Object(root) => {
                let mut doc = KubeconfigDoc { root };
                for section in [Section::Clusters, Section::Users, Section::Contexts] {
                    match doc.root.get(section.list_key()) {
                        None | Some(Value::Null) => {
                            doc.root.insert(section.list_key().into(), Value::Array(vec![]));
                        }
                        Some(Value::Array(_)) => {}
                        Some(_) => {
                            return Err(NotAKubeconfig(format!("`{}` must be a list", section.list_key())));
                        }
                    }
                }
                Ok(doc)
            }
            Value::Null => Ok(Self::default()),
            _ => Err(NotAKubeconfig("the top level must be a mapping".into())),
        }
    }

    /// Serialises the document as YAML.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(&Value::Object(self.root.clone())).unwrap_or_default()
    }

    /// The raw document.
    pub fn as_value(&self) -> Value {
        Value::Object(self.root.clone())
    }

    fn list(&self, section: Section) -> &[Value] {
        self.root
            .get(section.list_key())
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn list_mut(&mut self, section: Section) -> &mut Vec<Value> {
        let entry = self
            .root
            .entry(section.list_key())
            .or_insert_with(|| Value::Array(vec![]));
        if !entry.is_array() {
            *entry = Value::Array(vec![]);
        }
        match entry {
            Value::Array(items) => items,
            _ => unreachable!("just made an array"),
        }
    }

    /// Names of the entries in a section, in file order.
    pub fn names(&self, section: Section) -> Vec<String> {
        self.list(section)
            .iter()
            .filter_map(|e| e.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    /// The body (`cluster`, `user` or `context` map) of a named entry.
    pub fn get(&self, section: Section, name: &str) -> Option<&Value> {
        self.list(section)
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|e| e.get(section.body_key()))
    }

    /// Inserts or replaces a named entry, keeping its position when it already exists.
    pub fn upsert(&mut self, section: Section, name: &str, body: Value) {
        let entry = json!({ "name": name, section.body_key(): body });
        let list = self.list_mut(section);
        match list
            .iter_mut()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
        {
            Some(existing) => *existing = entry,
            None => list.push(entry),
        }
    }

    /// Removes a named entry; returns whether it existed.
    pub fn remove(&mut self, section: Section, name: &str) -> bool {
        let list = self.list_mut(section);
        let before = list.len();
        list.retain(|e| e.get("name").and_then(Value::as_str) != Some(name));
        before != list.len()
    }

    /// The current context, if set and non-empty.
    pub fn current_context(&self) -> Option<&str> {
        self.root
            .get("current-context")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Sets (or clears, with an empty string) the current context.
    pub fn set_current_context(&mut self, name: &str) {
        self.root
            .insert("current-context".into(), Value::String(name.to_string()));
    }

    /// A name based on `base` that no entry of `section` uses yet (`base`, `base-2`, `base-3`...).
    pub fn unique_name(&self, section: Section, base: &str) -> String {
        let taken = self.names(section);
        if !taken.iter().any(|n| n == base) {
            return base.to_string();
        }
        (2..)
            .map(|i| format!("{base}-{i}"))
            .find(|c| !taken.contains(c))
            .unwrap_or_else(|| base.into())
    }
}

/// Options for [`edit`].
#[derive(Debug, Clone)]
pub struct EditOptions {
    /// How long to wait for another writer's lock.
    pub lock_timeout: Duration,
    /// Copy the previous file to `<file>.bak` before replacing it.
    pub backup: bool,
}

impl Default for EditOptions {
    fn default() -> Self {
        EditOptions {
            lock_timeout: Duration::from_secs(60),
            backup: false,
        }
    }
}

/// Holds the `<file>.lock` lock file and removes it when dropped.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock next to `target`, waiting up to `timeout`. A lock left by a process that no
    /// longer exists is broken.
    pub fn acquire(target: &Path, timeout: Duration) -> Result<FileLock> {
        let mut lock = target.as_os_str().to_owned();
        lock.push(".lock");
        let lock = PathBuf::from(lock);
        let start = Instant::now();
        let mut delay = Duration::from_millis(5);
        loop {
            match create_with_pid(&lock) {
                Ok(()) => return Ok(FileLock { path: lock }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if let Some(seen) = stale_lock(&lock) {
                        // Only remove the lock we judged stale: another waiter may have broken
                        // it and taken a fresh one in the meantime.
                        if fs::read_to_string(&lock).ok().as_deref() == Some(seen.as_str()) {
                            let _ = fs::remove_file(&lock);
                        }
                        continue;
                    }
                    if start.elapsed() >= timeout {
                        return Err(KubeconfigFileError::LockTimeout {
                            lock,
                            waited: start.elapsed(),
                        });
                    }
                    // Jitter spreads out many waiters retrying at once.
                    let jitter = Duration::from_micros(rand::random::<u64>() % 5000);
                    std::thread::sleep(delay + jitter);
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                Err(e) => return Err(io_err("creating lock file", &lock)(e)),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates the lock file already holding our pid: the pid is written to a private temporary file
/// that is then hard-linked into place, so a process killed at any instant never leaves an empty
/// lock that others would have to wait out.
fn create_with_pid(lock: &Path) -> std::io::Result<()> {
    let mut tmp = lock.as_os_str().to_owned();
    tmp.push(format!(".{}-{:08x}", std::process::id(), rand::random::<u32>()));
    let tmp = PathBuf::from(tmp);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| write!(f, "{}", std::process::id()));
    let linked = written.and_then(|()| fs::hard_link(&tmp, lock));
    let _ = fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            // Filesystems without hard links: create the lock directly.
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(lock)
                .and_then(|mut f| write!(f, "{}", std::process::id()))
        }
        other => other,
    }
}

/// The content of a stale lock: one naming a process that is gone, or (client-go's locks are
/// empty) one older than five minutes.
fn stale_lock(lock: &Path) -> Option<String> {
    let text = fs::read_to_string(lock).ok()?;
    let stale = match text.trim().parse::<i32>() {
        Ok(pid) => !process_alive(pid),
        Err(_) => fs::metadata(lock)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > Duration::from_secs(300)),
    };
    stale.then_some(text)
}

/// Whether a process with this pid exists (signal 0 probe). A zombie (killed, not yet reaped
/// by its parent) counts as gone.
pub fn process_alive(pid: i32) -> bool {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    let exists = match rustix::process::test_kill_process(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    };
    if !exists {
        return false;
    }
    // /proc/PID/stat is "pid (comm) STATE ..."; comm may contain spaces, so split after ')'.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, synced, given
/// `mode`, then renamed over `path`. Readers see the old file or the new one, never a mix. A
/// symlink at `path` (even a dangling one) is kept and the file it names is written, as
/// kubectl and shell redirection do.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let path = &follow_symlinks(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporary files (`.<file>.tmp-PID-*`, `.<file>.bak.tmp-PID-*`) that writers killed
/// mid-write left next to `target`: they hold full credentials and would accumulate. Only those
/// of processes that are gone; called under the lock.
fn remove_stale_temporaries(target: &Path) {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = name.to_string_lossy();
    let prefixes = [format!(".{name}.tmp-"), format!(".{name}.bak.tmp-")];
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = prefixes.iter().find_map(|p| file.strip_prefix(p.as_str())) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| !process_alive(p)) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The file a path names after following its symlinks, also when the last one dangles (the
/// file it points at is then the one to create).
pub fn follow_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    // Linux's own limit on a chain of symlinks (ELOOP beyond it).
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// Locks `path`, reads it (a missing file is an empty kubeconfig), lets `change` edit it, and
/// writes the result back atomically with the file's previous mode (0600 for a new file). Nothing
/// is written when `change` fails or leaves the document unchanged.
pub fn edit<T>(
    path: &Path,
    opts: &EditOptions,
    change: impl FnOnce(&mut KubeconfigDoc) -> std::result::Result<T, Refusal>,
) -> Result<(T, bool)> {
    // The edit replaces the real file, as kubectl's does.
    let target = follow_symlinks(path).map_err(io_err("resolving", path))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io_err("creating directory", dir))?;
    }
    // The lock is the one kubectl takes: next to the path as given (a symlink's own name), while
    // the write goes through to the file it points at.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io_err("creating directory", dir))?;
    }
    let _lock = FileLock::acquire(path, opts.lock_timeout)?;
    remove_stale_temporaries(&target);
    let (text, mode) = match fs::read_to_string(&target) {
        Ok(t) => {
            let mode = fs::metadata(&target)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o600);
            (t, mode)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => (String::new(), 0o600),
        Err(e) => return Err(io_err("reading", &target)(e)),
    };
    let mut doc = KubeconfigDoc::parse(&text).map_err(|e| KubeconfigFileError::Parse {
        path: target.clone(),
        reason: e.0,
    })?;
    let before = doc.clone();
    let out = change(&mut doc).map_err(|e| KubeconfigFileError::Rejected {
        path: target.clone(),
        reason: e.0,
    })?;
    if doc == before && !text.is_empty() {
        return Ok((out, false));
    }
    if opts.backup && !text.is_empty() {
        let mut bak = target.as_os_str().to_owned();
        bak.push(".bak");
        write_atomic(Path::new(&bak), text.as_bytes(), 0o600).map_err(io_err("writing backup", &target))?;
    }
    write_atomic(&target, doc.to_yaml().as_bytes(), mode).map_err(io_err("writing", &target))?;
    Ok((out, true))
}

/// The file kubectl writes to: the first entry of `KUBECONFIG`, else `~/.kube/config`.
pub fn default_write_target() -> Option<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty())
    {
        return Some(first);
    }
    home_dir().map(|h| h.join(".kube").join("config"))
}

/// The user's home directory from `$HOME`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// How a kubeconfig file problem is reported: a refused edit is a usage error, a file that
/// cannot be read or written an I/O one, anything else a bad kubeconfig.
impl From<KubeconfigFileError> for crate::Error {
    fn from(e: crate::kubeconfig::file::KubeconfigFileError) -> crate::Error {
        use crate::Error;
        use KubeconfigFileError as E;
        match e {
            E::Rejected { .. } => Error::Usage(e.to_string()),
            E::Io { .. } => Error::Other(e.to_string()),
            _ => Error::Config(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_keeps_other_entries_and_order() {
        let mut doc = KubeconfigDoc::parse(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: https://a}\n- name: b\n  cluster: {server: https://b}\nusers: []\ncontexts: []\ncurrent-context: x\nextra: kept\n",
        )
        .unwrap();
        doc.upsert(Section::Clusters, "a", json!({"server": "https://a2"}));
        doc.upsert(Section::Clusters, "c", json!({"server": "https://c"}));
        assert_eq!(doc.names(Section::Clusters), ["a", "b", "c"]);
        assert_eq!(doc.get(Section::Clusters, "a").unwrap()["server"], "https://a2");
        assert_eq!(doc.current_context(), Some("x"));
        assert!(doc.to_yaml().contains("extra: kept"));
        assert_eq!(doc.unique_name(Section::Clusters, "a"), "a-2");
        assert!(doc.remove(Section::Clusters, "b"));
        assert!(!doc.remove(Section::Clusters, "b"));
    }

    #[test]
    fn edit_creates_0600_file_and_preserves_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config");
        let (_, changed) = edit(&path, &EditOptions::default(), |d| {
            d.upsert(Section::Contexts, "x", json!({"cluster": "c", "user": "u"}));
            Ok(())
        })
        .unwrap();
        assert!(changed);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let opts = EditOptions {
            backup: true,
            ..Default::default()
        };
        edit(&path, &opts, |d| {
            d.set_current_context("x");
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        assert!(dir.path().join("sub/config.bak").exists());
        assert!(!dir.path().join("sub/config.lock").exists());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("current-context: x"), "{text}");
    }

    #[test]
    fn failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, "apiVersion: v1\nkind: Config\n").unwrap();
        let r: Result<((), bool)> = edit(&path, &EditOptions::default(), |_| Err("nope".into()));
        assert!(matches!(r, Err(KubeconfigFileError::Rejected { .. })), "{r:?}");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "apiVersion: v1\nkind: Config\n"
        );
    }

    #[test]
    fn temporaries_of_killed_writers_are_removed_on_the_next_edit() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        fs::write(&cfg, "apiVersion: v1\nkind: Config\n").unwrap();
        let dead = [
            ".config.tmp-999999999-0000abcd",
            ".config.bak.tmp-999999999-00001234",
        ];
        let alive = format!(".config.tmp-{}-00000001", std::process::id());
        for f in dead.iter().map(|s| s.to_string()).chain([alive.clone()]) {
            fs::write(dir.path().join(f), "secret").unwrap();
        }
        edit(&cfg, &EditOptions::default(), |d| {
            d.set_current_context("chained");
            Ok(())
        })
        .unwrap();
        for f in dead {
            assert!(!dir.path().join(f).exists(), "{f} left behind");
        }
        assert!(
            dir.path().join(&alive).exists(),
            "a live writer's file is not touched"
        );
    }

    #[test]
    fn a_symlinked_kubeconfig_is_locked_where_kubectl_locks_it() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        let link = dir.path().join("config");
        fs::write(&real, "apiVersion: v1\nkind: Config\n").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        // kubectl holds `config.lock` (the given path's), alive: the edit must wait for it.
        fs::write(dir.path().join("config.lock"), std::process::id().to_string()).unwrap();
        let opts = EditOptions {
            lock_timeout: Duration::from_millis(200),
            ..Default::default()
        };
        let e = edit(&link, &opts, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("config.lock"), "{e}");
        fs::remove_file(dir.path().join("config.lock")).unwrap();
        edit(&link, &opts, |d| {
            d.set_current_context("x");
            Ok(())
        })
        .unwrap();
        assert!(
            fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
            "still a symlink"
        );
        assert!(fs::read_to_string(&real).unwrap().contains("current-context: x"));
    }

    #[test]
    fn dangling_and_chained_symlinks_are_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let is_link = |p: &Path| fs::symlink_metadata(p).unwrap().file_type().is_symlink();
        // A dangling symlink (`--output`, `--merge --into`): the file it names is created.
        let link = dir.path().join("out");
        std::os::unix::fs::symlink("sub/real", &link).unwrap();
        write_atomic(&link, b"kind: Config\n", 0o600).unwrap();
        assert!(is_link(&link), "the symlink was replaced");
        assert_eq!(
            fs::read_to_string(dir.path().join("sub/real")).unwrap(),
            "kind: Config\n"
        );
        // A chain of two, through an edit.
        let first = dir.path().join("config");
        std::os::unix::fs::symlink(&link, &first).unwrap();
        edit(&first, &EditOptions::default(), |d| {
            d.set_current_context("chained");
            Ok(())
        })
        .unwrap();
        assert!(is_link(&first) && is_link(&link));
        assert!(
            fs::read_to_string(dir.path().join("sub/real"))
                .unwrap()
                .contains("current-context: chained")
        );
        // A loop is an error, not a hang.
        let a = dir.path().join("a");
        std::os::unix::fs::symlink(dir.path().join("b"), &a).unwrap();
        std::os::unix::fs::symlink(&a, dir.path().join("b")).unwrap();
        let e = write_atomic(&a, b"x", 0o600).unwrap_err();
        assert!(e.to_string().contains("too many levels of symbolic links"), "{e}");
    }

    #[test]
    fn stale_lock_of_dead_process_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        // A pid far above pid_max cannot be alive.
        fs::write(dir.path().join("config.lock"), "999999999").unwrap();
        let opts = EditOptions {
            lock_timeout: Duration::from_millis(200),
            backup: false,
        };
        edit(&path, &opts, |d| {
            d.set_current_context("chained");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn rejects_garbage() {
        assert!(KubeconfigDoc::parse("- a\n- b\n").is_err());
        assert!(KubeconfigDoc::parse("clusters: 3\n").is_err());
    }
}
