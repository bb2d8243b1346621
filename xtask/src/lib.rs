//! Tooling shared by `cargo xtask` and the tests: packing the krew archive, its sha256,
//! rendering the krew manifest from its template and krew's own validation rules; building and
//! starting the real stack (`realstack`).

pub mod crd_structure;
pub mod krew;
pub mod layers;
pub mod pack;
pub mod realstack;

/// Why a task failed, as it is printed (`xtask: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError(pub String);

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TaskError {}

impl From<String> for TaskError {
    fn from(why: String) -> Self {
        TaskError(why)
    }
}

impl From<&str> for TaskError {
    fn from(why: &str) -> Self {
        TaskError(why.to_string())
    }
}
