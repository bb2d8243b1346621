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

// The layers, bottom up; a module uses only those above it in this list or beside it.
// (`pub` where another crate of the workspace uses it: the harness, the benches, the plugins.)

// Storage: the object store, its write-ahead log and snapshots.
pub mod store;
pub(crate) mod time;

// The API machinery: what a resource is, its schema, validation and defaults, server-set fields,
// patches, managed fields, selectors, printer columns, and the REST semantics over the store.
pub(crate) mod builtins;
pub(crate) mod error;
pub(crate) mod fieldmanager;
pub(crate) mod jsonpath;
pub(crate) mod patch;
pub mod registry;
pub(crate) mod resource;
pub mod rest;
pub(crate) mod schema;
pub(crate) mod selector;
pub(crate) mod strategy;
pub(crate) mod table;
pub(crate) mod validation;
pub(crate) mod webhooks;

// The Cluster API CRDs the sandbox serves (upstream's structure, our descriptions).
pub(crate) mod crd_structure;
pub mod crds;

// The system controllers: CRD registration, garbage collection, namespace lifecycle.
pub(crate) mod controllers;

// The HTTP front end: routing, authentication and authorisation, representations, discovery,
// OpenAPI, watches, the workload clusters' servers, and TLS.
pub(crate) mod discovery;
pub mod http;
pub(crate) mod openapi;
pub(crate) mod protobuf;
pub mod tls;

// The simulated Cluster API controllers and the workload clusters' Nodes.
pub(crate) mod capi;

// The process: starting a sandbox, the demo clusters, test fixtures, and `kubectl capi sandbox`'s
// start/stop/status.
pub mod demo;
pub mod fixtures;
pub mod manage;
pub mod server;

pub use server::{Sandbox, SandboxConfig};
