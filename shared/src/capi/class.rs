//! ClusterClass facts that both the plugins and the sandbox's simulated controllers need: which
//! class a Cluster's topology names, the Kubernetes versions a class lists, whether it hands
//! upgrade plans to a runtime extension, and the control plane versions an upgrade walks through
//! (Cluster API's rule: the newest listed patch of every minor in between, then the target).

use serde_json::Value;

use super::object::str_at;
use crate::version::Semver;

/// The ClusterClass a Cluster's topology names, in either generation: (namespace, name). The
/// namespace defaults to the Cluster's.
pub fn class_of(cluster: &Value) -> Option<(String, String)> {
    let ns = str_at(cluster, "/metadata/namespace").unwrap_or("default");
    let t = cluster.pointer("/spec/topology").filter(|t| !t.is_null())?;
    let (name, cns) = match t.get("classRef") {
        Some(r) => (str_at(r, "/name")?, str_at(r, "/namespace")),
        None => (str_at(t, "/class")?, str_at(t, "/classNamespace")),
    };
    if name.is_empty() {
        return None;
    }
    Some((
        cns.filter(|n| !n.is_empty()).unwrap_or(ns).to_string(),
        name.to_string(),
    ))
}

/// A ClusterClass's `spec.kubernetesVersions` (empty when it lists none).
pub fn listed_versions(class: Option<&Value>) -> Vec<String> {
    class
        .and_then(|c| c.pointer("/spec/kubernetesVersions"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether a ClusterClass names an upgrade plan extension (which may chain minors too).
pub fn has_plan_extension(class: Option<&Value>) -> bool {
    class
        .and_then(|c| c.pointer("/spec/upgrade/external/generateUpgradePlanExtension"))
        .is_some_and(|x| !x.is_null())
}

/// The control plane's steps from `from` to `to` (`to_s` as written): the newest listed patch
/// of every minor in between, then `to`.
pub fn chain(from: &Semver, to: &Semver, to_s: &str, listed: &[String]) -> Vec<String> {
    let mut out: Vec<(u64, String)> = vec![];
    for v in listed {
        let Some(x) = Semver::parse(v) else { continue };
        if x.major != to.major || x.minor <= from.minor || x.minor >= to.minor || x.pre.is_some() {
            continue;
        }
        match out.iter_mut().find(|(m, _)| *m == x.minor) {
            Some((_, best)) => {
                if Semver::parse(best).is_none_or(|b| x.precedence(&b).is_gt()) {
                    *best = v.clone();
                }
            }
            None => out.push((x.minor, v.clone())),
        }
    }
    out.sort_by_key(|(m, _)| *m);
    let mut steps: Vec<String> = out.into_iter().map(|(_, v)| v).collect();
    steps.push(to_s.to_string());
    steps
}

/// [`chain`] for versions as written: nothing when already at (or past) `to`; just `to` when
/// either version does not parse.
pub fn steps(from: &str, to: &str, listed: &[String]) -> Vec<String> {
    let (Some(f), Some(t)) = (Semver::parse(from), Semver::parse(to)) else {
        return if from == to || to.is_empty() {
            vec![]
        } else {
            vec![to.to_string()]
        };
    };
    if f.precedence(&t).is_ge() {
        return vec![];
    }
    chain(&f, &t, to, listed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_walk_the_newest_listed_patch_of_every_minor_then_the_target() {
        let listed: Vec<String> = [
            "v1.31.0",
            "v1.32.1",
            "v1.31.4",
            "v1.32.0",
            "v1.33.0-rc.1",
            "v1.33.0",
            "v1.34.2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            steps("v1.31.4", "v1.34.2", &listed),
            vec!["v1.32.1", "v1.33.0", "v1.34.2"]
        );
        assert_eq!(steps("v1.33.0", "v1.33.1", &listed), vec!["v1.33.1"]);
        assert!(steps("v1.34.2", "v1.34.2", &listed).is_empty());
        assert!(steps("v1.34.2", "v1.33.0", &listed).is_empty());
        assert_eq!(steps("v1.31.0", "v1.33.0", &[]), vec!["v1.33.0"]);
        assert_eq!(steps("", "v1.33.0", &listed), vec!["v1.33.0"]);
    }

    #[test]
    fn class_is_read_from_both_generations() {
        let b2 = json!({"metadata": {"namespace": "a"}, "spec": {"topology": {"classRef": {"name": "c"}}}});
        assert_eq!(class_of(&b2), Some(("a".into(), "c".into())));
        let b1 = json!({"metadata": {"namespace": "a"}, "spec": {"topology": {"class": "c", "classNamespace": "shared"}}});
        assert_eq!(class_of(&b1), Some(("shared".into(), "c".into())));
        let unnamed = json!({"metadata": {"namespace": "a"}, "spec": {"topology": {"class": ""}}});
        assert_eq!(class_of(&unnamed), None);
    }
}
