//! The validating admission webhooks of Cluster API that guard Kubernetes version changes, as the
//! providers register them: the KubeadmControlPlane webhook (a version moves at most one minor
//! up, never down) and the Cluster webhook for `spec.topology.version` (no decrease, no jump of
//! two or more minors unless the ClusterClass lists `kubernetesVersions` or names an upgrade plan
//! extension, and then only to a listed version). Denials carry the API server's
//! `admission webhook "..." denied the request: ` prefix. Dry-run requests are checked too,
//! since these webhooks declare no side effects.

use serde_json::{Value, json};

use capi_shared::capi::class::{class_of, has_plan_extension, listed_versions};

use crate::api::error::{ApiError, ApiResult, field_forbidden, field_invalid};
use crate::api::resource::ResourceDef;
use capi_shared::capi::labels::SKIP_VERSION_CHECK_ANNOTATION;
use capi_shared::capi::object::str_at;
use capi_shared::version::{Semver, release_of};

const KCP_WEBHOOK: &str = "validation.kubeadmcontrolplane.controlplane.cluster.x-k8s.io";
const CLUSTER_WEBHOOK: &str = "validation.cluster.cluster.x-k8s.io";

fn denied(webhook: &str, def: &ResourceDef, name: &str, cause: crate::api::error::Cause) -> ApiError {
    let mut e = ApiError::invalid(&def.kind, &def.group, name, vec![cause]);
    e.message = format!("admission webhook {webhook:?} denied the request: {}", e.message);
    e
}

/// Whether `v` is a Kubernetes version as the webhooks accept it (`v` prefix, semver with
/// major, minor and patch).
fn well_formed(v: &str) -> bool {
    v.starts_with('v') && Semver::parse(v).is_some()
}

/// Checks an update; `class` reads a ClusterClass by namespace and name.
pub fn on_update(
    def: &ResourceDef,
    old: &Value,
    new: &Value,
    class: impl Fn(&str, &str) -> Option<Value>,
) -> ApiResult<()> {
    let name = str_at(new, "/metadata/name")
        .or(str_at(old, "/metadata/name"))
        .unwrap_or("");
    match (def.group.as_str(), def.kind.as_str()) {
        ("controlplane.cluster.x-k8s.io", "KubeadmControlPlane") => {
            let (Some(from), Some(to)) = (str_at(old, "/spec/version"), str_at(new, "/spec/version")) else {
                return Ok(());
            };
            if from == to {
                return Ok(());
            }
            if !well_formed(to) {
                return Err(denied(
                    KCP_WEBHOOK,
                    def,
                    name,
                    field_invalid("spec.version", &json!(to), "must be a valid semantic version"),
                ));
            }
            let (Some(f), Some(t)) = (release_of(from), release_of(to)) else {
                return Ok(());
            };
            if t < f || t.0 != f.0 || t.1 > f.1 + 1 {
                return Err(denied(
                    KCP_WEBHOOK,
                    def,
                    name,
                    field_forbidden(
                        "spec.version",
                        &format!("cannot update Kubernetes version from {from} to {to}"),
                    ),
                ));
            }
            Ok(())
        }
        ("cluster.x-k8s.io", "Cluster") => {
            let (Some(from), Some(to)) = (
                str_at(old, "/spec/topology/version"),
                str_at(new, "/spec/topology/version"),
            ) else {
                return Ok(());
            };
            if from == to
                || new
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(SKIP_VERSION_CHECK_ANNOTATION))
                    .is_some()
            {
                return Ok(());
            }
            let field = "spec.topology.version";
            if !well_formed(to) {
                return Err(denied(
                    CLUSTER_WEBHOOK,
                    def,
                    name,
                    field_invalid(field, &json!(to), "version must be a valid semantic version"),
                ));
            }
            let (Some(f), Some(t)) = (release_of(from), release_of(to)) else {
                return Ok(());
            };
            if t < f {
                return Err(denied(
                    CLUSTER_WEBHOOK,
                    def,
                    name,
                    field_forbidden(
                        field,
                        &format!("version cannot be decreased from {from:?} to {to:?}"),
                    ),
                ));
            }
            let cc = class_of(new).and_then(|(ns, n)| class(&ns, &n));
            let listed = listed_versions(cc.as_ref());
            if !listed.is_empty() && !listed.iter().any(|v| v == to) {
                return Err(denied(
                    CLUSTER_WEBHOOK,
                    def,
                    name,
                    field_invalid(
                        field,
                        &json!(to),
                        &format!(
                            "version must be one of the versions in the ClusterClass's spec.kubernetesVersions: {}",
                            listed.join(", ")
                        ),
                    ),
                ));
            }
            let chained = !listed.is_empty() || has_plan_extension(cc.as_ref());
            if !chained && (t.0 != f.0 || t.1 > f.1 + 1) {
                return Err(denied(
                    CLUSTER_WEBHOOK,
                    def,
                    name,
                    field_forbidden(
                        field,
                        &format!(
                            "version cannot be increased from {from:?} to {to:?}: upgrade one minor at a time, or define spec.kubernetesVersions in the ClusterClass"
                        ),
                    ),
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(group: &str, kind: &str) -> ResourceDef {
        let mut d = crate::api::registry::def_from_crd(
            &crate::api::crds::bundled(crate::api::crds::Generation::V1beta2)
                .into_iter()
                .find(|c| c["spec"]["group"] == group && c["spec"]["names"]["kind"] == kind)
                .unwrap(),
        )
        .unwrap();
        d.kind = kind.into();
        d
    }

    #[test]
    fn kcp_moves_one_minor_up_at_most() {
        let d = def("controlplane.cluster.x-k8s.io", "KubeadmControlPlane");
        let kcp = |v: &str| json!({"metadata": {"name": "cp"}, "spec": {"version": v}});
        let none = |_: &str, _: &str| None;
        assert!(on_update(&d, &kcp("v1.33.0"), &kcp("v1.34.2"), none).is_ok());
        assert!(on_update(&d, &kcp("v1.33.0"), &kcp("v1.33.5"), none).is_ok());
        let e = on_update(&d, &kcp("v1.33.0"), &kcp("v1.35.0"), none).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(
            e.message
                .starts_with("admission webhook \"validation.kubeadmcontrolplane"),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("cannot update Kubernetes version from v1.33.0 to v1.35.0"),
            "{}",
            e.message
        );
        assert!(on_update(&d, &kcp("v1.33.0"), &kcp("v1.32.0"), none).is_err());
        assert!(on_update(&d, &kcp("v1.33.0"), &kcp("1.34.0"), none).is_err());
    }

    #[test]
    fn topology_version_rules_follow_the_class() {
        let d = def("cluster.x-k8s.io", "Cluster");
        let c = |v: &str| json!({"metadata": {"name": "c", "namespace": "ns"}, "spec": {"topology": {"classRef": {"name": "cc"}, "version": v}}});
        let plain = |_: &str, _: &str| Some(json!({"spec": {}}));
        assert!(on_update(&d, &c("v1.33.0"), &c("v1.34.0"), plain).is_ok());
        let e = on_update(&d, &c("v1.33.0"), &c("v1.35.0"), plain).unwrap_err();
        assert!(e.message.contains("cannot be increased"), "{}", e.message);
        let e = on_update(&d, &c("v1.34.0"), &c("v1.33.0"), plain).unwrap_err();
        assert!(e.message.contains("cannot be decreased"), "{}", e.message);
        let listed = |ns: &str, n: &str| {
            assert_eq!((ns, n), ("ns", "cc"));
            Some(json!({"spec": {"kubernetesVersions": ["v1.33.0", "v1.34.0", "v1.35.0"]}}))
        };
        assert!(on_update(&d, &c("v1.33.0"), &c("v1.35.0"), listed).is_ok());
        let e = on_update(&d, &c("v1.33.0"), &c("v1.35.1"), listed).unwrap_err();
        assert!(e.message.contains("spec.kubernetesVersions"), "{}", e.message);
    }
}
