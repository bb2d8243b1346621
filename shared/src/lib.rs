//! Common library of the `kubectl-capi` plugins.
//!
//! Everything two plugins need lives here once: kubectl-style connection flags and client set-up,
//! the Cluster API object model for both API generations, the cluster tree, and output (tables,
//! colours, JSON and YAML).

pub mod cli;
pub mod duration;
pub mod error;
pub mod kubeconfig_file;

pub use error::{Error, Result};
