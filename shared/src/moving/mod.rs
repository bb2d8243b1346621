//! `kubectl capi move`'s logic: which objects move between management clusters, in what order,
//! and the steps that move them. [`discover`] reads the kinds and objects; [`graph`] reads them
//! into an ownership graph (owner references by UID and clusterctl's soft ownership); [`plan`]
//! selects what moves for a scope (a namespace, every namespace, or some Clusters) and orders
//! it, naming every object of a moved kind that stays behind and why; [`preflight`] checks the
//! target and the clusters before anything changes; [`pause`] pauses and resumes with our mark;
//! [`copy`] prepares an object for the target, [`write`] writes it there, [`remove`] deletes it
//! from the source; [`directory`] saves and reads backups; [`report`] renders plans and results;
//! [`flow`] runs the steps in order, rolling back or resuming.

pub mod copy;
pub mod directory;
pub mod discover;
pub mod flow;
pub mod graph;
pub mod kinds;
pub mod pause;
pub mod plan;
pub mod preflight;
pub mod remove;
pub mod report;
pub mod write;
