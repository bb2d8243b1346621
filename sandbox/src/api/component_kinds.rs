//! The kinds a provider's components file holds, beyond the core ones in [`crate::api::builtins`]:
//! Deployments, ServiceAccounts, RBAC roles and bindings, and admission webhook configurations.
//! They are stored and validated like the built-in kinds; nothing runs behind them, except that
//! a Deployment's status follows its spec ([`crate::controllers::deployment`]). Webhook
//! configurations are kept, never called: the sandbox's own admission stands in for them.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::builtins::with_meta;
use crate::api::resource::{Builtin, ColumnDef, ResourceDef, VersionDef};
use crate::api::schema::Schema;

fn free(d: &str) -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "description": d})
}

/// A list merged by `name` under server-side apply, as containers and env are upstream.
fn named_list(d: &str, item: Value) -> Value {
    json!({"type": "array", "description": d, "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"], "items": item})
}

fn pod_template() -> Value {
    let container = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "required": ["name"], "properties": {
        "name": {"type": "string"},
        "image": {"type": "string"},
        "args": {"type": "array", "items": {"type": "string"}},
        "command": {"type": "array", "items": {"type": "string"}},
        "env": named_list("Environment variables.", json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "required": ["name"], "properties": {"name": {"type": "string"}, "value": {"type": "string"}}})),
        "resources": free("Compute resources."),
    }});
    json!({"type": "object", "properties": {
        "metadata": free("Labels and annotations of the pods."),
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
            "containers": named_list("The pod's containers.", container.clone()),
            "initContainers": named_list("The pod's init containers.", container),
        }},
    }})
}

fn int_of(obj: &Value, path: &str) -> i64 {
    obj.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}
fn dep_ready(obj: &Value) -> Value {
    json!(format!(
        "{}/{}",
        int_of(obj, "/status/readyReplicas"),
        int_of(obj, "/spec/replicas")
    ))
}
fn dep_updated(obj: &Value) -> Value {
    json!(int_of(obj, "/status/updatedReplicas"))
}
fn dep_available(obj: &Value) -> Value {
    json!(int_of(obj, "/status/availableReplicas"))
}

struct Kind {
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    builtin: Builtin,
    status: bool,
    props: Value,
    description: &'static str,
}

fn def(k: Kind, columns: Vec<ColumnDef>) -> ResourceDef {
    let schema = with_meta(k.props, k.description);
    ResourceDef {
        group: k.group.into(),
        plural: k.plural.into(),
        singular: k.kind.to_lowercase(),
        kind: k.kind.into(),
        list_kind: format!("{}List", k.kind),
        short_names: k.short.iter().map(|s| s.to_string()).collect(),
        categories: if k.builtin == Builtin::Deployment {
            vec!["all".into()]
        } else {
            vec![]
        },
        namespaced: k.namespaced,
        versions: vec![VersionDef {
            name: "v1".into(),
            deprecated: false,
            deprecation_warning: None,
            schema: Arc::new(Schema::compile(&schema)),
            raw_schema: schema,
            status: k.status,
            scale: None,
            columns: Arc::new(columns),
            selectable_fields: vec![],
        }],
        storage_version: "v1".into(),
        builtin: Some(k.builtin),
        uses_generation: k.builtin == Builtin::Deployment,
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";

fn rbac(plural: &'static str, kind: &'static str, namespaced: bool, binding: bool) -> ResourceDef {
    let props = if binding {
        json!({"roleRef": free("The role bound."), "subjects": {"type": "array", "items": free("A subject.")}})
    } else {
        json!({"rules": {"type": "array", "items": free("A policy rule.")}, "aggregationRule": free("Aggregation of other roles.")})
    };
    def(
        Kind {
            group: RBAC,
            plural,
            kind,
            short: &[],
            namespaced,
            builtin: Builtin::Stored,
            status: false,
            props,
            description: "An RBAC role or binding (stored; the sandbox authorises by token).",
        },
        vec![ColumnDef::age_column()],
    )
}

fn webhook_config(plural: &'static str, kind: &'static str) -> ResourceDef {
    def(
        Kind {
            group: ADMISSION,
            plural,
            kind,
            short: &[],
            namespaced: false,
            builtin: Builtin::Stored,
            status: false,
            props: json!({"webhooks": named_list("The webhooks.", free("A webhook."))}),
            description: "Admission webhooks (stored, never called by the sandbox).",
        },
        vec![ColumnDef::age_column()],
    )
}

/// Every kind of this module.
pub fn all() -> Vec<ResourceDef> {
    let deployment = def(
        Kind {
            group: "apps",
            plural: "deployments",
            kind: "Deployment",
            short: &["deploy"],
            namespaced: true,
            builtin: Builtin::Deployment,
            status: true,
            props: json!({
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                    "replicas": {"type": "integer", "format": "int32"},
                    "selector": free("Label selector of the pods."),
                    "template": pod_template(),
                }},
                "status": free("Most recently observed status of the Deployment."),
            }),
            description: "Deployment enables declarative updates for Pods and ReplicaSets.",
        },
        vec![
            ColumnDef::computed("Ready", "string", "Ready replicas / desired", 0, dep_ready),
            ColumnDef::computed("Up-to-date", "integer", "Updated replicas", 0, dep_updated),
            ColumnDef::computed("Available", "integer", "Available replicas", 0, dep_available),
            ColumnDef::age_column(),
        ],
    );
    let service_account = def(
        Kind {
            group: "",
            plural: "serviceaccounts",
            kind: "ServiceAccount",
            short: &["sa"],
            namespaced: true,
            builtin: Builtin::Stored,
            status: false,
            props: json!({"secrets": {"type": "array", "items": free("A secret reference.")}, "imagePullSecrets": {"type": "array", "items": free("A secret reference.")}, "automountServiceAccountToken": {"type": "boolean"}}),
            description: "ServiceAccount binds together a name, a principal and a set of secrets.",
        },
        vec![ColumnDef::age_column()],
    );
    vec![
        deployment,
        service_account,
        rbac("roles", "Role", true, false),
        rbac("rolebindings", "RoleBinding", true, true),
        rbac("clusterroles", "ClusterRole", false, false),
        rbac("clusterrolebindings", "ClusterRoleBinding", false, true),
        webhook_config("mutatingwebhookconfigurations", "MutatingWebhookConfiguration"),
        webhook_config(
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
        ),
    ]
}
