//! The layer check (`cargo xtask layers`, and a test): in each library crate, the top-level
//! modules form layers, written in its `lib.rs` as groups of `mod` lines separated by blank
//! lines, bottom up. A module may use modules of its own layer or of layers above it in
//! `lib.rs`, never one below; and no two modules may use each other, directly or through
//! others. References are read from the source: `crate::a::...` paths (also inside
//! `use crate::{...}` groups) and `super::` paths of a module's children. Test code (after
//! `#[cfg(test)]`) and comments are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::TaskError;

/// The crates whose layers are checked.
pub const CRATES: &[&str] = &["shared", "sandbox"];

/// What is wrong with a crate's layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// `from` uses `to`, which `lib.rs` puts in a layer below it.
    Upward {
        /// The module that uses.
        from: String,
        /// The lower module it uses.
        to: String,
    },
    /// These modules use each other.
    Cycle(Vec<String>),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Upward { from, to } => write!(
                f,
                "{from} uses {to}, a lower layer in lib.rs: move {to} up, or the code {from} needs from it down"
            ),
            Violation::Cycle(m) => write!(f, "import cycle: {}", m.join(" -> ")),
        }
    }
}

/// The layers of `lib.rs`: each group's module names, bottom up (the order of the file).
pub fn layers(lib_rs: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![];
    let mut current: Vec<String> = vec![];
    for line in lib_rs.lines().map(str::trim) {
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        let decl = line
            .strip_prefix("pub(crate) mod ")
            .or_else(|| line.strip_prefix("pub mod "))
            .or_else(|| line.strip_prefix("mod "));
        if let Some(name) = decl.and_then(|d| d.strip_suffix(';')) {
            current.push(name.to_string());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The top-level modules each top-level module uses.
pub fn edges(
    src: &Path,
    modules: &BTreeSet<String>,
) -> Result<BTreeMap<String, BTreeSet<String>>, TaskError> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in modules {
        let used = out.entry(m.clone()).or_default();
        for file in files_of(src, m)? {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
            for r in references(&code_of(&text)) {
                if r != *m && modules.contains(&r) {
                    used.insert(r);
                }
            }
        }
    }
    Ok(out)
}

/// The `.rs` files of a top-level module (`m.rs`, or `m/` with everything below it).
fn files_of(src: &Path, m: &str) -> Result<Vec<PathBuf>, TaskError> {
    let file = src.join(format!("{m}.rs"));
    let mut out = vec![];
    if file.is_file() {
        out.push(file);
    }
    let mut dirs = vec![src.join(m)];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    if out.is_empty() {
        return Err(format!("module {m} has no file under {}", src.display()).into());
    }
    Ok(out)
}

/// Source without tests and comments.
fn code_of(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or("");
    before_tests
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names through `crate::`.
fn references(code: &str) -> BTreeSet<String> {
    names_after(code, "crate::")
}

/// The first path segment after each `prefix` (each item of a `prefix{...}` group too).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        rest = &rest[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                out.extend(first_segment(item.trim()));
            }
        } else {
            out.extend(first_segment(rest));
        }
    }
    out
}

fn first_segment(s: &str) -> Option<String> {
    let name: String = s
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The violations of a crate whose sources are in `src`.
pub fn check(src: &Path) -> Result<Vec<Violation>, TaskError> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).map_err(|e| format!("reading lib.rs: {e}"))?;
    let layers = layers(&lib);
    let layer_of: BTreeMap<String, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (m.clone(), i)))
        .collect();
    let modules: BTreeSet<String> = layer_of.keys().cloned().collect();
    let edges = edges(src, &modules)?;
    let mut out = vec![];
    for (from, tos) in &edges {
        for to in tos {
            if layer_of[to] > layer_of[from] {
                out.push(Violation::Upward {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
    }
    out.extend(cycles(&edges).into_iter().map(Violation::Cycle));
    out.extend(folder_violations(src, "")?);
    Ok(out)
}

/// Uses of a lower layer among a folder's files, when its `mod.rs` lists them in layers.
fn upward_in_folder(
    mod_rs: &Path,
    prefix: &str,
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Violation> {
    let Ok(text) = std::fs::read_to_string(mod_rs) else {
        return vec![];
    };
    let layer_of: BTreeMap<String, usize> = layers(&text)
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (m.clone(), i)))
        .collect();
    let mut out = vec![];
    for (from, tos) in edges {
        for to in tos {
            if let (Some(f), Some(t)) = (layer_of.get(from), layer_of.get(to))
                && t > f
            {
                out.push(Violation::Upward {
                    from: format!("{prefix}{from}"),
                    to: format!("{prefix}{to}"),
                });
            }
        }
    }
    out
}

/// Within each module folder: cycles among its files (`capi/sim.rs` and `capi/md.rs` using each
/// other) and uses of a lower layer of its `mod.rs`, through `super::` and `crate::<folder>::`
/// paths; `prefix` is the folder's module path (`capi::`).
fn folder_violations(dir: &Path, prefix: &str) -> Result<Vec<Violation>, TaskError> {
    let mut found = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(found);
    };
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for e in entries.flatten() {
        let p = e.path();
        let Some(stem) = p.file_stem().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if p.is_dir() {
            found.extend(folder_violations(&p, &format!("{prefix}{stem}::"))?);
            files.entry(stem.clone()).or_insert_with(|| p.join("mod.rs"));
        } else if p.extension().is_some_and(|x| x == "rs") && !matches!(stem.as_str(), "mod" | "lib" | "main")
        {
            files.insert(stem, p);
        }
    }
    if prefix.is_empty() {
        // The crate's top level is checked against lib.rs by `check`.
        return Ok(found);
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, file) in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let code = code_of(&text);
        let via_crate = code.replace(&format!("crate::{prefix}"), "super::");
        let used = edges.entry(name.clone()).or_default();
        for r in super_references(&via_crate) {
            if r != *name && names.contains(&r) {
                used.insert(r);
            }
        }
    }
    found.extend(upward_in_folder(&dir.join("mod.rs"), prefix, &edges));
    found.extend(
        cycles(&edges)
            .into_iter()
            .map(|c| Violation::Cycle(c.into_iter().map(|m| format!("{prefix}{m}")).collect())),
    );
    Ok(found)
}

/// The sibling modules a file names through `super::` (also inside `use super::{...}`).
fn super_references(code: &str) -> BTreeSet<String> {
    names_after(code, "super::")
}

/// Groups of modules that reach each other (Tarjan's strongly connected components of two or
/// more).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    let lw = self.low[w.as_str()];
                    let lv = self.low[v];
                    self.low.insert(v, lv.min(lw));
                } else if self.stack.contains(&w.as_str()) {
                    let iw = self.index[w.as_str()];
                    let lv = self.low[v];
                    self.low.insert(v, lv.min(iw));
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = vec![];
                while let Some(w) = self.stack.pop() {
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.found.push(comp);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        found: vec![],
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

/// `cargo xtask layers`: checks every crate, prints what is wrong.
pub fn task(root: &Path) -> Result<(), TaskError> {
    let mut bad = 0;
    for c in CRATES {
        let found = check(&root.join(c).join("src"))?;
        for v in &found {
            eprintln!("{c}: {v}");
        }
        bad += found.len();
        if found.is_empty() {
            println!("{c}: layers as lib.rs says, no import cycle");
        }
    }
    if bad > 0 {
        return Err(format!("{bad} layer violation(s)").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_from_paths_and_groups_but_not_comments() {
        let code = code_of(
            "use crate::store::Store;\nuse crate::{http, rest::Api};\n// crate::capi\nlet x = crate::time::now();\n#[cfg(test)]\nuse crate::server;",
        );
        let r = references(&code);
        assert_eq!(
            r,
            ["http", "rest", "store", "time"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
    }

    #[test]
    fn a_cycle_and_an_upward_use_are_found() {
        let mut e: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        e.entry("a".into()).or_default().insert("b".into());
        e.entry("b".into()).or_default().insert("c".into());
        e.entry("c".into()).or_default().insert("a".into());
        e.entry("d".into()).or_default().insert("a".into());
        assert_eq!(cycles(&e), vec![vec!["a".to_string(), "b".into(), "c".into()]]);
        let l = layers("//! doc\n\n// low\npub mod a;\nmod b;\n\n// high\npub(crate) mod c;\n");
        assert_eq!(l, vec![vec!["a".to_string(), "b".into()], vec!["c".to_string()]]);
    }

    #[test]
    fn cycles_and_upward_uses_in_a_folder_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("capi");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("sim.rs"), "use super::{md, mp::x};").unwrap();
        std::fs::write(sub.join("md.rs"), "use crate::capi::{sim::Sim, kit::Kit};").unwrap();
        std::fs::write(sub.join("kit.rs"), "").unwrap();
        // The low layer reaches up (and into no cycle).
        std::fs::write(sub.join("mp.rs"), "").unwrap();
        std::fs::write(
            sub.join("mod.rs"),
            "// low\nmod kit;\nmod md;\n\n// high\nmod sim;\nmod mp;\n",
        )
        .unwrap();
        let found = folder_violations(dir.path(), "").unwrap();
        assert_eq!(
            found,
            vec![
                Violation::Upward {
                    from: "capi::md".into(),
                    to: "capi::sim".into()
                },
                Violation::Cycle(vec!["capi::md".to_string(), "capi::sim".into()]),
            ]
        );
    }

    #[test]
    fn the_workspace_keeps_its_layers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for c in CRATES {
            let found = check(&root.join(c).join("src")).unwrap();
            assert!(
                found.is_empty(),
                "{c}: {}",
                found
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
}
