//! The sandbox as a process: starting one ([`server`]), the demo clusters, test fixtures, and
//! `kubectl capi sandbox start|stop|status` ([`manage`]).

pub mod demo;
pub mod fixtures;
pub mod manage;
pub mod server;
