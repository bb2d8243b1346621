//! `kubectl capi init` on a bare cluster, from the repository `kubectl capi sandbox repository`
//! writes: provisioning after init, re-runs that write nothing, a second infrastructure
//! provider, the refusals, waits, dry runs and `init list-images` without a cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use capi_e2e::{
    Backend, Opts, TestCluster, bin_dir, eventually, kubectl_path, on_both_backends, stderr, stdout,
};
use serde_json::{Value, json};

/// A repository written by the sandbox plugin, in a temporary folder.
fn repository() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let out = Command::new(bin_dir().join("kubectl-capi-sandbox"))
        .arg("repository")
        .arg(&repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, repo)
}

/// The real API server runs no kube-controller-manager, so no Deployment ever becomes
/// Available there: drop cert-manager's webhook, which is what makes init wait for it.
fn without_cert_manager_wait(repo: &Path, backend: Backend) {
    if backend != Backend::Real {
        return;
    }
    let path = repo.join("cert-manager/v1.16.0/cert-manager.yaml");
    let mut docs: Vec<Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(&path).unwrap()).unwrap();
    docs.retain(|d| !d.is_null() && d["kind"] != "ValidatingWebhookConfiguration");
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_saphyr::to_string(d).unwrap()))
        .collect();
    std::fs::write(path, text).unwrap();
}

fn bare(backend: Backend, controllers: bool) -> TestCluster {
    TestCluster::with(Opts {
        backend,
        bare: true,
        controllers,
        audit: true,
        ..Default::default()
    })
}

fn init(tc: &TestCluster, repo: &Path, args: &[&str]) -> Output {
    let r = repo.display().to_string();
    let mut all = vec!["init", "--repository", r.as_str()];
    all.extend_from_slice(args);
    tc.capi(&all)
}

fn init_ok(tc: &TestCluster, repo: &Path, args: &[&str]) -> String {
    let o = init(tc, repo, args);
    assert!(
        o.status.success(),
        "init {args:?} failed:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Writes that were stored (not dry runs) by anyone but the server's own controllers.
fn stored_writes(tc: &TestCluster) -> Vec<Value> {
    tc.audit()
        .into_iter()
        .filter(|e| matches!(e["verb"].as_str(), Some("create" | "update" | "patch" | "delete")))
        .filter(|e| !e["requestURI"].as_str().unwrap_or("").contains("dryRun"))
        .filter(|e| {
            let ua = e["userAgent"].as_str().unwrap_or("");
            ua.contains("kubectl-capi") || ua.contains("kubectl")
        })
        .collect()
}

fn inventory(tc: &TestCluster) -> Vec<(String, String, String)> {
    let list = tc.get_json(&["providers.clusterctl.cluster.x-k8s.io", "-A"]);
    let mut out: Vec<(String, String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["type"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn init_on_a_bare_sandbox_makes_a_management_cluster_that_provisions() {
    let (_d, repo) = repository();
    let tc = bare(Backend::Sandbox, true);
    assert!(
        !tc.capi(&["describe", "cluster", "x"]).status.success(),
        "a bare sandbox serves no Cluster API"
    );
    let o = init(&tc, &repo, &["-i", "docker", "--wait-providers"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("Installing cert-manager v1.16.0"), "{err}");
    assert!(
        err.contains("Deployment capi-system/cluster-api-controller-manager is Available"),
        "{err}"
    );
    assert!(
        stdout(&o).contains("kubectl capi generate cluster"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        inventory(&tc),
        [
            ("bootstrap-kubeadm", "BootstrapProvider", "v1.14.0"),
            ("cluster-api", "CoreProvider", "v1.14.0"),
            ("control-plane-kubeadm", "ControlPlaneProvider", "v1.14.0"),
            ("infrastructure-docker", "InfrastructureProvider", "v1.14.0"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    // clusterctl's labels on what was installed; variables took their defaults.
    let d = tc.get_json(&[
        "deployment",
        "-n",
        "capi-system",
        "cluster-api-controller-manager",
    ]);
    assert_eq!(
        d["metadata"]["labels"]["cluster.x-k8s.io/provider"],
        "cluster-api"
    );
    assert_eq!(d["metadata"]["labels"]["clusterctl.cluster.x-k8s.io"], "");
    let args = &d["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&json!("--diagnostics-address=:8443")),
        "{args}"
    );
    let cert = tc.get_json(&["certificate", "-n", "capi-system", "cluster-api-serving-cert"]);
    assert_eq!(
        cert["spec"]["dnsNames"][0],
        "cluster-api-webhook-service.capi-system.svc"
    );

    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../templates/cluster-template.yaml");
    let o = tc.capi(&[
        "generate",
        "cluster",
        "c1",
        "--from",
        template,
        "--kubernetes-version",
        "v1.33.0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let yaml = stdout(&o);
    tc.apply(&yaml);
    let provisioned = eventually(Duration::from_secs(60), || {
        let c = tc.get_json(&["cluster", "c1"]);
        c["status"]["phase"] == "Provisioned"
            && c["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Available" && c["status"] == "True")
            })
    });
    assert!(provisioned, "{:#}", tc.get_json(&["cluster", "c1"])["status"]);
}

on_both_backends! {
    fn init_dry_run_then_rerun_writes_nothing_and_a_second_infrastructure_provider_is_added(backend) {
        let (_d, repo) = repository();
        without_cert_manager_wait(&repo, backend);
        let tc = bare(backend, false);
        let out = init_ok(&tc, &repo, &["-i", "docker", "--dry-run=server"]);
        assert!(out.contains("would install") && out.contains("nothing was stored"), "{out}");
        assert_eq!(stored_writes(&tc), Vec::<Value>::new(), "a dry run stores nothing");
        assert!(tc.kubectl().args(["get", "crd", "clusters.cluster.x-k8s.io"]).output().status.code() != Some(0));

        let out = init_ok(&tc, &repo, &["-i", "docker", "-o", "json"]);
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["firstRun"], true);
        assert_eq!(report["certManager"]["action"], "install");
        assert_eq!(report["providers"].as_array().unwrap().len(), 4);
        assert!(report["written"].as_u64().unwrap() > 40, "{report}");
        assert_eq!(inventory(&tc).len(), 4);

        tc.clear_audit();
        let out = init_ok(&tc, &repo, &["-i", "docker"]);
        assert!(out.contains("Nothing to do"), "{out}");
        assert_eq!(stored_writes(&tc), Vec::<Value>::new(), "a re-run that changes nothing writes nothing");

        let out = init_ok(&tc, &repo, &["-i", "in-memory"]);
        assert!(out.contains("infrastructure-in-memory v1.14.0 (InfrastructureProvider) in capim-system: installed"), "{out}");
        assert!(out.contains("cert-manager v1.16.0: already installed"), "{out}");
        assert!(!out.contains("cluster-api v1.14.0"), "a re-run only adds: {out}");
        let inv = inventory(&tc);
        assert_eq!(inv.len(), 5, "{inv:?}");
        tc.get_json(&["crd", "inmemorymachines.infrastructure.cluster.x-k8s.io"]);

        // The inventory reads back through our plan (and would through clusterctl's).
        let r = repo.display().to_string();
        let plan = tc.capi(&["upgrade", "providers", "plan", "--repository", &r]);
        assert!(stdout(&plan).contains("Already up to date"), "{}{}", stdout(&plan), stderr(&plan));
    }
}

/// Adds provider `label` at v1.14.0 to the repository: the in-memory provider's components
/// changed by `edit`, with `metadata` as its metadata.yaml.
fn add_provider(repo: &Path, label: &str, metadata: &str, edit: impl Fn(&mut Vec<Value>)) {
    let from = repo.join("infrastructure-in-memory/v1.14.0/infrastructure-components.yaml");
    let text = std::fs::read_to_string(from).unwrap();
    let mut docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    docs.retain(|d| !d.is_null());
    // Its own namespace and no CRDs of in-memory's, so that it can sit beside it.
    let ns = format!("{label}-system");
    docs.retain(|d| d["kind"] != "CustomResourceDefinition");
    for d in &mut docs {
        if d["kind"] == "Namespace" {
            d["metadata"]["name"] = json!(ns);
        }
    }
    edit(&mut docs);
    let dir = repo.join(label).join("v1.14.0");
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = String::new();
    for d in &docs {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(d).unwrap());
    }
    let name = if label.starts_with("infrastructure-") {
        "infrastructure-components.yaml"
    } else {
        "core-components.yaml"
    };
    std::fs::write(dir.join(name), out).unwrap();
    std::fs::write(dir.join("metadata.yaml"), metadata).unwrap();
}

const V1BETA2_METADATA: &str = "apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n  - major: 1\n    minor: 14\n    contract: v1beta2\n";

#[test]
fn init_refuses_before_writing_anything() {
    let (_d, repo) = repository();
    let tc = bare(Backend::Sandbox, false);
    init_ok(&tc, &repo, &["-i", "docker"]);
    add_provider(&repo, "other-core", V1BETA2_METADATA, |_| {});
    add_provider(
        &repo,
        "infrastructure-old",
        "apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n  - major: 1\n    minor: 14\n    contract: v1alpha4\n",
        |_| {},
    );
    add_provider(&repo, "infrastructure-needs", V1BETA2_METADATA, |docs| {
        for d in docs.iter_mut().filter(|d| d["kind"] == "Deployment") {
            d["spec"]["template"]["spec"]["containers"][0]["args"] = json!([
                "--region=${NEEDS_REGION}",
                "--zone=${NEEDS_ZONE}",
                "--opt=${NEEDS_OPT:=x}"
            ]);
        }
    });
    tc.clear_audit();
    let cases: [(&[&str], &[&str]); 6] = [
        (&["--core", "other-core"], &["other-core", "cluster-api", "core"]),
        (
            &["-i", "old"],
            &["infrastructure-old", "no stable release for the contract v1beta2"],
        ),
        (
            &["-i", "old:v1.14.0"],
            &["infrastructure-old", "v1alpha4", "v1beta2"],
        ),
        (
            &["-i", "needs"],
            &["NEEDS_REGION, NEEDS_ZONE", "nothing was installed"],
        ),
        (
            &["-i", "nosuch"],
            &["unknown provider infrastructure-nosuch", "--repository"],
        ),
        (
            &["-i", "docker:v1.10.0"],
            &[
                "infrastructure-docker is already installed",
                "upgrade providers apply",
            ],
        ),
    ];
    for (args, wanted) in cases {
        let o = init(&tc, &repo, args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} should be refused: {}", stdout(&o));
        for w in wanted {
            assert!(err.contains(w), "{args:?}: {w:?} not in {err}");
        }
    }
    assert_eq!(stored_writes(&tc), Vec::<Value>::new(), "refusals write nothing");
    // With the variables set, the same provider installs.
    let mut c = Command::new(kubectl_path());
    tc.env(&mut c);
    let o = c
        .env("NEEDS_REGION", "eu")
        .env("NEEDS_ZONE", "a")
        .args([
            "capi",
            "init",
            "--repository",
            repo.to_str().unwrap(),
            "-i",
            "needs",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = stdout(&o);
    assert!(o.contains("infrastructure-needs v1.14.0"), "{o}");
    let d = tc.get_json(&[
        "deployment",
        "-n",
        "infrastructure-needs-system",
        "infrastructure-in-memory-controller-manager",
    ]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["--region=eu", "--zone=a", "--opt=x"])
    );
}

#[test]
fn wait_providers_times_out_naming_the_deployment_that_is_not_available() {
    let (_d, repo) = repository();
    let tc = bare(Backend::Sandbox, false);
    init_ok(&tc, &repo, &["-i", "docker", "--wait-providers"]);
    add_provider(&repo, "infrastructure-stuck", V1BETA2_METADATA, |docs| {
        for d in docs.iter_mut().filter(|d| d["kind"] == "Deployment") {
            d["metadata"]["annotations"] =
                json!({"sandbox.capi.kubectl.x-k8s.io/unavailable": "image pull back-off"});
        }
    });
    let o = init(
        &tc,
        &repo,
        &["-i", "stuck", "--wait-providers", "--wait-provider-timeout", "2s"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("infrastructure-stuck-system/infrastructure-in-memory-controller-manager"),
        "{err}"
    );
    assert!(err.contains("image pull back-off"), "{err}");
    assert!(err.contains("Waiting for the providers' Deployments"), "{err}");
}

/// kubectl with no cluster at all: the kubeconfig points nowhere.
fn offline(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir()];
    dirs.extend(std::env::split_paths(&path));
    Command::new(kubectl_path())
        .args(args)
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .env("KUBECONFIG", dir.path().join("missing"))
        .env("HOME", dir.path())
        .output()
        .unwrap()
}

#[test]
fn list_images_needs_no_cluster() {
    let (_d, repo) = repository();
    let r = repo.display().to_string();
    let o = offline(&[
        "capi",
        "init",
        "list-images",
        "--repository",
        &r,
        "-i",
        "docker:v1.10.0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            "quay.io/jetstack/cert-manager-controller:v1.16.0",
            "quay.io/jetstack/cert-manager-webhook:v1.16.0",
            "registry.k8s.io/cluster-api/capd-manager:v1.10.0",
            "registry.k8s.io/cluster-api/cluster-api-controller:v1.14.0",
            "registry.k8s.io/cluster-api/kubeadm-bootstrap-controller:v1.14.0",
            "registry.k8s.io/cluster-api/kubeadm-control-plane-controller:v1.14.0",
        ]
    );
    // The config file's images: overrides apply.
    let cfg = repo.join("clusterctl.yaml");
    std::fs::write(&cfg, "images:\n  all:\n    repository: mirror.example.com/capi\n").unwrap();
    let c = cfg.display().to_string();
    let o = offline(&[
        "capi",
        "init",
        "list-images",
        "--repository",
        &r,
        "--config",
        &c,
        "-b",
        "-",
        "-c",
        "-",
        "-o",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let core = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "cluster-api")
        .unwrap();
    assert_eq!(
        core["images"],
        json!(["mirror.example.com/capi/cluster-api-controller:v1.14.0"])
    );
    assert!(!stdout(&o).contains("kubeadm"), "-b - and -c - leave kubeadm out");
}

#[test]
fn init_at_the_v1beta1_contract_is_planned_for_upgrade_to_v1beta2() {
    let (_d, repo) = repository();
    let tc = bare(Backend::Sandbox, false);
    let v = "v1.10.0";
    let out = init_ok(
        &tc,
        &repo,
        &[
            "--core",
            &format!("cluster-api:{v}"),
            "-b",
            &format!("kubeadm:{v}"),
            "-c",
            &format!("kubeadm:{v}"),
            "-i",
            &format!("docker:{v}"),
        ],
    );
    assert!(out.contains("cluster-api v1.10.0 (CoreProvider)"), "{out}");
    let crd = tc.get_json(&["crd", "clusters.cluster.x-k8s.io"]);
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1beta1");
    let r = repo.display().to_string();
    let plan = tc.capi(&["upgrade", "providers", "plan", "--repository", &r]);
    let text = stdout(&plan);
    assert!(
        text.contains("v1beta2") && text.contains("v1.14.0"),
        "{text}{}",
        stderr(&plan)
    );
}

#[test]
fn upgrade_providers_apply_moves_v1beta1_components_to_v1beta2_in_place() {
    let (_d, repo) = repository();
    let tc = bare(Backend::Sandbox, false);
    let v = "v1.10.0";
    let core = format!("cluster-api:{v}");
    let kubeadm = format!("kubeadm:{v}");
    let docker = format!("docker:{v}");
    init_ok(
        &tc,
        &repo,
        &["--core", &core, "-b", &kubeadm, "-c", &kubeadm, "-i", &docker],
    );
    // An operator's change, made with another field manager.
    tc.kubectl()
        .args(["-n", "capd-system", "patch", "deployment", "infrastructure-docker-controller-manager", "--type", "json", "-p"])
        .arg(r#"[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--extra-flag=1"},{"op":"add","path":"/spec/template/spec/containers/0/env","value":[{"name":"FOO","value":"bar"}]}]"#)
        .ok();
    let uid = |tc: &TestCluster| {
        tc.get_json(&[
            "deployment",
            "-n",
            "capd-system",
            "infrastructure-docker-controller-manager",
        ])["metadata"]["uid"]
            .clone()
    };
    let before = uid(&tc);
    let r = repo.display().to_string();
    let plan = tc.capi(&["upgrade", "providers", "plan", "--repository", &r]);
    assert!(stdout(&plan).contains("v1.14.0"), "{}", stdout(&plan));

    tc.clear_audit();
    let dry = tc.capi(&[
        "upgrade",
        "providers",
        "apply",
        "--repository",
        &r,
        "--contract",
        "v1beta2",
        "--dry-run=server",
    ]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("would delete Role.rbac.authorization.k8s.io capd-system/infrastructure-docker-leader-election-role"), "{}", stdout(&dry));
    assert_eq!(
        stored_writes(&tc),
        Vec::<Value>::new(),
        "a dry run stores nothing"
    );

    let o = tc.capi(&[
        "upgrade",
        "providers",
        "apply",
        "--repository",
        &r,
        "--contract",
        "v1beta2",
        "--wait-providers",
        "-o",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let docker_row = report["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "infrastructure-docker")
        .unwrap();
    assert_eq!(docker_row["to"], "v1.14.0");
    assert!(
        inventory(&tc).iter().all(|(_, _, v)| v == "v1.14.0"),
        "{:?}",
        inventory(&tc)
    );

    let d = tc.get_json(&[
        "deployment",
        "-n",
        "capd-system",
        "infrastructure-docker-controller-manager",
    ]);
    assert_eq!(d["metadata"]["uid"], before, "updated in place, not recreated");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.k8s.io/cluster-api/capd-manager:v1.14.0");
    assert!(
        c["args"].as_array().unwrap().contains(&json!("--extra-flag=1")),
        "{c}"
    );
    assert_eq!(c["env"], json!([{"name": "FOO", "value": "bar"}]));
    // What v1.14.0 no longer has is gone; the CRDs now serve v1beta2.
    let roles = tc.kubectl().args(["get", "roles", "-A", "-o", "name"]).ok();
    assert_eq!(roles.trim(), "", "the removed Roles are deleted");
    let crd = tc.get_json(&["crd", "clusters.cluster.x-k8s.io"]);
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1beta2");
    let again = tc.capi(&[
        "upgrade",
        "providers",
        "apply",
        "--repository",
        &r,
        "--contract",
        "v1beta2",
    ]);
    assert!(
        !again.status.success() && stderr(&again).contains("already up to date"),
        "{}",
        stderr(&again)
    );
}

/// The repository with each provider's CRDs replaced by the upstream ones of its release
/// (../shared/capi-crds): v1.10.0 gets upstream v1.10's, v1.14.0 upstream v1.14's.
fn upstream_repository(shared: &Path) -> (tempfile::TempDir, PathBuf) {
    let (d, repo) = repository();
    for (version, dir) in [("v1.10.0", "upstream-v1.10"), ("v1.14.0", "upstream-v1.14")] {
        let mut crds: Vec<(String, Value)> = vec![];
        let mut files: Vec<_> = std::fs::read_dir(shared.join("capi-crds").join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for f in files {
            let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            let label = match doc["spec"]["group"].as_str().unwrap() {
                "cluster.x-k8s.io" | "addons.cluster.x-k8s.io" => "cluster-api",
                "bootstrap.cluster.x-k8s.io" => "bootstrap-kubeadm",
                "controlplane.cluster.x-k8s.io" => "control-plane-kubeadm",
                "infrastructure.cluster.x-k8s.io" => "infrastructure-docker",
                _ => continue, // clusterctl's own (the inventory is init's)
            };
            crds.push((label.to_string(), doc));
        }
        for (label, file) in [
            ("cluster-api", "core-components.yaml"),
            ("bootstrap-kubeadm", "bootstrap-components.yaml"),
            ("control-plane-kubeadm", "control-plane-components.yaml"),
            ("infrastructure-docker", "infrastructure-components.yaml"),
        ] {
            let path = repo.join(label).join(version).join(file);
            let mut docs: Vec<Value> =
                serde_saphyr::from_multiple(&std::fs::read_to_string(&path).unwrap()).unwrap();
            docs.retain(|d| !d.is_null() && d["kind"] != "CustomResourceDefinition");
            docs.extend(crds.iter().filter(|(l, _)| l == label).map(|(_, c)| c.clone()));
            let text: String = docs
                .iter()
                .map(|d| format!("---\n{}", serde_saphyr::to_string(d).unwrap()))
                .collect();
            std::fs::write(path, text).unwrap();
        }
    }
    (d, repo)
}

on_both_backends! {
    fn init_installs_the_upstream_crds_of_v1_10_and_v1_14(backend) {
        let Some(shared) = capi_e2e::shared_dir() else {
            capi_e2e::skip("init_installs_the_upstream_crds_of_v1_10_and_v1_14: ../shared/capi-crds is not present beside the project");
            return;
        };
        let (_d, repo) = upstream_repository(&shared);
        without_cert_manager_wait(&repo, backend);
        for (v, served) in [("v1.10.0", "v1beta1"), ("v1.14.0", "v1beta2")] {
            let tc = bare(backend, false);
            let core = format!("cluster-api:{v}");
            let kubeadm = format!("kubeadm:{v}");
            let docker = format!("docker:{v}");
            let out = init_ok(&tc, &repo, &["--core", &core, "-b", &kubeadm, "-c", &kubeadm, "-i", &docker]);
            assert!(out.contains(&format!("infrastructure-docker {v}")), "{out}");
            let crd = tc.get_json(&["crd", "machinedeployments.cluster.x-k8s.io"]);
            assert_eq!(crd["metadata"]["labels"]["cluster.x-k8s.io/provider"], "cluster-api");
            let versions: Vec<&str> = crd["spec"]["versions"].as_array().unwrap().iter()
                .filter(|x| x["storage"] == true).map(|x| x["name"].as_str().unwrap()).collect();
            assert_eq!(versions, [served], "{v}");
            let kinds = tc.kubectl().args(["api-resources", "--api-group", "cluster.x-k8s.io", "-o", "name"]).ok();
            assert!(kinds.contains("machinedeployments.cluster.x-k8s.io"), "{kinds}");
            let again = init_ok(&tc, &repo, &["--core", &core, "-b", &kubeadm, "-c", &kubeadm, "-i", &docker]);
            assert!(again.contains("Nothing to do"), "{again}");
        }
    }
}
