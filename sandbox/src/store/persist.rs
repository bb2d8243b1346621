//! Durability for `--state-dir`: a snapshot file plus an append-only write-ahead log.
//!
//! Every commit appends one line to `wal.jsonl` with a single `write` before the API answers, so
//! an acknowledged write survives the process being killed (`kill -9`). The log is folded into
//! `snapshot.jsonl` (written to a temporary file and renamed) when it grows. On start the snapshot
//! is loaded and the log replayed; a torn last line from a crash mid-write is ignored. Lines carry
//! resourceVersions, so replaying a record already in the snapshot is harmless.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;

use super::{ObjKey, ResKey, Table};

/// One replayed record.
#[derive(Debug)]
pub enum Record {
    /// An object version.
    Put {
        /// Resource.
        res: String,
        /// Object (with its resourceVersion).
        obj: Value,
        /// Its resourceVersion.
        rv: u64,
    },
    /// A deletion.
    Delete {
        /// Resource.
        res: String,
        /// Object key.
        key: ObjKey,
        /// The deletion's resourceVersion.
        rv: u64,
    },
}

/// The write-ahead log of a state directory.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    file: File,
    size: u64,
    threshold: u64,
    fsync: bool,
}

const WAL: &str = "wal.jsonl";
const SNAPSHOT: &str = "snapshot.jsonl";
const LOCK: &str = "lock";

/// An exclusive lock on a state directory, held for the sandbox's lifetime (released when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Prepares a state directory: creates it private (0700), makes the files already in it private
/// (0600: they hold every Secret and the CA key), and takes its lock. A second sandbox on the
/// same directory is refused, naming the process that holds it.
pub fn prepare_dir(dir: &Path) -> std::io::Result<DirLock> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    for e in fs::read_dir(dir)?.flatten() {
        if e.file_type().is_ok_and(|t| t.is_file()) {
            fs::set_permissions(e.path(), fs::Permissions::from_mode(0o600))?;
        }
    }
    let path = dir.join(LOCK);
    let mut file = private()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)?;
    if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        let holder = fs::read_to_string(&path).unwrap_or_default();
        return Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!(
                "another sandbox (pid {}) is using this state directory; stop it first or use another --state-dir",
                holder
                    .trim()
                    .parse::<u32>()
                    .map_or("unknown".to_string(), |p| p.to_string())
            ),
        ));
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    Ok(DirLock { _file: file })
}

/// Options that create files readable by their owner only (they hold Secrets and the CA key).
fn private() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}

fn private_file(path: &Path) -> std::io::Result<File> {
    private().create(true).append(true).open(path)
}

impl Wal {
    /// Opens (creating) the state directory and returns the log plus every record to replay.
    /// Only a torn final line (a crash mid-write) is dropped silently-but-logged; any other
    /// unreadable line refuses the start (naming file and line) unless `discard_damaged`.
    pub fn open(dir: &Path, fsync: bool, discard_damaged: bool) -> std::io::Result<(Wal, Vec<Record>)> {
        fs::create_dir_all(dir)?;
        let mut records = vec![];
        let mut snapshot_rv = 0;
        let damaged = |file: &str, n: usize, why: &str| -> std::io::Result<()> {
            let what = format!("{} line {n} is damaged ({why})", dir.join(file).display());
            if discard_damaged {
                tracing::warn!("{what}: dropped, with everything it recorded (--discard-damaged-state)");
                Ok(())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{what}; refusing to start, as its writes would be lost. Restore the directory from a backup, or start with --discard-damaged-state to drop the damaged records"
                    ),
                ))
            }
        };
        if let Ok(bytes) = fs::read(dir.join(SNAPSHOT)) {
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let v = match serde_json::from_slice::<Value>(line) {
                    Ok(v) => v,
                    Err(e) => {
                        damaged(SNAPSHOT, i + 1, &e.to_string())?;
                        continue;
                    }
                };
                if let Some(rv) = v.get("snapshotRV").and_then(Value::as_u64) {
                    snapshot_rv = rv;
                    continue;
                }
                match parse_record(&v) {
                    Some(r) => records.push(r),
                    None => damaged(SNAPSHOT, i + 1, "not a record")?,
                }
            }
        }
        let wal_path = dir.join(WAL);
        if let Ok(bytes) = fs::read(&wal_path) {
            // A torn last line (crash mid-write) is cut off so later appends start on a fresh line.
            let valid = bytes
                .iter()
                .rposition(|b| *b == b'\n')
                .map(|i| i + 1)
                .unwrap_or(0);
            if valid < bytes.len() {
                tracing::warn!(
                    "{}: dropped a torn final line of {} bytes (a write cut short by a crash; it was never acknowledged)",
                    wal_path.display(),
                    bytes.len() - valid
                );
                OpenOptions::new()
                    .write(true)
                    .open(&wal_path)?
                    .set_len(valid as u64)?;
            }
            for (i, line) in bytes[..valid].split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let v = match serde_json::from_slice::<Value>(line) {
                    Ok(v) => v,
                    Err(e) => {
                        damaged(WAL, i + 1, &e.to_string())?;
                        continue;
                    }
                };
                let Some(r) = parse_record(&v) else {
                    damaged(WAL, i + 1, "not a record")?;
                    continue;
                };
                let rv = match &r {
                    Record::Put { rv, .. } | Record::Delete { rv, .. } => *rv,
                };
                if rv > snapshot_rv {
                    records.push(r);
                }
            }
        }
        let file = private_file(&wal_path)?;
        let size = file.metadata()?.len();
        Ok((
            Wal {
                dir: dir.to_path_buf(),
                file,
                size,
                threshold: 64 << 20,
                fsync,
            },
            records,
        ))
    }

    /// Appends one record with a single write. `obj` is `None` for deletions.
    pub fn append(
        &mut self,
        rv: u64,
        res: &ResKey,
        key: &ObjKey,
        obj: Option<&Bytes>,
    ) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(obj.map(|o| o.len()).unwrap_or(0) + 128);
        line.extend_from_slice(b"{\"rv\":");
        line.extend_from_slice(rv.to_string().as_bytes());
        line.extend_from_slice(b",\"res\":");
        line.extend_from_slice(&serde_json::to_vec(&**res).unwrap_or_default());
        line.extend_from_slice(b",\"ns\":");
        line.extend_from_slice(&serde_json::to_vec(&key.ns).unwrap_or_default());
        line.extend_from_slice(b",\"name\":");
        line.extend_from_slice(&serde_json::to_vec(&key.name).unwrap_or_default());
        match obj {
            Some(o) => {
                line.extend_from_slice(b",\"obj\":");
                line.extend_from_slice(o);
            }
            None => line.extend_from_slice(b",\"deleted\":true"),
        }
        line.extend_from_slice(b"}\n");
        self.file.write_all(&line)?;
        if self.fsync {
            self.file.sync_data()?;
        }
        self.size += line.len() as u64;
        Ok(())
    }

    /// Whether the log has grown enough to be folded into a snapshot.
    pub fn wants_compaction(&self) -> bool {
        self.size > self.threshold
    }

    /// Writes a full snapshot at `rv` and empties the log. On failure the log is kept as it is.
    pub fn compact(&mut self, rv: u64, tables: &[(ResKey, Table)]) {
        if self.write_snapshot(rv, tables).is_ok()
            && let Ok(f) = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(self.dir.join(WAL))
        {
            drop(f);
            if let Ok(f) = OpenOptions::new().append(true).open(self.dir.join(WAL)) {
                self.file = f;
                self.size = 0;
            }
        }
    }

    fn write_snapshot(&self, rv: u64, tables: &[(ResKey, Table)]) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("{SNAPSHOT}.tmp"));
        let mut out = std::io::BufWriter::new(private().create(true).write(true).truncate(true).open(&tmp)?);
        writeln!(out, "{{\"snapshotRV\":{rv}}}")?;
        for (res, table) in tables {
            for (key, obj) in table.iter() {
                let mut line = Vec::with_capacity(obj.json.len() + 96);
                line.extend_from_slice(b"{\"rv\":");
                line.extend_from_slice(obj.rv.to_string().as_bytes());
                line.extend_from_slice(b",\"res\":");
                line.extend_from_slice(&serde_json::to_vec(&**res).unwrap_or_default());
                line.extend_from_slice(b",\"ns\":");
                line.extend_from_slice(&serde_json::to_vec(&key.ns).unwrap_or_default());
                line.extend_from_slice(b",\"name\":");
                line.extend_from_slice(&serde_json::to_vec(&key.name).unwrap_or_default());
                line.extend_from_slice(b",\"obj\":");
                line.extend_from_slice(&obj.json);
                line.extend_from_slice(b"}\n");
                out.write_all(&line)?;
            }
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, self.dir.join(SNAPSHOT))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn parse_record(v: &Value) -> Option<Record> {
    let rv = v.get("rv")?.as_u64()?;
    let res = v.get("res")?.as_str()?.to_string();
    if v.get("deleted").and_then(Value::as_bool) == Some(true) {
        let key = ObjKey::new(v.get("ns")?.as_str()?, v.get("name")?.as_str()?);
        return Some(Record::Delete { res, key, rv });
    }
    Some(Record::Put {
        res,
        obj: v.get("obj")?.clone(),
        rv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Precondition, Store, Write as StoreWrite};
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn replay_survives_torn_tail_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let res: ResKey = Arc::from("/configmaps");
        {
            let (wal, recs) = Wal::open(dir.path(), false, false).unwrap();
            assert!(recs.is_empty());
            let store = Store::new(10, 100);
            store.attach_wal(wal);
            for n in ["a", "b", "c"] {
                let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": "ns"}});
                store
                    .commit(
                        &res,
                        &ObjKey::new("ns", n),
                        Precondition::MustNotExist,
                        StoreWrite::Put(obj),
                    )
                    .unwrap();
            }
            store
                .commit(
                    &res,
                    &ObjKey::new("ns", "b"),
                    Precondition::Exists,
                    StoreWrite::Delete(None),
                )
                .unwrap();
        }
        // Simulate a crash in the middle of a write.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(WAL))
            .unwrap();
        f.write_all(b"{\"rv\":99,\"res\":\"/configmaps\",\"ns\":\"ns\",\"name\":\"z\",\"obj\":{\"metad")
            .unwrap();
        drop(f);
        let (mut wal, recs) = Wal::open(dir.path(), false, false).unwrap();
        assert_eq!(recs.len(), 4);
        assert!(fs::read(dir.path().join(WAL)).unwrap().ends_with(b"\n"));
        assert!(matches!(&recs[3], Record::Delete { key, .. } if key.name == "b"));
        let store = Store::new(1, 100);
        for r in recs {
            match r {
                Record::Put { res, obj, rv } => store.load(&Arc::from(res.as_str()), obj, rv),
                Record::Delete { res, key, .. } => store.unload(&Arc::from(res.as_str()), &key),
            }
        }
        let (rv, tables) = store.snapshot_all();
        assert_eq!(rv, 13);
        assert_eq!(tables[0].1.len(), 2);
        wal.compact(rv, &tables);
        let (_, recs) = Wal::open(dir.path(), false, false).unwrap();
        assert_eq!(recs.len(), 2);
    }

    fn record(rv: u64, name: &str) -> String {
        format!(
            "{{\"rv\":{rv},\"res\":\"/configmaps\",\"ns\":\"ns\",\"name\":\"{name}\",\"obj\":{{\"metadata\":{{\"name\":\"{name}\"}}}}}}\n"
        )
    }

    #[test]
    fn damage_inside_the_log_refuses_to_start_unless_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let good = format!("{}{}{}", record(1, "a"), record(2, "b"), record(3, "c"));
        // One byte damaged in the middle line, then in the last complete line.
        for (at, line) in [
            (good.find("\"b\"").unwrap(), 2),
            (good.rfind("\"c\"").unwrap(), 3),
        ] {
            let mut bytes = good.clone().into_bytes();
            bytes[at] = b'{';
            fs::write(dir.path().join(WAL), &bytes).unwrap();
            let e = Wal::open(dir.path(), false, false).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            assert!(
                e.to_string()
                    .contains(&format!("wal.jsonl line {line} is damaged")),
                "{e}"
            );
            assert!(e.to_string().contains("--discard-damaged-state"), "{e}");
            let (_, recs) = Wal::open(dir.path(), false, true).unwrap();
            assert_eq!(recs.len(), 2, "the damaged record is dropped, the others kept");
        }
    }

    #[test]
    fn state_directory_is_private_and_locked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        fs::create_dir_all(&state).unwrap();
        fs::write(state.join(WAL), record(1, "a")).unwrap();
        fs::set_permissions(state.join(WAL), fs::Permissions::from_mode(0o644)).unwrap();
        let lock = prepare_dir(&state).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join(WAL)), 0o600, "existing files are made private");
        let e = prepare_dir(&state).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("another sandbox (pid {})", std::process::id())),
            "{e}"
        );
        drop(lock);
        assert!(prepare_dir(&state).is_ok(), "released with its holder");
        let (mut wal, _) = Wal::open(&state, false, false).unwrap();
        wal.compact(5, &[]);
        assert_eq!(mode(&state.join(SNAPSHOT)), 0o600);
    }
}
