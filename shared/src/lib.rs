//! Common library of the `kubectl-capi` plugins.
//!
//! Everything two plugins need lives here once: kubectl-style connection flags and client set-up,
//! the Cluster API object model for both API generations, the cluster tree, and output (tables,
//! colours, JSON and YAML).

// The layers, bottom up; a module uses only those above it in this list or beside it. Folders
// group what belongs together (their `mod.rs` says what is inside). (`pub` where a plugin uses it.)

// Foundations: YAML reading, durations, versions, the error type and its exit codes, the shared
// flags.
pub mod duration;
pub(crate) mod error;
pub mod flags;
pub mod version;
pub mod yaml;

// Kubeconfigs: loading them as kubectl does; files parsed, locked and atomically written.
pub mod kubeconfig;

// The API client: connecting, following a server that may go away, raw GETs.
pub mod client;

// The Cluster API model (both generations): facts, conditions, the kinds a server serves, and
// what a command-line target names.
pub mod capi;

// Output: tables, colours, JSON and YAML.
pub mod output;

// One module per verb's logic.
pub mod deletion;
pub mod diagnose;
pub mod fleet;
pub mod generate;
pub mod moving;
pub mod rollout;
pub mod scale;
pub mod tree;
pub mod upgrade;
// init builds on upgrade's inventory and repository reading.
pub mod init;
pub mod workload_kubeconfig;

// The command line: running a plugin, the `kubectl capi` dispatcher, shell completion.
pub mod cli;

pub use error::{Error, Result};
