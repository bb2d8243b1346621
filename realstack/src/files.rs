//! The files a real stack starts from, written into its directory: certificates (a CA of its own,
//! the serving certificate for 127.0.0.1), the service-account key, the static token users, the
//! audit policy, and the kubeconfigs (ours for tests and users, one for the controller manager).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use capi_sandbox::http::tls::{Ca, Usage};
use serde_json::{Value, json};

use crate::StackError;

/// User names of the two token users, the same as the sandbox's (messages name them).
pub const ADMIN_USER: &str = "capi-sandbox-admin";
/// The read-only user, bound to the built-in `view` ClusterRole.
pub const READONLY_USER: &str = "capi-sandbox-readonly";
/// The user Cluster API's managers run as (`system:masters`, as their ClusterRoles allow nearly
/// everything): a user of its own, so the audit log of the tests' two users stays theirs.
pub const MANAGERS_USER: &str = "capi-managers";

/// Credentials and paths of one stack.
#[derive(Debug, Clone)]
pub struct Files {
    /// The CA every certificate is signed by (also the client CA).
    pub ca: Ca,
    /// Admin bearer token (`system:masters`).
    pub admin_token: String,
    /// Read-only bearer token.
    pub readonly_token: String,
    /// Bearer token of Cluster API's managers.
    pub managers_token: String,
    /// Serving certificate and key.
    pub serving: (PathBuf, PathBuf),
    /// The CA certificate file.
    pub ca_file: PathBuf,
    /// The service-account signing key (private) and its public key.
    pub sa_key: (PathBuf, PathBuf),
    /// Static token file.
    pub tokens: PathBuf,
    /// Audit policy file.
    pub audit_policy: PathBuf,
}

fn write(path: &Path, text: &str) -> Result<(), StackError> {
    std::fs::write(path, text).map_err(|source| StackError::Io {
        what: format!("writing {}", path.display()),
        source,
    })
}

fn token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Only writes are recorded, at the `Request` level (the body as sent), and only those of our
/// two users: what the sandbox's audit log keeps, so tests read both the same way.
const AUDIT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Request
  users: ["capi-sandbox-admin", "capi-sandbox-readonly"]
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
"#;

impl Files {
    /// Generates every file into `dir`.
    pub fn generate(dir: &Path) -> Result<Files, StackError> {
        let ca = Ca::generate("capi-realstack-ca")?;
        let (cert, key) = ca.issue(
            "kube-apiserver",
            &[],
            &[
                "127.0.0.1".into(),
                "localhost".into(),
                "kubernetes.default.svc".into(),
            ],
            Usage::Server,
            365,
        )?;
        let f = Files {
            ca: ca.clone(),
            admin_token: token(),
            readonly_token: token(),
            managers_token: token(),
            serving: (dir.join("serving.crt"), dir.join("serving.key")),
            ca_file: dir.join("ca.crt"),
            sa_key: (dir.join("sa.key"), dir.join("sa.pub")),
            tokens: dir.join("tokens.csv"),
            audit_policy: dir.join("audit-policy.yaml"),
        };
        write(&f.ca_file, &ca.cert_pem)?;
        write(&f.serving.0, &cert)?;
        write(&f.serving.1, &key)?;
        let sa = rcgen::KeyPair::generate().map_err(capi_sandbox::http::tls::TlsError::from)?;
        write(&f.sa_key.0, &sa.serialize_pem())?;
        write(&f.sa_key.1, &sa.public_key_pem())?;
        write(
            &f.tokens,
            &format!(
                "{},{ADMIN_USER},uid-admin,\"system:masters\"\n{},{READONLY_USER},uid-readonly\n{},{MANAGERS_USER},uid-managers,\"system:masters\"\n",
                f.admin_token, f.readonly_token, f.managers_token
            ),
        )?;
        write(&f.audit_policy, AUDIT_POLICY)?;
        Ok(f)
    }

    /// A kubeconfig laid out like the sandbox's (`BASE` and `BASE-readonly` contexts, namespace
    /// `default`), for the server at `url`.
    pub fn kubeconfig(&self, base: &str, url: &str) -> Value {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca.cert_pem);
        json!({
            "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": base,
            "clusters": [{"name": base, "cluster": {"server": url, "certificate-authority-data": ca}}],
            "users": [
                {"name": format!("{base}-admin"), "user": {"token": self.admin_token}},
                {"name": format!("{base}-readonly"), "user": {"token": self.readonly_token}},
            ],
            "contexts": [
                {"name": base, "context": {"cluster": base, "user": format!("{base}-admin"), "namespace": "default"}},
                {"name": format!("{base}-readonly"), "context": {"cluster": base, "user": format!("{base}-readonly"), "namespace": "default"}},
            ],
        })
    }

    /// A kubeconfig for Cluster API's managers (one context, their own token).
    pub fn managers_kubeconfig(&self, url: &str) -> Value {
        let mut doc = self.kubeconfig("capi-managers", url);
        doc["users"] = json!([{"name": "capi-managers-admin", "user": {"token": self.managers_token}}]);
        doc["contexts"] = json!([{"name": "capi-managers", "context": {"cluster": "capi-managers", "user": "capi-managers-admin"}}]);
        doc
    }

    /// Writes `doc` as YAML to `path`, owner-only (it holds tokens).
    pub fn write_kubeconfig(path: &Path, doc: &Value) -> Result<(), StackError> {
        let text = serde_saphyr::to_string(doc).map_err(|e| StackError::Io {
            what: format!("serialising {}", path.display()),
            source: std::io::Error::other(e.to_string()),
        })?;
        write(path, &text)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
            StackError::Io {
                what: format!("restricting {}", path.display()),
                source,
            }
        })
    }
}
