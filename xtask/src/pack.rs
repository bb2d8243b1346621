//! Packing the plugin binaries, LICENSE and README into a `.tar.gz` krew can install.

use crate::TaskError;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The executables of the set: `kubectl-capi` and its `kubectl-capi-*` siblings in `dir`.
pub fn binaries(dir: &Path) -> Result<Vec<PathBuf>, TaskError> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name == "kubectl-capi" || name.starts_with("kubectl-capi-"))
                && !name.contains('.')
                && p.is_file()
        })
        .collect();
    out.sort();
    if !out.iter().any(|p| p.ends_with("kubectl-capi")) {
        return Err(format!("kubectl-capi not found in {}", dir.display()).into());
    }
    Ok(out)
}

/// Copies only the plugin executables (never cargo's `.d` files) from `from` into `to`,
/// each through a temporary file and a rename, so a running copy is never half-written.
pub fn install(from: &Path, to: &Path) -> Result<Vec<PathBuf>, TaskError> {
    std::fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    let mut out = vec![];
    for b in binaries(from)? {
        let name = b
            .file_name()
            .ok_or_else(|| format!("no file name in {}", b.display()))?;
        let dest = to.join(name);
        let tmp = to.join(format!(".{}.tmp", name.to_string_lossy()));
        std::fs::copy(&b, &tmp).map_err(|e| format!("copying {} to {}: {e}", b.display(), tmp.display()))?;
        std::fs::rename(&tmp, &dest).map_err(|e| format!("installing {}: {e}", dest.display()))?;
        out.push(dest);
    }
    Ok(out)
}

/// Writes `out` (a `.tar.gz`) holding `files` at its top level, reproducibly (sorted names,
/// owner 0, fixed times).
pub fn archive(files: &[PathBuf], out: &Path) -> Result<(), TaskError> {
    let stage = out.with_extension("stage");
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage).map_err(|e| format!("creating {}: {e}", stage.display()))?;
    for f in files {
        let name = f
            .file_name()
            .ok_or_else(|| format!("{}: no file name", f.display()))?;
        std::fs::copy(f, stage.join(name)).map_err(|e| format!("copying {}: {e}", f.display()))?;
    }
    let status = Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            // -n: no name or time in the gzip header, so the same input gives the same bytes.
            "--use-compress-program=gzip -n",
            "-cf",
        ])
        .arg(out)
        .arg("-C")
        .arg(&stage)
        .arg(".")
        .status()
        .map_err(|e| format!("running tar: {e}"))?;
    let _ = std::fs::remove_dir_all(&stage);
    if !status.success() {
        return Err(format!("tar failed ({status})").into());
    }
    Ok(())
}

/// Lower-case hex sha256 of a file.
pub fn sha256(path: &Path) -> Result<String, TaskError> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The names inside a `.tar.gz`.
pub fn list(archive: &Path) -> Result<Vec<String>, TaskError> {
    let out = Command::new("tar")
        .arg("-tzf")
        .arg(archive)
        .output()
        .map_err(|e| format!("running tar: {e}"))?;
    if !out.status.success() {
        return Err(format!("tar -tzf {} failed", archive.display()).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").to_string())
        .filter(|l| !l.is_empty())
        .collect())
}
