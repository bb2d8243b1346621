//! The one error type of the plugins, with documented exit codes.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | an error (API, file, network, not found, forbidden...) |
//! | 2 | usage error: bad flags or arguments |
//! | 3 | a wait (`--wait`, `rollout status`, `--timeout`) ended before the goal was reached |

use std::path::PathBuf;

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code for errors.
pub const EXIT_ERROR: i32 = 1;
/// Exit code for usage errors.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for a wait that timed out.
pub const EXIT_TIMEOUT: i32 = 3;

/// Errors of the plugins.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or arguments.
    #[error("{0}")]
    Usage(String),
    /// The kubeconfig is missing or invalid, or names an unknown context.
    #[error("{0}")]
    Config(String),
    /// The API server could not be reached (or a stream it served ended).
    #[error("{0}")]
    Connection(String),
    /// A request got no answer: `source` is the client's error; the line names its root cause
    /// (one line, as kubectl prints an unreachable server), so [`Error::shows_causes`] is true.
    #[error("{what}: cannot reach the API server at {server}{}: {}", in_context(.context), root_cause(source))]
    Unreachable {
        /// What was being done.
        what: String,
        /// The server's URL.
        server: String,
        /// The kubeconfig context, when one is named.
        context: Option<String>,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The API server answered a request with an error status (other than 401, 403, 404).
    #[error("{what}: {message} ({code} {reason})")]
    Status {
        /// What was being done.
        what: String,
        /// The HTTP status.
        code: u16,
        /// The status reason (`Conflict`, `Invalid`, ...).
        reason: String,
        /// The server's message.
        message: String,
    },
    /// The credentials were rejected (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The user may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The cluster has no Cluster API CRDs.
    #[error("{0}")]
    NotCapi(String),
    /// A wait timed out.
    #[error("{0}")]
    Timeout(String),
    /// The API server refused the request.
    #[error("{0}")]
    Api(String),
    /// The object's state forbids the action (paused, managed elsewhere, nothing to restore).
    #[error("{0}")]
    Refused(String),
    /// A file could not be read or written.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Whether the API server answered with a conflict (409: changed since read, or exists).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Status { code: 409, .. })
    }

    /// Whether a JSON patch's `test` operation failed (the object changed since it was read):
    /// kube-apiserver answers 422 with a generic message for it.
    pub fn is_failed_test(&self) -> bool {
        matches!(self, Error::Status { code: 422, message, .. }
            if message.contains("test") || message.contains("rejected our request"))
    }

    /// Whether the message line already names the causes (the printer then adds no
    /// `caused by:` lines).
    pub fn shows_causes(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }

    /// Adds to the message of an answered request (`Status`) or a refusal, keeping the
    /// variant: `then` receives the message as printed so far.
    pub fn explained(self, then: impl FnOnce(&str) -> String) -> Error {
        match self {
            Error::Status {
                what,
                code,
                reason,
                message,
            } => {
                let message = then(&message);
                Error::Status {
                    what,
                    code,
                    reason,
                    message,
                }
            }
            other => other,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Timeout(_) => EXIT_TIMEOUT,
            _ => EXIT_ERROR,
        }
    }

    /// Builds an I/O error with context.
    pub fn io(context: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            context,
            path,
            source,
        }
    }
}

/// ` (context "NAME")` when a context is named.
fn in_context(context: &Option<String>) -> String {
    context
        .as_ref()
        .map(|c| format!(" (context {c:?})"))
        .unwrap_or_default()
}

/// The innermost cause of an error: what actually went wrong (`Connection refused`), without
/// the layers that wrapped it.
pub fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        cause = s.to_string();
        next = s.source();
    }
    cause
}

/// Results of the plugins.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> Error {
        Error::Status {
            what: "patching Cluster ns/c".into(),
            code,
            reason: reason.into(),
            message: message.into(),
        }
    }

    #[test]
    fn an_answered_request_keeps_its_code_and_reason_as_fields() {
        let e = status(409, "Conflict", "the object has been modified");
        assert!(e.is_conflict());
        assert!(!e.is_failed_test());
        assert_eq!(
            e.to_string(),
            "patching Cluster ns/c: the object has been modified (409 Conflict)"
        );
        let e = status(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        );
        assert!(e.is_failed_test() && !e.is_conflict());
        let e = e.explained(|m| format!("{m}; run the command again"));
        assert!(
            e.to_string()
                .ends_with("in our request; run the command again (422 Invalid)"),
            "{e}"
        );
        assert!(!status(422, "Invalid", "spec.replicas: must be at least 0").is_failed_test());
    }

    #[test]
    fn an_unreachable_server_is_one_line_naming_the_root_cause_and_keeps_the_chain() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let e = Error::Unreachable {
            what: "listing Clusters".into(),
            server: "https://127.0.0.1:1".into(),
            context: Some("dev".into()),
            source: Box::new(kube::Error::Service(Box::new(refused))),
        };
        assert_eq!(
            e.to_string(),
            "listing Clusters: cannot reach the API server at https://127.0.0.1:1 (context \"dev\"): Connection refused (os error 111)"
        );
        assert!(e.shows_causes());
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert!(source.is_some_and(|s| s.contains("Connection refused")));
        assert_eq!(e.exit_code(), EXIT_ERROR);
    }
}
