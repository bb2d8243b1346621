//! Builds the pinned binaries with the Go toolchain, through the Go module proxy, into a cache
//! outside the clone (so a fresh clone on the same machine reuses them) and copies them into the
//! build directory the tests use. Nothing is downloaded prebuilt.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::pins::{self, Component};

/// Why a build could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No Go toolchain on PATH.
    #[error(
        "the Go toolchain was not found (`go` on PATH): the real-server backend builds kube-apiserver, etcd and clusterctl from their Go modules and needs Go 1.26 or newer (https://go.dev/doc/install)"
    )]
    NoGo,
    /// A file of the pins could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// go.mod does not require the release module.
    #[error("{path} does not require {module}")]
    NoRelease {
        /// The go.mod.
        path: PathBuf,
        /// The module expected.
        module: String,
    },
    /// Writing into the cache or the build directory failed.
    #[error("writing {path}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `go build` failed.
    #[error("go build of {package} in {dir} failed ({status}); its output is above")]
    Go {
        /// The package.
        package: String,
        /// The module folder.
        dir: PathBuf,
        /// The exit status.
        status: String,
    },
}

/// Where the pins are and where binaries go.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `realstack/go` of the project.
    pub modules: PathBuf,
    /// The cache of built binaries, outside the clone.
    pub cache: PathBuf,
    /// The build directory the tests read (`target/realstack/bin`).
    pub bin: PathBuf,
}

impl Layout {
    /// The layout of the project at `root`: cache from `CAPI_REALSTACK_CACHE`, else
    /// `$XDG_CACHE_HOME/kubectl-capi/realstack`, else `~/.cache/kubectl-capi/realstack`.
    pub fn of_project(root: &Path) -> Layout {
        let cache = std::env::var_os("CAPI_REALSTACK_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("kubectl-capi/realstack"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kubectl-capi/realstack"))
            })
            .unwrap_or_else(|| root.join("target/realstack/cache"));
        Layout {
            modules: root.join("realstack/go"),
            cache,
            bin: root.join("target/realstack/bin"),
        }
    }
}

/// One built binary.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component.
    pub name: &'static str,
    /// Its release.
    pub version: String,
    /// Where the tests find it.
    pub path: PathBuf,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Seconds the build took (0 when cached).
    pub seconds: f64,
}

/// The Go toolchain's version (`go1.26.8`), or [`BuildError::NoGo`].
pub fn go_version() -> Result<String, BuildError> {
    let out = Command::new("go")
        .args(["env", "GOVERSION"])
        .output()
        .map_err(|_| BuildError::NoGo)?;
    if !out.status.success() {
        return Err(BuildError::NoGo);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn read(path: &Path) -> Result<String, BuildError> {
    std::fs::read_to_string(path).map_err(|source| BuildError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// What identifies one build: the module's go.mod and go.sum, the package, the flags and the
/// toolchain. Two clones with the same pins share the cached binary.
fn build_key(c: &Component, go_mod: &str, go_sum: &str, ldflags: &str, go: &str) -> String {
    let mut h = Sha256::new();
    for part in [go_mod, go_sum, c.package, ldflags, go] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Builds (or takes from the cache) every component, reporting progress through `say`.
pub fn build_all(layout: &Layout, say: &mut dyn FnMut(&str)) -> Result<Vec<Built>, BuildError> {
    let go = go_version()?;
    std::fs::create_dir_all(&layout.cache).map_err(write_err(&layout.cache))?;
    std::fs::create_dir_all(&layout.bin).map_err(write_err(&layout.bin))?;
    let built = pins::COMPONENTS
        .iter()
        .map(|c| build_one(layout, c, &go, say))
        .collect::<Result<Vec<_>, _>>()?;
    copy_provider_configs(layout, say)?;
    Ok(built)
}

/// Where `go mod download` put each module of `modules` (downloading it if the module cache
/// lacks it), as seen from the Go module folder `dir`.
fn module_dirs(dir: &Path, modules: &[&str]) -> Result<Vec<(String, PathBuf)>, BuildError> {
    let out = Command::new("go")
        .current_dir(dir)
        .env("GOFLAGS", "-mod=readonly")
        .env("GOTOOLCHAIN", "local")
        .args(["mod", "download", "-json"])
        .args(modules)
        .output()
        .map_err(|_| BuildError::NoGo)?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        return Err(BuildError::Go {
            package: format!("go mod download {}", modules.join(" ")),
            dir: dir.to_path_buf(),
            status: out.status.to_string(),
        });
    }
    Ok(serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<serde_json::Value>()
        .filter_map(Result::ok)
        .filter_map(|v| Some((v["Path"].as_str()?.to_string(), PathBuf::from(v["Dir"].as_str()?))))
        .collect())
}

/// Copies each provider's CRDs and webhook manifests from its module (the same release as its
/// manager) next to the binaries, where the stack reads them. Contents are copied, not the
/// module cache's read-only permissions.
fn copy_provider_configs(layout: &Layout, say: &mut dyn FnMut(&str)) -> Result<(), BuildError> {
    let providers = crate::providers::PROVIDERS;
    let dir = layout.modules.join(providers[0].component.module_dir);
    let mut modules: Vec<&str> = providers.iter().map(|p| p.module).collect();
    modules.dedup();
    let dirs = module_dirs(&dir, &modules)?;
    for p in providers {
        let Some((_, src)) = dirs.iter().find(|(m, _)| m == p.module) else {
            return Err(BuildError::NoRelease {
                path: dir.join("go.mod"),
                module: p.module.to_string(),
            });
        };
        let from = src.join(p.subdir).join("config");
        let to = crate::providers::config_dir(&layout.bin, p);
        let _ = std::fs::remove_dir_all(&to);
        for f in crate::providers::CONFIG_FILES {
            copy_tree(&from.join(f), &to.join(f))?;
        }
    }
    let go_mod = read(&dir.join("go.mod"))?;
    let release =
        pins::required_version(&go_mod, providers[0].module).ok_or_else(|| BuildError::NoRelease {
            path: dir.join("go.mod"),
            module: providers[0].module.to_string(),
        })?;
    let f = layout.bin.join(crate::providers::CONFIG_DIR).join("RELEASE");
    std::fs::write(&f, format!("{release}\n")).map_err(write_err(&f))?;
    say(&format!(
        "provider manifests (CRDs, webhooks) of {} providers: {}",
        providers.len(),
        layout.bin.join(crate::providers::CONFIG_DIR).display()
    ));
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(write_err(to))?;
        let entries = std::fs::read_dir(from).map_err(|source| BuildError::Read {
            path: from.to_path_buf(),
            source,
        })?;
        for e in entries.flatten() {
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        return Ok(());
    }
    if !from.exists() {
        // Not every provider has patches.
        return Ok(());
    }
    let bytes = std::fs::read(from).map_err(|source| BuildError::Read {
        path: from.to_path_buf(),
        source,
    })?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(write_err(parent))?;
    }
    std::fs::write(to, bytes).map_err(write_err(to))
}

fn build_one(
    layout: &Layout,
    c: &Component,
    go: &str,
    say: &mut dyn FnMut(&str),
) -> Result<Built, BuildError> {
    let dir = layout.modules.join(c.module_dir);
    let go_mod_path = dir.join("go.mod");
    let go_mod = read(&go_mod_path)?;
    let go_sum = read(&dir.join("go.sum"))?;
    let version = pins::required_version(&go_mod, c.release_of).ok_or_else(|| BuildError::NoRelease {
        path: go_mod_path.clone(),
        module: c.release_of.to_string(),
    })?;
    let ldflags = pins::ldflags(c, &version);
    let key = build_key(c, &go_mod, &go_sum, &ldflags, go);
    let cached = layout.cache.join(format!("{}-{version}-{key}", c.name));
    let dest = layout.bin.join(c.name);
    let started = Instant::now();
    let from_cache = cached.is_file();
    if !from_cache {
        say(&format!(
            "building {} {version} with {go} (the first build on a machine takes minutes; later ones come from {})",
            c.name,
            layout.cache.display()
        ));
        let tmp = layout
            .cache
            .join(format!(".{}-{}.tmp", c.name, std::process::id()));
        let status = Command::new("go")
            .current_dir(&dir)
            .env("GOFLAGS", "-mod=readonly -buildvcs=false")
            .env("GOTOOLCHAIN", "local")
            .args(["build", "-trimpath", "-ldflags"])
            .arg(format!("-s -w {ldflags}"))
            .arg("-o")
            .arg(&tmp)
            .arg(c.package)
            .status()
            .map_err(|_| BuildError::NoGo)?;
        if !status.success() {
            let _ = std::fs::remove_file(&tmp);
            return Err(BuildError::Go {
                package: c.package.to_string(),
                dir,
                status: status.to_string(),
            });
        }
        std::fs::rename(&tmp, &cached).map_err(write_err(&cached))?;
    }
    install(&cached, &dest)?;
    let seconds = if from_cache {
        0.0
    } else {
        started.elapsed().as_secs_f64()
    };
    say(&format!(
        "{} {version}: {} ({})",
        c.name,
        dest.display(),
        if from_cache {
            "cached".to_string()
        } else {
            format!("built in {seconds:.0} s")
        }
    ));
    Ok(Built {
        name: c.name,
        version,
        path: dest,
        cached: from_cache,
        seconds,
    })
}

/// Copies `from` to `to` through a temporary file and a rename, so a running test never sees
/// half a binary.
fn install(from: &Path, to: &Path) -> Result<(), BuildError> {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).map_err(write_err(&tmp))?;
    std::fs::rename(&tmp, to).map_err(write_err(to))
}

/// The directory of built binaries if every component is there.
pub fn installed(layout: &Layout) -> Option<PathBuf> {
    let configs = crate::providers::PROVIDERS
        .iter()
        .all(|p| crate::providers::config_dir(&layout.bin, p).is_dir());
    (configs && pins::COMPONENTS.iter().all(|c| layout.bin.join(c.name).is_file()))
        .then(|| layout.bin.clone())
}
