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

pub mod builtins;
pub mod capi;
pub mod controllers;
pub mod crd_structure;
pub mod crds;
pub mod discovery;
pub mod error;
pub mod fieldmanager;
pub mod http;
pub mod jsonpath;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod registry;
pub mod resource;
pub mod rest;
pub mod schema;
pub mod selector;
pub mod server;
pub mod store;
pub mod strategy;
pub mod table;
pub mod time;
pub mod tls;
pub mod validation;
pub mod webhooks;

pub use server::{Sandbox, SandboxConfig};
pub mod demo;
pub mod fixtures;
pub mod manage;
