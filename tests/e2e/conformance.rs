//! Sandbox conformance: the real `kubectl` against the sandbox, behaviour by behaviour, with the
//! results a real API server gives, each test run on the real kube-apiserver too (the referee;
//! see the README's "Sandbox" section and `realstack/DIFFERENCES.md`).

use std::time::Duration;

use capi_e2e::{Backend, TestSandbox, eventually, on_both_backends, stderr, stdout};
use serde_json::Value;

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.conformance.example.com}
spec:
  group: conformance.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList, shortNames: [wd], categories: [conformance]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas, labelSelectorPath: .status.selector}
    additionalPrinterColumns:
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Color, type: string, jsonPath: .spec.color, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              replicas: {type: integer, default: 1}
              color: {type: string, enum: [red, blue]}
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
              conditions:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [type]
                items:
                  type: object
                  required: [type, status]
                  properties: {type: {type: string}, status: {type: string}}
  - name: v1alpha1
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

const W1: &str = "apiVersion: conformance.example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: t1}\nspec: {color: red}\n";

/// A sandbox with the Widget CRD established, namespace t1 and widget w1.
fn widget_sandbox(backend: Backend) -> TestSandbox {
    let sb = TestSandbox::on(backend);
    let out = sb
        .kubectl()
        .args(["apply", "--server-side", "-f", "-"])
        .stdin_str(WIDGET_CRD);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "customresourcedefinition.apiextensions.k8s.io/widgets.conformance.example.com serverside-applied\n"
    );
    let wait = sb
        .kubectl()
        .args([
            "wait",
            "--for=condition=Established",
            "crd/widgets.conformance.example.com",
            "--timeout=15s",
        ])
        .ok();
    assert_eq!(
        wait,
        "customresourcedefinition.apiextensions.k8s.io/widgets.conformance.example.com condition met\n"
    );
    assert_eq!(
        sb.kubectl().args(["create", "namespace", "t1"]).ok(),
        "namespace/t1 created\n"
    );
    let out = sb.kubectl().args(["create", "-f", "-"]).stdin_str(W1);
    assert_eq!(
        stdout(&out),
        "widget.conformance.example.com/w1 created\n",
        "{}",
        stderr(&out)
    );
    sb
}

fn jsonpath(sb: &TestSandbox, args: &[&str], path: &str) -> String {
    sb.kubectl()
        .arg("get")
        .args(args)
        .arg("-o")
        .arg(format!("jsonpath={path}"))
        .ok()
}

on_both_backends! {
fn version_reports_1_33_and_dispatches_matching_kubectl(backend) {
    let sb = TestSandbox::on(backend);
    // The sandbox reports 1.33; the real stack runs kube-apiserver v1.34.4 (realstack/).
    let (version, minor) = if sb.is_real() { ("v1.34.4", "34") } else { ("v1.33.0", "33") };
    let out = sb.kubectl().arg("version").ok();
    assert!(out.contains(&format!("Server Version: {version}")), "{out}");
    // The dispatcher picks the kubectl matching the server (it ships up to 1.33, so only the
    // sandbox's 1.33 leaves its own `version` without a skew warning).
    let o = sb.kubectl().arg("version").output();
    assert_eq!(
        stderr(&o).contains("exceeds the supported minor version skew"),
        sb.is_real(),
        "{}",
        stderr(&o)
    );
    let (code, body) = sb.raw("GET", "/version", None, vec![]);
    assert_eq!(code, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some(minor))
    );
}
}

on_both_backends! {
fn discovery_legacy_and_aggregated(backend) {
    let sb = TestSandbox::on(backend);
    let (_, body) = sb.raw("GET", "/api", None, vec![]);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["kind"], "APIVersions");
    assert_eq!(v["versions"], serde_json::json!(["v1"]));
    // kube-rs ends URLs in `?`.
    let (code, body) = sb.raw("GET", "/apis?", None, vec![]);
    assert_eq!(code, 200);
    let groups: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(groups["kind"], "APIGroupList");
    for g in groups["groups"].as_array().unwrap() {
        let gv = g["preferredVersion"]["groupVersion"].as_str().unwrap();
        let (code, body) = sb.raw("GET", &format!("/apis/{gv}"), None, vec![]);
        assert_eq!(code, 200, "{gv}");
        let list: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(list["kind"], "APIResourceList", "{gv}");
    }
    let capi = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "cluster.x-k8s.io")
        .unwrap();
    assert_eq!(capi["preferredVersion"]["version"], "v1beta2");
    // Aggregated discovery is recognised by its Content-Type.
    let client = sb.client(false);
    let req = http::Request::get("/apis")
        .header(
            "Accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )
        .body(kube::client::Body::empty())
        .unwrap();
    let resp = sb.block_on(client.send(req)).unwrap();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        ct.contains("g=apidiscovery.k8s.io")
            && ct.contains("v=v2")
            && ct.contains("as=APIGroupDiscoveryList"),
        "{ct}"
    );
    // And kube-rs's aggregated discovery finds the CAPI groups.
    let d = sb
        .block_on(kube::Discovery::new(client).run_aggregated())
        .unwrap();
    assert!(d.has_group("cluster.x-k8s.io"));
    let (ar, caps) = d
        .groups()
        .find(|g| g.name() == "cluster.x-k8s.io")
        .unwrap()
        .recommended_kind("MachineDeployment")
        .unwrap();
    assert_eq!(ar.version, "v1beta2");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(r, _)| r.plural == "machinedeployments/scale" || r.plural == "scale"),
        "{:?}",
        caps.subresources
    );
}
}

on_both_backends! {
fn openapi_v3_advertises_field_validation(backend) {
    let sb = TestSandbox::on(backend);
    let (_, body) = sb.raw("GET", "/openapi/v3", None, vec![]);
    let idx: Value = serde_json::from_slice(&body).unwrap();
    let url = idx["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap();
    assert!(idx["paths"]["apis/cluster.x-k8s.io/v1beta2"]["serverRelativeURL"].is_string());
    let (_, body) = sb.raw("GET", url, None, vec![]);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let patch = &doc["paths"]["/api/v1/namespaces/{name}"]["patch"];
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    // The sandbox serves only v3 (kubectl's); a real server has v2 too (a known difference).
    let v2 = if sb.is_real() { 200 } else { 404 };
    assert_eq!(sb.raw("GET", "/openapi/v2", None, vec![]).0, v2);
}
}

on_both_backends! {
fn crd_lifecycle_api_resources_and_scale_discovery(backend) {
    let sb = widget_sandbox(backend);
    let out = sb
        .kubectl()
        .args(["api-resources", "--api-group=conformance.example.com"])
        .ok();
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row,
        ["widgets", "wd", "conformance.example.com/v1", "true", "Widget"]
    );
    let (_, body) = sb.raw("GET", "/apis/conformance.example.com/v1", None, vec![]);
    let list: Value = serde_json::from_slice(&body).unwrap();
    let scale = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "widgets/scale")
        .unwrap();
    assert_eq!(
        (
            scale["group"].as_str(),
            scale["version"].as_str(),
            scale["kind"].as_str()
        ),
        (Some("autoscaling"), Some("v1"), Some("Scale"))
    );
    assert!(
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "widgets/status")
    );
}
}

on_both_backends! {
fn protobuf_creates_namespace_configmap_secret(backend) {
    let sb = TestSandbox::on(backend);
    assert_eq!(
        sb.kubectl().args(["create", "namespace", "t1"]).ok(),
        "namespace/t1 created\n"
    );
    assert_eq!(
        sb.kubectl()
            .args(["create", "configmap", "c1", "-n", "t1", "--from-literal=a=1"])
            .ok(),
        "configmap/c1 created\n"
    );
    assert_eq!(
        sb.kubectl()
            .args([
                "create",
                "secret",
                "generic",
                "s1",
                "-n",
                "t1",
                "--from-literal=pw=hunter2"
            ])
            .ok(),
        "secret/s1 created\n"
    );
    assert_eq!(
        jsonpath(&sb, &["secret", "s1", "-n", "t1"], "{.data.pw}"),
        "aHVudGVyMg=="
    );
    assert_eq!(jsonpath(&sb, &["cm", "c1", "-n", "t1"], "{.data.a}"), "1");
    assert_eq!(
        jsonpath(&sb, &["ns", "t1"], "{.status.phase} {.spec.finalizers}"),
        "Active [\"kubernetes\"]"
    );
    // Protobuf bodies carry every string field: an empty generateName is not kept.
    for what in [&["ns", "t1"][..], &["cm", "c1", "-n", "t1"], &["secret", "s1", "-n", "t1"]] {
        let meta = &sb.get_json(what)["metadata"];
        assert!(meta.get("generateName").is_none(), "{what:?}: {meta}");
    }
}
}

on_both_backends! {
fn create_defaults_generation_uid_and_errors(backend) {
    let sb = widget_sandbox(backend);
    let out = jsonpath(
        &sb,
        &["wd", "w1", "-n", "t1"],
        "{.spec.replicas} {.metadata.generation} {.metadata.uid}",
    );
    let parts: Vec<&str> = out.split(' ').collect();
    assert_eq!(&parts[..2], ["1", "1"]);
    assert_eq!(parts[2].len(), 36, "uid {out}");
    let o = sb.kubectl().args(["create", "-f", "-"]).stdin_str(W1);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error from server (AlreadyExists): error when creating \"STDIN\": widgets.conformance.example.com \"w1\" already exists\n"
    );
    let e = sb.kubectl().args(["get", "wd", "nope", "-n", "t1"]).fails();
    assert_eq!(
        e,
        "Error from server (NotFound): widgets.conformance.example.com \"nope\" not found\n"
    );
}
}

on_both_backends! {
fn validation_enum_and_strict_unknown_fields(backend) {
    let sb = widget_sandbox(backend);
    let e = sb
        .kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "--type=merge",
            "-p",
            r#"{"spec":{"color":"green"}}"#,
        ])
        .fails();
    assert!(
        e.contains(r#"spec.color: Unsupported value: "green": supported values: "red", "blue""#),
        "{e}"
    );
    let w9 = "apiVersion: conformance.example.com/v1\nkind: Widget\nmetadata: {name: w9, namespace: t1}\nspec: {color: red, size: 3}\n";
    let o = sb.kubectl().args(["create", "-f", "-"]).stdin_str(w9);
    assert!(
        stderr(&o).contains("Error from server (BadRequest)")
            && stderr(&o).contains(r#"strict decoding error: unknown field "spec.size""#),
        "{}",
        stderr(&o)
    );
    let o = sb
        .kubectl()
        .args(["create", "--validate=false", "-f", "-"])
        .stdin_str(w9);
    assert!(o.status.success(), "{}", stderr(&o));
    let w = sb.get_json(&["wd", "w9", "-n", "t1"]);
    assert!(w["spec"].get("size").is_none(), "pruned: {w}");
}
}

on_both_backends! {
fn printing_tables_wide_all_namespaces_labels(backend) {
    let sb = widget_sandbox(backend);
    let out = sb.kubectl().args(["get", "wd", "-n", "t1"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "NAME   REPLICAS   READY   AGE");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[..2], ["w1", "1"]);
    assert_eq!(row.len(), 3, "READY is blank: {:?}", lines[1]);
    assert!(
        sb.kubectl()
            .args(["get", "wd", "-n", "t1", "-o", "wide"])
            .ok()
            .lines()
            .next()
            .unwrap()
            .contains("COLOR")
    );
    assert!(
        sb.kubectl()
            .args(["get", "wd", "-n", "t1", "-o", "wide"])
            .ok()
            .contains("red")
    );
    assert!(
        sb.kubectl()
            .args(["get", "wd", "-A"])
            .ok()
            .starts_with("NAMESPACE")
    );
    assert!(
        sb.kubectl()
            .args(["get", "wd", "-n", "t1", "--show-labels"])
            .ok()
            .lines()
            .next()
            .unwrap()
            .ends_with("LABELS")
    );
    // The Table itself.
    let client = sb.client(false);
    let req = http::Request::get("/apis/conformance.example.com/v1/namespaces/t1/widgets")
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(vec![])
        .unwrap();
    let t: Value = sb.block_on(client.request::<Value>(req)).unwrap();
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["columnDefinitions"][0]["name"], "Name");
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert!(t["metadata"]["resourceVersion"].is_string());
}
}

on_both_backends! {
fn builtin_tables_match_kubectl(backend) {
    let sb = TestSandbox::on(backend);
    sb.kubectl()
        .args([
            "create",
            "configmap",
            "c1",
            "--from-literal=a=1",
            "--from-literal=b=2",
        ])
        .ok();
    let out = sb.kubectl().args(["get", "cm", "c1"]).ok();
    assert_eq!(
        out.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["NAME", "DATA", "AGE"]
    );
    assert_eq!(
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>(),
        ["c1", "2"]
    );
    let out = sb.kubectl().args(["get", "ns", "default"]).ok();
    assert_eq!(
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>(),
        ["default", "Active"]
    );
    let out = sb.kubectl().args(["get", "nodes"]).ok();
    assert!(out.lines().next().unwrap().starts_with("NAME"), "{out}");
    assert!(
        out.contains("capi-sandbox-control-plane") && out.contains("Ready") && out.contains("v1.33.0"),
        "{out}"
    );
    let out = sb
        .kubectl()
        .args(["get", "crd", "clusters.cluster.x-k8s.io"])
        .ok();
    assert_eq!(
        out.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["NAME", "CREATED", "AT"]
    );
    let out = sb.kubectl().args(["cluster-info"]).ok();
    assert!(out.contains("is running at"), "{out}");
}
}

on_both_backends! {
fn generation_status_split_and_status_noop(backend) {
    let sb = widget_sandbox(backend);
    sb.kubectl().args(["label", "wd", "w1", "-n", "t1", "k=v"]).ok();
    assert_eq!(
        jsonpath(&sb, &["wd", "w1", "-n", "t1"], "{.metadata.generation}"),
        "1"
    );
    sb.kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":2}}"#,
        ])
        .ok();
    assert_eq!(
        jsonpath(&sb, &["wd", "w1", "-n", "t1"], "{.metadata.generation}"),
        "2"
    );
    sb.kubectl()
        .args(["patch", "wd", "w1", "-n", "t1", "--subresource=status", "--type=merge", "-p"])
        .arg(r#"{"status":{"replicas":2,"selector":"app=w1","conditions":[{"type":"Ready","status":"True"}]}}"#)
        .ok();
    assert_eq!(
        jsonpath(
            &sb,
            &["wd", "w1", "-n", "t1"],
            "{.metadata.generation} {.status.replicas}"
        ),
        "2 2"
    );
    let out = sb.kubectl().args(["get", "wd", "-n", "t1"]).ok();
    assert_eq!(
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>(),
        ["w1", "2", "True"]
    );
    let rv = jsonpath(&sb, &["wd", "w1", "-n", "t1"], "{.metadata.resourceVersion}");
    let out = sb
        .kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "--type=merge",
            "-p",
            r#"{"status":{"replicas":9}}"#,
        ])
        .ok();
    assert_eq!(out, "widget.conformance.example.com/w1 patched (no change)\n");
    assert_eq!(
        jsonpath(
            &sb,
            &["wd", "w1", "-n", "t1"],
            "{.metadata.resourceVersion} {.status.replicas}"
        ),
        format!("{rv} 2")
    );
}
}

on_both_backends! {
fn scale_subresource(backend) {
    let sb = widget_sandbox(backend);
    sb.kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"replicas":2,"selector":"app=w1"}}"#,
        ])
        .ok();
    assert_eq!(
        sb.kubectl()
            .args(["scale", "wd", "w1", "-n", "t1", "--replicas=5"])
            .ok(),
        "widget.conformance.example.com/w1 scaled\n"
    );
    let raw = sb
        .kubectl()
        .args([
            "get",
            "--raw",
            "/apis/conformance.example.com/v1/namespaces/t1/widgets/w1/scale",
        ])
        .ok();
    let s: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(s["kind"], "Scale");
    assert_eq!(s["apiVersion"], "autoscaling/v1");
    assert_eq!(s["spec"]["replicas"], 5);
    assert_eq!(s["status"]["replicas"], 2);
    assert_eq!(s["status"]["selector"], "app=w1");
    assert_eq!(
        jsonpath(&sb, &["wd", "w1", "-n", "t1"], "{.metadata.generation}"),
        "2"
    );
}
}

on_both_backends! {
fn optimistic_concurrency_conflicts_and_unconditional_put(backend) {
    let sb = widget_sandbox(backend);
    let obj = sb
        .kubectl()
        .args(["get", "wd", "w1", "-n", "t1", "-o", "json"])
        .ok();
    let path = "/apis/conformance.example.com/v1/namespaces/t1/widgets/w1";
    // An identical PUT is a no-op (resourceVersion unchanged), as on a real server.
    let (code, _) = sb.raw("PUT", path, Some("application/json"), obj.clone().into_bytes());
    assert_eq!(code, 200);
    sb.kubectl()
        .args(["label", "wd", "w1", "-n", "t1", "changed=yes"])
        .ok();
    let (code, body) = sb.raw("PUT", path, Some("application/json"), obj.clone().into_bytes());
    let st: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(code, 409);
    assert_eq!(st["reason"], "Conflict");
    assert_eq!(
        st["message"],
        "Operation cannot be fulfilled on widgets.conformance.example.com \"w1\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let mut v: Value = serde_json::from_str(&obj).unwrap();
    v["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    let (code, body) = sb.raw(
        "PUT",
        path,
        Some("application/json"),
        serde_json::to_vec(&v).unwrap(),
    );
    assert_eq!(code, 422);
    assert!(
        String::from_utf8_lossy(&body)
            .contains("metadata.resourceVersion: Invalid value: 0: must be specified for an update")
    );
}
}

on_both_backends! {
fn json_patch_test_null_and_failures(backend) {
    let sb = widget_sandbox(backend);
    let p = r#"[{"op":"test","path":"/metadata/finalizers","value":null},{"op":"add","path":"/metadata/finalizers","value":["conformance.example.com/f"]}]"#;
    assert_eq!(
        sb.kubectl()
            .args(["patch", "wd", "w1", "-n", "t1", "--type=json", "-p", p])
            .ok(),
        "widget.conformance.example.com/w1 patched\n"
    );
    let e = sb
        .kubectl()
        .args(["patch", "wd", "w1", "-n", "t1", "--type=json", "-p", p])
        .fails();
    // kube-apiserver answers a failed `test` with 422 and no details.
    assert!(e.contains("the server rejected our request due to an error in our request"), "{e}");
    let (code, _) = sb.raw(
        "PATCH",
        "/apis/conformance.example.com/v1/namespaces/t1/widgets/w1",
        Some("application/json-patch+json"),
        br#"{"not":"a list"}"#.to_vec(),
    );
    assert_eq!(code, 400);
}
}

on_both_backends! {
fn strategic_merge_refused_for_custom_resources_merged_for_builtins(backend) {
    let sb = widget_sandbox(backend);
    let e = sb
        .kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "-p",
            r#"{"spec":{"replicas":3}}"#,
        ])
        .fails();
    assert!(
        e.contains("application/strategic-merge-patch+json is not supported by conformance.example.com/v1, Kind=Widget")
            && e.contains("accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"),
        "{e}"
    );
    sb.kubectl().args(["create", "configmap", "c1", "-n", "t1"]).ok();
    sb.kubectl()
        .args([
            "patch",
            "cm",
            "c1",
            "-n",
            "t1",
            "-p",
            r#"{"metadata":{"finalizers":["x.io/a"]}}"#,
        ])
        .ok();
    sb.kubectl()
        .args([
            "patch",
            "cm",
            "c1",
            "-n",
            "t1",
            "-p",
            r#"{"metadata":{"finalizers":["x.io/b"]}}"#,
        ])
        .ok();
    // A strategic merge puts the patch's new item before the existing ones (as apimachinery).
    assert_eq!(
        jsonpath(&sb, &["cm", "c1", "-n", "t1"], "{.metadata.finalizers}"),
        r#"["x.io/b","x.io/a"]"#
    );
    sb.kubectl()
        .args([
            "patch",
            "cm",
            "c1",
            "-n",
            "t1",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .ok();
    assert_eq!(
        jsonpath(&sb, &["cm", "c1", "-n", "t1"], "{.metadata.finalizers}"),
        ""
    );
}
}

on_both_backends! {
fn client_side_apply_create_configure_and_prune_fields(backend) {
    let sb = widget_sandbox(backend);
    let v1 = "apiVersion: conformance.example.com/v1\nkind: Widget\nmetadata: {name: w2, namespace: t1}\nspec: {color: red, replicas: 2}\n";
    let v2 = "apiVersion: conformance.example.com/v1\nkind: Widget\nmetadata: {name: w2, namespace: t1}\nspec: {replicas: 4}\n";
    assert_eq!(
        stdout(&sb.kubectl().args(["apply", "-f", "-"]).stdin_str(v1)),
        "widget.conformance.example.com/w2 created\n"
    );
    assert_eq!(
        stdout(&sb.kubectl().args(["apply", "-f", "-"]).stdin_str(v2)),
        "widget.conformance.example.com/w2 configured\n"
    );
    let w = sb.get_json(&["wd", "w2", "-n", "t1"]);
    assert_eq!(w["spec"], serde_json::json!({"replicas": 4}));
    let last: Value = serde_json::from_str(
        w["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["spec"], serde_json::json!({"replicas": 4}));
    // Built-ins get real strategic-merge directives from kubectl apply.
    let cm1 =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: t1}\ndata: {a: '1', b: '2'}\n";
    let cm2 = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: t1}\ndata: {a: '1'}\n";
    sb.kubectl().args(["apply", "-f", "-"]).stdin_str(cm1);
    assert_eq!(
        stdout(&sb.kubectl().args(["apply", "-f", "-"]).stdin_str(cm2)),
        "configmap/cfg configured\n"
    );
    assert_eq!(
        jsonpath(&sb, &["cm", "cfg", "-n", "t1"], "{.data}"),
        r#"{"a":"1"}"#
    );
}
}

on_both_backends! {
fn server_side_apply_field_manager_conflicts_and_removal(backend) {
    let sb = widget_sandbox(backend);
    let w3 = "apiVersion: conformance.example.com/v1\nkind: Widget\nmetadata: {name: w3, namespace: t1}\nspec: {color: blue, replicas: 1}\n";
    let w3r7 = "apiVersion: conformance.example.com/v1\nkind: Widget\nmetadata: {name: w3, namespace: t1}\nspec: {replicas: 7}\n";
    assert_eq!(
        stdout(
            &sb.kubectl()
                .args(["apply", "--server-side", "-f", "-"])
                .stdin_str(w3)
        ),
        "widget.conformance.example.com/w3 serverside-applied\n"
    );
    let (code, body) = sb.raw(
        "PATCH",
        "/apis/conformance.example.com/v1/namespaces/t1/widgets/w3",
        Some("application/apply-patch+yaml"),
        w3.as_bytes().to_vec(),
    );
    assert_eq!(code, 422);
    assert!(
        String::from_utf8_lossy(&body).contains("fieldManager: Required value: is required for apply patch")
    );
    let o = sb
        .kubectl()
        .args(["apply", "--server-side", "--field-manager=other", "-f", "-"])
        .stdin_str(w3r7);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(r#"conflict with "kubectl""#) && stderr(&o).contains(".spec.replicas"),
        "{}",
        stderr(&o)
    );
    let o = sb
        .kubectl()
        .args([
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            "-",
        ])
        .stdin_str(w3r7);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sb
        .kubectl()
        .args(["apply", "--server-side", "-f", "-"])
        .stdin_str(w3r7);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        sb.get_json(&["wd", "w3", "-n", "t1"])["spec"],
        serde_json::json!({"replicas": 7})
    );
    // Re-applying the same configuration is a no-op.
    let rv = jsonpath(&sb, &["wd", "w3", "-n", "t1"], "{.metadata.resourceVersion}");
    sb.kubectl()
        .args(["apply", "--server-side", "-f", "-"])
        .stdin_str(w3r7);
    assert_eq!(
        jsonpath(&sb, &["wd", "w3", "-n", "t1"], "{.metadata.resourceVersion}"),
        rv
    );
    let mf = sb
        .kubectl()
        .args([
            "get",
            "wd",
            "w3",
            "-n",
            "t1",
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .ok();
    let v: Value = serde_json::from_str(&mf).unwrap();
    let managers: Vec<&str> = v["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert!(
        managers.contains(&"kubectl") && managers.contains(&"other"),
        "{managers:?}"
    );
    // dry-run leaves nothing behind.
    let w4 = "apiVersion: conformance.example.com/v1\nkind: Widget\nmetadata: {name: w4, namespace: t1}\nspec: {replicas: 1}\n";
    let o = sb
        .kubectl()
        .args(["apply", "--server-side", "--dry-run=server", "-f", "-"])
        .stdin_str(w4);
    assert!(
        stdout(&o).contains("serverside-applied (server dry run)"),
        "{}",
        stdout(&o)
    );
    sb.kubectl().args(["get", "wd", "w4", "-n", "t1"]).fails();
}
}

fn widgets_rv(sb: &TestSandbox) -> String {
    let raw = sb
        .kubectl()
        .args([
            "get",
            "--raw",
            "/apis/conformance.example.com/v1/namespaces/t1/widgets",
        ])
        .ok();
    let v: Value = serde_json::from_str(&raw).unwrap();
    v["metadata"]["resourceVersion"].as_str().unwrap().to_string()
}

on_both_backends! {
fn watch_from_resource_version_gets_exactly_the_change(backend) {
    let sb = widget_sandbox(backend);
    let rv = widgets_rv(&sb);
    let client = sb.client(false);
    let path = format!(
        "/apis/conformance.example.com/v1/namespaces/t1/widgets?watch=true&resourceVersion={rv}&timeoutSeconds=2"
    );
    let handle = std::thread::spawn({
        let kc = sb.kubeconfig.clone();
        let kubectl = capi_e2e::kubectl_path();
        let cache = sb.dir.path().join("cache-w");
        move || {
            std::thread::sleep(Duration::from_millis(500));
            std::process::Command::new(kubectl)
                .arg(format!("--cache-dir={}", cache.display()))
                .args(["label", "wd", "w1", "-n", "t1", "w=1"])
                .env("KUBECONFIG", kc)
                .output()
                .unwrap()
        }
    });
    let body = sb.block_on(async {
        let resp = client
            .send(
                http::Request::get(path)
                    .body(kube::client::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        use http_body_util::BodyExt;
        resp.into_body().collect().await.unwrap().to_bytes()
    });
    assert!(handle.join().unwrap().status.success());
    let text = String::from_utf8_lossy(&body);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let ev: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(ev["object"]["metadata"]["name"], "w1");
    assert!(text.ends_with('\n'));
}
}

fn watch_lines(sb: &TestSandbox, query: &str) -> Vec<Value> {
    let client = sb.client(false);
    let path = format!("/apis/conformance.example.com/v1/namespaces/t1/widgets?{query}");
    let body = sb.block_on(async {
        let resp = client
            .send(
                http::Request::get(path)
                    .body(kube::client::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        use http_body_util::BodyExt;
        resp.into_body().collect().await.unwrap().to_bytes()
    });
    String::from_utf8_lossy(&body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

on_both_backends! {
fn watch_initial_events_bookmarks_expired_and_initial_end(backend) {
    let sb = widget_sandbox(backend);
    for q in [
        "watch=true&timeoutSeconds=1",
        "watch=true&resourceVersion=0&timeoutSeconds=1",
    ] {
        let evs = watch_lines(&sb, q);
        assert_eq!(evs.len(), 1, "{q}: {evs:?}");
        assert_eq!(evs[0]["type"], "ADDED");
    }
    let evs = watch_lines(&sb, "watch=true&allowWatchBookmarks=true&timeoutSeconds=2");
    assert!(evs.iter().any(|e| e["type"] == "BOOKMARK"), "{evs:?}");
    for e in evs.iter().filter(|e| e["type"] == "BOOKMARK") {
        assert_eq!(e["object"]["kind"], "Widget");
        assert_eq!(e["object"]["apiVersion"], "conformance.example.com/v1");
        assert!(e["object"]["metadata"]["resourceVersion"].is_string());
    }
    assert!(
        watch_lines(&sb, "watch=true&timeoutSeconds=2")
            .iter()
            .all(|e| e["type"] != "BOOKMARK")
    );
    let evs = watch_lines(&sb, "watch=true&resourceVersion=1&timeoutSeconds=5");
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["type"], "ERROR");
    assert_eq!(evs[0]["object"]["code"], 410);
    assert_eq!(evs[0]["object"]["reason"], "Expired");
    let evs = watch_lines(
        &sb,
        "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
    );
    assert_eq!(evs[0]["type"], "ADDED");
    assert_eq!(evs[1]["type"], "BOOKMARK");
    assert_eq!(
        evs[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let (code, _) = sb.raw("GET", "/apis/conformance.example.com/v1/namespaces/t1/widgets?watch=true&sendInitialEvents=true&timeoutSeconds=1", None, vec![]);
    assert_eq!(code, 422);
}
}

on_both_backends! {
fn kubectl_get_watch_prints_one_header_and_the_change(backend) {
    let sb = widget_sandbox(backend);
    let mut child = sb.kubectl().args(["get", "wd", "w1", "-n", "t1", "-w"]).0;
    child.stdout(std::process::Stdio::piped());
    let mut child = child.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sb.kubectl()
        .args(["scale", "wd", "w1", "-n", "t1", "--replicas=6"])
        .ok();
    std::thread::sleep(Duration::from_millis(800));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("NAME"));
    assert_eq!(
        lines[2].split_whitespace().take(2).collect::<Vec<_>>(),
        ["w1", "6"]
    );
}
}

on_both_backends! {
fn watch_label_selector_transitions(backend) {
    let sb = widget_sandbox(backend);
    let client = sb.client(false);
    let path = "/apis/conformance.example.com/v1/namespaces/t1/widgets?watch=true&labelSelector=w%3D1&timeoutSeconds=3".to_string();
    let kubeconfig = sb.kubeconfig.clone();
    let cache = sb.dir.path().join("cache-l");
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        for l in ["w=1", "w-"] {
            std::process::Command::new(capi_e2e::kubectl_path())
                .arg(format!("--cache-dir={}", cache.display()))
                .args(["label", "wd", "w1", "-n", "t1", l])
                .env("KUBECONFIG", &kubeconfig)
                .output()
                .unwrap();
        }
    });
    let body = sb.block_on(async {
        let resp = client
            .send(
                http::Request::get(path)
                    .body(kube::client::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        use http_body_util::BodyExt;
        resp.into_body().collect().await.unwrap().to_bytes()
    });
    handle.join().unwrap();
    let types: Vec<String> = String::from_utf8_lossy(&body)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types, ["ADDED", "DELETED"]);
    sb.kubectl().args(["get", "wd", "w1", "-n", "t1"]).ok();
}
}

on_both_backends! {
fn wait_for_condition_and_delete(backend) {
    let sb = widget_sandbox(backend);
    let kc = sb.kubeconfig.clone();
    let cache = sb.dir.path().join("cache-c");
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        std::process::Command::new(capi_e2e::kubectl_path())
            .arg(format!("--cache-dir={}", cache.display()))
            .args([
                "patch",
                "wd",
                "w1",
                "-n",
                "t1",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
            ])
            .env("KUBECONFIG", kc)
            .output()
            .unwrap()
    });
    let out = sb
        .kubectl()
        .args([
            "wait",
            "--for=condition=Ready",
            "wd/w1",
            "-n",
            "t1",
            "--timeout=20s",
        ])
        .ok();
    assert_eq!(out, "widget.conformance.example.com/w1 condition met\n");
    handle.join().unwrap();
}
}

on_both_backends! {
fn delete_with_finalizers_then_release(backend) {
    let sb = widget_sandbox(backend);
    sb.kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/metadata/finalizers","value":["conformance.example.com/f"]}]"#,
        ])
        .ok();
    assert_eq!(
        sb.kubectl()
            .args(["delete", "wd", "w1", "-n", "t1", "--wait=false"])
            .ok(),
        "widget.conformance.example.com \"w1\" deleted\n"
    );
    let out = jsonpath(
        &sb,
        &["wd", "w1", "-n", "t1"],
        "{.metadata.deletionTimestamp} {.metadata.generation}",
    );
    let (ts, generation) = out.split_once(' ').unwrap();
    assert!(ts.ends_with('Z'), "{out}");
    assert_eq!(generation, "2");
    let e = sb
        .kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["conformance.example.com/f","x/new"]}}"#,
        ])
        .fails();
    assert!(
        e.contains("no new finalizers can be added if the object is being deleted"),
        "{e}"
    );
    sb.kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ])
        .ok();
    sb.kubectl()
        .args(["wait", "--for=delete", "wd/w1", "-n", "t1", "--timeout=10s"])
        .ok();
    sb.kubectl().args(["get", "wd", "w1", "-n", "t1"]).fails();
    // DELETE returns a body even for an immediate delete (kube-rs Either<K, Status>).
    sb.kubectl()
        .args(["create", "configmap", "gone", "-n", "t1"])
        .ok();
    let (code, body) = sb.raw(
        "DELETE",
        "/api/v1/namespaces/t1/configmaps/gone",
        Some("application/json"),
        b"{}".to_vec(),
    );
    assert_eq!(code, 200);
    let st: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (st["kind"].as_str(), st["status"].as_str()),
        (Some("Status"), Some("Success"))
    );
    assert_eq!(
        sb.raw("DELETE", "/api/v1/namespaces/t1/configmaps/gone", None, vec![])
            .0,
        404
    );
}
}

fn owner_and_dependent(sb: &TestSandbox, extra_meta: &str) {
    sb.kubectl()
        .args(["create", "configmap", "owner", "-n", "t1"])
        .ok();
    let uid = jsonpath(sb, &["cm", "owner", "-n", "t1"], "{.metadata.uid}");
    let dep = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dep\n  namespace: t1\n{extra_meta}  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}, blockOwnerDeletion: true}}\nstringData: {{x: \"y\"}}\n"
    );
    let o = sb.kubectl().args(["create", "-f", "-"]).stdin_str(&dep);
    assert!(o.status.success(), "{}", stderr(&o));
}

on_both_backends! {
fn garbage_collection_background_foreground_orphan_and_dangling(backend) {
    let sb = widget_sandbox(backend);
    owner_and_dependent(&sb, "");
    sb.kubectl().args(["delete", "cm", "owner", "-n", "t1"]).ok();
    assert!(eventually(Duration::from_secs(10), || !sb
        .kubectl()
        .args(["get", "secret", "dep", "-n", "t1"])
        .output()
        .status
        .success()));

    owner_and_dependent(&sb, "  finalizers: [x.io/hold]\n");
    sb.kubectl()
        .args([
            "delete",
            "cm",
            "owner",
            "-n",
            "t1",
            "--cascade=foreground",
            "--wait=false",
        ])
        .ok();
    assert!(eventually(Duration::from_secs(5), || jsonpath(
        &sb,
        &["secret", "dep", "-n", "t1"],
        "{.metadata.deletionTimestamp}"
    )
    .ends_with('Z')));
    assert_eq!(
        jsonpath(&sb, &["cm", "owner", "-n", "t1"], "{.metadata.finalizers}"),
        r#"["foregroundDeletion"]"#
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sb.kubectl()
            .args(["get", "cm", "owner", "-n", "t1"])
            .output()
            .status
            .success(),
        "owner waits for its blocking dependent"
    );
    sb.kubectl()
        .args([
            "patch",
            "secret",
            "dep",
            "-n",
            "t1",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .ok();
    sb.kubectl()
        .args(["wait", "--for=delete", "cm/owner", "-n", "t1", "--timeout=10s"])
        .ok();

    owner_and_dependent(&sb, "");
    sb.kubectl()
        .args(["delete", "cm", "owner", "-n", "t1", "--cascade=orphan"])
        .ok();
    assert!(eventually(Duration::from_secs(5), || jsonpath(
        &sb,
        &["secret", "dep", "-n", "t1"],
        "{.metadata.ownerReferences}"
    )
    .is_empty()));
    sb.kubectl().args(["get", "cm", "owner", "-n", "t1"]).fails();

    let bogus = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bogus\n  namespace: t1\n  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: ghost, uid: 00000000-0000-0000-0000-000000000000}]\n";
    assert!(
        sb.kubectl()
            .args(["create", "-f", "-"])
            .stdin_str(bogus)
            .status
            .success()
    );
    assert!(eventually(Duration::from_secs(10), || !sb
        .kubectl()
        .args(["get", "cm", "bogus", "-n", "t1"])
        .output()
        .status
        .success()));
}
}

on_both_backends! {
fn namespace_termination_and_protection(backend) {
    let sb = widget_sandbox(backend);
    sb.kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["x.io/hold"]}}"#,
        ])
        .ok();
    sb.kubectl().args(["delete", "ns", "t1", "--wait=false"]).ok();
    let e = sb
        .kubectl()
        .args(["create", "configmap", "late", "-n", "t1", "--from-literal=a=b"])
        .fails();
    assert!(
        e.contains("unable to create new content in namespace t1 because it is being terminated"),
        "{e}"
    );
    // The real namespace controller takes about 5 s for its first pass.
    assert!(eventually(Duration::from_secs(30), || jsonpath(
        &sb,
        &["ns", "t1"],
        "{.status.conditions[?(@.type==\"NamespaceContentRemaining\")].status}"
    ) == "True"));
    assert_eq!(jsonpath(&sb, &["ns", "t1"], "{.status.phase}"), "Terminating");
    sb.kubectl()
        .args([
            "patch",
            "wd",
            "w1",
            "-n",
            "t1",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .ok();
    sb.kubectl()
        .args(["wait", "--for=delete", "ns/t1", "--timeout=30s"])
        .ok();
    assert_eq!(
        stderr(&sb.kubectl().args(["get", "wd", "-A"]).output()),
        "No resources found\n"
    );
    let e = sb.kubectl().args(["delete", "ns", "default"]).fails();
    assert_eq!(
        e,
        "Error from server (Forbidden): namespaces \"default\" is forbidden: this namespace may not be deleted\n"
    );
    let e = sb
        .kubectl()
        .args(["create", "configmap", "x", "-n", "nosuch", "--from-literal=a=b"])
        .fails();
    assert!(e.contains("namespaces \"nosuch\" not found"), "{e}");
}
}

on_both_backends! {
fn selectors_and_pagination(backend) {
    let sb = TestSandbox::on(backend);
    sb.kubectl().args(["create", "ns", "t2"]).ok();
    for i in 1..=7 {
        sb.kubectl()
            .args(["create", "cm", &format!("cm-{i}"), "-n", "t2"])
            .ok();
    }
    for i in 1..=3 {
        sb.kubectl()
            .args(["label", "cm", &format!("cm-{i}"), "-n", "t2", "tier=a"])
            .ok();
    }
    assert_eq!(
        sb.kubectl()
            .args(["get", "cm", "-n", "t2", "-l", "tier in (a)", "-o", "name"])
            .ok()
            .lines()
            .count(),
        3
    );
    let not = sb
        .kubectl()
        .args(["get", "cm", "-n", "t2", "-l", "!tier", "-o", "name"])
        .ok();
    assert_eq!(
        not,
        "configmap/cm-4\nconfigmap/cm-5\nconfigmap/cm-6\nconfigmap/cm-7\nconfigmap/kube-root-ca.crt\n"
    );
    assert_eq!(
        sb.kubectl()
            .args([
                "get",
                "cm",
                "-n",
                "t2",
                "--field-selector",
                "metadata.name=cm-5",
                "-o",
                "name"
            ])
            .ok(),
        "configmap/cm-5\n"
    );
    let e = sb
        .kubectl()
        .args(["get", "cm", "-n", "t2", "--field-selector", "spec.foo=bar"])
        .fails();
    assert!(
        e.contains("Unable to find \"/v1, Resource=configmaps\"")
            && e.contains("\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""),
        "{e}"
    );
    let e = sb
        .kubectl()
        .args(["get", "cm", "-n", "t2", "-l", "tier in (a"])
        .fails();
    assert!(e.contains("BadRequest") || e.contains("unable to parse"), "{e}");
    let (_, body) = sb.raw("GET", "/api/v1/namespaces/t2/configmaps?limit=2", None, vec![]);
    let page: Value = serde_json::from_slice(&body).unwrap();
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cm-1", "cm-2"]);
    assert_eq!(page["metadata"]["remainingItemCount"], 6);
    let rv = page["metadata"]["resourceVersion"].clone();
    let mut all: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut cont = page["metadata"]["continue"].as_str().unwrap().to_string();
    // A change between pages does not show up: pages come from one snapshot.
    sb.kubectl().args(["create", "cm", "cm-0-late", "-n", "t2"]).ok();
    while !cont.is_empty() {
        let (_, body) = sb.raw(
            "GET",
            &format!("/api/v1/namespaces/t2/configmaps?limit=2&continue={cont}"),
            None,
            vec![],
        );
        let p: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(p["metadata"]["resourceVersion"], rv);
        all.extend(
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        cont = p["metadata"]["continue"].as_str().unwrap_or("").to_string();
    }
    assert_eq!(
        all,
        [
            "cm-1",
            "cm-2",
            "cm-3",
            "cm-4",
            "cm-5",
            "cm-6",
            "cm-7",
            "kube-root-ca.crt"
        ]
    );
    assert_eq!(
        sb.kubectl()
            .args(["get", "cm", "-n", "t2", "--chunk-size=2", "-o", "name"])
            .ok()
            .lines()
            .count(),
        9
    );
}
}

on_both_backends! {
fn multi_version_crd_and_explain(backend) {
    let sb = widget_sandbox(backend);
    let out = sb
        .kubectl()
        .args([
            "get",
            "widgets.v1alpha1.conformance.example.com",
            "w1",
            "-n",
            "t1",
            "-o",
            "json",
        ])
        .ok();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["apiVersion"], "conformance.example.com/v1alpha1");
    assert_eq!(v["spec"]["color"], "red");
    assert_eq!(
        jsonpath(
            &sb,
            &["crd", "widgets.conformance.example.com"],
            "{.status.storedVersions}"
        ),
        r#"["v1"]"#
    );
    let out = sb.kubectl().args(["explain", "widgets.spec.color"]).ok();
    for want in [
        "GROUP:      conformance.example.com",
        "KIND:       Widget",
        "VERSION:    v1",
        "FIELD: color <string>",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    let out = sb.kubectl().args(["explain", "cluster.spec"]).ok();
    assert!(
        out.contains("KIND:       Cluster") && out.contains("controlPlaneRef"),
        "{out}"
    );
}
}

on_both_backends! {
fn crd_deletion_removes_instances_and_api(backend) {
    let sb = widget_sandbox(backend);
    sb.kubectl()
        .args([
            "delete",
            "crd",
            "widgets.conformance.example.com",
            "--timeout=20s",
        ])
        .ok();
    // With a fresh discovery cache the type is gone; a cached mapping gets a 404 from the API.
    let fresh = format!("--cache-dir={}", sb.dir.path().join("fresh-cache").display());
    let e = sb.kubectl().arg(&fresh).args(["get", "wd", "-A"]).fails();
    assert!(
        e.contains("the server doesn't have a resource type \"wd\""),
        "{e}"
    );
    let (code, _) = sb.raw("GET", "/apis/conformance.example.com/v1/widgets", None, vec![]);
    assert_eq!(code, 404);
}
}

on_both_backends! {
fn readonly_user_and_unauthenticated_requests(backend) {
    let sb = widget_sandbox(backend);
    // `view` (and the role aggregated into it for Cluster API) reads Cluster API objects, not
    // other custom resources, nodes or CRDs.
    sb.kubectl()
        .args(["--context", "capi-sandbox-readonly", "get", "clusters,machines", "-A"])
        .ok();
    for what in ["wd", "nodes", "crd"] {
        let e = sb
            .kubectl()
            .args(["--context", "capi-sandbox-readonly", "get", what, "-n", "t1"])
            .fails();
        assert!(e.contains("Forbidden") && e.contains("cannot list resource"), "{what}: {e}");
    }
    let e = sb
        .kubectl()
        .args(["--context", "capi-sandbox-readonly", "create", "ns", "x"])
        .fails();
    assert_eq!(
        e,
        "Error from server (Forbidden): namespaces is forbidden: User \"capi-sandbox-readonly\" cannot create resource \"namespaces\" in API group \"\" at the cluster scope\n"
    );
    let e = sb
        .kubectl()
        .args([
            "--context",
            "capi-sandbox-readonly",
            "scale",
            "wd",
            "w1",
            "-n",
            "t1",
            "--replicas=3",
        ])
        .fails();
    // `view` does not reach the widgets (not a Cluster API group), so kubectl's first read fails.
    assert!(e.contains("cannot get resource \"widgets\""), "{e}");
    // Like the built-in `view` role, the read-only user cannot read Secrets.
    let e = sb
        .kubectl()
        .args([
            "--context",
            "capi-sandbox-readonly",
            "get",
            "secrets",
            "-n",
            "default",
        ])
        .fails();
    assert_eq!(
        e,
        "Error from server (Forbidden): secrets is forbidden: User \"capi-sandbox-readonly\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\"\n"
    );
    // Anonymous requests (no token), as on a real server with its default anonymous access:
    // the public paths answer (with or without a trailing slash), anything else is 403 for
    // system:anonymous; a token the server does not know is 401 everywhere, public paths too.
    for p in ["/version", "/version/", "/healthz", "/readyz", "/livez"] {
        assert_eq!(sb.raw_as(p, None).0, 200, "{p}");
        assert_eq!(sb.raw_as(p, Some("bogus")).0, 401, "{p}");
    }
    let (code, body) = sb.raw_as("/api", None);
    let st: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((code, st["message"].as_str()), (403, Some("forbidden: User \"system:anonymous\" cannot get path \"/api\"")));
    let (code, body) = sb.raw_as("/api/v1/namespaces/default/configmaps", None);
    let st: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (code, st["message"].as_str()),
        (403, Some("configmaps is forbidden: User \"system:anonymous\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""))
    );
    // A wrong token: 401 on resources, health endpoints stay open.
    let kc = std::fs::read_to_string(&sb.kubeconfig)
        .unwrap()
        .replace(&sb.admin_token, "wrong-token");
    let bad = sb.dir.path().join("bad-kubeconfig");
    std::fs::write(&bad, kc).unwrap();
    let e = sb
        .kubectl()
        .args(["--kubeconfig", bad.to_str().unwrap(), "get", "ns"])
        .fails();
    assert!(
        e.contains("Unauthorized") || e.contains("must be logged in"),
        "{e}"
    );
}
}

on_both_backends! {
fn bad_input_gets_the_right_status(backend) {
    let sb = widget_sandbox(backend);
    // (method, path, content type, body, expected code, expected reason)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/v1/namespaces/t1/configmaps",
            Some("application/json"),
            b"{not json".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/t1/configmaps",
            Some("text/plain"),
            b"x".to_vec(),
            415,
            "UnsupportedMediaType",
        ),
        (
            "POST",
            "/apis/conformance.example.com/v1/namespaces/t1/widgets",
            Some("application/json"),
            br#"{"metadata":{"name":"x"}}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/t1/secrets",
            Some("application/json"),
            br#"{"metadata":{"name":"s"},"stringData":{"x":true}}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/t1/configmaps",
            Some("application/json"),
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#.to_vec(),
            422,
            "Invalid",
        ),
        (
            "POST",
            "/api/v1/namespaces/t1/configmaps",
            Some("application/json"),
            br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            "PUT",
            "/api/v1/namespaces/t1/configmaps",
            Some("application/json"),
            b"{}".to_vec(),
            405,
            "MethodNotAllowed",
        ),
        (
            "PATCH",
            "/apis/conformance.example.com/v1/namespaces/t1/widgets/w1",
            Some("application/merge-patch+json"),
            b"[1,2]".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            "/apis/conformance.example.com/v1/namespaces/t1/widgets/w1",
            Some("application/json-patch+json"),
            br#"[{"op":"remove","path":"/spec/nope"}]"#.to_vec(),
            422,
            "Invalid",
        ),
        (
            "POST",
            "/api/v1/namespaces/t1/configmaps",
            Some("application/json"),
            vec![b' '; 4 * 1024 * 1024],
            413,
            "RequestEntityTooLarge",
        ),
        (
            "GET",
            "/api/v1/namespaces/t1/configmaps?labelSelector=a%20in%20(",
            None,
            vec![],
            400,
            "BadRequest",
        ),
    ];
    for (method, path, ct, body, code, reason) in cases {
        let (got, resp) = sb.raw(method, path, ct, body);
        let st: Value = serde_json::from_slice(&resp)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {}", String::from_utf8_lossy(&resp)));
        assert_eq!(
            (got, st["reason"].as_str().unwrap_or("")),
            (code, reason),
            "{method} {path}: {st}"
        );
        assert_eq!(st["kind"], "Status");
    }
    // Nothing was corrupted.
    assert_eq!(jsonpath(&sb, &["wd", "w1", "-n", "t1"], "{.spec.color}"), "red");
    // Paths no handler serves get Go's plain-text 404, not a Status (custom resource groups,
    // unknown groups); a built-in group's unknown resource gets a Status.
    for path in ["/apis/nope.example.com/v1/things", "/apis/conformance.example.com/v1/gadgets", "/apis/cluster.x-k8s.io/v9"] {
        assert_eq!(sb.raw("GET", path, None, vec![]), (404, b"404 page not found\n".to_vec()), "{path}");
    }
    let (code, resp) = sb.raw("GET", "/api/v1/foos", None, vec![]);
    let st: Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!((code, st["reason"].as_str()), (404, Some("NotFound")));
    // A built-in kind takes its type from the URL when the body leaves it out (what the Python
    // client sends for `create_namespace(V1Namespace(metadata=...))`); a custom resource (above)
    // must name it, and the message says what it must be.
    let (code, resp) = sb.raw(
        "POST",
        "/api/v1/namespaces/t1/configmaps",
        Some("application/json"),
        br#"{"metadata":{"name":"untyped"}}"#.to_vec(),
    );
    let cm: Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!((code, cm["kind"].as_str(), cm["apiVersion"].as_str()), (201, Some("ConfigMap"), Some("v1")), "{cm}");
    let (_, resp) = sb.raw(
        "POST",
        "/apis/conformance.example.com/v1/namespaces/t1/widgets",
        Some("application/json"),
        br#"{"metadata":{"name":"x"}}"#.to_vec(),
    );
    let st: Value = serde_json::from_slice(&resp).unwrap();
    assert!(
        st["message"].as_str().unwrap_or("").starts_with("the object provided is unrecognized (must be of type Widget): Object 'Kind' is missing in"),
        "{st}"
    );
    // kubectl's YAML reads `y` as a boolean: a Secret's stringData refuses it as the decoder does.
    let (_, resp) = sb.raw(
        "POST",
        "/api/v1/namespaces/t1/secrets",
        Some("application/json"),
        br#"{"metadata":{"name":"s"},"stringData":{"x":true}}"#.to_vec(),
    );
    let st: Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(
        st["message"],
        "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal bool into Go struct field Secret.stringData of type string"
    );
    // Every namespace is labelled with its name by the server.
    assert_eq!(
        jsonpath(&sb, &["ns", "t1"], "{.metadata.labels.kubernetes\\.io/metadata\\.name}"),
        "t1"
    );
}
}

on_both_backends! {
fn metrics_count_requests_by_verb_and_resource(backend) {
    let sb = widget_sandbox(backend);
    sb.kubectl().args(["get", "wd", "-n", "t1"]).ok();
    let m = sb.metrics();
    let line = m
        .lines()
        .find(|l| {
            l.contains("resource=\"widgets\"") && l.contains("verb=\"LIST\"") && l.contains("code=\"200\"")
        })
        .unwrap_or_else(|| panic!("{m}"));
    assert!(line.starts_with("apiserver_request_total{"), "{line}");
    assert!(line.contains("group=\"conformance.example.com\""));
}
}

on_both_backends! {
fn events_and_describe(backend) {
    let sb = widget_sandbox(backend);
    let out = sb.kubectl().args(["describe", "wd", "w1", "-n", "t1"]).ok();
    assert!(
        out.contains("Name:") && out.contains("w1") && out.contains("Events:"),
        "{out}"
    );
}
}

on_both_backends! {
fn upstream_capi_crds_load_and_behave(backend) {
    let Some(shared) = capi_e2e::shared_dir() else {
        capi_e2e::skip(
            "upstream_capi_crds_load_and_behave: ../shared/capi-crds is not present beside the project",
        );
        return;
    };
    for (dir, version) in [("upstream-v1.14", "v1beta2"), ("upstream-v1.10", "v1beta1")] {
        let sb = TestSandbox::with(capi_e2e::Opts {
            crds_dir: Some(shared.join("capi-crds").join(dir)),
            ..Default::default()
        });
        let o = sb
            .kubectl()
            .args(["apply", "--server-side", "-f"])
            .arg(shared.join("capi-crds").join(dir))
            .output();
        assert!(o.status.success(), "{dir}: {}", stderr(&o));
        sb.kubectl()
            .args([
                "wait",
                "--for=condition=Established",
                "crd",
                "--all",
                "--timeout=30s",
            ])
            .ok();
        let o = sb.kubectl().args(["get", "cluster-api", "-A"]).output();
        assert_eq!(stderr(&o), "No resources found\n", "{dir}");
        let out = sb
            .kubectl()
            .args([
                "explain",
                "machinedeployments.spec.replicas",
                &format!("--api-version=cluster.x-k8s.io/{version}"),
            ])
            .ok();
        assert!(out.contains("FIELD: replicas <integer>"), "{dir}: {out}");
        // Printer columns and scale paths of the upstream CRDs.
        let md = format!(
            "apiVersion: cluster.x-k8s.io/{version}\nkind: MachineDeployment\nmetadata: {{name: md-0, namespace: default}}\nspec:\n  clusterName: c1\n  replicas: 2\n  selector: {{matchLabels: {{a: b}}}}\n  template:\n    metadata: {{labels: {{a: b}}}}\n    spec:\n      clusterName: c1\n      version: v1.33.0\n      bootstrap: {{dataSecretName: x}}\n      infrastructureRef: {}\n",
            if version == "v1beta2" {
                "{apiGroup: infrastructure.cluster.x-k8s.io, kind: DevMachineTemplate, name: t}"
            } else {
                "{apiVersion: infrastructure.cluster.x-k8s.io/v1beta1, kind: DevMachineTemplate, name: t}"
            }
        );
        let o = sb
            .kubectl()
            .args(["apply", "--server-side", "-f", "-"])
            .stdin_str(&md);
        assert!(o.status.success(), "{dir}: {}", stderr(&o));
        let table = sb.kubectl().args(["get", "md", "md-0"]).ok();
        assert!(
            table.lines().next().unwrap().contains("CLUSTER") && table.contains("v1.33.0"),
            "{dir}: {table}"
        );
        assert_eq!(
            sb.kubectl().args(["scale", "md", "md-0", "--replicas=3"]).ok(),
            "machinedeployment.cluster.x-k8s.io/md-0 scaled\n"
        );
        assert_eq!(jsonpath(&sb, &["md", "md-0"], "{.spec.replicas}"), "3");
    }
}
}

/// The committed CRD structure is what `cargo xtask crd-structure` extracts from the upstream
/// CRDs now (a stale file would let the sandbox accept or prune differently from upstream).
#[test]
fn bundled_crd_structure_matches_the_upstream_crds() {
    let Some(shared) = capi_e2e::shared_dir() else {
        capi_e2e::skip(
            "bundled_crd_structure_matches_the_upstream_crds: ../shared/capi-crds is not present beside the project",
        );
        return;
    };
    let root = capi_e2e::project_root();
    for (dir, generation) in xtask::crd_structure::sources(&shared) {
        let want = xtask::crd_structure::extract(&dir, generation)
            .and_then(|s| xtask::crd_structure::render(&s))
            .unwrap();
        let have = std::fs::read_to_string(xtask::crd_structure::target(&root, generation)).unwrap();
        assert!(
            have == want,
            "sandbox/src/api/crd_structure/{generation}.json is stale: run `cargo xtask crd-structure`"
        );
    }
}

on_both_backends! {
fn printer_columns_read_labels_with_escaped_dots(backend) {
    let sb = TestSandbox::on(backend);
    sb.load(&capi_sandbox::process::fixtures::ClusterSpec::new("pc", "default", 1, 1));
    for kind in ["kcp", "kubeadmconfigs", "devmachines", "devclusters"] {
        let out = sb.kubectl().args(["get", kind]).ok();
        let mut lines = out.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
        let at = header.iter().position(|h| *h == "CLUSTER").unwrap_or_else(|| panic!("{kind}: {out}"));
        for l in lines {
            assert_eq!(l.split_whitespace().nth(at), Some("pc"), "{kind}: {out}");
        }
    }
}
}
