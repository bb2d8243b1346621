//! Common library of the `kubectl-capi` plugins.
//!
//! Everything two plugins need lives here once: kubectl-style connection flags and client set-up,
//! the Cluster API object model for both API generations, the cluster tree, and output (tables,
//! colours, JSON and YAML).

pub mod capi;
pub mod cli;
pub mod client;
pub mod completion;
pub mod deletion;
pub mod dispatch;
pub mod duration;
pub mod error;
pub mod flags;
pub mod fleet;
pub mod follow;
pub mod generate;
pub mod http_get;
pub mod kubeconfig;
pub mod kubeconfig_file;
pub mod output;
pub mod rollout;
pub mod scale;
pub mod target;
pub mod template;
pub mod tree;
pub mod upgrade;
pub mod version;
pub mod workload_kubeconfig;
pub mod yaml;

pub use error::{Error, Result};
