//! A release's components file made ready to apply, as clusterctl prepares it: variables
//! substituted (every missing one named at once), `images:` overrides, everything namespaced
//! moved into the one target namespace (with the references that name it: role binding
//! subjects, webhook services, CRD conversion webhooks, cert-manager `Certificate` DNS names and
//! CA injection annotations), clusterctl's labels on every object, and a safe order.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::config::{ImageOverride, override_image};
use super::inventory::PROVIDER_LABEL;
use crate::capi::labels::CLUSTERCTL_LABEL;
use crate::generate::{CLUSTER_SCOPED, Values, missing_message, template};
use crate::{Error, Result};

/// cert-manager's API group.
pub const CERT_MANAGER_GROUP: &str = "cert-manager.io";
/// cert-manager's CA injection annotation (`NAMESPACE/CERTIFICATE`).
const INJECT_CA: &str = "cert-manager.io/inject-ca-from";

/// One object's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObjectId {
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty when cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectId {
    /// The identity of an object.
    pub fn of(v: &Value) -> ObjectId {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        ObjectId {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
        }
    }

    /// The API group.
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// Whether the object has no namespace.
    pub fn cluster_scoped(&self) -> bool {
        CLUSTER_SCOPED.contains(&self.kind.as_str())
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.group();
        let kind = if g.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{g}", self.kind)
        };
        if self.namespace.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind} {}/{}", self.namespace, self.name)
        }
    }
}

/// A components file ready to apply.
#[derive(Debug, Clone)]
pub struct Components {
    /// The target namespace.
    pub namespace: String,
    /// The objects, in apply order.
    pub objects: Vec<Value>,
}

/// The steps' inputs besides the text.
pub struct Inputs<'a> {
    /// The manifest label (`cluster-api`), also the `images:` component name.
    pub label: &'a str,
    /// `-n/--target-namespace`.
    pub target_namespace: Option<&'a str>,
    /// Variable values.
    pub values: &'a Values<'a>,
    /// `images:` overrides.
    pub images: &'a BTreeMap<String, ImageOverride>,
    /// Leave a variable without a value as `${NAME}` instead of failing (`init list-images`,
    /// which like clusterctl's needs no values).
    pub keep_missing: bool,
}

/// Runs the pipeline over a components file's text.
pub fn prepare(text: &str, origin: &str, i: &Inputs) -> Result<Components> {
    template::check_syntax(text)
        .map_err(|e| Error::Usage(format!("{origin} has a broken variable reference at {e}")))?;
    let value = |k: &str| i.values.get(k).map(|(v, _)| v);
    // With keep_missing, a variable with neither value nor default shows as itself.
    let missing = match i.keep_missing {
        true => template::substitute(text, value)
            .err()
            .map(|e| e.0)
            .unwrap_or_default(),
        false => Default::default(),
    };
    let lookup = |k: &str| value(k).or_else(|| missing.contains(k).then(|| format!("${{{k}}}")));
    let substituted = template::substitute(text, lookup).map_err(|e| {
        Error::Usage(
            missing_message(&e)
                .replace(
                    "(nothing was printed)",
                    &format!("in {origin} (nothing was installed)"),
                )
                .replace("\n(`--list-variables` shows every variable and its value)", ""),
        )
    })?;
    let mut objects: Vec<Value> = crate::yaml::from_str_multiple::<Value>(&substituted)
        .map_err(|e| Error::Usage(format!("{origin} is not valid YAML after substitution: {e}")))?
        .into_iter()
        .filter(|d| !d.is_null())
        .collect();
    for (n, o) in objects.iter().enumerate() {
        if o.get("kind").and_then(Value::as_str).is_none()
            || o.get("apiVersion").and_then(Value::as_str).is_none()
        {
            return Err(Error::Usage(format!(
                "document {} of {origin} is not a Kubernetes object (apiVersion and kind)",
                n + 1
            )));
        }
    }
    // The namespace the file was written for, before it is renamed.
    let original = objects
        .iter()
        .find(|o| o["kind"] == "Namespace")
        .and_then(|o| o.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string);
    let namespace = target_namespace(&mut objects, origin, i.target_namespace)?;
    for o in &mut objects {
        move_to(o, original.as_deref(), &namespace);
        for image in images_mut(o) {
            if let Some(s) = image.as_str() {
                *image = json!(override_image(i.images, i.label, s));
            }
        }
        label(o, i.label);
    }
    objects.sort_by_key(rank);
    Ok(Components { namespace, objects })
}

/// The one Namespace the file has (renamed to `--target-namespace` if given), or the target
/// namespace added when the file has none.
fn target_namespace(objects: &mut Vec<Value>, origin: &str, target: Option<&str>) -> Result<String> {
    let count = objects.iter().filter(|o| o["kind"] == "Namespace").count();
    match (count, target) {
        (0, None) => Err(Error::Usage(format!(
            "{origin} has no Namespace object: give -n/--target-namespace"
        ))),
        (0, Some(t)) => {
            objects.insert(
                0,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": t}}),
            );
            Ok(t.to_string())
        }
        (1, t) => {
            let Some(ns) = objects.iter_mut().find(|o| o["kind"] == "Namespace") else {
                return Err(Error::Other("the Namespace vanished".into()));
            };
            if let Some(t) = t {
                ns["metadata"]["name"] = json!(t);
            }
            Ok(ns
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string())
        }
        (n, _) => Err(Error::Usage(format!(
            "{origin} has {n} Namespace objects; clusterctl's components hold exactly one"
        ))),
    }
}

fn move_to(o: &mut Value, original: Option<&str>, ns: &str) {
    let id = ObjectId::of(o);
    if !id.cluster_scoped() && o["metadata"].is_object() {
        o["metadata"]["namespace"] = json!(ns);
    }
    let swap = |s: &str| match original {
        Some(old) if old != ns => s.replace(&format!(".{old}.svc"), &format!(".{ns}.svc")),
        _ => s.to_string(),
    };
    match id.kind.as_str() {
        "ClusterRoleBinding" | "RoleBinding" => {
            for s in o
                .get_mut("subjects")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if s["kind"] == "ServiceAccount" {
                    s["namespace"] = json!(ns);
                }
            }
        }
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
            for w in o
                .get_mut("webhooks")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(svc) = w.pointer_mut("/clientConfig/service").filter(|s| s.is_object()) {
                    svc["namespace"] = json!(ns);
                }
            }
        }
        "CustomResourceDefinition" => {
            if let Some(svc) = o
                .pointer_mut("/spec/conversion/webhook/clientConfig/service")
                .filter(|s| s.is_object())
            {
                svc["namespace"] = json!(ns);
            }
        }
        "Certificate" if id.group() == super::components::CERT_MANAGER_GROUP => {
            for d in o
                .pointer_mut("/spec/dnsNames")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(s) = d.as_str() {
                    *d = json!(swap(s));
                }
            }
        }
        _ => {}
    }
    if let Some(a) = o
        .pointer_mut("/metadata/annotations")
        .and_then(|a| a.get_mut(INJECT_CA))
        && let Some((_, cert)) = a.as_str().and_then(|s| s.split_once('/'))
    {
        *a = json!(format!("{ns}/{cert}"));
    }
}

/// The image fields of an object's pod template (containers and init containers).
pub fn images_mut(o: &mut Value) -> Vec<&mut Value> {
    let Some(spec) = o
        .pointer_mut("/spec/template/spec")
        .and_then(Value::as_object_mut)
    else {
        return vec![];
    };
    let mut out = vec![];
    for (k, list) in spec.iter_mut() {
        if k == "containers" || k == "initContainers" {
            for c in list.as_array_mut().into_iter().flatten() {
                if let Some(img) = c.get_mut("image") {
                    out.push(img);
                }
            }
        }
    }
    out
}

fn label(o: &mut Value, provider: &str) {
    if !o["metadata"].is_object() {
        return;
    }
    if !o["metadata"]["labels"].is_object() {
        o["metadata"]["labels"] = json!({});
    }
    o["metadata"]["labels"][CLUSTERCTL_LABEL] = json!("");
    o["metadata"]["labels"][PROVIDER_LABEL] = json!(provider);
}

/// Apply order: the Namespace, CRDs, cert-manager objects, the rest, webhook configurations
/// last (so that no webhook is registered before the Service and Deployment behind it).
pub fn rank(o: &Value) -> u8 {
    let id = ObjectId::of(o);
    match id.kind.as_str() {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        _ if id.group() == CERT_MANAGER_GROUP => 2,
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => 4,
        _ => 3,
    }
}

/// The images of a set of objects.
pub fn images(objects: &[Value]) -> Vec<String> {
    let mut out = vec![];
    for o in objects {
        let mut o = o.clone();
        out.extend(
            images_mut(&mut o)
                .into_iter()
                .filter_map(|i| i.as_str().map(str::to_string)),
        );
    }
    out
}

/// CRDs not named `plural.group` (clusterctl's preflight), unless annotated to skip it.
pub fn misnamed_crds(objects: &[Value]) -> Vec<String> {
    const SKIP: &str = "clusterctl.cluster.x-k8s.io/skip-crd-name-preflight-check";
    objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .filter(|o| {
            o.pointer("/metadata/annotations")
                .and_then(|a| a.get(SKIP))
                .is_none()
        })
        .filter_map(|o| {
            let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let plural = o
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or("");
            let group = o.pointer("/spec/group").and_then(Value::as_str).unwrap_or("");
            (name != format!("{plural}.{group}")).then(|| format!("{name} (expected {plural}.{group})"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Inputs as GenInputs;

    const FILE: &str = "apiVersion: v1
kind: Namespace
metadata: {name: capi-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: capi-controller-manager, namespace: capi-system}
spec:
  template:
    spec:
      containers:
      - name: manager
        image: registry.k8s.io/cluster-api/cluster-api-controller:v1.14.0
        args: [\"--feature-gates=MachinePool=${EXP_MACHINE_POOL:=true}\", \"--x=${NEEDED}\", \"--y=${ALSO}\"]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: capi-validating}
webhooks:
- name: v.cluster.x-k8s.io
  clientConfig: {service: {name: capi-webhook-service, namespace: capi-system}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: capi-serving-cert, namespace: capi-system}
spec:
  dnsNames: [capi-webhook-service.capi-system.svc, capi-webhook-service.capi-system.svc.cluster.local]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusters.cluster.x-k8s.io
  annotations: {cert-manager.io/inject-ca-from: capi-system/capi-serving-cert}
spec:
  group: cluster.x-k8s.io
  names: {plural: clusters, kind: Cluster}
  conversion: {strategy: Webhook, webhook: {clientConfig: {service: {name: capi-webhook-service, namespace: capi-system}}}}
";

    #[test]
    fn pipeline_as_clusterctl() {
        let cfg = BTreeMap::new();
        let gi = GenInputs::default();
        let values = Values::with_env(&gi, &cfg, |k| {
            (k == "NEEDED")
                .then(|| "1".to_string())
                .or_else(|| (k == "ALSO").then(|| "2".into()))
        });
        let mut images = BTreeMap::new();
        images.insert(
            "all".to_string(),
            ImageOverride {
                repository: Some("mirror.local".into()),
                ..Default::default()
            },
        );
        let i = Inputs {
            label: "cluster-api",
            target_namespace: Some("capi-x"),
            values: &values,
            images: &images,
            keep_missing: false,
        };
        let c = prepare(FILE, "core-components.yaml", &i).unwrap();
        assert_eq!(c.namespace, "capi-x");
        let kinds: Vec<&str> = c.objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "CustomResourceDefinition",
                "Certificate",
                "Deployment",
                "ValidatingWebhookConfiguration"
            ]
        );
        let d = &c.objects[3];
        assert_eq!(d["metadata"]["namespace"], "capi-x");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "mirror.local/cluster-api-controller:v1.14.0"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["args"][0],
            "--feature-gates=MachinePool=true"
        );
        assert_eq!(d["metadata"]["labels"][PROVIDER_LABEL], "cluster-api");
        assert_eq!(
            c.objects[4]["webhooks"][0]["clientConfig"]["service"]["namespace"],
            "capi-x"
        );
        assert_eq!(
            c.objects[2]["spec"]["dnsNames"][1],
            "capi-webhook-service.capi-x.svc.cluster.local"
        );
        let crd = &c.objects[1];
        assert_eq!(
            crd["metadata"]["annotations"][INJECT_CA],
            "capi-x/capi-serving-cert"
        );
        assert_eq!(
            crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["namespace"],
            "capi-x"
        );
        assert!(crd["metadata"].get("namespace").is_none());
        assert_eq!(
            super::images(&c.objects),
            ["mirror.local/cluster-api-controller:v1.14.0"]
        );
        assert!(misnamed_crds(&c.objects).is_empty());
    }

    #[test]
    fn every_missing_variable_at_once() {
        let cfg = BTreeMap::new();
        let gi = GenInputs::default();
        let values = Values::with_env(&gi, &cfg, |_| None);
        let images = BTreeMap::new();
        let i = Inputs {
            label: "cluster-api",
            target_namespace: None,
            values: &values,
            images: &images,
            keep_missing: false,
        };
        let e = prepare(FILE, "core-components.yaml", &i).unwrap_err().to_string();
        assert!(
            e.contains("[ALSO, NEEDED]") && e.contains("nothing was installed"),
            "{e}"
        );
        let e = prepare("kind: X\n", "f.yaml", &i).unwrap_err().to_string();
        assert!(e.contains("document 1"), "{e}");
        let two = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n";
        assert!(
            prepare(two, "f.yaml", &i)
                .unwrap_err()
                .to_string()
                .contains("2 Namespace")
        );
    }
}
