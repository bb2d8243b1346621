//! A local provider repository in clusterctl's layout, made from the sandbox's own bundled CRDs
//! and small components files of its own (not copies of upstream release files), for
//! `kubectl capi init` on a bare sandbox, the tests and the demo:
//!
//! ```text
//! DIR/<provider-label>/<version>/metadata.yaml
//! DIR/<provider-label>/<version>/<type>-components.yaml
//! DIR/cert-manager/<version>/cert-manager.yaml
//! ```
//!
//! Two releases per provider: v1.10.0 (contract v1beta1, the v1beta1 CRDs) and v1.14.0
//! (contract v1beta2). Besides core, kubeadm bootstrap and control plane and Docker (whose
//! Dev* kinds the simulated controllers provision), an `in-memory` infrastructure provider with
//! kinds of its own shows a second infrastructure provider (no controller behind it).

use std::path::{Path, PathBuf};

use capi_shared::capi::Generation;
use capi_shared::init::inventory::PROVIDER_LABEL;
use capi_shared::init::provider::ProviderType;
use serde_json::{Value, json};

use crate::api::crds;

/// The cert-manager version of the repository.
pub const CERT_MANAGER_VERSION: &str = "v1.16.0";

/// One provider of the repository.
struct Provider {
    ty: ProviderType,
    name: &'static str,
    namespace: &'static str,
    image: &'static str,
}

const PROVIDERS: &[Provider] = &[
    Provider {
        ty: ProviderType::Core,
        name: "cluster-api",
        namespace: "capi-system",
        image: "cluster-api-controller",
    },
    Provider {
        ty: ProviderType::Bootstrap,
        name: "kubeadm",
        namespace: "capi-kubeadm-bootstrap-system",
        image: "kubeadm-bootstrap-controller",
    },
    Provider {
        ty: ProviderType::ControlPlane,
        name: "kubeadm",
        namespace: "capi-kubeadm-control-plane-system",
        image: "kubeadm-control-plane-controller",
    },
    Provider {
        ty: ProviderType::Infrastructure,
        name: "docker",
        namespace: "capd-system",
        image: "capd-manager",
    },
    Provider {
        ty: ProviderType::Infrastructure,
        name: "in-memory",
        namespace: "capim-system",
        image: "capim-manager",
    },
];

/// The releases: (version, generation of its CRDs).
const RELEASES: [(&str, Generation); 2] =
    [("v1.10.0", Generation::V1beta1), ("v1.14.0", Generation::V1beta2)];

/// Writes the repository under `dir` (created if missing); returns the files written.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = vec![];
    for p in PROVIDERS {
        let label = p.ty.label(p.name);
        for (version, g) in RELEASES {
            let at = dir.join(&label).join(version);
            files.push(put(&at, "metadata.yaml", METADATA)?);
            let docs = components(p, &label, version, g);
            files.push(put(&at, &p.ty.components_file(), &yaml_stream(&docs)?)?);
        }
    }
    let at = dir.join("cert-manager").join(CERT_MANAGER_VERSION);
    files.push(put(&at, "cert-manager.yaml", &yaml_stream(&cert_manager())?)?);
    Ok(files)
}

/// The release series of every provider here (clusterctl's `metadata.yaml`).
const METADATA: &str = "apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n  - major: 1\n    minor: 14\n    contract: v1beta2\n  - major: 1\n    minor: 10\n    contract: v1beta1\n";

fn put(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

fn yaml_stream(docs: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(d).map_err(|e| format!("encoding YAML: {e}"))?);
    }
    Ok(out)
}

/// One provider's components: its Namespace, CRDs, RBAC, webhook Service, certificate,
/// webhook configuration and controller Deployment.
fn components(p: &Provider, label: &str, version: &str, g: Generation) -> Vec<Value> {
    let ns = p.namespace;
    let mut out = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"control-plane": "controller-manager"}}}),
    ];
    out.extend(provider_crds(label, g));
    out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": format!("{label}-manager"), "namespace": ns}}));
    out.extend(rbac(label, ns));
    if g == Generation::V1beta1 {
        out.extend(leader_election(label, ns));
    }
    out.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("{label}-webhook-service"), "namespace": ns},
        "spec": {"ports": [{"port": 443, "targetPort": "webhook-server"}], "selector": {"control-plane": "controller-manager"}}}));
    out.extend(certificate(label, ns));
    out.push(webhook(label, ns));
    out.push(deployment(p, label, version));
    out
}

fn provider_crds(label: &str, g: Generation) -> Vec<Value> {
    if label == "infrastructure-in-memory" {
        return [
            "InMemoryCluster",
            "InMemoryClusterTemplate",
            "InMemoryMachine",
            "InMemoryMachineTemplate",
        ]
        .into_iter()
        .map(|k| in_memory_crd(k, g))
        .collect();
    }
    crds::bundled(g)
        .into_iter()
        .filter(|c| {
            c.pointer(&format!("/metadata/labels/{}", PROVIDER_LABEL.replace('/', "~1")))
                == Some(&json!(label))
        })
        .filter(|c| c["spec"]["group"] != "clusterctl.cluster.x-k8s.io")
        .collect()
}

/// A small CRD of the in-memory provider: any spec, a status subresource, the contract label.
fn in_memory_crd(kind: &str, g: Generation) -> Value {
    let plural = format!("{}s", kind.to_lowercase());
    let contract = format!("cluster.x-k8s.io/{}", g.as_str());
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.infrastructure.cluster.x-k8s.io"), "labels": {contract: "v1alpha1"}},
        "spec": {
            "group": "infrastructure.cluster.x-k8s.io",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()},
            "scope": "Namespaced",
            "versions": [{"name": "v1alpha1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    })
}

fn rbac(label: &str, ns: &str) -> Vec<Value> {
    let role = format!("{label}-manager-role");
    vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": format!("{label}-manager-rolebinding")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": format!("{label}-manager"), "namespace": ns}]}),
    ]
}

/// A namespaced Role the v1.10.0 releases have and the v1.14.0 ones dropped, so that an upgrade
/// has something to delete.
fn leader_election(label: &str, ns: &str) -> Vec<Value> {
    let role = format!("{label}-leader-election-role");
    vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": role, "namespace": ns},
            "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": format!("{label}-leader-election-rolebinding"), "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": format!("{label}-manager"), "namespace": ns}]}),
    ]
}

/// The serving certificate of the webhooks, from a self-signed Issuer (what makes a provider
/// need cert-manager).
fn certificate(label: &str, ns: &str) -> Vec<Value> {
    let issuer = format!("{label}-selfsigned-issuer");
    vec![
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": issuer, "namespace": ns}, "spec": {"selfSigned": {}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": format!("{label}-serving-cert"), "namespace": ns},
            "spec": {"dnsNames": [format!("{label}-webhook-service.{ns}.svc"), format!("{label}-webhook-service.{ns}.svc.cluster.local")],
                "issuerRef": {"kind": "Issuer", "name": issuer}, "secretName": format!("{label}-webhook-service-cert")}}),
    ]
}

/// A validating webhook; `Ignore` and a short timeout because nothing serves it (the sandbox
/// never calls webhooks, and a real API server without the controller must not be blocked).
fn webhook(label: &str, ns: &str) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": format!("{label}-validating-webhook-configuration"),
            "annotations": {"cert-manager.io/inject-ca-from": format!("{ns}/{label}-serving-cert")}},
        "webhooks": [{"name": format!("validation.{label}.cluster.x-k8s.io"), "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Ignore", "timeoutSeconds": 1,
            "clientConfig": {"service": {"name": format!("{label}-webhook-service"), "namespace": ns, "path": "/validate"}},
            "rules": [{"apiGroups": ["cluster.x-k8s.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["*"]}]}]})
}

/// The controller: one `manager` container whose flags take variables with defaults, as the
/// upstream components do (`${VAR:=default}`).
fn deployment(p: &Provider, label: &str, version: &str) -> Value {
    let image = format!("registry.k8s.io/cluster-api/{}:{version}", p.image);
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("{label}-controller-manager"), "namespace": p.namespace, "labels": {"control-plane": "controller-manager"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"control-plane": "controller-manager"}},
            "template": {"metadata": {"labels": {"control-plane": "controller-manager"}},
                "spec": {"serviceAccountName": format!("{label}-manager"), "containers": [{"name": "manager", "image": image,
                    "args": ["--leader-elect", "--diagnostics-address=${CAPI_DIAGNOSTICS_ADDRESS:=:8443}", "--insecure-diagnostics=${CAPI_INSECURE_DIAGNOSTICS:=false}"],
                    "ports": [{"containerPort": 9443, "name": "webhook-server", "protocol": "TCP"}]}]}}}})
}

/// cert-manager as its release file has it, in small: its Namespace, the Certificate and Issuer
/// CRDs, and its controller and webhook Deployments with the webhook's configuration (so init
/// waits for it, as clusterctl does).
fn cert_manager() -> Vec<Value> {
    let ns = "cert-manager";
    let mut out = vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})];
    for kind in ["Certificate", "Issuer", "ClusterIssuer"] {
        out.push(cert_manager_crd(kind));
    }
    for (name, image) in [
        ("cert-manager", "cert-manager-controller"),
        ("cert-manager-webhook", "cert-manager-webhook"),
    ] {
        out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}));
        out.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"serviceAccountName": name, "containers": [{"name": name, "image": format!("quay.io/jetstack/{image}:{CERT_MANAGER_VERSION}")}]}}}}));
    }
    out.push(json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "cert-manager-webhook"},
        "webhooks": [{"name": "webhook.cert-manager.io", "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Ignore", "timeoutSeconds": 1,
            "clientConfig": {"service": {"name": "cert-manager-webhook", "namespace": ns, "path": "/validate"}},
            "rules": [{"apiGroups": ["cert-manager.io"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["*/*"]}]}]}));
    out
}

fn cert_manager_crd(kind: &str) -> Value {
    let plural = format!("{}s", kind.to_lowercase());
    let scope = if kind == "ClusterIssuer" {
        "Cluster"
    } else {
        "Namespaced"
    };
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.cert-manager.io")},
        "spec": {
            "group": "cert-manager.io",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()},
            "scope": scope,
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lays_out_every_provider_release_and_cert_manager() {
        let dir = std::env::temp_dir().join(format!("capi-repo-test-{}", std::process::id()));
        let files = write(&dir).unwrap();
        let rel = |p: &PathBuf| p.strip_prefix(&dir).unwrap().display().to_string();
        let names: Vec<String> = files.iter().map(rel).collect();
        assert!(names.contains(&"cluster-api/v1.14.0/core-components.yaml".to_string()));
        assert!(
            names.contains(&"infrastructure-in-memory/v1.10.0/infrastructure-components.yaml".to_string())
        );
        assert!(names.contains(&"cert-manager/v1.16.0/cert-manager.yaml".to_string()));
        assert_eq!(names.len(), 5 * 2 * 2 + 1);
        let core = std::fs::read_to_string(dir.join("cluster-api/v1.14.0/core-components.yaml")).unwrap();
        assert!(
            core.contains("kind: CustomResourceDefinition") && core.contains("clusters.cluster.x-k8s.io")
        );
        assert!(
            !core.contains("providers.clusterctl.cluster.x-k8s.io"),
            "the inventory CRD is init's, not a provider's"
        );
        assert!(core.contains("${CAPI_DIAGNOSTICS_ADDRESS:=:8443}"));
        let docker =
            std::fs::read_to_string(dir.join("infrastructure-docker/v1.10.0/infrastructure-components.yaml"))
                .unwrap();
        assert!(
            docker.contains("devclusters.infrastructure.cluster.x-k8s.io")
                && !docker.contains("kubeadmconfigs")
        );
        assert!(docker.contains("infrastructure-docker-leader-election-role"));
        assert!(!core.contains("leader-election-role"), "v1.14.0 dropped it");
        std::fs::remove_dir_all(&dir).ok();
    }
}
