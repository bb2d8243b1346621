//! The sandbox as a process: starting one ([`server`]), the demo clusters, test fixtures, and
//! `kubectl capi sandbox start|stop|status` ([`manage`]), and the local provider repository
//! `kubectl capi init` installs from ([`repository`]).

pub mod demo;
pub mod fixtures;
pub mod manage;
pub mod repository;
pub mod server;
