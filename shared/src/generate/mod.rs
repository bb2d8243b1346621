//! Rendering cluster templates as `clusterctl generate cluster` does: where the template comes
//! from, where each variable's value comes from (flags, then the environment, then the clusterctl
//! config file, then built-in defaults), substitution, and the target namespace applied to every
//! namespaced object. The output is multi-document YAML that `kubectl apply -f -` accepts.

pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Error, Result};
use template::Variable;

/// Where a template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`--from -`).
    Stdin,
    /// A local file.
    File(PathBuf),
    /// An https:// URL.
    Url(String),
}

/// The template file name of a flavor, as in provider repositories.
pub fn flavor_file(flavor: Option<&str>) -> String {
    match flavor {
        Some(f) if !f.is_empty() => format!("cluster-template-{f}.yaml"),
        _ => "cluster-template.yaml".into(),
    }
}

/// Interprets `--from` (and `--flavor`, which picks a file in a directory or under a URL ending
/// in `/`).
pub fn parse_source(from: &str, flavor: Option<&str>) -> Result<Source> {
    if from == "-" {
        return match flavor {
            Some(_) => Err(Error::Usage(
                "--flavor cannot be used with --from - (standard input)".into(),
            )),
            None => Ok(Source::Stdin),
        };
    }
    if let Some(path) = from.strip_prefix("file://") {
        return parse_source(path, flavor);
    }
    if from.starts_with("https://") {
        return Ok(Source::Url(match flavor {
            _ if from.ends_with('/') => format!("{from}{}", flavor_file(flavor)),
            Some(_) => {
                return Err(Error::Usage(
                    "--flavor with a URL needs the URL of the directory, ending in /".into(),
                ));
            }
            None => from.to_string(),
        }));
    }
    if let Some((scheme, _)) = from.split_once("://") {
        return Err(Error::Usage(format!(
            "--from {from:?}: the {scheme}:// scheme is not supported; use a file, a directory, https://... or - for standard input"
        )));
    }
    let path = PathBuf::from(from);
    if path.is_dir() {
        return Ok(Source::File(path.join(flavor_file(flavor))));
    }
    if flavor.is_some() {
        return Err(Error::Usage(format!(
            "--flavor picks cluster-template-<flavor>.yaml in a directory, but {from} is not a directory"
        )));
    }
    Ok(Source::File(path))
}

/// The values given on the command line; they win over the environment and the config file.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `CLUSTER_NAME`.
    pub cluster_name: String,
    /// `NAMESPACE`.
    pub namespace: String,
    /// `KUBERNETES_VERSION` from `--kubernetes-version`.
    pub kubernetes_version: Option<String>,
    /// `CONTROL_PLANE_MACHINE_COUNT` from its flag.
    pub control_plane_count: Option<u32>,
    /// `WORKER_MACHINE_COUNT` from its flag.
    pub worker_count: Option<u32>,
}

/// Where a variable's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A flag (or the cluster name / namespace).
    Flag,
    /// The environment.
    Env,
    /// The clusterctl config file.
    Config,
    /// The built-in default of a machine count.
    Default,
}

/// A source of environment variables.
type Env<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Resolves variable values: flags, then the environment, then the config file, then defaults.
pub struct Values<'a> {
    inputs: &'a Inputs,
    config: &'a BTreeMap<String, String>,
    env: Env<'a>,
}

impl<'a> Values<'a> {
    /// A resolver over the process environment.
    pub fn new(inputs: &'a Inputs, config: &'a BTreeMap<String, String>) -> Self {
        Self::with_env(inputs, config, |k| std::env::var(k).ok())
    }

    /// A resolver over a given environment (tests).
    pub fn with_env(
        inputs: &'a Inputs,
        config: &'a BTreeMap<String, String>,
        env: impl Fn(&str) -> Option<String> + 'a,
    ) -> Self {
        Values {
            inputs,
            config,
            env: Box::new(env),
        }
    }

    /// The value of a variable and where it came from.
    pub fn get(&self, name: &str) -> Option<(String, Origin)> {
        let i = self.inputs;
        // Keep in step with FLAG_VARIABLES.
        let flag = match name {
            "CLUSTER_NAME" => Some(i.cluster_name.clone()),
            "NAMESPACE" => Some(i.namespace.clone()),
            "KUBERNETES_VERSION" => i.kubernetes_version.clone(),
            "CONTROL_PLANE_MACHINE_COUNT" => i.control_plane_count.map(|n| n.to_string()),
            "WORKER_MACHINE_COUNT" => i.worker_count.map(|n| n.to_string()),
            _ => None,
        };
        if let Some(v) = flag.filter(|v| !v.is_empty()) {
            return Some((v, Origin::Flag));
        }
        if let Some(v) = (self.env)(name).filter(|v| !v.is_empty()) {
            return Some((v, Origin::Env));
        }
        if let Some(v) = self.config.get(name).filter(|v| !v.is_empty()) {
            return Some((v.clone(), Origin::Config));
        }
        match name {
            "CONTROL_PLANE_MACHINE_COUNT" => Some(("1".into(), Origin::Default)),
            "WORKER_MACHINE_COUNT" => Some(("0".into(), Origin::Default)),
            _ => None,
        }
    }
}

/// The clusterctl config file's variables (top-level scalar keys). `explicit` must exist; the
/// default locations (`$XDG_CONFIG_HOME/cluster-api/clusterctl.yaml`, then
/// `~/.cluster-api/clusterctl.yaml`) are optional.
pub fn load_config(explicit: Option<&Path>) -> Result<BTreeMap<String, String>> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => default_config_paths().into_iter().find(|p| p.is_file()),
    };
    let Some(path) = path else {
        return Ok(BTreeMap::new());
    };
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        context: "reading the clusterctl config file",
        path: path.clone(),
        source,
    })?;
    let doc: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        crate::yaml::from_str(&text)
            .map_err(|e| Error::Config(format!("{} is not valid YAML: {e}", path.display())))?
    };
    let mut out = BTreeMap::new();
    match doc {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                let v = match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    // Nested sections (providers, images, cert-manager) are not variables.
                    _ => continue,
                };
                out.insert(k, v);
            }
        }
        _ => {
            return Err(Error::Config(format!(
                "{} must be a YAML mapping of VARIABLE: value",
                path.display()
            )));
        }
    }
    Ok(out)
}

/// Where clusterctl's config file is looked for, in order.
pub fn default_config_paths() -> Vec<PathBuf> {
    let mut out = vec![];
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        out.push(PathBuf::from(x).join("cluster-api").join("clusterctl.yaml"));
    }
    if let Some(h) = crate::kubeconfig::file::home_dir() {
        out.push(h.join(".config").join("cluster-api").join("clusterctl.yaml"));
        out.push(h.join(".cluster-api").join("clusterctl.yaml"));
    }
    out
}

/// Checks the values that have a required shape.
pub fn validate_inputs(i: &Inputs) -> Result<()> {
    if !is_dns_subdomain(&i.cluster_name) {
        return Err(Error::Usage(format!(
            "cluster name {:?} is not valid: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters",
            i.cluster_name
        )));
    }
    if !is_dns_label(&i.namespace) {
        return Err(Error::Usage(format!(
            "namespace {:?} is not valid: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
            i.namespace
        )));
    }
    if let Some(v) = &i.kubernetes_version
        && crate::version::Semver::parse(v).is_none()
    {
        return Err(Error::Usage(format!(
            "--kubernetes-version {v:?} is not a version like v1.33.0"
        )));
    }
    if i.control_plane_count == Some(0) {
        return Err(Error::Usage(
            "--control-plane-machine-count must be at least 1".into(),
        ));
    }
    Ok(())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A template's variables, split as `--list-variables` prints them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VariableList {
    /// Variables with no default: `(name, value if known)`.
    pub required: Vec<(String, Option<String>)>,
    /// Variables with a default: `(name, effective value)`.
    pub optional: Vec<(String, String)>,
}

/// The template's variables with their effective values.
pub fn list_variables(text: &str, values: &Values) -> VariableList {
    let mut out = VariableList::default();
    for Variable { name, default } in template::variables(text) {
        let value = values.get(&name).map(|(v, _)| v);
        match default.filter(|d| !d.is_empty()) {
            Some(d) => out.optional.push((name, value.unwrap_or(d))),
            None => out.required.push((name, value)),
        }
    }
    out
}

/// `--list-variables` text, like clusterctl's.
pub fn variables_text(list: &VariableList) -> String {
    if list.required.is_empty() && list.optional.is_empty() {
        return "The template has no variables: it renders as it is.\n".into();
    }
    let mut s = String::from("Required Variables:\n");
    let width = list
        .required
        .iter()
        .map(|(n, _)| n.len())
        .chain(list.optional.iter().map(|(n, _)| n.len()))
        .max()
        .unwrap_or(0);
    for (name, value) in &list.required {
        match value {
            Some(v) => s += &format!("  - {name:width$}  (set to {v:?})\n"),
            None => s += &format!("  - {name:width$}  (NOT SET)\n"),
        }
    }
    s += "\nOptional Variables:\n";
    for (name, value) in &list.optional {
        s += &format!("  - {name:width$}  (defaults to {value:?})\n");
    }
    s
}

/// Kinds that are not namespaced: built-in cluster-scoped kinds and the providers' cluster-wide
/// identities. Everything else gets the target namespace.
pub const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "FlowSchema",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "APIService",
    "CSIDriver",
    "CSINode",
    "RuntimeClass",
    "IngressClass",
    "VolumeAttachment",
    "CertificateSigningRequest",
    "ClusterIssuer",
    "AWSClusterControllerIdentity",
    "AWSClusterRoleIdentity",
    "AWSClusterStaticIdentity",
    "VSphereClusterIdentity",
];

/// The variables a flag of `generate cluster` sets, and that flag.
pub const FLAG_VARIABLES: &[(&str, &str)] = &[
    ("CLUSTER_NAME", "the NAME argument"),
    ("NAMESPACE", "-n/--namespace"),
    ("KUBERNETES_VERSION", "--kubernetes-version"),
    ("CONTROL_PLANE_MACHINE_COUNT", "--control-plane-machine-count"),
    ("WORKER_MACHINE_COUNT", "--worker-machine-count"),
];

/// The error for variables without a value: each one with the flag that sets it, if any.
pub fn missing_message(missing: &template::MissingVariables) -> String {
    // The first line as clusterctl words it, then what to do for each variable.
    let names: Vec<&str> = missing.0.iter().map(String::as_str).collect();
    let mut s = format!(
        "value for variables [{}] is not set (nothing was printed):",
        names.join(", ")
    );
    for name in &missing.0 {
        match FLAG_VARIABLES.iter().find(|(v, _)| v == name) {
            Some((_, flag)) => s += &format!("\n  {name}: set it with {flag}"),
            None => {
                s +=
                    &format!("\n  {name}: set {name}=... in the environment or in the clusterctl config file")
            }
        }
    }
    s + "\n(`--list-variables` shows every variable and its value)"
}

/// Substitutes the variables and parses the objects, setting the target namespace.
pub fn render(text: &str, values: &Values, namespace: &str) -> Result<Vec<Value>> {
    template::check_syntax(text)
        .map_err(|e| Error::Usage(format!("the template has a broken variable reference at {e}")))?;
    let substituted = template::substitute(text, |k| values.get(k).map(|(v, _)| v))
        .map_err(|e| Error::Usage(missing_message(&e)))?;
    let docs: Vec<Value> = crate::yaml::from_str_multiple(&substituted)
        .map_err(|e| Error::Usage(format!("the template is not valid YAML after substitution: {e}")))?;
    let mut out = vec![];
    for (i, mut doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let kind = doc.get("kind").and_then(Value::as_str).map(str::to_string);
        let api = doc.get("apiVersion").and_then(Value::as_str).is_some();
        let Some(kind) = kind.filter(|_| api) else {
            return Err(Error::Usage(format!(
                "document {} of the template is not a Kubernetes object (it needs apiVersion and kind)",
                i + 1
            )));
        };
        if kind.ends_with("List") && doc.get("items").is_some() {
            return Err(Error::Usage(format!(
                "document {} is a {kind}; templates hold one object per document",
                i + 1
            )));
        }
        if !CLUSTER_SCOPED.contains(&kind.as_str())
            && let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.insert("namespace".into(), Value::String(namespace.into()));
        }
        // Service accounts bound cluster-wide live in the target namespace too.
        if kind == "ClusterRoleBinding"
            && let Some(subjects) = doc.get_mut("subjects").and_then(Value::as_array_mut)
        {
            for s in subjects {
                if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                    s["namespace"] = Value::String(namespace.into());
                }
            }
        }
        out.push(doc);
    }
    if out.is_empty() {
        return Err(Error::Usage("the template holds no objects".into()));
    }
    Ok(out)
}

/// Multi-document YAML of the objects.
pub fn to_yaml(docs: &[Value]) -> Result<String> {
    let mut s = String::new();
    for d in docs {
        s += "---\n";
        s += &serde_saphyr::to_string(d).map_err(|e| Error::Other(format!("rendering YAML: {e}")))?;
    }
    Ok(s)
}

/// The ClusterClass a topology Cluster of the objects uses: `(name, namespace)`.
pub fn class_of(docs: &[Value]) -> Option<(String, Option<String>)> {
    docs.iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("Cluster"))
        .find_map(|d| {
            let t = d.pointer("/spec/topology")?;
            // v1beta2: classRef {name, namespace}; v1beta1: class and classNamespace.
            let name = t
                .pointer("/classRef/name")
                .or_else(|| t.get("class"))
                .and_then(Value::as_str)?;
            let ns = t
                .pointer("/classRef/namespace")
                .or_else(|| t.get("classNamespace"))
                .and_then(Value::as_str)
                .map(str::to_string);
            Some((name.to_string(), ns))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            cluster_name: "c1".into(),
            namespace: "team-a".into(),
            ..Default::default()
        }
    }

    #[test]
    fn sources() {
        assert_eq!(parse_source("-", None).unwrap(), Source::Stdin);
        assert!(parse_source("-", Some("x")).is_err());
        assert_eq!(
            parse_source("https://example.com/r/", Some("dev")).unwrap(),
            Source::Url("https://example.com/r/cluster-template-dev.yaml".into())
        );
        assert!(parse_source("https://example.com/t.yaml", Some("dev")).is_err());
        let e = parse_source("http://example.com/t.yaml", None).unwrap_err();
        assert!(e.to_string().contains("http:// scheme is not supported"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        assert_eq!(
            parse_source(d, Some("in-memory")).unwrap(),
            Source::File(dir.path().join("cluster-template-in-memory.yaml"))
        );
        assert_eq!(
            parse_source(&format!("file://{d}"), None).unwrap(),
            Source::File(dir.path().join("cluster-template.yaml"))
        );
        assert!(parse_source("/etc/hostname", Some("x")).is_err());
    }

    #[test]
    fn value_precedence() {
        let mut i = inputs();
        let config: BTreeMap<String, String> = [
            ("KUBERNETES_VERSION".to_string(), "v1.31.0".to_string()),
            ("REGION".to_string(), "eu".to_string()),
            ("ZONE".to_string(), "eu-1".to_string()),
        ]
        .into();
        let env = |k: &str| (k == "ZONE" || k == "KUBERNETES_VERSION").then(|| format!("env-{k}"));
        {
            let v = Values::with_env(&i, &config, env);
            assert_eq!(v.get("REGION"), Some(("eu".into(), Origin::Config)));
            assert_eq!(v.get("ZONE"), Some(("env-ZONE".into(), Origin::Env)));
            assert_eq!(v.get("WORKER_MACHINE_COUNT"), Some(("0".into(), Origin::Default)));
            assert_eq!(
                v.get("CONTROL_PLANE_MACHINE_COUNT"),
                Some(("1".into(), Origin::Default))
            );
            assert_eq!(v.get("NAMESPACE"), Some(("team-a".into(), Origin::Flag)));
            assert_eq!(v.get("NOPE"), None);
        }
        i.kubernetes_version = Some("v1.33.0".into());
        i.worker_count = Some(3);
        let v = Values::with_env(&i, &config, env);
        assert_eq!(
            v.get("KUBERNETES_VERSION"),
            Some(("v1.33.0".into(), Origin::Flag))
        );
        assert_eq!(v.get("WORKER_MACHINE_COUNT"), Some(("3".into(), Origin::Flag)));
    }

    #[test]
    fn render_sets_namespaces_and_reports_every_missing_variable() {
        let i = inputs();
        let config = BTreeMap::new();
        let v = Values::with_env(&i, &config, |_| None);
        let t = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${CLUSTER_NAME}-cm\n  namespace: elsewhere\ndata:\n  a: ${A}\n  b: ${B}\n";
        let e = render(t, &v, "team-a").unwrap_err();
        assert!(
            e.to_string().contains("value for variables [A, B] is not set"),
            "{e}"
        );
        assert!(
            e.to_string().contains("\n  A: set A=... in the environment"),
            "{e}"
        );
        assert!(e.to_string().contains("\n  B: "), "{e}");
        let e = render("v: ${KUBERNETES_VERSION}\n", &v, "x").unwrap_err();
        assert!(
            e.to_string()
                .contains("KUBERNETES_VERSION: set it with --kubernetes-version"),
            "{e}"
        );
        assert_eq!(
            variables_text(&list_variables("a: b\n", &v)),
            "The template has no variables: it renders as it is.\n"
        );
        assert!(matches!(e, Error::Usage(_)));
        let t = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${CLUSTER_NAME}-cm\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: crb\nsubjects:\n- kind: ServiceAccount\n  name: sa\n  namespace: x\n- kind: User\n  name: u\n";
        let docs = render(t, &v, "team-a").unwrap();
        assert_eq!(docs[0]["metadata"]["namespace"], "team-a");
        assert_eq!(docs[0]["metadata"]["name"], "c1-cm");
        assert!(docs[1]["metadata"].get("namespace").is_none());
        assert_eq!(docs[1]["subjects"][0]["namespace"], "team-a");
        assert!(docs[1]["subjects"][1].get("namespace").is_none());
        let yaml = to_yaml(&docs).unwrap();
        let back: Vec<Value> = serde_saphyr::from_str_multiple(&yaml).unwrap();
        assert_eq!(back, docs);
        assert!(render("just: text\n", &v, "x").is_err());
        assert!(render("", &v, "x").is_err());
    }

    #[test]
    fn input_validation() {
        let mut i = inputs();
        assert!(validate_inputs(&i).is_ok());
        i.cluster_name = "Bad_Name".into();
        assert!(validate_inputs(&i).is_err());
        let mut i = inputs();
        i.kubernetes_version = Some("1.33".into());
        assert!(validate_inputs(&i).is_err());
        let mut i = inputs();
        i.control_plane_count = Some(0);
        assert!(validate_inputs(&i).is_err());
    }

    #[test]
    fn listing_variables() {
        let i = inputs();
        let config = BTreeMap::new();
        let v = Values::with_env(&i, &config, |_| None);
        let l = list_variables(
            "${CLUSTER_NAME} ${REGION} ${CIDR:=10.0.0.0/8} ${WORKER_MACHINE_COUNT}",
            &v,
        );
        assert_eq!(
            l.required,
            vec![
                ("CLUSTER_NAME".to_string(), Some("c1".to_string())),
                ("REGION".to_string(), None),
                ("WORKER_MACHINE_COUNT".to_string(), Some("0".to_string()))
            ]
        );
        assert_eq!(l.optional, vec![("CIDR".to_string(), "10.0.0.0/8".to_string())]);
        let text = variables_text(&l);
        assert!(text.contains("  - REGION                (NOT SET)\n"), "{text}");
    }
}
