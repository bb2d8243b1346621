//! Loading kubeconfigs the way kubectl does: `--kubeconfig` exactly; otherwise every file of the
//! `KUBECONFIG` list that exists (missing ones are skipped), merged first-wins; otherwise
//! `~/.kube/config`.

pub mod file;

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use crate::error::{Error, Result};

/// A loaded kubeconfig and the files it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The merged kubeconfig.
    pub config: Kubeconfig,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

fn read(path: &Path) -> Result<Kubeconfig> {
    Kubeconfig::read_from(path).map_err(|e| {
        let reason = match &e {
            kube::config::KubeconfigError::Parse(yaml) => crate::yaml::describe(yaml),
            other => other.to_string(),
        };
        Error::Config(format!("cannot read kubeconfig {}: {reason}", path.display()))
    })
}

/// The kubeconfig files kubectl would read, in order (existing ones only).
pub fn candidate_files(explicit: Option<&Path>) -> Result<Vec<PathBuf>> {
    if let Some(p) = explicit {
        if !p.exists() {
            return Err(Error::Config(format!(
                "the kubeconfig file {} does not exist",
                p.display()
            )));
        }
        return Ok(vec![p.to_path_buf()]);
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return Ok(std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty() && p.is_file())
            .collect());
    }
    Ok(crate::kubeconfig::file::home_dir()
        .map(|h| h.join(".kube").join("config"))
        .filter(|p| p.is_file())
        .into_iter()
        .collect())
}

/// Loads and merges the kubeconfig.
pub fn load(explicit: Option<&Path>) -> Result<Loaded> {
    let files = candidate_files(explicit)?;
    if files.is_empty() {
        return Err(Error::Config(
            "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or start a local sandbox with `kubectl capi sandbox start`".into(),
        ));
    }
    let mut merged: Option<Kubeconfig> = None;
    for f in &files {
        let kc = read(f)?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m
                .merge(kc)
                .map_err(|e| Error::Config(format!("cannot merge kubeconfig {}: {e}", f.display())))?,
        });
    }
    Ok(Loaded {
        config: merged.unwrap_or_default(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kc(ctx: &str, server: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {ctx}\nclusters:\n- name: {ctx}\n  cluster: {{server: '{server}'}}\nusers:\n- name: {ctx}\n  user: {{token: t}}\ncontexts:\n- name: {ctx}\n  context: {{cluster: {ctx}, user: {ctx}, namespace: ns-{ctx}}}\n"
        )
    }

    #[test]
    fn an_oversized_kubeconfig_names_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let keys: String = (0..130_000).map(|i| format!("  k{i}: v\n")).collect();
        std::fs::write(
            &path,
            format!("{}preferences:\n{keys}", kc("a", "https://127.0.0.1:1")),
        )
        .unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("too large to read: more than 250000 keys, values and lists"),
            "{e}"
        );
        assert!(!e.contains("budget breached"), "{e}");
    }

    #[test]
    fn missing_files_in_the_list_are_skipped_and_first_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, kc("first", "https://a")).unwrap();
        std::fs::write(&b, kc("second", "https://b")).unwrap();
        let list = std::env::join_paths([dir.path().join("missing"), a.clone(), b.clone()]).unwrap();
        // Test through the pure pieces rather than the process environment.
        let files: Vec<PathBuf> = std::env::split_paths(&list).filter(|p| p.is_file()).collect();
        assert_eq!(files, vec![a.clone(), b.clone()]);
        let merged = read(&a).unwrap().merge(read(&b).unwrap()).unwrap();
        assert_eq!(merged.current_context.as_deref(), Some("first"));
        assert_eq!(merged.contexts.len(), 2);
        assert!(load(Some(&dir.path().join("nope"))).is_err());
    }
}
