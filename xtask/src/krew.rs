//! The krew manifest: rendering it from `krew-manifests/capi.yaml.tmpl`, and checking it with
//! krew's own rules (krew `internal/index/validation` and `validate-krew-manifest`), restated
//! here because the Go tool cannot be built on these machines.

use serde_json::Value;

/// The os/arch pairs krew supports.
pub const SUPPORTED: &[(&str, &str)] = &[
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

/// One platform of a release.
#[derive(Debug, Clone)]
pub struct Platform {
    /// Go's os name.
    pub os: String,
    /// Go's arch name.
    pub arch: String,
    /// Where the archive is downloaded from.
    pub uri: String,
    /// Its sha256, lower-case hex.
    pub sha256: String,
}

/// Renders the template: `{{VERSION}}` and a `{{PLATFORMS}}` line replaced by one entry per platform.
pub fn render(template: &str, version: &str, platforms: &[Platform]) -> String {
    let mut entries = String::new();
    for p in platforms {
        entries += &format!(
            "  - selector:\n      matchLabels:\n        os: {}\n        arch: {}\n    uri: {}\n    sha256: {}\n    bin: kubectl-capi\n    files:\n      - from: \"kubectl-capi*\"\n        to: \".\"\n      - from: LICENSE\n        to: \".\"\n",
            p.os, p.arch, p.uri, p.sha256
        );
    }
    let mut out = String::new();
    for line in template.lines() {
        if line.trim() == "{{PLATFORMS}}" {
            out += &entries;
        } else {
            out += &line.replace("{{VERSION}}", version);
            out.push('\n');
        }
    }
    out
}

fn is_v_semver(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let core = rest.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0'))
        })
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// Whether a platform selector matches an os/arch pair.
fn matches(selector: &Value, os: &str, arch: &str) -> bool {
    let labels = [("os", os), ("arch", arch)];
    if let Some(ml) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            let have = labels.iter().find(|(lk, _)| lk == k).map(|(_, lv)| *lv);
            if have != v.as_str() {
                return false;
            }
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let have = labels.iter().find(|(lk, _)| *lk == key).map(|(_, lv)| *lv);
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let ok = match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => have.is_some_and(|h| values.contains(&h)),
                "NotIn" => have.is_none_or(|h| !values.contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
    "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Checks a manifest's text against krew's rules; `file_name` is the manifest's file name.
/// Returns every problem found.
pub fn validate(file_name: &str, text: &str) -> Vec<String> {
    let mut errs = vec![];
    let doc: Value = match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => return vec![format!("not valid YAML: {e}")],
    };
    if !file_name.ends_with(".yaml") {
        errs.push(format!("{file_name}: the manifest file must end in .yaml"));
    }
    if doc.get("apiVersion").and_then(Value::as_str) != Some("krew.googlecontainertools.github.com/v1alpha2")
    {
        errs.push("apiVersion must be krew.googlecontainertools.github.com/v1alpha2".into());
    }
    if doc.get("kind").and_then(Value::as_str) != Some("Plugin") {
        errs.push("kind must be Plugin".into());
    }
    check_name(&doc, file_name, &mut errs);
    let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
    let version = spec.get("version").and_then(Value::as_str).unwrap_or("");
    if !is_v_semver(version) {
        errs.push(format!(
            "spec.version {version:?} must be a semantic version with a leading v"
        ));
    }
    let short = spec.get("shortDescription").and_then(Value::as_str).unwrap_or("");
    if short.trim().is_empty() {
        errs.push("spec.shortDescription must be set".into());
    }
    if short.contains(['\n', '\r']) {
        errs.push("spec.shortDescription must be one line".into());
    }
    for f in ["homepage", "description"] {
        if spec
            .get(f)
            .and_then(Value::as_str)
            .is_none_or(|s| s.trim().is_empty())
        {
            errs.push(format!("spec.{f} must be set"));
        }
    }
    let platforms = spec
        .get("platforms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if platforms.is_empty() {
        errs.push("spec.platforms must list at least one platform".into());
    }
    for (i, p) in platforms.iter().enumerate() {
        check_platform(&format!("spec.platforms[{i}]"), p, &mut errs);
    }
    for (os, arch) in SUPPORTED {
        let n = platforms
            .iter()
            .filter(|p| p.get("selector").is_some_and(|s| matches(s, os, arch)))
            .count();
        if n > 1 {
            errs.push(format!("{os}/{arch} is matched by {n} platforms"));
        }
    }
    errs
}

/// `metadata.name`: krew's pattern, not a reserved Windows name, and the file's name.
fn check_name(doc: &Value, file_name: &str, errs: &mut Vec<String>) {
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        errs.push(format!("metadata.name {name:?} must match ^[\\w-]+$"));
    }
    if RESERVED.contains(&name.to_ascii_uppercase().as_str()) {
        errs.push(format!("metadata.name {name:?} is a reserved name on Windows"));
    }
    if file_name.strip_suffix(".yaml") != Some(name) {
        errs.push(format!(
            "the file name {file_name:?} must be metadata.name + .yaml"
        ));
    }
}

/// One `spec.platforms` entry (`at` names it): uri, sha256, bin, files and selector.
fn check_platform(at: &str, p: &Value, errs: &mut Vec<String>) {
    let uri = p.get("uri").and_then(Value::as_str).unwrap_or("");
    if uri.is_empty() {
        errs.push(format!("{at}.uri must be set"));
    } else if !(uri.ends_with(".tar.gz") || uri.ends_with(".zip")) {
        errs.push(format!("{at}.uri must point at a .tar.gz or .zip"));
    }
    let sha = p.get("sha256").and_then(Value::as_str).unwrap_or("");
    if !is_sha256(sha) {
        errs.push(format!("{at}.sha256 {sha:?} must be 64 lower-case hex digits"));
    }
    let bin = p.get("bin").and_then(Value::as_str).unwrap_or("");
    if bin.is_empty() {
        errs.push(format!("{at}.bin must be set"));
    }
    if let Some(files) = p.get("files") {
        match files.as_array() {
            Some(a) if !a.is_empty() => {
                for (j, f) in a.iter().enumerate() {
                    for k in ["from", "to"] {
                        if f.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                            errs.push(format!("{at}.files[{j}].{k} must be set"));
                        }
                    }
                }
            }
            _ => errs.push(format!("{at}.files, when present, must not be empty")),
        }
    }
    let Some(sel) = p
        .get("selector")
        .filter(|s| s.as_object().is_some_and(|o| !o.is_empty()))
    else {
        errs.push(format!("{at}.selector must be set and not empty"));
        return;
    };
    check_selector(at, sel, bin, errs);
}

/// A platform's selector: only `os` and `arch`, nothing empty, matching a supported platform,
/// and `.exe` exactly for Windows.
fn check_selector(at: &str, sel: &Value, bin: &str, errs: &mut Vec<String>) {
    for k in ["matchLabels", "matchExpressions"] {
        if let Some(v) = sel.get(k) {
            let empty =
                v.as_object().is_some_and(|o| o.is_empty()) || v.as_array().is_some_and(|a| a.is_empty());
            if empty {
                errs.push(format!("{at}.selector.{k} must not be empty"));
            }
        }
    }
    let mut keys: Vec<String> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.extend(
        sel.get("matchExpressions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get("key").and_then(Value::as_str).map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    );
    for k in keys {
        if k != "os" && k != "arch" {
            errs.push(format!("{at}.selector uses {k:?}; only os and arch are allowed"));
        }
    }
    if !SUPPORTED.iter().any(|(os, arch)| matches(sel, os, arch)) {
        errs.push(format!("{at}.selector matches no supported os/arch"));
    }
    if bin.ends_with(".exe")
        != SUPPORTED
            .iter()
            .filter(|(os, arch)| matches(sel, os, arch))
            .all(|(os, _)| *os == "windows")
    {
        errs.push(format!("{at}.bin must end in .exe exactly for Windows platforms"));
    }
}

/// Checks an archive against a platform entry: the sha256 matches, and the files krew would
/// install include the `bin` and a license file.
pub fn validate_archive(platform: &Value, sha256: &str, names: &[String]) -> Vec<String> {
    let mut errs = vec![];
    let want = platform.get("sha256").and_then(Value::as_str).unwrap_or("");
    if want != sha256 {
        errs.push(format!("sha256 {want} does not match the archive's {sha256}"));
    }
    let bin = platform.get("bin").and_then(Value::as_str).unwrap_or("");
    if !names.iter().any(|n| n == bin) {
        errs.push(format!("the archive has no {bin}"));
    }
    let license = names.iter().any(|n| {
        let l = n.to_ascii_lowercase();
        matches!(l.as_str(), "license" | "license.txt" | "license.md")
            || l.starts_with("licenses")
            || l.starts_with("copying")
    });
    if !license {
        errs.push("the archive installs no license file".into());
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_hashes() {
        assert!(is_v_semver("v0.1.0"));
        assert!(is_v_semver("v1.2.3-rc.1"));
        for bad in ["0.1.0", "v1.2", "v01.2.3", "vx.y.z"] {
            assert!(!is_v_semver(bad), "{bad}");
        }
        assert!(is_sha256(&"a".repeat(64)));
        assert!(!is_sha256(&"A".repeat(64)));
    }
}
