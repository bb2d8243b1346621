//! `kubectl capi init` and provider upgrades (work in progress, issue 18): provider types and
//! arguments, clusterctl's inventory, the config file's init sections, repositories and
//! `latest`, the components pipeline, the run's plan and checks, and the writer.

pub mod apply;
pub mod components;
pub mod config;
pub mod inventory;
pub mod plan;
pub mod provider;
pub mod repository;
