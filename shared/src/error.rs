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
    /// The API server could not be reached.
    #[error("{0}")]
    Connection(String),
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

impl From<crate::kubeconfig_file::KubeconfigFileError> for Error {
    fn from(e: crate::kubeconfig_file::KubeconfigFileError) -> Self {
        use crate::kubeconfig_file::KubeconfigFileError as E;
        match e {
            E::Rejected { .. } => Error::Usage(e.to_string()),
            E::Io { .. } => Error::Other(e.to_string()),
            _ => Error::Config(e.to_string()),
        }
    }
}

/// Results of the plugins.
pub type Result<T, E = Error> = std::result::Result<T, E>;
