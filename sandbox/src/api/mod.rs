//! The API machinery, independent of HTTP: resource definitions (built-in kinds and CRDs), the
//! schema with validation and defaulting, server-set fields, the patch types, managed fields,
//! selectors, printer columns, admission, and the REST semantics over the store ([`rest::Api`]).

// The layers, bottom up; a file uses only those above it in this list or beside it.

// Errors as `Status` objects, and the value-level tools: JSONPath, patches, selectors.
pub mod error;
pub(crate) mod jsonpath;
pub(crate) mod patch;
pub(crate) mod selector;

// Resources: definitions, schemas and validation, server-set fields, managed fields, tables,
// the built-in kinds.
pub(crate) mod builtins;
pub(crate) mod component_kinds;
pub(crate) mod fieldmanager;
pub mod registry;
pub(crate) mod resource;
pub(crate) mod schema;
pub(crate) mod strategy;
pub(crate) mod table;
pub(crate) mod validation;

// The Cluster API CRDs the sandbox serves (upstream's structure, our descriptions).
pub(crate) mod crd_structure;
pub mod crds;

// Admission and the REST semantics.
pub(crate) mod defaulting;
pub mod rest;
pub(crate) mod webhooks;
