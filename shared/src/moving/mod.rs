//! `kubectl capi move`'s logic: which objects move between management clusters and in what
//! order. [`discover`] reads the kinds and objects; [`graph`] reads the discovered objects into an ownership graph (owner references by
//! UID and clusterctl's soft ownership); [`plan`] selects what moves for a scope (a namespace,
//! every namespace, or some Clusters) and orders it, naming every object of a moved kind that
//! stays behind and why; [`copy`] prepares an object for the target.

pub mod copy;
pub mod discover;
pub mod graph;
pub mod plan;
pub mod preflight;
