//! Request counters in Prometheus text format (`apiserver_request_total`), so benchmarks and
//! tests can count exactly which requests a client made.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Labels of one counter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Labels {
    /// `LIST`, `GET`, `WATCH`, `POST`, `PUT`, `PATCH`, `APPLY`, `DELETE`, `DELETECOLLECTION`.
    pub verb: String,
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource plural; empty for non-resource paths.
    pub resource: String,
    /// Subresource, or the path for non-resource requests.
    pub subresource: String,
    /// `namespace`, `cluster`, `resource` or empty.
    pub scope: String,
    /// HTTP status code.
    pub code: u16,
}

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    counts: Mutex<BTreeMap<Labels, u64>>,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Counts one request.
    pub fn record(&self, labels: Labels) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(labels)
            .or_insert(0) += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::from(
            "# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n# TYPE apiserver_request_total counter\n",
        );
        for (l, n) in counts.iter() {
            out.push_str(&format!(
                "apiserver_request_total{{code=\"{}\",component=\"apiserver\",group=\"{}\",resource=\"{}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"}} {n}\n",
                l.code,
                esc(&l.group),
                esc(&l.resource),
                esc(&l.scope),
                esc(&l.subresource),
                esc(&l.verb),
                esc(&l.version)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        let l = Labels {
            verb: "LIST".into(),
            group: "cluster.x-k8s.io".into(),
            version: "v1beta2".into(),
            resource: "machines".into(),
            subresource: String::new(),
            scope: "namespace".into(),
            code: 200,
        };
        m.record(l.clone());
        m.record(l);
        let text = m.render();
        assert!(text.contains("resource=\"machines\""));
        assert!(text.contains("verb=\"LIST\",version=\"v1beta2\"} 2"), "{text}");
    }
}
