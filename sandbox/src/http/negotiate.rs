//! Content negotiation: which representation a client asked for in `Accept`, and how its request
//! body is encoded (`Content-Type`).

/// A representation of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    /// Plain JSON.
    Json,
    /// YAML.
    Yaml,
    /// `meta.k8s.io/v1` Table.
    Table,
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
    /// Aggregated discovery, with the apidiscovery version (`v2` or `v2beta1`).
    Discovery(&'static str),
}

struct MediaRange<'a> {
    essence: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

fn parse(accept: &str) -> Vec<MediaRange<'_>> {
    accept
        .split(',')
        .map(|part| {
            let mut it = part.split(';');
            let essence = it.next().unwrap_or("").trim();
            let params = it
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
                .collect();
            MediaRange { essence, params }
        })
        .collect()
}

/// Picks the first representation in `Accept` the server can produce. `discovery` allows the
/// aggregated discovery types; `tables` allows Table and metadata-only forms.
pub fn choose(accept: Option<&str>, discovery: bool, tables: bool) -> Option<Repr> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Repr::Json);
    };
    for m in parse(accept) {
        let param = |k: &str| {
            m.params
                .iter()
                .find(|(pk, _)| pk.eq_ignore_ascii_case(k))
                .map(|(_, v)| *v)
        };
        match m.essence {
            "application/json" | "*/*" | "application/*" => match param("as") {
                None => return Some(Repr::Json),
                Some("Table") if tables && param("g") == Some("meta.k8s.io") => return Some(Repr::Table),
                Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                    if tables && param("g") == Some("meta.k8s.io") =>
                {
                    return Some(Repr::Metadata);
                }
                Some("APIGroupDiscoveryList") if discovery && param("g") == Some("apidiscovery.k8s.io") => {
                    match param("v") {
                        Some("v2") => return Some(Repr::Discovery("v2")),
                        Some("v2beta1") => return Some(Repr::Discovery("v2beta1")),
                        _ => continue,
                    }
                }
                _ => continue,
            },
            "application/yaml" if param("as").is_none() => return Some(Repr::Yaml),
            _ => continue,
        }
    }
    None
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    /// JSON (also the default when no Content-Type is given).
    Json,
    /// YAML.
    Yaml,
    /// Kubernetes Protobuf envelope.
    Protobuf,
    /// Anything else.
    Other,
}

/// Classifies a Content-Type for create and update bodies.
pub fn body_type(content_type: Option<&str>) -> BodyType {
    match content_type.map(|c| c.split(';').next().unwrap_or("").trim()) {
        None | Some("") | Some("application/json") => BodyType::Json,
        Some("application/yaml") => BodyType::Yaml,
        Some("application/vnd.kubernetes.protobuf") => BodyType::Protobuf,
        _ => BodyType::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_headers() {
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(choose(Some(table), false, true), Some(Repr::Table));
        assert_eq!(choose(Some(table), false, false), Some(Repr::Json));
        let disc = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(choose(Some(disc), true, false), Some(Repr::Discovery("v2")));
        assert_eq!(choose(Some(disc), false, false), Some(Repr::Json));
        assert_eq!(
            choose(
                Some("application/vnd.kubernetes.protobuf,application/json"),
                false,
                true
            ),
            Some(Repr::Json)
        );
        assert_eq!(
            choose(Some("application/vnd.kubernetes.protobuf"), false, true),
            None
        );
        assert_eq!(
            choose(
                Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
                false,
                true
            ),
            Some(Repr::Metadata)
        );
        assert_eq!(choose(None, false, false), Some(Repr::Json));
        assert_eq!(choose(Some("application/yaml"), false, true), Some(Repr::Yaml));
    }

    #[test]
    fn body_types() {
        assert_eq!(body_type(Some("application/json; charset=utf-8")), BodyType::Json);
        assert_eq!(
            body_type(Some("application/vnd.kubernetes.protobuf")),
            BodyType::Protobuf
        );
        assert_eq!(body_type(Some("text/plain")), BodyType::Other);
    }
}
