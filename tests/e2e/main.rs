//! End-to-end tests: one test binary (fast to link) with a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod clusterctl;
mod conformance;
mod controllers;
mod describe;
mod diagnose;
mod fidelity;
mod get_kubeconfig;
mod init;
mod krew;
mod kube_client;
mod lifecycle;
mod move_verb;
mod moving;
mod rollout;
mod sandbox_cli;
mod upgrade;
mod writes;
