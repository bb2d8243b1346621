//! The sandbox: an in-memory, Kubernetes-API-compatible management cluster.
//!
//! The real `kubectl` and the `kube` crate work against it unmodified. It serves discovery
//! (aggregated and legacy), OpenAPI v3, server-side tables, CRUD with every patch type including
//! server-side apply, watches with resourceVersion semantics, status and scale subresources,
//! garbage collection, namespace termination and CRD registration, and it runs simulated Cluster
//! API controllers on top.

// ApiError carries a whole `Status` (message, details, causes); errors are the rare path, and
// boxing it would only add an allocation to every error without speeding up the common one.
#![allow(clippy::result_large_err)]

// The layers, bottom up, one folder each; a module uses only those above it in this list or
// beside it, and each folder's `mod.rs` is the map of its own files. (`pub` where another crate
// of the workspace uses it: the harness, the benches, the plugins.)

// Storage: the object store, its write-ahead log and snapshots, the clock.
pub mod store;

// The API machinery: what a resource is, its schema, validation and defaults, server-set fields,
// patches, managed fields, selectors, printer columns, admission, the REST semantics over the
// store, and the Cluster API CRDs served.
pub mod api;

// The system controllers: CRD registration, garbage collection, namespace lifecycle.
pub(crate) mod controllers;

// The HTTP front end: routing, authentication and authorisation, representations, discovery,
// OpenAPI, watches, the workload clusters' servers, and TLS.
pub mod http;

// The simulated Cluster API controllers and the workload clusters' Nodes.
pub(crate) mod capi;

// The process: starting a sandbox, the demo clusters, test fixtures, and `kubectl capi sandbox`'s
// start/stop/status.
pub mod process;

pub use process::server::{Sandbox, SandboxConfig};
