//! The write paths of `scale`, `upgrade` and `delete` (and completion's live names) without
//! controllers, on the sandbox and on the real API server: which requests each command sends
//! (from the audit log: object, subresource, patch shape, body), that `--dry-run=server` stores
//! nothing, and that refusals write nothing.

use capi_e2e::{Backend, Opts, TestCluster, on_both_backends, patch_kind, stderr, stdout};
use capi_sandbox::process::fixtures::ClusterSpec;
use serde_json::{Value, json};

/// `edge` (hand-built, v1.33.0, 3 control plane machines, md-0 with 2) with the audit log on.
fn edge(backend: Backend) -> TestCluster {
    let sb = TestCluster::with(Opts {
        backend,
        audit: true,
        ..Default::default()
    });
    sb.load(&ClusterSpec::new("edge", "default", 3, 2));
    sb.clear_audit();
    sb
}

/// Successful writes audited since the last clear.
fn writes(sb: &TestCluster) -> Vec<Value> {
    sb.audit()
        .into_iter()
        .filter(|e| e["responseStatus"]["code"].as_u64().is_some_and(|c| c < 300))
        .collect()
}

fn rv(sb: &TestCluster, what: &[&str]) -> Value {
    sb.get_json(what)["metadata"]["resourceVersion"].clone()
}

on_both_backends! {
fn scale_sends_one_scale_patch_and_dry_runs_store_nothing(backend) {
    let sb = edge(backend);
    let o = sb.capi(&["scale", "md/edge-md-0", "--replicas", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let w = writes(&sb);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0]["verb"], "patch");
    assert_eq!(w[0]["objectRef"]["resource"], "machinedeployments");
    assert_eq!(w[0]["objectRef"]["name"], "edge-md-0");
    assert_eq!(w[0]["objectRef"]["subresource"], "scale");
    assert_eq!(patch_kind(&w[0]), "merge");
    assert_eq!(w[0]["requestObject"], json!({"spec": {"replicas": 4}}));
    assert_eq!(sb.get_json(&["md", "edge-md-0"])["spec"]["replicas"], 4);
    // Server dry run: sent with dryRun=All, nothing stored.
    sb.clear_audit();
    let before = rv(&sb, &["md", "edge-md-0"]);
    let o = sb.capi(&["scale", "md/edge-md-0", "--replicas", "5", "--dry-run=server"]);
    assert!(stdout(&o).ends_with("scaled from 4 to 5 (server dry run)\n"), "{}{}", stdout(&o), stderr(&o));
    let w = writes(&sb);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(w[0]["requestURI"].as_str().unwrap().contains("dryRun=All"), "{}", w[0]);
    assert_eq!(rv(&sb, &["md", "edge-md-0"]), before);
    // Stacked etcd: an even control plane is refused before any request is written.
    sb.clear_audit();
    let o = sb.capi(&["scale", "kcp", "edge-control-plane", "--replicas", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("runs stacked etcd"), "{}", stderr(&o));
    assert_eq!(writes(&sb), Vec::<Value>::new());
    // A name that does not exist writes nothing and says so.
    let o = sb.capi(&["scale", "md/nope", "--replicas", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
    assert_eq!(writes(&sb), Vec::<Value>::new());
    // A close name is suggested; so is the MachineDeployment behind a topology entry's name.
    let o = sb.capi(&["scale", "md/edge-md-1", "--replicas", "1"]);
    assert!(stderr(&o).contains("did you mean md/edge-md-0?"), "{}", stderr(&o));
    sb.kubectl()
        .args(["label", "md", "edge-md-0", "topology.cluster.x-k8s.io/deployment-name=md-0"])
        .ok();
    sb.clear_audit();
    let o = sb.capi(&["scale", "md/md-0", "--replicas", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(r#"did you mean md/edge-md-0 (topology entry "md-0" of Cluster edge)?"#),
        "{}",
        stderr(&o)
    );
    assert_eq!(writes(&sb), Vec::<Value>::new());
}
}

on_both_backends! {
fn upgrade_plan_and_server_dry_run_write_nothing(backend) {
    let sb = edge(backend);
    let o = sb.capi(&["upgrade", "plan", "cluster", "edge", "--to", "v1.34.0", "-o", "json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!plan.to_string().is_empty());
    assert_eq!(writes(&sb), Vec::<Value>::new(), "plan writes nothing");
    let before = (rv(&sb, &["kcp", "edge-control-plane"]), rv(&sb, &["md", "edge-md-0"]));
    let templates = sb.get_json(&["devmachinetemplates"])["items"].as_array().unwrap().len();
    let o = sb.capi(&["upgrade", "apply", "cluster", "edge", "--to", "v1.34.0", "--dry-run=server"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let w = writes(&sb);
    // Stage by stage: the control plane's template copy, then its patch; md-0's copy, its patch.
    let verbs: Vec<String> = w
        .iter()
        .map(|e| format!("{} {}/{}", e["verb"].as_str().unwrap(), e["objectRef"]["resource"].as_str().unwrap(), e["objectRef"]["name"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        verbs,
        [
            "create devmachinetemplates/edge-control-plane-v1-34-0",
            "patch kubeadmcontrolplanes/edge-control-plane",
            "create devmachinetemplates/edge-md-0-v1-34-0",
            "patch machinedeployments/edge-md-0",
        ],
        "{:?}",
        w.iter().map(|e| format!("{} {} {}", e["verb"], e["objectRef"]["resource"], e["objectRef"]["name"])).collect::<Vec<_>>()
    );
    assert!(w.iter().all(|e| e["requestURI"].as_str().unwrap().contains("dryRun=All")), "{w:#?}");
    assert_eq!((rv(&sb, &["kcp", "edge-control-plane"]), rv(&sb, &["md", "edge-md-0"])), before);
    assert_eq!(sb.get_json(&["devmachinetemplates"])["items"].as_array().unwrap().len(), templates);
    // A --set path the template's schema lacks: the server prunes it, the upgrade refuses (exit 2).
    let o = sb.capi(&["upgrade", "apply", "cluster", "edge", "--to", "v1.34.0", "--dry-run=server", "--set", "spec.template.spec.nonexist=1"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("--set spec.template.spec.nonexist: DevMachineTemplate has no such field"), "{}", stderr(&o));
    // A refused plan (two minors at once) writes nothing.
    sb.clear_audit();
    let o = sb.capi(&["upgrade", "apply", "cluster", "edge", "--to", "v1.35.0"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(format!("{}{}", stdout(&o), stderr(&o)).contains("minorSteps"));
    assert_eq!(writes(&sb), Vec::<Value>::new());
}
}

on_both_backends! {
fn delete_dry_run_then_delete(backend) {
    let sb = edge(backend);
    let o = sb.capi(&["delete", "cluster", "edge", "--dry-run=server", "--yes"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let w = writes(&sb);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!((w[0]["verb"].as_str(), w[0]["objectRef"]["resource"].as_str()), (Some("delete"), Some("clusters")));
    // kube-apiserver takes the dry run from the DeleteOptions body or the query.
    let dry = w[0]["requestURI"].as_str().unwrap().contains("dryRun=All") || w[0]["requestObject"]["dryRun"] == json!(["All"]);
    assert!(dry, "{}", w[0]);
    assert!(sb.get_json(&["cluster", "edge"])["metadata"]["deletionTimestamp"].is_null());
    sb.clear_audit();
    let o = sb.capi(&["delete", "cluster", "edge", "--yes"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let w = writes(&sb);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(!w[0]["requestURI"].as_str().unwrap().contains("dryRun"));
    // Without Cluster API's controllers nothing removes the Cluster's finalizer (if it has one)
    // or the objects it owns on its behalf: it is gone, or marked for deletion.
    let o = sb.kubectl().args(["get", "cluster", "edge", "-o", "json"]).output();
    if o.status.success() {
        let c: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(c["metadata"]["deletionTimestamp"].is_string(), "{c}");
    }
}
}

on_both_backends! {
fn completion_offers_live_names(backend) {
    let sb = edge(backend);
    let out = sb.plugin("kubectl-capi-describe").args(["__complete", "cluster", ""]).ok();
    assert!(out.lines().any(|l| l == "edge"), "{out}");
    let out = sb.plugin("kubectl-capi-scale").args(["__complete", "md/e"]).ok();
    assert!(out.lines().any(|l| l == "md/edge-md-0"), "{out}");
    let out = sb.plugin("kubectl-capi-rollout").args(["__complete", "restart", "kcp/"]).ok();
    assert!(out.lines().any(|l| l == "kcp/edge-control-plane"), "{out}");
}
}

on_both_backends! {
fn replica_counts_beyond_int32_are_refused_everywhere(backend) {
    let sb = edge(backend);
    // The plugin: a usage error before any request.
    for n in ["2147483648", "99999999999", "-1"] {
        let o = sb.capi(&["scale", "md/edge-md-0", "--replicas", n]);
        assert_eq!(o.status.code(), Some(2), "{n}: {}", stderr(&o));
        assert!(stderr(&o).contains("between 0 and 2147483647"), "{n}: {}", stderr(&o));
    }
    assert_eq!(writes(&sb), Vec::<Value>::new());
    // The server, as kube-apiserver answers: the scale path of the object, and the Scale body.
    let e = sb
        .kubectl()
        .args(["patch", "md", "edge-md-0", "--type", "merge", "-p", r#"{"spec":{"replicas":99999999999}}"#])
        .fails();
    assert!(
        e.contains(".spec.replicas: Invalid value: 99999999999: should be less than or equal to 2147483647"),
        "{e}"
    );
    let e = sb
        .kubectl()
        .args(["patch", "md", "edge-md-0", "--type", "merge", "-p", r#"{"spec":{"replicas":-5}}"#])
        .fails();
    assert!(e.contains(".spec.replicas: Invalid value: -5: should be a non-negative integer"), "{e}");
    let e = sb
        .kubectl()
        .args(["patch", "md", "edge-md-0", "--subresource", "scale", "--type", "merge", "-p", r#"{"spec":{"replicas":2147483648}}"#])
        .fails();
    assert!(
        e.contains("json: cannot unmarshal number 2147483648 into Go struct field ScaleSpec.spec.replicas of type int32"),
        "{e}"
    );
    assert_eq!(sb.get_json(&["md", "edge-md-0"])["spec"]["replicas"], 2);
}
}
