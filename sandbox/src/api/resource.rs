//! What the server knows about each resource it serves: names, scope, versions, schemas,
//! subresources and printer columns. Built-in kinds and CRD-defined kinds share this model.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::jsonpath::JsonPath;
use crate::api::schema::Schema;

/// Built-in kinds whose storage strategy differs from a custom resource's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// core/v1 Namespace.
    Namespace,
    /// core/v1 ConfigMap.
    ConfigMap,
    /// core/v1 Secret.
    Secret,
    /// core/v1 Event.
    Event,
    /// core/v1 Node.
    Node,
    /// core/v1 Service.
    Service,
    /// apiextensions.k8s.io/v1 CustomResourceDefinition.
    Crd,
    /// apps/v1 Deployment (replicas defaulted; status set by the deployment controller).
    Deployment,
    /// A kind stored as sent (ServiceAccount, RBAC, webhook configurations).
    Stored,
}

/// How a printer column computes its cell.
#[derive(Clone)]
pub enum ColumnSource {
    /// The object name.
    Name,
    /// A JSONPath into the object.
    Path(JsonPath),
    /// A built-in computation.
    Computed(fn(&Value) -> Value),
}

impl std::fmt::Debug for ColumnSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnSource::Name => write!(f, "Name"),
            ColumnSource::Path(p) => write!(f, "Path({})", p.source()),
            ColumnSource::Computed(_) => write!(f, "Computed"),
        }
    }
}

/// One column of the server-side Table.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    /// Column name (`Name`, `Age`, ...).
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub ty: String,
    /// OpenAPI format (`name` for the name column).
    pub format: String,
    /// Description.
    pub description: String,
    /// 0 for default columns, higher for `-o wide`.
    pub priority: i64,
    /// Where the value comes from.
    pub source: ColumnSource,
}

impl ColumnDef {
    /// The `Name` column every table starts with.
    pub fn name_column() -> ColumnDef {
        ColumnDef {
            name: "Name".into(),
            ty: "string".into(),
            format: "name".into(),
            description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names".into(),
            priority: 0,
            source: ColumnSource::Name,
        }
    }

    /// A column computed by a function.
    pub fn computed(
        name: &str,
        ty: &str,
        description: &str,
        priority: i64,
        f: fn(&Value) -> Value,
    ) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            ty: ty.into(),
            format: String::new(),
            description: description.into(),
            priority,
            source: ColumnSource::Computed(f),
        }
    }

    /// The `Age` column (creation timestamp as a date).
    pub fn age_column() -> ColumnDef {
        ColumnDef {
            name: "Age".into(),
            ty: "date".into(),
            format: String::new(),
            description:
                "CreationTimestamp is a timestamp representing the server time when this object was created."
                    .into(),
            priority: 0,
            source: ColumnSource::Path(
                JsonPath::parse(".metadata.creationTimestamp").unwrap_or_else(|_| unreachable_path()),
            ),
        }
    }

    /// The column definition as it appears in a Table response.
    pub fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

fn unreachable_path() -> JsonPath {
    // Only reached if a literal path in this file failed to parse, which the tests rule out.
    JsonPath::parse(".metadata.name").unwrap_or_else(|e| panic!("built-in JSONPath failed: {e}"))
}

/// Paths of the scale subresource.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleDef {
    /// `specReplicasPath`.
    pub spec_replicas: String,
    /// `statusReplicasPath`.
    pub status_replicas: String,
    /// `labelSelectorPath`.
    pub label_selector: Option<String>,
}

/// One served version of a resource.
#[derive(Debug, Clone)]
pub struct VersionDef {
    /// Version name (`v1`, `v1beta2`).
    pub name: String,
    /// Whether the version is deprecated.
    pub deprecated: bool,
    /// The warning sent with every request to a deprecated version.
    pub deprecation_warning: Option<String>,
    /// The compiled structural schema.
    pub schema: Arc<Schema>,
    /// The schema as written, for OpenAPI documents.
    pub raw_schema: Value,
    /// Whether a status subresource exists.
    pub status: bool,
    /// The scale subresource, if declared.
    pub scale: Option<ScaleDef>,
    /// Table columns (after `Name`).
    pub columns: Arc<Vec<ColumnDef>>,
    /// Extra field-selectable paths (`selectableFields`).
    pub selectable_fields: Vec<String>,
}

/// A resource the server serves.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// API group, empty for the core group.
    pub group: String,
    /// Plural resource name, as in URLs.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// List kind.
    pub list_kind: String,
    /// Short names.
    pub short_names: Vec<String>,
    /// Categories (`all`, `cluster-api`).
    pub categories: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Served versions, most preferred first.
    pub versions: Vec<VersionDef>,
    /// The version objects are stored in.
    pub storage_version: String,
    /// Built-in behaviour, or `None` for custom resources.
    pub builtin: Option<Builtin>,
    /// Whether `metadata.generation` is maintained.
    pub uses_generation: bool,
}

impl ResourceDef {
    /// The store key: `group/plural`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// A served version by name.
    pub fn version(&self, name: &str) -> Option<&VersionDef> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// `group/version` (or just `version` for the core group).
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The version objects are stored at.
    pub fn storage(&self) -> Option<&VersionDef> {
        self.version(&self.storage_version).or(self.versions.first())
    }

    /// Whether this is a custom resource (strategic merge patch is refused).
    pub fn is_custom(&self) -> bool {
        self.builtin.is_none()
    }
}

/// Splits a version name into (stability rank, major, minor) for Kubernetes version ordering.
fn version_rank(v: &str) -> Option<(u8, u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let major_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let major: u64 = rest[..major_len].parse().ok()?;
    let tail = &rest[major_len..];
    if tail.is_empty() {
        return Some((3, major, 0));
    }
    let (rank, num) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return None;
    };
    Some((rank, major, num.parse().ok()?))
}

/// Kubernetes-aware version order: GA before beta before alpha, higher numbers first, anything
/// that does not look like a Kubernetes version last and alphabetically.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (version_rank(a), version_rank(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v1beta1", "foo", "v1", "v1beta2", "v2", "v2alpha3"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            ["v2", "v1", "v1beta2", "v1beta1", "v2alpha3", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn age_column_parses() {
        let c = ColumnDef::age_column();
        assert!(matches!(c.source, ColumnSource::Path(_)));
    }
}
