//! `kubectl capi diagnose` through the real kubectl: stuck states made on fixture clusters (their
//! conditions and fields set as Cluster API's controllers would leave them), each found once, at
//! its root object, with its evidence, chain and exit code.

use capi_e2e::{TestCluster, stderr, stdout};
use capi_sandbox::process::fixtures::ClusterSpec;
use serde_json::{Value, json};

/// Sets (or adds) a condition on an object's status.
fn set_condition(sb: &TestCluster, resource: &str, ns: &str, name: &str, cond: Value) {
    set_condition_at(sb, resource, ns, name, "/status/conditions", cond);
}

/// Sets (or adds) a condition in the list at `ptr` of an object's status.
fn set_condition_at(sb: &TestCluster, resource: &str, ns: &str, name: &str, ptr: &str, cond: Value) {
    let mut o = sb.get_json(&[resource, name, "-n", ns, "-o", "json"]);
    let at = ptr
        .trim_start_matches('/')
        .split('/')
        .fold(&mut o, |v, k| &mut v[k]);
    if !at.is_array() {
        *at = json!([]);
    }
    let list = at.as_array_mut().unwrap();
    list.retain(|c| c["type"] != cond["type"]);
    list.push(cond);
    sb.kubectl()
        .args(["replace", "--subresource=status", "-f", "-"])
        .stdin_str(&o.to_string());
}

fn cond(t: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": t, "status": status, "reason": reason, "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1})
}

fn diagnose_json(sb: &TestCluster, name: &str) -> (Option<i32>, Value) {
    let o = sb.capi(&["diagnose", "cluster", name, "-n", "prod", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    (o.status.code(), doc["clusters"][0].clone())
}

fn signatures(r: &Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["signature"].as_str().unwrap(),
                f["object"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn cluster() -> TestCluster {
    let sb = TestCluster::start();
    let mut s = ClusterSpec::new("a", "prod", 1, 2);
    s.health_check = true;
    sb.load(&s);
    sb
}

#[test]
fn a_healthy_cluster_has_no_findings() {
    let sb = cluster();
    let o = sb.capi(&["diagnose", "cluster", "a", "-n", "prod"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "Cluster prod/a: no findings\n");
    let (code, r) = diagnose_json(&sb, "a");
    assert_eq!(code, Some(0));
    assert_eq!(r["summary"], json!({"errors": 0, "warnings": 0, "infos": 0}));
}

#[test]
fn a_failed_infrastructure_machine_is_one_finding_with_the_chain_above_it() {
    let sb = cluster();
    let dm = "a-md-0-7d9f8c-00000";
    set_condition(
        &sb,
        "devmachines.infrastructure.cluster.x-k8s.io",
        "prod",
        dm,
        cond(
            "Ready",
            "False",
            "ProvisioningFailed",
            "quota exceeded for instance type m5.large",
        ),
    );
    set_condition(
        &sb,
        "machines.cluster.x-k8s.io",
        "prod",
        dm,
        cond(
            "NodeReady",
            "False",
            "NodeNotReady",
            "kubelet stopped posting node status",
        ),
    );
    set_condition(
        &sb,
        "clusters.cluster.x-k8s.io",
        "prod",
        "a",
        cond(
            "Available",
            "False",
            "NotAvailable",
            "* WorkersAvailable: 1 of 2 available",
        ),
    );
    let (code, r) = diagnose_json(&sb, "a");
    assert_eq!(code, Some(1));
    assert_eq!(signatures(&r), [format!("InfrastructureMachineFailed {dm}")]);
    let f = &r["findings"][0];
    assert_eq!(f["severity"], "error");
    assert_eq!(f["object"]["kind"], "DevMachine");
    assert_eq!(f["evidence"]["condition"], "Ready");
    assert_eq!(f["evidence"]["reason"], "ProvisioningFailed");
    assert_eq!(
        f["evidence"]["message"],
        "quota exceeded for instance type m5.large"
    );
    assert!(f["evidence"]["forSeconds"].as_i64().unwrap() > 86_400);
    let chain: Vec<&str> = f["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        chain,
        [
            "Cluster prod/a: Available False (NotAvailable)",
            &format!("Machine prod/{dm}: NodeReady False (NodeNotReady)")
        ]
    );
    let text = stdout(&sb.capi(&["diagnose", "cluster", "a", "-n", "prod"]));
    assert!(
        text.contains(&format!(
            "ERROR   DevMachine prod/{dm}  InfrastructureMachineFailed"
        )),
        "{text}"
    );
    assert!(
        text.contains("because of this: Cluster prod/a: Available False (NotAvailable) → Machine"),
        "{text}"
    );
    assert!(text.contains("message: quota exceeded"), "{text}");
}

#[test]
fn each_signature_is_found_at_its_object() {
    let sb = cluster();
    let cp = "a-control-plane-00000";
    let worker = "a-md-0-7d9f8c-00001";
    // Control plane etcd: the member is the root, the control plane's condition its symptom.
    set_condition(
        &sb,
        "machines.cluster.x-k8s.io",
        "prod",
        cp,
        cond(
            "EtcdMemberHealthy",
            "False",
            "EtcdMemberUnhealthy",
            "etcd member reports alarm NOSPACE",
        ),
    );
    set_condition(
        &sb,
        "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io",
        "prod",
        "a-control-plane",
        cond(
            "EtcdClusterHealthy",
            "False",
            "EtcdClusterUnhealthy",
            "member a-control-plane-00000 unhealthy",
        ),
    );
    // A Machine whose server exists but whose Node never joined.
    sb.remove_node_ref("prod", worker);
    // Too many unhealthy for the health check.
    set_condition(
        &sb,
        "machinehealthchecks.cluster.x-k8s.io",
        "prod",
        "a-workers",
        cond(
            "RemediationAllowed",
            "False",
            "TooManyUnhealthy",
            "Remediation is not allowed, the number of not started or unhealthy machines exceeds maxUnhealthy",
        ),
    );
    // Workers four minors behind.
    sb.kubectl()
        .args([
            "patch",
            "machinedeployments.cluster.x-k8s.io",
            "a-md-0",
            "-n",
            "prod",
            "--type=merge",
            "-p",
            r#"{"spec":{"template":{"spec":{"version":"v1.29.0"}}}}"#,
        ])
        .ok();
    let (code, r) = diagnose_json(&sb, "a");
    assert_eq!(code, Some(1));
    let got = signatures(&r);
    for want in [
        format!("EtcdUnhealthy {cp}"),
        format!("MachineWithoutNode {worker}"),
        "RemediationNotAllowed a-workers".to_string(),
        "VersionSkew a-md-0".to_string(),
    ] {
        assert!(got.contains(&want), "{want} not in {got:?}");
    }
    assert!(
        !got.iter().any(|g| g.starts_with("EtcdClusterUnhealthy")),
        "a symptom was reported as a finding: {got:?}"
    );
    let etcd = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["signature"] == "EtcdUnhealthy")
        .unwrap();
    assert_eq!(
        etcd["chain"],
        json!(["KubeadmControlPlane prod/a-control-plane: EtcdClusterHealthy False (EtcdClusterUnhealthy)"])
    );
}

#[test]
fn pauses_topology_failures_and_the_fleet() {
    let sb = cluster();
    sb.load(&ClusterSpec::new("b", "prod", 1, 1));
    sb.kubectl()
        .args([
            "annotate",
            "clusters.cluster.x-k8s.io",
            "b",
            "-n",
            "prod",
            "cluster.x-k8s.io/paused=",
            "capi.kubectl.x-k8s.io/paused-by-move=move-1-abcd",
        ])
        .ok();
    let (code, r) = diagnose_json(&sb, "b");
    assert_eq!(code, Some(0), "a warning does not fail: {r}");
    assert_eq!(signatures(&r), ["PausedByMove b"]);
    assert!(
        r["findings"][0]["nextStep"]
            .as_str()
            .unwrap()
            .contains("kubectl capi move")
    );
    set_condition(
        &sb,
        "clusters.cluster.x-k8s.io",
        "prod",
        "a",
        cond(
            "TopologyReconciled",
            "False",
            "ReconcileFailed",
            "failed to create DevMachineTemplate: admission webhook denied",
        ),
    );
    let (_, r) = diagnose_json(&sb, "a");
    assert_eq!(signatures(&r), ["TopologyReconcileFailed a"]);
    // The fleet: one line per cluster, exit 1 for the error.
    let o = sb.capi(&["diagnose", "clusters", "-n", "prod"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.lines()
            .any(|l| l.starts_with("prod") && l.contains(" a ") && l.contains("TopologyReconcileFailed")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(" b ") && l.contains("PausedByMove")),
        "{text}"
    );
    let o = sb.capi(&["diagnose", "clusters", "-A", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["kind"], "FleetDiagnosis");
    assert_eq!(doc["clusters"].as_array().unwrap().len(), 2);
}

#[test]
fn explain_knows_reasons_and_names_what_it_does_not() {
    let sb = TestCluster::start();
    let o = sb.capi(&["diagnose", "explain", "NodeStartupTimeout"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("NodeStartupTimeout (error): HealthCheckSucceeded on Machine"),
        "{}",
        stdout(&o)
    );
    let o = sb.capi(&["diagnose", "explain", "Bogus"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nothing known about \"Bogus\""));
    let o = sb.capi(&["diagnose", "cluster", "nope", "-n", "prod"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}

/// The stuck states the simulated providers make on purpose (annotations on a Machine), found by
/// diagnose on the running demo. The server's clock runs an hour ahead, so every state has held
/// long enough to be reported (diagnose measures on the server's clock).
#[test]
fn stuck_states_made_by_the_simulated_providers_are_diagnosed() {
    let sb = crate::controllers::demo_with(capi_e2e::Opts {
        clock_skew_secs: 3600,
        ..Default::default()
    });
    let workers = sb.get_json(&[
        "machines.cluster.x-k8s.io",
        "-l",
        "cluster.x-k8s.io/deployment-name=edge-md-0",
        "-o",
        "json",
    ]);
    let names: Vec<String> = workers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 2, "{names:?}");
    let (failing, draining) = (&names[0], &names[1]);
    sb.kubectl()
        .args([
            "annotate",
            "machines.cluster.x-k8s.io",
            failing,
            "sandbox.capi.kubectl.x-k8s.io/fail-infrastructure=insufficient capacity in zone a",
        ])
        .ok();
    sb.kubectl()
        .args(["annotate", "machines.cluster.x-k8s.io", draining, "sandbox.capi.kubectl.x-k8s.io/block-drain=Cannot evict pod as it would violate the pod's disruption budget"])
        .ok();
    sb.kubectl()
        .args(["delete", "machines.cluster.x-k8s.io", draining, "--wait=false"])
        .ok();
    let mut last = Value::Null;
    let found = capi_e2e::eventually(std::time::Duration::from_secs(60), || {
        let o = sb.capi(&["diagnose", "cluster", "edge", "-n", "default", "-o", "json"]);
        last = serde_json::from_slice::<Value>(&o.stdout)
            .map(|d| d["clusters"][0].clone())
            .unwrap_or(Value::Null);
        let got = if last.is_null() { vec![] } else { signatures(&last) };
        got.contains(&format!("InfrastructureMachineFailed {failing}"))
            && got.contains(&format!("DrainStuck {draining}"))
    });
    assert!(found, "{last:#}");
    let infra = last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["signature"] == "InfrastructureMachineFailed")
        .unwrap();
    assert_eq!(infra["evidence"]["message"], "insufficient capacity in zone a");
    let drain = last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["signature"] == "DrainStuck")
        .unwrap();
    assert_eq!(drain["evidence"]["reason"], "DrainingNode");
    assert!(
        drain["evidence"]["message"]
            .as_str()
            .unwrap()
            .contains("disruption budget")
    );
    // A topology reconcile failing, on the topology cluster.
    sb.kubectl()
        .args(["annotate", "clusters.cluster.x-k8s.io", "demo", "sandbox.capi.kubectl.x-k8s.io/fail-topology=failed to patch DevMachineTemplate: admission webhook denied the request"])
        .ok();
    let mut seen = Value::Null;
    let failed = capi_e2e::eventually(std::time::Duration::from_secs(60), || {
        let o = sb.capi(&["diagnose", "cluster", "demo", "-n", "default", "-o", "json"]);
        seen = serde_json::from_slice::<Value>(&o.stdout)
            .map(|d| d["clusters"][0].clone())
            .unwrap_or(Value::Null);
        !seen.is_null() && signatures(&seen).contains(&"TopologyReconcileFailed demo".to_string())
    });
    assert!(failed, "{seen:#}");
    // Released, the deletion finishes.
    sb.kubectl()
        .args([
            "annotate",
            "machines.cluster.x-k8s.io",
            draining,
            "sandbox.capi.kubectl.x-k8s.io/block-drain-",
        ])
        .ok();
    let gone = capi_e2e::eventually(std::time::Duration::from_secs(60), || {
        let o = sb
            .kubectl()
            .args(["get", "machines.cluster.x-k8s.io", draining.as_str()])
            .output();
        stderr(&o).contains("NotFound")
    });
    assert!(
        gone,
        "the Machine's deletion did not finish once the drain was released"
    );
}

/// Signature 16: with the server's clock 340 days ahead, the workload kubeconfig's client
/// certificate (valid for a year) expires within 30 days.
#[test]
fn an_expiring_kubeconfig_certificate_is_a_warning() {
    let sb = crate::controllers::demo_with(capi_e2e::Opts {
        clock_skew_secs: 340 * 86_400,
        ..Default::default()
    });
    let o = sb.capi(&["diagnose", "cluster", "edge", "-n", "default", "-o", "json"]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let f = r["clusters"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["signature"] == "KubeconfigCertificateExpiring")
        .cloned();
    let f = f.unwrap_or_else(|| panic!("no expiry finding: {r:#}"));
    assert_eq!(f["severity"], "warning");
    assert!(
        f["evidence"]["field"]
            .as_str()
            .unwrap()
            .starts_with("Secret edge-kubeconfig: client certificate not valid after"),
        "{f}"
    );
}

fn spec_patch(sb: &TestCluster, resource: &str, name: &str, patch: &str) {
    sb.kubectl()
        .args(["patch", resource, name, "-n", "prod", "--type=json", "-p", patch])
        .ok();
}

/// The other signatures, one cluster each, each at its object and with its severity.
#[test]
fn more_signatures_are_found_at_their_objects() {
    let sb = TestCluster::with(capi_e2e::Opts {
        clock_skew_secs: 3600,
        ..Default::default()
    });
    for n in ["infra", "remote", "owner", "scale", "init", "pid", "boot", "gone"] {
        sb.load(&ClusterSpec::new(n, "prod", 1, 1));
    }
    let first_worker = |c: &str| {
        let l = sb.get_json(&[
            "machines.cluster.x-k8s.io",
            "-n",
            "prod",
            "-l",
            &format!("cluster.x-k8s.io/cluster-name={c},cluster.x-k8s.io/deployment-name={c}-md-0"),
            "-o",
            "json",
        ]);
        l["items"][0]["metadata"]["name"].as_str().unwrap().to_string()
    };
    set_condition(
        &sb,
        "devclusters.infrastructure.cluster.x-k8s.io",
        "prod",
        "infra",
        cond(
            "Ready",
            "False",
            "LoadBalancerFailed",
            "failed to create load balancer: quota exceeded",
        ),
    );
    set_condition(
        &sb,
        "clusters.cluster.x-k8s.io",
        "prod",
        "infra",
        cond(
            "InfrastructureReady",
            "False",
            "NotReady",
            "DevCluster is not ready",
        ),
    );
    set_condition(
        &sb,
        "clusters.cluster.x-k8s.io",
        "prod",
        "remote",
        cond(
            "RemoteConnectionProbe",
            "False",
            "ProbeFailed",
            "dial tcp 10.0.0.1:6443: i/o timeout",
        ),
    );
    let owned = first_worker("owner");
    set_condition(
        &sb,
        "machines.cluster.x-k8s.io",
        "prod",
        &owned,
        cond(
            "OwnerRemediated",
            "False",
            "WaitingForRemediation",
            "KubeadmControlPlane can't remediate this machine because this is the last control plane machine",
        ),
    );
    let ms = sb.get_json(&[
        "machinesets.cluster.x-k8s.io",
        "-n",
        "prod",
        "-l",
        "cluster.x-k8s.io/cluster-name=scale",
        "-o",
        "json",
    ])["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    set_condition(
        &sb,
        "machinesets.cluster.x-k8s.io",
        "prod",
        &ms,
        cond(
            "ScalingUp",
            "True",
            "PreflightCheckFailed",
            "Scaling up would violate preflight checks: ControlPlaneIsUpgrading",
        ),
    );
    set_condition(
        &sb,
        "clusters.cluster.x-k8s.io",
        "prod",
        "init",
        cond(
            "ControlPlaneInitialized",
            "False",
            "NotInitialized",
            "Control plane not yet initialized",
        ),
    );
    let no_pid = first_worker("pid");
    spec_patch(
        &sb,
        "machines.cluster.x-k8s.io",
        &no_pid,
        r#"[{"op":"remove","path":"/spec/providerID"}]"#,
    );
    sb.remove_node_ref("prod", &no_pid);
    set_condition(
        &sb,
        "machines.cluster.x-k8s.io",
        "prod",
        &no_pid,
        cond(
            "InfrastructureReady",
            "False",
            "NotReady",
            "DevMachine is not ready",
        ),
    );
    let timed_out = first_worker("boot");
    set_condition(
        &sb,
        "machines.cluster.x-k8s.io",
        "prod",
        &timed_out,
        cond(
            "HealthCheckSucceeded",
            "False",
            "NodeStartupTimeout",
            "Health check failed: Node failed to report startup in 10m0s",
        ),
    );
    // A deletion held by a finalizer (the server's clock is an hour ahead, so it has held long).
    sb.kubectl()
        .args([
            "patch",
            "clusters.cluster.x-k8s.io",
            "gone",
            "-n",
            "prod",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["cluster.cluster.x-k8s.io"]}}"#,
        ])
        .ok();
    sb.kubectl()
        .args([
            "delete",
            "clusters.cluster.x-k8s.io",
            "gone",
            "-n",
            "prod",
            "--wait=false",
        ])
        .ok();
    let expect = [
        (
            "infra",
            "InfrastructureClusterNotReady",
            "infra",
            "error",
            Some(1),
        ),
        ("remote", "RemoteConnectionFailing", "remote", "error", Some(1)),
        ("owner", "RemediationRefused", owned.as_str(), "warning", Some(0)),
        ("scale", "ScaleUpBlocked", ms.as_str(), "warning", Some(0)),
        ("init", "ControlPlaneNotInitialized", "init", "warning", Some(0)),
        (
            "pid",
            "MachineWithoutProviderID",
            no_pid.as_str(),
            "warning",
            Some(0),
        ),
        ("boot", "NodeStartupTimeout", timed_out.as_str(), "error", Some(1)),
        ("gone", "DeletionHeld", "gone", "warning", Some(0)),
    ];
    for (cluster, signature, object, severity, code) in expect {
        let (got_code, r) = diagnose_json(&sb, cluster);
        let f = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["signature"] == signature)
            .cloned();
        let f = f.unwrap_or_else(|| panic!("{cluster}: no {signature} in {:?}", signatures(&r)));
        assert_eq!(f["object"]["name"], object, "{cluster}: {f}");
        assert_eq!(f["severity"], severity, "{cluster}: {f}");
        assert_eq!(got_code, code, "{cluster}: {:?}", signatures(&r));
    }
    let (_, r) = diagnose_json(&sb, "infra");
    assert_eq!(
        r["findings"][0]["chain"],
        json!(["Cluster prod/infra: InfrastructureReady False (NotReady)"])
    );
    let (_, r) = diagnose_json(&sb, "gone");
    assert!(
        r["findings"][0]["evidence"]["field"]
            .as_str()
            .unwrap()
            .contains("cluster.cluster.x-k8s.io"),
        "{r}"
    );
}

/// `--workload`: the Node's own Ready message (a missing CNI) is the root, below its Machine; a
/// workload cluster that cannot be read is a warning.
#[test]
fn the_workload_clusters_nodes_are_read_when_asked() {
    let sb = crate::controllers::demo_with(capi_e2e::Opts {
        clock_skew_secs: 3600,
        ..Default::default()
    });
    let cp = sb.get_json(&[
        "machines.cluster.x-k8s.io",
        "-l",
        "cluster.x-k8s.io/cluster-name=edge,cluster.x-k8s.io/control-plane",
        "-o",
        "json",
    ]);
    let m = cp["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    let msg = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";
    sb.kubectl()
        .args([
            "annotate",
            "machines.cluster.x-k8s.io",
            &m,
            &format!("sandbox.capi.kubectl.x-k8s.io/node-not-ready={msg}"),
        ])
        .ok();
    let mut last = Value::Null;
    let found = capi_e2e::eventually(std::time::Duration::from_secs(60), || {
        let o = sb.capi(&[
            "diagnose",
            "cluster",
            "edge",
            "-n",
            "default",
            "--workload",
            "-o",
            "json",
        ]);
        last = serde_json::from_slice::<Value>(&o.stdout)
            .map(|d| d["clusters"][0].clone())
            .unwrap_or(Value::Null);
        !last.is_null() && signatures(&last).contains(&format!("NetworkNotReady {m}"))
    });
    assert!(found, "{last:#}");
    let f = last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["signature"] == "NetworkNotReady")
        .unwrap();
    assert_eq!(f["object"]["kind"], "Node");
    assert_eq!(f["evidence"]["message"], msg);
    assert!(
        f["chain"].as_array().unwrap().iter().any(|c| c
            .as_str()
            .unwrap()
            .starts_with(&format!("Machine default/{m}: NodeReady False"))),
        "{f}"
    );
    // Without --workload the Machine's own condition is what there is.
    let o = sb.capi(&["diagnose", "cluster", "edge", "-n", "default", "-o", "json"]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        signatures(&r["clusters"][0]).contains(&format!("NodeNotReady {m}")),
        "{r:#}"
    );
    // A cluster without a readable kubeconfig (no controllers wrote one).
    let sb = TestCluster::start();
    sb.load(&ClusterSpec::new("lonely", "prod", 1, 1));
    let o = sb.capi(&[
        "diagnose",
        "cluster",
        "lonely",
        "-n",
        "prod",
        "--workload",
        "-o",
        "json",
    ]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        signatures(&r["clusters"][0]).contains(&"WorkloadUnreachable lonely".to_string()),
        "{r:#}"
    );
}

/// Every remaining condition signature, each on a cluster of its own: (cluster, resource, which
/// object, condition, expected signature).
#[test]
fn every_other_condition_signature_is_recognised() {
    let sb = TestCluster::with(capi_e2e::Opts {
        clock_skew_secs: 7200,
        ..Default::default()
    });
    let m = "machines.cluster.x-k8s.io";
    let cases: &[(&str, &str, &str, Value, &str)] = &[
        (
            "hook",
            m,
            "worker",
            cond(
                "Deleting",
                "True",
                "WaitingForPreDrainHook",
                "Waiting for pre-drain hooks to succeed (hooks: pre-drain.delete.hook.machine.cluster.x-k8s.io/backup)",
            ),
            "DeletionHookBlocking",
        ),
        (
            "vol",
            m,
            "worker",
            cond(
                "Deleting",
                "True",
                "WaitingForVolumeDetach",
                "Waiting for Node volumes to be detached (started at 2026-01-01T00:00:00Z)",
            ),
            "VolumeDetachStuck",
        ),
        (
            "tmpl",
            "machinesets.cluster.x-k8s.io",
            "ms",
            cond(
                "ScalingUp",
                "True",
                "InfrastructureTemplateNotFound",
                "DevMachineTemplate prod/gone not found",
            ),
            "TemplateMissing",
        ),
        (
            "life",
            "clusters.cluster.x-k8s.io",
            "cluster",
            cond(
                "TopologyReconciled",
                "False",
                "LifecycleHookBlocking",
                "hook \"BeforeClusterUpgrade\" is blocking",
            ),
            "LifecycleHookBlocking",
        ),
        (
            "class",
            "clusters.cluster.x-k8s.io",
            "cluster",
            cond(
                "TopologyReconciled",
                "False",
                "ClusterClassNotReconciled",
                "ClusterClass not reconciled",
            ),
            "ClassNotReconciled",
        ),
        (
            "apis",
            m,
            "cp",
            cond(
                "APIServerPodHealthy",
                "False",
                "PodFailed",
                "Pod kube-apiserver-x is in CrashLoopBackOff",
            ),
            "ControlPlaneComponentUnhealthy",
        ),
        (
            "comp",
            "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io",
            "kcp",
            cond(
                "ControlPlaneComponentsHealthy",
                "False",
                "NotHealthy",
                "Following Machines are reporting control plane errors: x",
            ),
            "ControlPlaneComponentsUnhealthy",
        ),
        (
            "roll",
            "clusters.cluster.x-k8s.io",
            "cluster",
            cond("RollingOut", "True", "RollingOut", "Rolling out 2 Machines"),
            "RolloutTakingLong",
        ),
        (
            "boot",
            "kubeadmconfigs.bootstrap.cluster.x-k8s.io",
            "worker",
            cond(
                "Ready",
                "False",
                "DataSecretGenerationFailed",
                "failed to generate cloud-init: missing join token",
            ),
            "BootstrapFailed",
        ),
        (
            "mhc",
            m,
            "worker",
            cond(
                "HealthCheckSucceeded",
                "False",
                "UnhealthyNode",
                "Condition Ready on Node is reporting status False for more than 5m0s",
            ),
            "MachineUnhealthy",
        ),
    ];
    for (cluster, ..) in cases {
        sb.load(&ClusterSpec::new(cluster, "prod", 1, 1));
    }
    for (cluster, resource, which, c, signature) in cases {
        let object = match *which {
            "cluster" => cluster.to_string(),
            "kcp" => format!("{cluster}-control-plane"),
            "cp" => format!("{cluster}-control-plane-00000"),
            "worker" | "ms" => {
                let res = if *which == "ms" {
                    "machinesets.cluster.x-k8s.io"
                } else {
                    m
                };
                let l = sb.get_json(&[res, "-n", "prod", "-l", &format!("cluster.x-k8s.io/cluster-name={cluster},cluster.x-k8s.io/deployment-name={cluster}-md-0"), "-o", "json"]);
                l["items"][0]["metadata"]["name"].as_str().unwrap().to_string()
            }
            other => panic!("{other}"),
        };
        set_condition(&sb, resource, "prod", &object, c.clone());
        let (_, r) = diagnose_json(&sb, cluster);
        assert!(
            signatures(&r).contains(&format!("{signature} {object}")),
            "{cluster}: {signature} {object} not in {:?}",
            signatures(&r)
        );
    }
    // A paused Cluster: info, and an error once it is being deleted.
    sb.load(&ClusterSpec::new("still", "prod", 1, 1));
    sb.kubectl()
        .args([
            "patch",
            "clusters.cluster.x-k8s.io",
            "still",
            "-n",
            "prod",
            "--type=merge",
            "-p",
            r#"{"spec":{"paused":true},"metadata":{"finalizers":["cluster.cluster.x-k8s.io"]}}"#,
        ])
        .ok();
    let (code, r) = diagnose_json(&sb, "still");
    assert_eq!(
        (code, signatures(&r)),
        (Some(0), vec!["Paused still".to_string()])
    );
    assert_eq!(r["findings"][0]["severity"], "info");
    sb.kubectl()
        .args([
            "delete",
            "clusters.cluster.x-k8s.io",
            "still",
            "-n",
            "prod",
            "--wait=false",
        ])
        .ok();
    let (code, r) = diagnose_json(&sb, "still");
    assert_eq!(code, Some(1));
    assert!(
        signatures(&r).contains(&"PausedClusterDeleting still".to_string()),
        "{:?}",
        signatures(&r)
    );
}

fn requests(sb: &TestCluster, args: &[&str]) -> u64 {
    let total = |m: &str| -> u64 {
        m.lines()
            .filter(|l| l.starts_with("apiserver_request_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let before = total(&sb.metrics());
    let o = sb.plugin("kubectl-capi-diagnose").args(args).output();
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", stderr(&o));
    total(&sb.metrics()) - before
}

/// The same LISTs as describe, the kubeconfig Secret and the server's clock: nothing per object.
#[test]
fn diagnose_reads_a_fixed_number_of_requests_whatever_the_size() {
    let sb = TestCluster::start();
    sb.load(&ClusterSpec::new("small", "prod", 1, 1));
    sb.load(&ClusterSpec::new("large", "prod", 3, 60));
    let small = requests(&sb, &["cluster", "small", "-n", "prod"]);
    let large = requests(&sb, &["cluster", "large", "-n", "prod"]);
    assert_eq!(small, large, "the request count grew with the cluster");
    assert!(
        large <= 14,
        "diagnose made {large} requests (describe's 12 at most, plus the Secret and the clock)"
    );
}

/// A v1beta1 management cluster: the v1beta2 conditions under `status.v1beta2`, the v1beta1 ones
/// where they were.
#[test]
fn a_v1beta1_management_cluster_is_diagnosed_too() {
    use capi_sandbox::api::crds::Generation;
    let sb = TestCluster::with(capi_e2e::Opts {
        generation: Generation::V1beta1,
        ..Default::default()
    });
    let mut s = ClusterSpec::new("old", "prod", 1, 1);
    s.generation = Generation::V1beta1;
    sb.load(&s);
    let (code, r) = diagnose_json(&sb, "old");
    assert_eq!((code, signatures(&r)), (Some(0), vec![]), "{r:#}");
    let c = sb.get_json(&["clusters.cluster.x-k8s.io", "old", "-n", "prod", "-o", "json"]);
    assert!(
        c["status"]["v1beta2"]["conditions"].is_array(),
        "v1beta2 conditions: {c}"
    );
    set_condition_at(
        &sb,
        "clusters.cluster.x-k8s.io",
        "prod",
        "old",
        "/status/v1beta2/conditions",
        cond(
            "RemoteConnectionProbe",
            "False",
            "ProbeFailed",
            "dial tcp: i/o timeout",
        ),
    );
    let (code, r) = diagnose_json(&sb, "old");
    assert_eq!(code, Some(1));
    assert_eq!(signatures(&r), ["RemoteConnectionFailing old"]);
}
