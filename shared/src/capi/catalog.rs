//! What the API server serves, from one aggregated discovery request (`/apis`), falling back to
//! legacy discovery (`/apis/GROUP/VERSION`, fetched only for the groups actually needed).

use std::collections::BTreeMap;
use std::sync::Mutex;

use http::Request;
use kube::core::ApiResource;
use serde_json::Value;

use super::{CORE_GROUP, Generation};
use crate::client::Kube;
use crate::error::{Error, Result};

/// One served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural.
    pub plural: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Subresources (`status`, `scale`).
    pub subresources: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Group {
    versions: Vec<String>,
    resources: Option<Vec<Served>>,
}

/// The served API groups and resources.
#[derive(Debug, Default)]
pub struct Catalog {
    groups: Mutex<BTreeMap<String, Group>>,
}

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

fn parse_aggregated(v: &Value) -> BTreeMap<String, Group> {
    let mut out = BTreeMap::new();
    for item in v.get("items").and_then(Value::as_array).into_iter().flatten() {
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut g = Group::default();
        let mut resources = vec![];
        for ver in item
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let vname = ver
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            g.versions.push(vname.clone());
            for r in ver
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                resources.push(Served {
                    version: vname.clone(),
                    kind: r
                        .pointer("/responseKind/kind")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    plural: r
                        .get("resource")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    namespaced: r.get("scope").and_then(Value::as_str) == Some("Namespaced"),
                    subresources: r
                        .get("subresources")
                        .and_then(Value::as_array)
                        .map(|s| {
                            s.iter()
                                .filter_map(|x| x.get("subresource").and_then(Value::as_str))
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
        }
        g.resources = Some(resources);
        out.insert(name, g);
    }
    out
}

fn parse_legacy_groups(v: &Value) -> BTreeMap<String, Group> {
    let mut out = BTreeMap::new();
    for g in v.get("groups").and_then(Value::as_array).into_iter().flatten() {
        let name = g.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let preferred = g
            .pointer("/preferredVersion/version")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut versions: Vec<String> = g
            .get("versions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.get("version").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        versions.retain(|x| *x != preferred);
        versions.insert(0, preferred);
        out.insert(
            name,
            Group {
                versions,
                resources: None,
            },
        );
    }
    out
}

fn parse_resource_list(v: &Value, version: &str) -> Vec<Served> {
    let all: Vec<&Value> = v
        .get("resources")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    all.iter()
        .filter_map(|r| {
            let name = r.get("name").and_then(Value::as_str)?;
            if name.contains('/') {
                return None;
            }
            let subs = all
                .iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str))
                .filter_map(|n| n.strip_prefix(&format!("{name}/")).map(str::to_string))
                .collect();
            Some(Served {
                version: version.to_string(),
                kind: r.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
                plural: name.to_string(),
                namespaced: r.get("namespaced").and_then(Value::as_bool).unwrap_or(false),
                subresources: subs,
            })
        })
        .collect()
}

impl Catalog {
    /// Discovers the served groups with one request.
    pub async fn fetch(kube: &Kube) -> Result<Catalog> {
        let req = Request::get("/apis")
            .header("Accept", AGGREGATED)
            .body(Vec::new())
            .map_err(|e| Error::Other(e.to_string()))?;
        let resp = kube
            .call(
                "discovering the API",
                kube.client.send(req.map(kube::client::Body::from)),
            )
            .await?;
        let status = resp.status();
        let aggregated = resp
            .headers()
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.contains("as=APIGroupDiscoveryList"));
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .map_err(|e| Error::Connection(format!("discovering the API at {}: {e}", kube.server)))?
            .to_bytes();
        if !status.is_success() {
            return Err(match status.as_u16() {
                401 => Error::Unauthorized(format!(
                    "the API server at {} (context {:?}) rejected the credentials (401 Unauthorized)",
                    kube.server, kube.context
                )),
                403 => Error::Forbidden(format!("discovering the API at {}: 403 Forbidden", kube.server)),
                code => Error::Api(format!("discovering the API at {}: HTTP {code}", kube.server)),
            });
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| Error::Api(format!("discovery answer of {} is not JSON: {e}", kube.server)))?;
        let groups = if aggregated {
            parse_aggregated(&v)
        } else {
            parse_legacy_groups(&v)
        };
        Ok(Catalog {
            groups: Mutex::new(groups),
        })
    }

    /// A catalog from known entries (tests).
    pub fn from_served(entries: &[(&str, Served)]) -> Catalog {
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for (g, s) in entries {
            let e = groups.entry(g.to_string()).or_default();
            if !e.versions.contains(&s.version) {
                e.versions.push(s.version.clone());
            }
            e.resources.get_or_insert_with(Vec::new).push(s.clone());
        }
        Catalog {
            groups: Mutex::new(groups),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The preferred version of a group.
    pub fn preferred(&self, group: &str) -> Option<String> {
        self.lock().get(group).and_then(|g| g.versions.first().cloned())
    }

    /// Connects to a Cluster API management cluster: the client, its catalog of kinds and the
    /// generation it serves (an error naming the context when it serves no Cluster API). The one
    /// connect sequence of the verbs that read Cluster API objects.
    pub async fn connect(
        conn: &crate::flags::ConnArgs,
        user: Option<&str>,
    ) -> Result<(Kube, Catalog, Generation)> {
        let kube = Kube::connect(conn, user).await?;
        let catalog = Catalog::fetch(&kube).await?;
        let generation = catalog.generation(&kube)?;
        Ok((kube, catalog, generation))
    }

    /// Which Cluster API generation is served, or a clear error when none is.
    pub fn generation(&self, kube: &Kube) -> Result<Generation> {
        match self.preferred(CORE_GROUP) {
            Some(v) => Generation::parse(&v).ok_or_else(|| {
                Error::NotCapi(format!("the cluster serves Cluster API {CORE_GROUP}/{v}, which this tool does not support (v1beta1 and v1beta2 are)"))
            }),
            None => Err(Error::NotCapi(format!(
                "{} (context {:?}) is not a Cluster API management cluster: the {CORE_GROUP} API group is not served; install Cluster API (clusterctl init) or pick another --context",
                kube.server, kube.context
            ))),
        }
    }

    async fn ensure(&self, kube: &Kube, group: &str) -> Result<()> {
        let versions = {
            let mut g = self.lock();
            // The core group is not in /apis; it is discovered at /api/v1 when first asked.
            if group.is_empty() && !g.contains_key(group) {
                g.insert(
                    String::new(),
                    Group {
                        versions: vec!["v1".into()],
                        ..Default::default()
                    },
                );
            }
            match g.get(group) {
                None => return Ok(()),
                Some(e) if e.resources.is_some() => return Ok(()),
                Some(e) => e.versions.clone(),
            }
        };
        let mut resources = vec![];
        for v in versions {
            let path = match group {
                "" => format!("/api/{v}"),
                _ => format!("/apis/{group}/{v}"),
            };
            let req = Request::get(path)
                .body(Vec::new())
                .map_err(|e| Error::Other(e.to_string()))?;
            let text = kube
                .call(&format!("discovering {group}/{v}"), kube.client.request_text(req))
                .await?;
            let val: Value = serde_json::from_str(&text)
                .map_err(|e| Error::Api(format!("discovery of {group}/{v}: {e}")))?;
            resources.extend(parse_resource_list(&val, &v));
        }
        if let Some(e) = self.lock().get_mut(group) {
            e.resources = Some(resources);
        }
        Ok(())
    }

    /// Resolves a kind of a group at its preferred version.
    pub async fn resolve(
        &self,
        kube: &Kube,
        group: &str,
        kind: &str,
    ) -> Result<Option<(ApiResource, Served)>> {
        self.ensure(kube, group).await?;
        let g = self.lock();
        let Some(entry) = g.get(group) else {
            return Ok(None);
        };
        for v in &entry.versions {
            if let Some(s) = entry
                .resources
                .iter()
                .flatten()
                .find(|s| &s.version == v && s.kind == kind)
            {
                return Ok(Some((api_resource(group, s), s.clone())));
            }
        }
        Ok(None)
    }

    /// Resolves a kind at a given apiVersion (`group/version`), falling back to the group's
    /// preferred version when that one is not served.
    pub async fn resolve_api_version(
        &self,
        kube: &Kube,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<(ApiResource, Served)>> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.ensure(kube, group).await?;
        {
            let g = self.lock();
            if let Some(s) = g.get(group).and_then(|e| {
                e.resources
                    .iter()
                    .flatten()
                    .find(|s| s.version == version && s.kind == kind)
                    .cloned()
            }) {
                return Ok(Some((api_resource(group, &s), s)));
            }
        }
        self.resolve(kube, group, kind).await
    }

    /// Every served resource of a group (for type resolution by name or short name).
    pub async fn resources(&self, kube: &Kube, group: &str) -> Result<Vec<Served>> {
        self.ensure(kube, group).await?;
        Ok(self
            .lock()
            .get(group)
            .and_then(|e| e.resources.clone())
            .unwrap_or_default())
    }

    /// Every served group.
    pub fn group_names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}

/// An ApiResource for a served resource.
pub fn api_resource(group: &str, s: &Served) -> ApiResource {
    ApiResource {
        group: group.to_string(),
        version: s.version.clone(),
        api_version: if group.is_empty() {
            s.version.clone()
        } else {
            format!("{group}/{}", s.version)
        },
        kind: s.kind.clone(),
        plural: s.plural.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_aggregated_and_legacy() {
        let agg = json!({"items": [{"metadata": {"name": "cluster.x-k8s.io"}, "versions": [
            {"version": "v1beta2", "resources": [{"resource": "machines", "responseKind": {"kind": "Machine"}, "scope": "Namespaced", "subresources": [{"subresource": "status"}]}]},
            {"version": "v1beta1", "resources": []}
        ]}]});
        let g = parse_aggregated(&agg);
        let e = &g["cluster.x-k8s.io"];
        assert_eq!(e.versions, ["v1beta2", "v1beta1"]);
        assert_eq!(e.resources.as_ref().unwrap()[0].subresources, ["status"]);
        let legacy = json!({"groups": [{"name": "x.io", "versions": [{"version": "v1"}, {"version": "v2"}], "preferredVersion": {"version": "v2"}}]});
        assert_eq!(parse_legacy_groups(&legacy)["x.io"].versions, ["v2", "v1"]);
        let list = json!({"resources": [{"name": "mds", "kind": "MD", "namespaced": true}, {"name": "mds/scale", "kind": "Scale"}]});
        let r = parse_resource_list(&list, "v1");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].subresources, ["scale"]);
    }
}
