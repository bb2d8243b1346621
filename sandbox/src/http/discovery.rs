//! API discovery documents: legacy (`APIVersions`, `APIGroupList`, `APIResourceList`) and
//! aggregated (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`).

use serde_json::{Value, json};

use crate::api::registry::Registry;
use crate::api::resource::{Builtin, ResourceDef};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const SUB_VERBS: &[&str] = &["get", "patch", "update"];

/// `GET /api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(json!({})),
    })
}

/// `GET /apis`.
pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/GROUP`.
pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let (g, vs) = reg
        .groups()
        .into_iter()
        .find(|(g, _)| g == group && !g.is_empty())?;
    let mut e = group_entry(&g, &vs);
    e["kind"] = json!("APIGroup");
    e["apiVersion"] = json!("v1");
    Some(e)
}

fn extra_subresources(def: &ResourceDef) -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let mut out = vec![];
    if def.builtin == Some(Builtin::Namespace) {
        out.push(("finalize", json!({"kind": "Namespace"}), vec!["update"]));
    }
    out
}

/// `GET /api/v1` or `GET /apis/GROUP/VERSION`.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs = reg.in_group_version(group, version);
    if defs.is_empty() {
        return None;
    }
    let mut resources = vec![];
    for d in defs {
        let Some(v) = d.version(version) else { continue };
        let mut r = json!({
            "name": d.plural, "singularName": d.singular, "namespaced": d.namespaced,
            "kind": d.kind, "verbs": VERBS,
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        if v.status {
            resources.push(json!({"name": format!("{}/status", d.plural), "singularName": "", "namespaced": d.namespaced, "kind": d.kind, "verbs": SUB_VERBS}));
        }
        if v.scale.is_some() {
            resources.push(
                json!({"name": format!("{}/scale", d.plural), "singularName": "", "namespaced": d.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": SUB_VERBS}),
            );
        }
        for (sub, kind, verbs) in extra_subresources(&d) {
            resources.push(json!({"name": format!("{}/{sub}", d.plural), "singularName": "", "namespaced": d.namespaced, "kind": kind["kind"], "verbs": verbs}));
        }
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version), "resources": resources}),
    )
}

fn aggregated_resource(d: &ResourceDef, version: &str) -> Option<Value> {
    let v = d.version(version)?;
    let mut r = json!({
        "resource": d.plural,
        "responseKind": {"group": d.group, "version": version, "kind": d.kind},
        "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": d.singular,
        "verbs": VERBS,
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        r["categories"] = json!(d.categories);
    }
    let mut subs = vec![];
    if v.status {
        subs.push(json!({"subresource": "status", "responseKind": {"group": d.group, "version": version, "kind": d.kind}, "verbs": SUB_VERBS}));
    }
    if v.scale.is_some() {
        subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": SUB_VERBS}));
    }
    for (sub, kind, verbs) in extra_subresources(d) {
        subs.push(json!({"subresource": sub, "responseKind": {"group": d.group, "version": version, "kind": kind["kind"]}, "verbs": verbs}));
    }
    if !subs.is_empty() {
        r["subresources"] = Value::Array(subs);
    }
    Some(r)
}

/// Aggregated discovery for `/api` (`core = true`) or `/apis`.
pub fn aggregated(reg: &Registry, core: bool, api_version: &str) -> Value {
    let mut items = vec![];
    for (g, versions) in reg.groups() {
        if g.is_empty() != core {
            continue;
        }
        let defs = reg.all();
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| {
                let resources: Vec<Value> = defs
                    .iter()
                    .filter(|d| d.group == g)
                    .filter_map(|d| aggregated_resource(d, v))
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        let meta = if g.is_empty() {
            json!({"creationTimestamp": null})
        } else {
            json!({"name": g, "creationTimestamp": null})
        };
        items.push(json!({"metadata": meta, "versions": vs}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_documents() {
        let reg = Registry::new();
        let l = resource_list(&reg, "", "v1").unwrap();
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"namespaces/finalize"));
        assert!(names.contains(&"configmaps"));
        let agg = aggregated(&reg, true, "apidiscovery.k8s.io/v2");
        assert_eq!(agg["items"].as_array().unwrap().len(), 1);
        assert!(agg["items"][0]["metadata"].get("name").is_none());
        let apis = api_group_list(&reg);
        let groups: Vec<&str> = apis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["name"].as_str())
            .collect();
        for g in [
            "apiextensions.k8s.io",
            "apps",
            "rbac.authorization.k8s.io",
            "admissionregistration.k8s.io",
        ] {
            assert!(groups.contains(&g), "{g} missing from {groups:?}");
        }
        assert!(resource_list(&reg, "nope.io", "v1").is_none());
    }
}
