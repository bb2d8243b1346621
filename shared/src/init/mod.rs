//! `kubectl capi init` and provider upgrades: provider types and arguments, clusterctl's
//! inventory, the config file's init sections, repositories and `latest`, the components
//! pipeline, the run's plan and checks, the writer, cert-manager, the wait for Deployments,
//! the run that ties them together, and `upgrade providers apply` (in place, the operator's
//! Deployment changes kept by [`keep`]).

pub mod apply;
pub mod certmanager;
pub mod components;
pub mod config;
pub mod inventory;
pub mod keep;
pub mod plan;
pub mod provider;
pub mod repository;
pub mod run;
pub mod upgrade;
pub mod wait;
