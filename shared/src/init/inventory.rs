//! clusterctl's provider inventory: the `providers.clusterctl.cluster.x-k8s.io` CRD clusterctl
//! embeds and creates on demand, and the `Provider` object it writes per installed provider.
//! The sandbox seeds its inventory from these too, so both read the same shape.

use serde_json::{Value, json};

use super::provider::ProviderType;
use crate::capi::labels::CLUSTERCTL_LABEL;

/// The inventory CRD's name.
pub const CRD_NAME: &str = "providers.clusterctl.cluster.x-k8s.io";
/// `clusterctl.cluster.x-k8s.io/core`: what a clusterctl-managed object belongs to
/// (`inventory`, `cert-manager`).
pub const CORE_LABEL: &str = "clusterctl.cluster.x-k8s.io/core";
/// `cluster.x-k8s.io/provider`: the manifest label of the provider an object belongs to.
pub const PROVIDER_LABEL: &str = "cluster.x-k8s.io/provider";

fn string(d: &str) -> Value {
    json!({"type": "string", "description": d})
}

fn column(name: &str, path: &str, ty: &str) -> Value {
    json!({"name": name, "type": ty, "jsonPath": path})
}

/// The inventory CRD, as clusterctl installs it.
pub fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {CLUSTERCTL_LABEL: "", CORE_LABEL: "inventory"}},
        "spec": {
            "group": "clusterctl.cluster.x-k8s.io",
            "names": {"kind": "Provider", "listKind": "ProviderList", "plural": "providers", "singular": "provider", "categories": ["cluster-api"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha3", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "Provider records one Cluster API provider installed in the management cluster (clusterctl's inventory).",
                    "properties": {
                        "apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
                        "kind": string("Kind is a string value representing the REST resource this object represents."),
                        "metadata": {"type": "object"},
                        "providerName": string("providerName is the name of the provider, such as kubeadm or docker."),
                        "type": string("type is CoreProvider, BootstrapProvider, ControlPlaneProvider, InfrastructureProvider, IPAMProvider, RuntimeExtensionProvider or AddonProvider."),
                        "version": string("version of the provider, such as v1.14.0."),
                        "watchedNamespace": string("deprecated: the namespace the provider watches."),
                    },
                }},
                "additionalPrinterColumns": [
                    column("Age", ".metadata.creationTimestamp", "date"),
                    column("Type", ".type", "string"),
                    column("Provider", ".providerName", "string"),
                    column("Version", ".version", "string"),
                ],
            }],
        },
    })
}

/// The inventory object of a provider, as `clusterctl init` writes it.
pub fn provider(ty: ProviderType, name: &str, namespace: &str, version: &str) -> Value {
    let label = ty.label(name);
    json!({"apiVersion": "clusterctl.cluster.x-k8s.io/v1alpha3", "kind": "Provider",
        "metadata": {"name": label, "namespace": namespace, "labels": {
            CLUSTERCTL_LABEL: "", CORE_LABEL: "inventory", PROVIDER_LABEL: label}},
        "providerName": name, "type": ty.type_name(), "version": version})
}
