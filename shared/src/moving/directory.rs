//! Backups of a move in a directory, and reading them back. Our format (version 1): one YAML
//! file per object, named `<kind>.<group>_<namespace>_<name>.yaml` (the group in the name, so
//! kinds of the same name in two groups do not collide; `_` appears in no Kubernetes name), mode
//! 0600 for Secrets, and `manifest.yaml` listing every object (group, version, kind, namespace,
//! name, uid, owners, create step) with the format version, the source and the time. The
//! directory is filled in a temporary sibling and renamed into place, so it is never half
//! written. clusterctl's format (`<Kind>_<Namespace>_<Name>.yaml` files holding JSON, no
//! manifest) is read too.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::graph::Graph;
use super::plan::Plan;
use crate::capi::value::s;
use crate::error::{Error, Result};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.yaml";
/// The manifest's kind and the format version this tool writes.
pub const MANIFEST_KIND: &str = "MoveBackup";
/// The format version.
pub const FORMAT_VERSION: u32 = 1;

/// The manifest of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// `capi.kubectl.x-k8s.io/v1`.
    pub api_version: String,
    /// [`MANIFEST_KIND`].
    pub kind: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The source's kubeconfig context.
    pub source_context: String,
    /// The source's API server.
    pub source_server: String,
    /// When it was written (RFC 3339).
    pub created: String,
    /// Every object, in create order.
    pub objects: Vec<Entry>,
}

/// One saved object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Its file, relative to the directory.
    pub file: String,
    /// API group (`""` for the core group).
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace (absent when cluster-scoped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// UID in the source.
    pub uid: String,
    /// Owner UIDs (hard and soft).
    #[serde(default)]
    pub owners: Vec<String>,
    /// The create step (0 first).
    pub step: usize,
}

/// The file of an object in our format.
pub fn file_name(kind: &str, group: &str, namespace: Option<&str>, name: &str) -> String {
    let kg = if group.is_empty() {
        kind.to_ascii_lowercase()
    } else {
        format!("{}.{group}", kind.to_ascii_lowercase())
    };
    format!("{kg}_{}_{name}.yaml", namespace.unwrap_or(""))
}

/// Whether `dir` exists with something in it.
pub fn is_non_empty(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("reading", dir)(e)),
    }
}

/// Saves the plan's objects, as read, to `dir` with `manifest`'s header (its objects are
/// filled in). The directory is replaced whole: written beside it, then renamed.
pub fn save(dir: &Path, g: &Graph, plan: &Plan, mut manifest: Manifest) -> Result<Manifest> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let tmp = parent.join(format!(".{base}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(Error::io("creating", &tmp))?;
    let written = write_objects(&tmp, g, plan, &mut manifest).and_then(|_| {
        let text = serde_saphyr::to_string(&manifest)
            .map_err(|e| Error::Other(format!("encoding the manifest: {e}")))?;
        write_file(&tmp.join(MANIFEST), text.as_bytes(), 0o644)
    });
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    replace_dir(&tmp, dir)?;
    Ok(manifest)
}

fn write_objects(tmp: &Path, g: &Graph, plan: &Plan, manifest: &mut Manifest) -> Result<()> {
    for (step, group) in plan.groups.iter().enumerate() {
        for u in group {
            let n = &g.nodes[u];
            let t = &g.types[n.ty];
            let file = file_name(&t.kind, &t.group, n.namespace.as_deref(), &n.name);
            // managedFields stay: a restore gives server-side apply's managers their fields back.
            let text = serde_saphyr::to_string(&n.object)
                .map_err(|e| Error::Other(format!("encoding {}: {e}", n.display(&g.types))))?;
            let mode = if t.is_secret() { 0o600 } else { 0o644 };
            write_file(&tmp.join(&file), text.as_bytes(), mode)?;
            manifest.objects.push(Entry {
                file,
                group: t.group.clone(),
                version: t.version.clone(),
                kind: t.kind.clone(),
                namespace: n.namespace.clone(),
                name: n.name.clone(),
                uid: n.uid.clone(),
                owners: n.all_owners().cloned().collect(),
                step,
            });
        }
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(Error::io("creating", path))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(Error::io("writing", path))
}

/// Puts `tmp` where `dir` is: an empty or missing `dir` is replaced; a full one (allowed by
/// `--overwrite`) is moved aside first and removed only once the new one is in place.
fn replace_dir(tmp: &Path, dir: &Path) -> Result<()> {
    let old: Option<PathBuf> = if dir.exists() {
        let aside = dir.with_file_name(format!(
            ".{}.old-{}",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        fs::rename(dir, &aside).map_err(Error::io("moving aside", dir))?;
        Some(aside)
    } else {
        None
    };
    if let Err(e) = fs::rename(tmp, dir) {
        if let Some(o) = &old {
            let _ = fs::rename(o, dir);
        }
        return Err(Error::io("renaming into place", dir)(e));
    }
    if let Some(o) = old {
        fs::remove_dir_all(&o).map_err(Error::io("removing the previous contents", &o))?;
    }
    Ok(())
}

/// Which format a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Ours, with a manifest.
    Ours,
    /// clusterctl's.
    Clusterctl,
}

/// The objects of a backup directory, and its format.
pub fn read(dir: &Path) -> Result<(Format, Vec<Value>)> {
    let manifest_path = dir.join(MANIFEST);
    if manifest_path.is_file() {
        let text = fs::read_to_string(&manifest_path).map_err(Error::io("reading", &manifest_path))?;
        let m: Manifest = crate::yaml::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: not a backup manifest: {e}", manifest_path.display())))?;
        if m.kind != MANIFEST_KIND || m.format_version != FORMAT_VERSION {
            return Err(Error::Config(format!(
                "{}: a {} of format version {}; this kubectl-capi reads format version {FORMAT_VERSION}",
                manifest_path.display(),
                m.kind,
                m.format_version
            )));
        }
        let objects = m
            .objects
            .iter()
            .map(|e| read_object(&dir.join(&e.file)))
            .collect::<Result<Vec<_>>>()?;
        return Ok((Format::Ours, objects));
    }
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(Error::io("reading", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Config(format!(
            "{}: no backup here (neither a {MANIFEST} nor clusterctl's <Kind>_<Namespace>_<Name>.yaml files)",
            dir.display()
        )));
    }
    let objects = files.iter().map(|f| read_object(f)).collect::<Result<Vec<_>>>()?;
    Ok((Format::Clusterctl, objects))
}

/// One object file (YAML, which includes clusterctl's JSON).
fn read_object(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).map_err(Error::io("reading", path))?;
    let v: Value = crate::yaml::from_str(&text)
        .map_err(|e| Error::Config(format!("{}: not a Kubernetes object: {e}", path.display())))?;
    if s(&v, "/kind").is_empty() || s(&v, "/apiVersion").is_empty() || s(&v, "/metadata/name").is_empty() {
        return Err(Error::Config(format!(
            "{}: not a Kubernetes object (apiVersion, kind and metadata.name are needed)",
            path.display()
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_the_group_so_equal_kinds_do_not_collide() {
        assert_eq!(
            file_name("Cluster", "cluster.x-k8s.io", Some("ns"), "a"),
            "cluster.cluster.x-k8s.io_ns_a.yaml"
        );
        assert_eq!(
            file_name("Secret", "", Some("ns"), "a-kubeconfig"),
            "secret_ns_a-kubeconfig.yaml"
        );
        assert_ne!(
            file_name("Cluster", "cluster.x-k8s.io", Some("ns"), "a"),
            file_name("Cluster", "infrastructure.cluster.x-k8s.io", Some("ns"), "a")
        );
    }

    #[test]
    fn clusterctl_json_files_are_read_and_a_foreign_manifest_is_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::write(
            d.path().join("Cluster_ns_a.yaml"),
            r#"{"apiVersion":"cluster.x-k8s.io/v1beta2","kind":"Cluster","metadata":{"name":"a","namespace":"ns","uid":"u1"}}"#,
        )
        .unwrap();
        let (format, objects) = read(d.path()).unwrap();
        assert_eq!(format, Format::Clusterctl);
        assert_eq!(s(&objects[0], "/metadata/uid"), "u1");
        fs::write(
            d.path().join(MANIFEST),
            "apiVersion: capi.kubectl.x-k8s.io/v1\nkind: MoveBackup\nformatVersion: 9\nsourceContext: x\nsourceServer: y\ncreated: z\nobjects: []\n",
        )
        .unwrap();
        let e = read(d.path()).unwrap_err().to_string();
        assert!(e.contains("format version 9"), "{e}");
    }
}
