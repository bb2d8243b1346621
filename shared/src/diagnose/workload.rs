//! Reading the workload cluster's Nodes for `diagnose --workload`: through the cluster's
//! kubeconfig Secret, one LIST, under a short timeout, so that an unreachable workload cluster
//! is a finding rather than a hang.

use std::time::Duration;

use serde_json::Value;

use super::finding::{Evidence, Finding, Severity, Subject};

/// The workload cluster's Nodes, or why they could not be read.
pub async fn nodes(kubeconfig: &str, timeout: Duration) -> Result<Vec<Value>, String> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig)
        .map_err(|e| format!("the kubeconfig does not parse: {e}"))?;
    let read = async {
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| format!("the kubeconfig is not usable: {e}"))?;
        cfg.connect_timeout = Some(timeout);
        cfg.read_timeout = Some(timeout);
        let client = kube::Client::try_from(cfg).map_err(|e| e.to_string())?;
        let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
        let list = api
            .list(&Default::default())
            .await
            .map_err(|e| crate::error::root_cause(&e))?;
        Ok(list
            .items
            .iter()
            .filter_map(|n| serde_json::to_value(n).ok())
            .collect())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// The finding for a workload cluster whose Nodes could not be read.
pub fn unreachable(cluster: &Subject, why: &str) -> Finding {
    Finding {
        signature: "WorkloadUnreachable",
        severity: Severity::Warning,
        object: cluster.clone(),
        evidence: Evidence::of_field(format!(
            "reading the Nodes through Secret {}-kubeconfig: {why}",
            cluster.name
        )),
        explanation: "The workload cluster's API server could not be reached from here with its kubeconfig, so its Nodes were not read.".into(),
        next_step: "Check the control plane endpoint is reachable from where you run this (VPN, firewall); the management cluster's own view is in the other findings.".into(),
        chain: vec![],
    }
}
