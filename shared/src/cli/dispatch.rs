//! The `kubectl-capi` entry point's logic: which verbs exist, how a verb maps to its binary
//! (`get-kubeconfig` → `kubectl-capi-get_kubeconfig`), and where the sibling binaries are.

use std::path::{Path, PathBuf};

/// The verbs, with one line each.
pub const VERBS: &[(&str, &str)] = &[
    (
        "describe",
        "Show a cluster as a tree of its objects and conditions, or every cluster at a glance",
    ),
    (
        "delete",
        "Delete a cluster, and show what blocks it while it goes",
    ),
    (
        "diagnose",
        "Say why a cluster is stuck, which object holds it, and what to do",
    ),
    (
        "generate",
        "Render a cluster template with clusterctl's variables, ready for kubectl apply",
    ),
    (
        "get-kubeconfig",
        "Print, write or merge a workload cluster's kubeconfig (unique names, locked, atomic)",
    ),
    (
        "init",
        "Install Cluster API providers and cert-manager from a local repository (offline, server-side apply)",
    ),
    (
        "move",
        "Move clusters to another management cluster (one at a time if wanted), back them up and restore them",
    ),
    (
        "rollout",
        "Restart, pause, resume, follow, list and undo rollouts (topology-aware)",
    ),
    ("sandbox", "Run a local, in-memory Cluster API management cluster"),
    (
        "scale",
        "Scale MachineDeployments, MachinePools and control planes (topology-aware)",
    ),
    (
        "upgrade",
        "Plan and apply Kubernetes version upgrades of a cluster (skew-checked, resumable); plan and apply provider upgrades in place",
    ),
    ("version", "Print the version of the plugins"),
];

/// The executable name of a verb: dashes become underscores, as kubectl's plugin lookup expects.
pub fn binary_name(verb: &str) -> String {
    format!("kubectl-capi-{}", verb.replace('-', "_"))
}

/// The directory of the running executable, symlinks resolved (krew links only the entry
/// point, so the siblings live next to its real path).
pub fn own_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let real = std::fs::canonicalize(&exe).unwrap_or(exe);
    real.parent().map(Path::to_path_buf)
}

/// Finds the binary of a verb: next to this executable first, then on PATH.
pub fn find_verb(verb: &str, dir: Option<&Path>) -> Option<PathBuf> {
    let name = binary_name(verb);
    if let Some(d) = dir {
        let p = d.join(&name);
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(&name))
            .find(|p| p.is_file())
    })
}

/// The usage text listing every verb.
pub fn usage() -> String {
    let width = VERBS.iter().map(|(v, _)| v.len()).max().unwrap_or(0);
    let mut s = String::from(
        "kubectl capi: Cluster API for kubectl.\n\nUsage:\n  kubectl capi VERB [flags]\n\nVerbs:\n",
    );
    for (v, d) in VERBS {
        s.push_str(&format!("  {v:width$}  {d}\n"));
    }
    s.push_str(&format!(
        "  {:width$}  Install shell completion (`kubectl capi completion install`)\n",
        "completion"
    ));
    s.push_str("\nRun `kubectl capi VERB --help` for the flags of a verb.\n");
    s
}

/// The closest known verb to a mistyped one.
pub fn suggest(verb: &str) -> Option<&'static str> {
    crate::tree::fetch::close_names(verb, VERBS.iter().map(|(v, _)| *v))
        .into_iter()
        .next()
        .and_then(|s| VERBS.iter().find(|(v, _)| *v == s).map(|(v, _)| *v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_suggestions() {
        assert_eq!(binary_name("get-kubeconfig"), "kubectl-capi-get_kubeconfig");
        assert_eq!(suggest("descrbe"), Some("describe"));
        assert_eq!(suggest("sandbx"), Some("sandbox"));
        assert!(usage().contains("describe") && usage().contains("sandbox"));
    }
}
