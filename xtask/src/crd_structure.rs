//! `cargo xtask crd-structure`: extracts the structure of the upstream Cluster API CRD schemas
//! (field names, types, formats, required fields, list and map semantics, value limits; no
//! descriptions, no CEL rules) into `sandbox/src/api/crd_structure/<generation>.json`. The sandbox
//! lays its own field descriptions over it, so its bundled CRDs prune and reject unknown fields
//! exactly where the upstream ones do.

use crate::TaskError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Keys dropped from every schema node: prose (ours replaces it) and CEL rules (the sandbox
/// does not evaluate them; its README says so).
const DROPPED: &[&str] = &[
    "description",
    "x-kubernetes-validations",
    "example",
    "externalDocs",
];

fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                if DROPPED.contains(&k.as_str()) {
                    continue;
                }
                // `properties` holds field names, not keywords: keep every key there.
                let x = if k == "properties" {
                    match x {
                        Value::Object(p) => {
                            Value::Object(p.iter().map(|(n, s)| (n.clone(), strip(s))).collect())
                        }
                        other => other.clone(),
                    }
                } else {
                    strip(x)
                };
                out.insert(k.clone(), x);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        other => other.clone(),
    }
}

/// The stripped schema of `version` of every CRD in `dir`, by CRD name.
pub fn extract(dir: &Path, version: &str) -> Result<BTreeMap<String, Value>, TaskError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("reading {}: {e}", f.display()))?;
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| format!("parsing {}: {e}", f.display()))?;
        for d in docs {
            let Some(name) = d.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let versions = d.pointer("/spec/versions").and_then(Value::as_array);
            let schema = versions.into_iter().flatten().find_map(|v| {
                (v.get("name").and_then(Value::as_str) == Some(version))
                    .then(|| v.pointer("/schema/openAPIV3Schema"))
                    .flatten()
            });
            if let Some(s) = schema {
                out.insert(name.to_string(), strip(s));
            }
        }
    }
    if out.is_empty() {
        return Err(format!("no CRD serving {version} in {}", dir.display()).into());
    }
    Ok(out)
}

/// The upstream folders and the generation each one gives.
pub fn sources(shared: &Path) -> [(PathBuf, &'static str); 2] {
    [
        (shared.join("capi-crds/upstream-v1.14"), "v1beta2"),
        (shared.join("capi-crds/upstream-v1.10"), "v1beta1"),
    ]
}

/// The committed file of a generation.
pub fn target(root: &Path, generation: &str) -> PathBuf {
    root.join("sandbox/src/api/crd_structure")
        .join(format!("{generation}.json"))
}

/// Renders the file's text (pretty, one field per line, so that changes read as diffs).
pub fn render(schemas: &BTreeMap<String, Value>) -> Result<String, TaskError> {
    serde_json::to_string_pretty(schemas)
        .map(|s| s + "\n")
        .map_err(|e| format!("rendering: {e}").into())
}

/// `cargo xtask crd-structure [--from SHARED_DIR] [--check]`.
pub fn task(root: &Path, args: &[String]) -> Result<(), TaskError> {
    let mut shared = root.join("../shared");
    let mut check = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--from" => {
                shared = it
                    .next()
                    .map(PathBuf::from)
                    .ok_or("--from needs the folder that holds capi-crds/")?
            }
            "--check" => check = true,
            other => return Err(format!("unknown argument {other:?} (use --from DIR, --check)").into()),
        }
    }
    for (dir, generation) in sources(&shared) {
        let text = render(&extract(&dir, generation)?)?;
        let dest = target(root, generation);
        if check {
            let have = std::fs::read_to_string(&dest).unwrap_or_default();
            if have != text {
                return Err(format!(
                    "{} is not what {} gives: run `cargo xtask crd-structure`",
                    dest.display(),
                    dir.display()
                )
                .into());
            }
            println!("{} is up to date", dest.display());
        } else {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
            }
            std::fs::write(&dest, text).map_err(|e| format!("writing {}: {e}", dest.display()))?;
            println!("wrote {} from {}", dest.display(), dir.display());
        }
    }
    Ok(())
}
