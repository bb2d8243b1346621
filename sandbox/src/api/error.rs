//! API errors, rendered as `kind: Status` objects with the reasons and codes a real API server uses.

use serde_json::{Value, json};

/// One entry of `details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// Machine-readable reason, e.g. `FieldValueInvalid`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// The field path the cause is about.
    pub field: String,
}

/// The reason of [`ApiError::page_not_found`] (rendered as plain text).
pub const PAGE_NOT_FOUND: &str = "PageNotFound";

/// An API error: becomes a `Status` body with `code` as the HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Status reason (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// Status message.
    pub message: String,
    /// `details.name`.
    pub name: Option<String>,
    /// `details.group`.
    pub group: Option<String>,
    /// `details.kind` (a resource plural for most reasons, the Kind for `Invalid`).
    pub kind: Option<String>,
    /// `details.causes`.
    pub causes: Vec<Cause>,
    /// `details.retryAfterSeconds`.
    pub retry_after: Option<u32>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.reason, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// `resource.group` as used in messages (`configmaps`, `widgets.example.com`).
pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    /// A bare error with a code, reason and message.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            name: None,
            group: None,
            kind: None,
            causes: vec![],
            retry_after: None,
        }
    }

    fn with_details(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.group = Some(group.to_string());
        self.kind = Some(kind.to_string());
        self.name = Some(name.to_string());
        self
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 Forbidden with the real RBAC message.
    pub fn forbidden_rbac(
        user: &str,
        verb: &str,
        resource: &str,
        group: &str,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Self {
        let target = match name {
            Some(n) => format!("{} \"{n}\"", qualified(resource, group)),
            None => qualified(resource, group),
        };
        let scope = match ns {
            Some(ns) => format!(" in the namespace \"{ns}\""),
            None => " at the cluster scope".to_string(),
        };
        let base = resource.split('/').next().unwrap_or(resource);
        let msg = format!(
            "{target} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\"{scope}"
        );
        Self::new(403, "Forbidden", msg).with_details(group, base, name.unwrap_or(""))
    }

    /// 403 Forbidden with a custom message.
    pub fn forbidden(resource: &str, group: &str, name: &str, why: &str) -> Self {
        let msg = format!("{} \"{name}\" is forbidden: {why}", qualified(resource, group));
        Self::new(403, "Forbidden", msg).with_details(group, resource, name)
    }

    /// 404 NotFound for a named object.
    pub fn not_found(resource: &str, group: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(resource, group)),
        )
        .with_details(group, resource, name)
    }

    /// 404 for a path that names no resource.
    /// A path no handler serves at all (an unknown API group or version, a resource no CRD
    /// defines): kube-apiserver answers these with Go's plain-text `404 page not found`, not a
    /// `Status`.
    pub fn page_not_found() -> Self {
        Self::new(404, PAGE_NOT_FOUND, "404 page not found")
    }

    /// 404 for a path of a built-in API that names nothing.
    pub fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(resource: &str, group: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(resource, group)),
        )
        .with_details(group, resource, name)
    }

    /// 409 Conflict for a stale resourceVersion.
    pub fn conflict(resource: &str, group: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(resource, group)
            ),
        )
        .with_details(group, resource, name)
    }

    /// 409 Conflict with a custom explanation (preconditions, apply conflicts).
    pub fn conflict_msg(resource: &str, group: &str, name: &str, msg: impl Into<String>) -> Self {
        Self::new(409, "Conflict", msg).with_details(group, resource, name)
    }

    /// 410 Expired (too old resourceVersion / continue token).
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(verb: &str, resource: &str, group: &str) -> Self {
        let what = qualified(resource, group);
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({verb} {what})"),
        )
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(accept: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "the server was unable to respond with a content type that the client supports ({accept}); supported: application/json, application/yaml"
            ),
        )
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, "RequestEntityTooLarge", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    /// 422 Invalid, with causes, in the real `<Kind>.<group> "<name>" is invalid: ...` form.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let detail = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect::<Vec<_>>();
        let detail = if detail.len() == 1 {
            detail[0].clone()
        } else {
            format!("[{}]", detail.join(", "))
        };
        let what = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut e = Self::new(422, "Invalid", format!("{what} \"{name}\" is invalid: {detail}"))
            .with_details(group, kind, name);
        e.causes = causes;
        e
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.name
            && !n.is_empty()
        {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group
            && !g.is_empty()
        {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), json!(k));
        }
        if !self.causes.is_empty() {
            details.insert(
                "causes".into(),
                Value::Array(
                    self.causes
                        .iter()
                        .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                        .collect(),
                ),
            );
        }
        if let Some(r) = self.retry_after {
            details.insert("retryAfterSeconds".into(), json!(r));
        }
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// Shorthand for results of API operations.
pub type ApiResult<T> = Result<T, ApiError>;

/// A field-level validation problem (becomes a 422 cause).
pub fn field_invalid(field: &str, value: &Value, detail: &str) -> Cause {
    let shown = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {shown}: {detail}"),
        field: field.into(),
    }
}

/// A missing required field (becomes a 422 cause).
pub fn field_required(field: &str, detail: &str) -> Cause {
    let message = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    Cause {
        reason: "FieldValueRequired".into(),
        message,
        field: field.into(),
    }
}

/// A field that may not be set or changed (becomes a 422 cause).
pub fn field_forbidden(field: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {detail}"),
        field: field.into(),
    }
}

/// A value outside an enum (becomes a 422 cause).
pub fn field_not_supported(field: &str, value: &Value, supported: &[Value]) -> Cause {
    let shown = |v: &Value| match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    let list = supported.iter().map(shown).collect::<Vec<_>>().join(", ");
    Cause {
        reason: "FieldValueNotSupported".into(),
        message: format!("Unsupported value: {}: supported values: {list}", shown(value)),
        field: field.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shapes() {
        let s = ApiError::not_found("configmaps", "", "x").to_status();
        assert_eq!(s["message"], "configmaps \"x\" not found");
        assert_eq!(s["details"]["kind"], "configmaps");
        assert!(s["details"].get("group").is_none());
        let s = ApiError::conflict("widgets", "example.com", "w1").to_status();
        assert_eq!(s["code"], 409);
        assert!(
            s["message"]
                .as_str()
                .unwrap()
                .starts_with("Operation cannot be fulfilled on widgets.example.com \"w1\"")
        );
        let e = ApiError::invalid(
            "Widget",
            "example.com",
            "w1",
            vec![field_not_supported(
                "spec.color",
                &json!("green"),
                &[json!("red"), json!("blue")],
            )],
        );
        assert_eq!(
            e.message,
            "Widget.example.com \"w1\" is invalid: spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\""
        );
        let f = ApiError::forbidden_rbac("ro", "create", "configmaps", "", Some("default"), None);
        assert_eq!(
            f.message,
            "configmaps is forbidden: User \"ro\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\""
        );
    }
}
