//! Installation through krew: the manifest passes krew's validation rules, the archive matches
//! its sha256, and an install laid out the way krew makes it (archive unpacked into a store
//! directory, one `kubectl-capi` symlink on PATH) runs every verb through the real kubectl, with
//! `kubectl plugin list` clean and shell completion working once installed.
//!
//! Sandbox only: the install test drives a provisioned cluster (simulated controllers); the
//! manifest test needs no server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use capi_e2e::{TestSandbox, bin_dir, kubectl_path, project_root, stderr, stdout};
use serde_json::Value;
use xtask::krew::{Platform, render, validate, validate_archive};

fn template() -> String {
    std::fs::read_to_string(project_root().join("krew-manifests").join("capi.yaml.tmpl")).unwrap()
}

fn platform(os: &str, arch: &str, sha: &str) -> Platform {
    Platform {
        os: os.into(),
        arch: arch.into(),
        uri: format!("https://example.com/capi-v0.1.0-{os}-{arch}.tar.gz"),
        sha256: sha.into(),
    }
}

#[test]
fn manifests_follow_krews_rules() {
    let committed = std::fs::read_to_string(project_root().join("krew-manifests").join("capi.yaml")).unwrap();
    assert_eq!(validate("capi.yaml", &committed), Vec::<String>::new());
    let doc: Value = serde_saphyr::from_str(&committed).unwrap();
    assert_eq!(doc["spec"]["platforms"][0]["bin"], "kubectl-capi");
    assert_eq!(
        doc["spec"]["version"].as_str().unwrap(),
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    let sha = "0123456789abcdef".repeat(4);
    let good = render(
        &template(),
        "v0.1.0",
        &[
            platform("linux", "amd64", &sha),
            platform("darwin", "arm64", &sha),
        ],
    );
    assert_eq!(validate("capi.yaml", &good), Vec::<String>::new());
    // Each broken variant is caught, with a message naming the rule.
    let cases: Vec<(String, &str, &str)> = vec![
        (
            render(&template(), "0.1.0", &[platform("linux", "amd64", &sha)]),
            "capi.yaml",
            "leading v",
        ),
        (
            render(
                &template(),
                "v0.1.0",
                &[platform("linux", "amd64", &sha.to_uppercase())],
            ),
            "capi.yaml",
            "lower-case hex",
        ),
        (
            render(
                &template(),
                "v0.1.0",
                &[platform("linux", "amd64", &sha), platform("linux", "amd64", &sha)],
            ),
            "capi.yaml",
            "matched by 2 platforms",
        ),
        (
            render(&template(), "v0.1.0", &[platform("plan9", "amd64", &sha)]),
            "capi.yaml",
            "no supported os/arch",
        ),
        (
            render(&template(), "v0.1.0", &[]),
            "capi.yaml",
            "at least one platform",
        ),
        (good.clone(), "kubectl-capi.yaml", "file name"),
        (
            good.replace("os: linux", "distro: linux"),
            "capi.yaml",
            "only os and arch",
        ),
        (
            good.replace(
                "shortDescription: Operate",
                "shortDescription: |\n    Operate\n    more\n  x-short: Operate",
            ),
            "capi.yaml",
            "one line",
        ),
        (
            good.replace(
                "apiVersion: krew.googlecontainertools.github.com/v1alpha2",
                "apiVersion: v1",
            ),
            "capi.yaml",
            "apiVersion",
        ),
        (
            good.replace("    bin: kubectl-capi\n", ""),
            "capi.yaml",
            "bin must be set",
        ),
    ];
    for (text, file, says) in cases {
        let errs = validate(file, &text);
        assert!(errs.iter().any(|e| e.contains(says)), "{says:?} not in {errs:?}");
    }
}

/// Runs the real kubectl with only the krew bin directory (and kubectl's own) on PATH.
fn kubectl_krew(sb: &TestSandbox, krew_bin: &Path, args: &[&str]) -> Output {
    let kubectl_dir = kubectl_path().parent().unwrap().to_path_buf();
    Command::new(kubectl_path())
        .args(args)
        .env(
            "PATH",
            std::env::join_paths([krew_bin.to_path_buf(), kubectl_dir]).unwrap(),
        )
        .env("KUBECONFIG", &sb.kubeconfig)
        .env("HOME", sb.dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Installs the archive the way krew does: unpack, copy the `files` into
/// `store/capi/VERSION/`, link `bin/kubectl-capi` to the manifest's `bin`.
fn krew_install(archive: &Path, manifest: &Value, root: &Path) -> PathBuf {
    let unpack = root.join("download");
    std::fs::create_dir_all(&unpack).unwrap();
    let ok = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(&unpack)
        .status()
        .unwrap();
    assert!(ok.success());
    let p = &manifest["spec"]["platforms"][0];
    let store = root
        .join("store")
        .join("capi")
        .join(manifest["spec"]["version"].as_str().unwrap());
    std::fs::create_dir_all(&store).unwrap();
    for f in p["files"].as_array().unwrap() {
        let from = f["from"].as_str().unwrap();
        assert_eq!(f["to"], ".");
        for e in std::fs::read_dir(&unpack).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let hit = match from.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == from,
            };
            if hit {
                std::fs::copy(&path, store.join(&name)).unwrap();
            }
        }
    }
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(store.join(p["bin"].as_str().unwrap()), bin.join("kubectl-capi")).unwrap();
    bin
}

#[test]
fn krew_style_install_runs_every_verb_through_kubectl() {
    let work = tempfile::tempdir().unwrap();
    let mut files = xtask::pack::binaries(&bin_dir()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for required in capi_e2e::REQUIRED_BINS {
        assert!(
            names.iter().any(|n| n == required),
            "{required} packed: {names:?}"
        );
    }
    files.push(project_root().join("LICENSE"));
    files.push(project_root().join("README.md"));
    let archive = work.path().join("capi-v0.1.0-linux-amd64.tar.gz");
    xtask::pack::archive(&files, &archive).unwrap();
    let sha = xtask::pack::sha256(&archive).unwrap();
    // The sha256 agrees with coreutils'.
    let out = Command::new("sha256sum").arg(&archive).output().unwrap();
    assert_eq!(stdout(&out).split_whitespace().next().unwrap(), sha);
    let manifest_text = render(
        &template(),
        "v0.1.0",
        &[Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            uri: "https://example.com/releases/capi-v0.1.0-linux-amd64.tar.gz".into(),
            sha256: sha.clone(),
        }],
    );
    assert_eq!(validate("capi.yaml", &manifest_text), Vec::<String>::new());
    let manifest: Value = serde_saphyr::from_str(&manifest_text).unwrap();
    let listed = xtask::pack::list(&archive).unwrap();
    assert_eq!(
        validate_archive(&manifest["spec"]["platforms"][0], &sha, &listed),
        Vec::<String>::new()
    );
    let mut bad = manifest["spec"]["platforms"][0].clone();
    bad["sha256"] = Value::from("0".repeat(64));
    assert!(
        !validate_archive(&bad, &sha, &listed).is_empty(),
        "a wrong sha256 is caught"
    );

    let bin = krew_install(&archive, &manifest, &work.path().join("krew"));
    let sb = crate::controllers::demo();
    // Every verb, reached through kubectl and the single symlink.
    for (verb, _) in capi_shared::cli::dispatch::VERBS {
        let o = kubectl_krew(&sb, &bin, &["capi", verb, "--help"]);
        assert!(o.status.success(), "kubectl capi {verb} --help: {}", stderr(&o));
    }
    let o = kubectl_krew(&sb, &bin, &["capi", "describe", "cluster", "edge"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("NAME"), "{}", stdout(&o));
    assert!(stdout(&o).contains("Cluster default/edge"), "{}", stdout(&o));
    let o = kubectl_krew(&sb, &bin, &["capi", "get-kubeconfig", "edge"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("clusters:"), "a kubeconfig");
    let o = kubectl_krew(&sb, &bin, &["capi", "rollout", "status", "md/edge-md-0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kubectl_krew(&sb, &bin, &["capi", "scale", "md/edge-md-0", "--replicas", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kubectl_krew(&sb, &bin, &["capi", "version"]);
    assert_eq!(
        stdout(&o).trim(),
        format!("kubectl-capi {}", env!("CARGO_PKG_VERSION"))
    );

    // `kubectl plugin list`: the one plugin, no warnings (exit 1 if there were any).
    let o = kubectl_krew(&sb, &bin, &["plugin", "list"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&bin.join("kubectl-capi").display().to_string()),
        "{}",
        stdout(&o)
    );

    // Completion: nothing until installed, then verbs and live names through kubectl.
    let o = kubectl_krew(&sb, &bin, &["capi", "completion", "install"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(bin.join("kubectl_complete-capi").exists());
    assert!(bin.join("kubectl_complete-capi-get_kubeconfig").exists());
    let o = kubectl_krew(&sb, &bin, &["__complete", "capi", "ro"]);
    assert!(
        stdout(&o).lines().any(|l| l.starts_with("rollout\t")),
        "{}",
        stdout(&o)
    );
    let o = kubectl_krew(&sb, &bin, &["__complete", "capi", "describe", "cluster", ""]);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"demo") && lines.contains(&"edge"), "{lines:?}");
    let o = kubectl_krew(&sb, &bin, &["__complete", "capi", "rollout", "restart", "md/e"]);
    assert!(stdout(&o).lines().any(|l| l == "md/edge-md-0"), "{}", stdout(&o));
    let o = kubectl_krew(
        &sb,
        &bin,
        &["__complete", "capi", "scale", "md/edge-md-0", "--re"],
    );
    assert!(
        stdout(&o).lines().any(|l| l.starts_with("--replicas")),
        "{}",
        stdout(&o)
    );
    // Installing again is a no-op; plugin list stays clean.
    assert!(
        kubectl_krew(&sb, &bin, &["capi", "completion", "install"])
            .status
            .success()
    );
    let o = kubectl_krew(&sb, &bin, &["plugin", "list"]);
    assert!(
        o.status.success() && !stderr(&o).contains("warning"),
        "{}",
        stderr(&o)
    );
}

/// The from-source install (`cargo xtask install`, and the demo's PATH directory) copies only
/// the executables: `kubectl plugin list` finds every verb and warns about nothing, where the
/// build directory itself (with cargo's `kubectl-capi-*.d` files) would draw a warning per file.
#[test]
fn source_install_copies_only_binaries_and_plugin_list_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let installed = xtask::pack::install(&bin_dir(), &dir).unwrap();
    assert!(
        installed.iter().all(|p| !p.to_string_lossy().ends_with(".d")),
        "{installed:?}"
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(
        names.iter().any(|n| n == "kubectl-capi") && names.iter().any(|n| n == "kubectl-capi-describe"),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| !n.ends_with(".d") && !n.starts_with('.')),
        "{names:?}"
    );
    let kubectl_dir = kubectl_path().parent().map(Path::to_path_buf).unwrap_or_default();
    let o = Command::new(kubectl_path())
        .args(["plugin", "list"])
        .env("PATH", std::env::join_paths([dir.clone(), kubectl_dir]).unwrap())
        .env("HOME", tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&dir.join("kubectl-capi-describe").display().to_string()),
        "{}",
        stdout(&o)
    );
}
