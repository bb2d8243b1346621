//! Realistic, fully-reconciled Cluster API object sets (with status) for tests and benchmarks
//! that run without the simulated controllers: a Cluster, its DevCluster, a
//! KubeadmControlPlane with Machines, MachineDeployments with MachineSets and Machines, the
//! DevMachines and KubeadmConfigs behind every Machine, templates and an optional
//! MachineHealthCheck. Objects are written through the REST layer (spec, then status).

use serde_json::{Value, json};

use crate::api::crds::Generation;
use crate::api::error::ApiResult;
use crate::api::rest::{Api, Sub, WriteOpts};
use crate::capi::kit::set_versions;

/// The shape of a fixture cluster.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Cluster name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// API generation to write.
    pub generation: Generation,
    /// Kubernetes version.
    pub version: String,
    /// Control plane machines.
    pub control_plane: usize,
    /// MachineDeployments: name suffix and replicas.
    pub deployments: Vec<(String, usize)>,
    /// Names of Machines (worker or control plane) whose node is not ready.
    pub unhealthy: Vec<String>,
    /// Add a MachineHealthCheck for the workers.
    pub health_check: bool,
    /// ClusterClass name, for a topology-managed cluster.
    pub class: Option<String>,
}

impl ClusterSpec {
    /// A healthy cluster with `cp` control plane machines and one MachineDeployment `md-0`.
    pub fn new(name: &str, namespace: &str, cp: usize, workers: usize) -> ClusterSpec {
        ClusterSpec {
            name: name.into(),
            namespace: namespace.into(),
            generation: Generation::V1beta2,
            version: "v1.33.0".into(),
            control_plane: cp,
            deployments: vec![("md-0".into(), workers)],
            unhealthy: vec![],
            health_check: false,
            class: None,
        }
    }
}

const TS: &str = "2026-01-01T00:00:00Z";

fn cond(t: &str, ok: bool, reason_ok: &str, reason_bad: &str, msg: &str) -> Value {
    json!({"type": t, "status": if ok { "True" } else { "False" }, "reason": if ok { reason_ok } else { reason_bad },
           "message": if ok { "" } else { msg }, "lastTransitionTime": TS, "observedGeneration": 1})
}

fn v1_cond(t: &str, ok: bool, reason_bad: &str, msg: &str) -> Value {
    if ok {
        json!({"type": t, "status": "True", "lastTransitionTime": TS})
    } else {
        // v1beta1 conditions leave an empty message out (the schema wants at least 1 character).
        let mut c = json!({"type": t, "status": "False", "severity": "Warning", "reason": reason_bad, "lastTransitionTime": TS});
        if !msg.is_empty() {
            c["message"] = json!(msg);
        }
        c
    }
}

struct Gen<'a> {
    s: &'a ClusterSpec,
    out: Vec<(String, String, Value, Option<Value>)>,
}

impl Gen<'_> {
    fn v2(&self) -> bool {
        self.s.generation == Generation::V1beta2
    }
    fn av(&self, group: &str) -> String {
        format!("{group}/{}", self.s.generation.as_str())
    }
    fn reference(&self, group: &str, kind: &str, name: &str) -> Value {
        if self.v2() {
            json!({"apiGroup": group, "kind": kind, "name": name})
        } else {
            json!({"apiVersion": self.av(group), "kind": kind, "name": name, "namespace": self.s.namespace})
        }
    }
    fn meta(&self, name: &str, labels: Value, owner: Option<(&str, &str, &str)>) -> Value {
        let mut m = json!({"name": name, "namespace": self.s.namespace, "labels": labels});
        if let Some((av, kind, oname)) = owner {
            // Owner uids are filled in at load time (the owner's real uid).
            m["ownerReferences"] = json!([{"apiVersion": av, "kind": kind, "name": oname, "uid": "", "controller": true, "blockOwnerDeletion": true}]);
        }
        m
    }
    /// A template's metadata: the Cluster owns it (not as controller), as the MachineDeployment
    /// and KubeadmControlPlane controllers make it.
    fn template_meta(&self, name: &str) -> Value {
        let mut m = self.meta(name, self.labels(&[]), None);
        m["ownerReferences"] = json!([{"apiVersion": self.av("cluster.x-k8s.io"), "kind": "Cluster", "name": self.s.name, "uid": ""}]);
        m
    }
    fn push(&mut self, group: &str, plural: &str, obj: Value, status: Option<Value>) {
        self.out.push((group.into(), plural.into(), obj, status));
    }
    fn labels(&self, extra: &[(&str, &str)]) -> Value {
        let mut l = json!({"cluster.x-k8s.io/cluster-name": self.s.name});
        for (k, v) in extra {
            l[*k] = json!(v);
        }
        l
    }

    fn machine(&mut self, name: &str, owner: (&str, &str, &str), labels: Value, failure_domain: &str) {
        let s = self.s;
        let healthy = !s.unhealthy.iter().any(|u| u == name);
        let infra = self.av("infrastructure.cluster.x-k8s.io");
        let boot = self.av("bootstrap.cluster.x-k8s.io");
        let core = self.av("cluster.x-k8s.io");
        let provider_id = format!("in-memory://{name}");
        let machine = json!({
            "apiVersion": core, "kind": "Machine",
            "metadata": self.meta(name, labels.clone(), Some(owner)),
            "spec": {"clusterName": s.name, "version": s.version, "providerID": provider_id, "failureDomain": failure_domain,
                "bootstrap": {"configRef": self.reference("bootstrap.cluster.x-k8s.io", "KubeadmConfig", name), "dataSecretName": name},
                "infrastructureRef": self.reference("infrastructure.cluster.x-k8s.io", "DevMachine", name)}
        });
        let node_msg = "* NodeHealthy: Node not ready (kubelet stopped posting node status)";
        let status = if self.v2() {
            json!({
                "phase": "Running", "observedGeneration": 1, "nodeRef": {"name": name},
                "nodeInfo": crate::capi::workload::node_system_info(name, &s.version, "in-memory (capi-sandbox)"),
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "failureDomain": failure_domain, "lastUpdated": TS,
                "initialization": {"infrastructureProvisioned": true, "bootstrapDataSecretCreated": true},
                "conditions": [
                    cond("Available", healthy, "Available", "NotAvailable", "* Ready: condition is False"),
                    cond("Ready", healthy, "Ready", "NotReady", node_msg),
                    cond("UpToDate", true, "UpToDate", "NotUpToDate", ""),
                    cond("BootstrapConfigReady", true, "Ready", "NotReady", ""),
                    cond("InfrastructureReady", true, "Ready", "NotReady", ""),
                    cond("NodeHealthy", healthy, "NodeHealthy", "NodeNotHealthy", "Node not ready"),
                    cond("NodeReady", healthy, "NodeReady", "NodeNotReady", "kubelet stopped posting node status"),
                    cond("HealthCheckSucceeded", healthy || !s.health_check, "HealthCheckSucceeded", "UnhealthyNode", "Condition Ready on Node is reporting status Unknown"),
                    json!({"type": "Deleting", "status": "False", "reason": "NotDeleting", "message": "", "lastTransitionTime": TS}),
                    json!({"type": "Paused", "status": "False", "reason": "NotPaused", "message": "", "lastTransitionTime": TS}),
                ],
                "deprecated": {"v1beta1": {"conditions": [v1_cond("Ready", healthy, "NodeNotReady", "kubelet stopped posting node status")]}}
            })
        } else {
            json!({
                "phase": "Running", "observedGeneration": 1, "nodeRef": {"apiVersion": "v1", "kind": "Node", "name": name},
                "bootstrapReady": true, "infrastructureReady": true, "lastUpdated": TS,
                "conditions": [v1_cond("Ready", healthy, "NodeNotReady", "kubelet stopped posting node status"), v1_cond("NodeHealthy", healthy, "NodeNotReady", "")],
                "v1beta2": {"conditions": [
                    cond("Available", healthy, "Available", "NotAvailable", ""),
                    cond("Ready", healthy, "Ready", "NotReady", node_msg),
                    cond("UpToDate", true, "UpToDate", "NotUpToDate", ""),
                ]}
            })
        };
        self.push("cluster.x-k8s.io", "machines", machine, Some(status));
        let owner = (core.as_str(), "Machine", name);
        let dm = json!({"apiVersion": infra, "kind": "DevMachine", "metadata": self.meta(name, labels.clone(), Some(owner)),
            "spec": {"providerID": provider_id, "backend": {"inMemory": {}}}});
        let dm_status = if self.v2() {
            json!({"initialization": {"provisioned": true}, "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                   "conditions": [cond("Ready", true, "Ready", "NotReady", ""), cond("Provisioned", true, "Provisioned", "NotProvisioned", "")]})
        } else {
            json!({"ready": true, "conditions": [v1_cond("Ready", true, "", "")]})
        };
        self.push(
            "infrastructure.cluster.x-k8s.io",
            "devmachines",
            dm,
            Some(dm_status),
        );
        let kc = json!({"apiVersion": boot, "kind": "KubeadmConfig", "metadata": self.meta(name, labels, Some(owner)), "spec": {"format": "cloud-config"}});
        let kc_status = if self.v2() {
            json!({"dataSecretName": name, "initialization": {"dataSecretCreated": true}, "conditions": [cond("Ready", true, "Ready", "NotReady", "")]})
        } else {
            json!({"dataSecretName": name, "ready": true, "conditions": [v1_cond("Ready", true, "", "")]})
        };
        self.push(
            "bootstrap.cluster.x-k8s.io",
            "kubeadmconfigs",
            kc,
            Some(kc_status),
        );
        // Its bootstrap data, named after it and owned by it (the owner's uid is filled in
        // at load time).
        let owner = json!({"apiVersion": boot, "kind": "KubeadmConfig", "name": name, "uid": "", "controller": true, "blockOwnerDeletion": true});
        let secret = crate::capi::machine::bootstrap_secret(&s.namespace, name, &s.name, owner);
        self.push("", "secrets", secret, None);
    }

    fn counters(&self, replicas: usize, ready: usize) -> Value {
        if self.v2() {
            json!({"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "upToDateReplicas": replicas})
        } else {
            json!({"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": replicas, "unavailableReplicas": replicas - ready,
                   "v1beta2": {"readyReplicas": ready, "availableReplicas": ready, "upToDateReplicas": replicas}})
        }
    }

    fn build(mut self) -> Vec<(String, String, Value, Option<Value>)> {
        let s = self.s;
        let (name, ns) = (s.name.as_str(), s.namespace.as_str());
        let core = self.av("cluster.x-k8s.io");
        let cp_name = format!("{name}-control-plane");
        let unhealthy = |prefix: &str| s.unhealthy.iter().filter(|u| u.starts_with(prefix)).count();
        let cp_ready = s.control_plane - unhealthy(&cp_name);
        let workers: usize = s.deployments.iter().map(|(_, r)| r).sum();
        let worker_ready = workers - s.unhealthy.iter().filter(|u| !u.starts_with(&cp_name)).count();
        let available = cp_ready == s.control_plane && worker_ready == workers;
        let mut cluster = json!({
            "apiVersion": core, "kind": "Cluster",
            "metadata": {"name": name, "namespace": ns, "labels": {"cluster.x-k8s.io/cluster-name": name}},
            "spec": {
                "clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}, "services": {"cidrBlocks": ["10.128.0.0/12"]}, "serviceDomain": "cluster.local"},
                "controlPlaneEndpoint": {"host": "127.0.0.1", "port": 6443},
                "infrastructureRef": self.reference("infrastructure.cluster.x-k8s.io", "DevCluster", name),
                "controlPlaneRef": self.reference("controlplane.cluster.x-k8s.io", "KubeadmControlPlane", &cp_name),
            }
        });
        if let Some(class) = &s.class {
            cluster["spec"]["topology"] = if self.v2() {
                json!({"classRef": {"name": class}, "version": s.version, "controlPlane": {"replicas": s.control_plane},
                       "workers": {"machineDeployments": s.deployments.iter().map(|(n, r)| json!({"name": n, "class": "default-worker", "replicas": r})).collect::<Vec<_>>()}})
            } else {
                json!({"class": class, "version": s.version, "controlPlane": {"replicas": s.control_plane},
                       "workers": {"machineDeployments": s.deployments.iter().map(|(n, r)| json!({"name": n, "class": "default-worker", "replicas": r})).collect::<Vec<_>>()}})
            };
        }
        let pool = |desired: usize, ready: usize| {
            let mut p = json!({"desiredReplicas": desired, "replicas": desired, "readyReplicas": ready, "availableReplicas": ready, "upToDateReplicas": desired});
            set_versions(&mut p, "versions", [(&s.version, &(desired as i64))]);
            p
        };
        let cluster_status = if self.v2() {
            json!({
                "phase": "Provisioned", "observedGeneration": 1,
                "initialization": {"infrastructureProvisioned": true, "controlPlaneInitialized": true},
                "controlPlane": pool(s.control_plane, cp_ready), "workers": pool(workers, worker_ready),
                "conditions": [
                    cond("Available", available, "Available", "NotAvailable", "* WorkersAvailable: some worker machines are not available"),
                    cond("InfrastructureReady", true, "Ready", "NotReady", ""),
                    cond("ControlPlaneInitialized", true, "Initialized", "NotInitialized", ""),
                    cond("ControlPlaneAvailable", cp_ready == s.control_plane, "Available", "NotAvailable", ""),
                    cond("WorkersAvailable", worker_ready == workers, "Available", "NotAvailable", "some machines are not available"),
                    json!({"type": "RollingOut", "status": "False", "reason": "NotRollingOut", "message": "", "lastTransitionTime": TS}),
                    json!({"type": "Paused", "status": "False", "reason": "NotPaused", "message": "", "lastTransitionTime": TS}),
                ]
            })
        } else {
            json!({
                "phase": "Provisioned", "infrastructureReady": true, "controlPlaneReady": true, "observedGeneration": 1,
                "conditions": [v1_cond("Ready", available, "WaitingForAvailableMachines", "some machines are not ready")],
                "v1beta2": {"conditions": [cond("Available", available, "Available", "NotAvailable", "")],
                            "controlPlane": pool(s.control_plane, cp_ready), "workers": pool(workers, worker_ready)}
            })
        };
        self.push("cluster.x-k8s.io", "clusters", cluster, Some(cluster_status));
        let infra = self.av("infrastructure.cluster.x-k8s.io");
        let dc = json!({"apiVersion": infra, "kind": "DevCluster", "metadata": self.meta(name, self.labels(&[]), Some((&core, "Cluster", name))),
            "spec": {"controlPlaneEndpoint": {"host": "127.0.0.1", "port": 6443}, "backend": {"inMemory": {}}}});
        let dc_status = if self.v2() {
            json!({"initialization": {"provisioned": true}, "conditions": [cond("Ready", true, "Ready", "NotReady", "")]})
        } else {
            json!({"ready": true, "conditions": [v1_cond("Ready", true, "", "")]})
        };
        self.push(
            "infrastructure.cluster.x-k8s.io",
            "devclusters",
            dc,
            Some(dc_status),
        );
        // Control plane.
        let cp_tmpl = format!("{name}-control-plane");
        self.push("infrastructure.cluster.x-k8s.io", "devmachinetemplates",
            json!({"apiVersion": infra, "kind": "DevMachineTemplate", "metadata": self.template_meta(&cp_tmpl), "spec": {"template": {"spec": {"backend": {"inMemory": {}}}}}}), None);
        let cpav = self.av("controlplane.cluster.x-k8s.io");
        let mut kcp = json!({"apiVersion": cpav, "kind": "KubeadmControlPlane", "metadata": self.meta(&cp_name, self.labels(&[]), Some((&core, "Cluster", name))),
            "spec": {"replicas": s.control_plane, "version": s.version, "kubeadmConfigSpec": {"format": "cloud-config"}}});
        let tref = self.reference("infrastructure.cluster.x-k8s.io", "DevMachineTemplate", &cp_tmpl);
        if self.v2() {
            kcp["spec"]["machineTemplate"] = json!({"spec": {"infrastructureRef": tref}});
        } else {
            kcp["spec"]["machineTemplate"] = json!({"infrastructureRef": tref});
        }
        let mut kcp_status = self.counters(s.control_plane, cp_ready);
        kcp_status["selector"] = json!(format!(
            "cluster.x-k8s.io/cluster-name={name},cluster.x-k8s.io/control-plane"
        ));
        kcp_status["version"] = json!(s.version);
        kcp_status["observedGeneration"] = json!(1);
        if self.v2() {
            kcp_status["initialization"] = json!({"controlPlaneInitialized": true});
            set_versions(
                &mut kcp_status,
                "versions",
                [(&s.version, &(s.control_plane as i64))],
            );
            kcp_status["conditions"] = json!([
                cond(
                    "Available",
                    cp_ready > s.control_plane / 2,
                    "Available",
                    "NotAvailable",
                    ""
                ),
                cond("Initialized", true, "Initialized", "NotInitialized", ""),
                cond(
                    "MachinesReady",
                    cp_ready == s.control_plane,
                    "Ready",
                    "NotReady",
                    "some machines are not ready"
                ),
                cond("MachinesUpToDate", true, "UpToDate", "NotUpToDate", ""),
                json!({"type": "RollingOut", "status": "False", "reason": "NotRollingOut", "message": "", "lastTransitionTime": TS}),
            ]);
        } else {
            kcp_status["initialized"] = json!(true);
            kcp_status["ready"] = json!(true);
            kcp_status["conditions"] = json!([v1_cond(
                "Ready",
                cp_ready == s.control_plane,
                "MachinesNotReady",
                ""
            )]);
        }
        self.push(
            "controlplane.cluster.x-k8s.io",
            "kubeadmcontrolplanes",
            kcp,
            Some(kcp_status),
        );
        for i in 0..s.control_plane {
            let m = format!("{cp_name}-{i:05}");
            let labels = self.labels(&[
                ("cluster.x-k8s.io/control-plane", ""),
                ("cluster.x-k8s.io/control-plane-name", &cp_name),
            ]);
            self.machine(
                &m,
                (&cpav, "KubeadmControlPlane", &cp_name),
                labels,
                &format!("fd{}", i % 3 + 1),
            );
        }
        // Workers.
        let boot = self.av("bootstrap.cluster.x-k8s.io");
        for (md, replicas) in s.deployments.clone() {
            let mdname = format!("{name}-{md}");
            let msname = format!("{mdname}-7d9f8c");
            self.push("bootstrap.cluster.x-k8s.io", "kubeadmconfigtemplates",
                json!({"apiVersion": boot, "kind": "KubeadmConfigTemplate", "metadata": self.template_meta(&mdname), "spec": {"template": {"spec": {"format": "cloud-config"}}}}), None);
            self.push("infrastructure.cluster.x-k8s.io", "devmachinetemplates",
                json!({"apiVersion": infra, "kind": "DevMachineTemplate", "metadata": self.template_meta(&mdname), "spec": {"template": {"spec": {"backend": {"inMemory": {}}}}}}), None);
            let sel = json!({"matchLabels": {"cluster.x-k8s.io/cluster-name": name, "cluster.x-k8s.io/deployment-name": mdname}});
            let template = json!({"metadata": {"labels": {"cluster.x-k8s.io/cluster-name": name, "cluster.x-k8s.io/deployment-name": mdname}},
                "spec": {"clusterName": name, "version": s.version,
                    "bootstrap": {"configRef": self.reference("bootstrap.cluster.x-k8s.io", "KubeadmConfigTemplate", &mdname)},
                    "infrastructureRef": self.reference("infrastructure.cluster.x-k8s.io", "DevMachineTemplate", &mdname)}});
            let ready = replicas - s.unhealthy.iter().filter(|u| u.starts_with(&msname)).count();
            let mut md_status = self.counters(replicas, ready);
            md_status["selector"] = json!(format!(
                "cluster.x-k8s.io/cluster-name={name},cluster.x-k8s.io/deployment-name={mdname}"
            ));
            md_status["phase"] = json!("Running");
            md_status["observedGeneration"] = json!(1);
            if self.v2() {
                md_status["conditions"] = json!([
                    cond(
                        "Available",
                        ready == replicas,
                        "Available",
                        "NotAvailable",
                        &format!("{ready} available replicas, at least {replicas} required")
                    ),
                    cond("MachinesReady", ready == replicas, "Ready", "NotReady", ""),
                    cond("MachinesUpToDate", true, "UpToDate", "NotUpToDate", ""),
                    json!({"type": "RollingOut", "status": "False", "reason": "NotRollingOut", "message": "", "lastTransitionTime": TS}),
                    json!({"type": "ScalingUp", "status": "False", "reason": "NotScalingUp", "message": "", "lastTransitionTime": TS}),
                    json!({"type": "ScalingDown", "status": "False", "reason": "NotScalingDown", "message": "", "lastTransitionTime": TS}),
                ]);
                set_versions(&mut md_status, "versions", [(&s.version, &(replicas as i64))]);
            } else {
                md_status["conditions"] = json!([v1_cond(
                    "Ready",
                    ready == replicas,
                    "WaitingForAvailableMachines",
                    ""
                )]);
            }
            let mut md_obj = json!({"apiVersion": core, "kind": "MachineDeployment", "metadata": self.meta(&mdname, self.labels(&[]), None),
                "spec": {"clusterName": name, "replicas": replicas, "selector": sel, "template": template}});
            md_obj["metadata"]["annotations"] = json!({"machinedeployment.clusters.x-k8s.io/revision": "1"});
            md_obj["metadata"]["ownerReferences"] =
                json!([{"apiVersion": core, "kind": "Cluster", "name": name, "uid": ""}]);
            self.push(
                "cluster.x-k8s.io",
                "machinedeployments",
                md_obj,
                Some(md_status.clone()),
            );
            let ms_labels = self.labels(&[
                ("cluster.x-k8s.io/deployment-name", &mdname),
                ("machine-template-hash", "7d9f8c"),
            ]);
            let mut ms_obj = json!({"apiVersion": core, "kind": "MachineSet", "metadata": self.meta(&msname, ms_labels.clone(), Some((&core, "MachineDeployment", &mdname))),
                "spec": {"clusterName": name, "replicas": replicas, "selector": sel, "template": template}});
            ms_obj["metadata"]["annotations"] = json!({"machinedeployment.clusters.x-k8s.io/revision": "1", "machinedeployment.clusters.x-k8s.io/desired-replicas": replicas.to_string()});
            let mut ms_status = self.counters(replicas, ready);
            ms_status["selector"] = md_status["selector"].clone();
            self.push("cluster.x-k8s.io", "machinesets", ms_obj, Some(ms_status));
            for i in 0..replicas {
                let m = format!("{msname}-{i:05}");
                let labels = self.labels(&[
                    ("cluster.x-k8s.io/deployment-name", &mdname),
                    ("cluster.x-k8s.io/set-name", &msname),
                    ("machine-template-hash", "7d9f8c"),
                ]);
                self.machine(
                    &m,
                    (&core, "MachineSet", &msname),
                    labels,
                    &format!("fd{}", i % 3 + 1),
                );
            }
        }
        if s.health_check {
            let sel = json!({"matchLabels": {"cluster.x-k8s.io/cluster-name": name}, "matchExpressions": [{"key": "cluster.x-k8s.io/deployment-name", "operator": "Exists"}]});
            let mhc = json!({"apiVersion": core, "kind": "MachineHealthCheck", "metadata": self.meta(&format!("{name}-workers"), self.labels(&[]), None),
                "spec": {"clusterName": name, "selector": sel}});
            let allowed = cond("RemediationAllowed", true, "RemediationAllowed", "", "");
            let status = if self.v2() {
                json!({"expectedMachines": workers, "currentHealthy": worker_ready, "remediationsAllowed": 1, "conditions": [allowed]})
            } else {
                json!({"expectedMachines": workers, "currentHealthy": worker_ready, "remediationsAllowed": 1,
                    "conditions": [v1_cond("RemediationAllowed", true, "", "")], "v1beta2": {"conditions": [allowed]}})
            };
            self.push("cluster.x-k8s.io", "machinehealthchecks", mhc, Some(status));
        }
        self.out
    }
}

/// The objects of a fixture cluster: (group, plural, object, status).
pub fn cluster_objects(s: &ClusterSpec) -> Vec<(String, String, Value, Option<Value>)> {
    Gen { s, out: vec![] }.build()
}

/// The (kind, name) of each owner a fixture object names (their uids are filled in at load time).
pub fn owner_keys(obj: &Value) -> Vec<(String, String)> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| refs.iter().map(owner_key).collect())
        .unwrap_or_default()
}

fn owner_key(r: &Value) -> (String, String) {
    (
        r["kind"].as_str().unwrap_or("").to_string(),
        r["name"].as_str().unwrap_or("").to_string(),
    )
}

/// Sets each owner reference's uid from `uids` (by owner kind and name), where known.
pub fn fill_owner_uids(obj: &mut Value, uids: &std::collections::HashMap<(String, String), String>) {
    if let Some(refs) = obj
        .pointer_mut("/metadata/ownerReferences")
        .and_then(Value::as_array_mut)
    {
        for r in refs.iter_mut() {
            if let Some(uid) = uids.get(&owner_key(r)) {
                r["uid"] = json!(uid);
            }
        }
    }
}

/// Writes a fixture cluster: namespace, objects (owner uids resolved), then statuses.
pub fn load(api: &Api, s: &ClusterSpec) -> ApiResult<usize> {
    load_objects(api, &s.namespace, cluster_objects(s))
}

/// Writes fixture objects (group, plural, object, status) into a namespace, creating it if
/// needed: each object, then its status; owner uids are resolved from earlier objects.
pub fn load_objects(
    api: &Api,
    namespace: &str,
    objects: Vec<(String, String, Value, Option<Value>)>,
) -> ApiResult<usize> {
    let opts = WriteOpts::controller("fixtures");
    if let Some(nsdef) = api.registry.get("", "namespaces")
        && api.get_stored(&nsdef, None, namespace).is_none()
    {
        api.create(
            &nsdef,
            "v1",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
            &opts,
        )?;
    }
    let mut n = 0;
    let mut uids: std::collections::HashMap<(String, String), String> = Default::default();
    for (group, plural, mut obj, status) in objects {
        let def = api
            .registry
            .get(&group, &plural)
            .ok_or_else(crate::api::error::ApiError::not_found_path)?;
        fill_owner_uids(&mut obj, &uids);
        let version = def.storage_version.clone();
        let created = api.create(&def, &version, Some(namespace), obj, &opts)?;
        let name = created.value["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        uids.insert(
            (def.kind.clone(), name.clone()),
            created.value["metadata"]["uid"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
        if let Some(st) = status {
            let mut o = created.value;
            o["status"] = st;
            api.update(&def, &version, Some(namespace), &name, Sub::Status, o, &opts)?;
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_counts() {
        let s = ClusterSpec::new("c", "ns", 3, 4);
        let objs = cluster_objects(&s);
        let count = |p: &str| objs.iter().filter(|(_, pl, _, _)| pl == p).count();
        assert_eq!(count("machines"), 7);
        assert_eq!(count("devmachines"), 7);
        assert_eq!(count("kubeadmconfigs"), 7);
        assert_eq!(count("machinedeployments"), 1);
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use crate::process::server::{Sandbox, SandboxConfig};

    /// Every fixture shape passes the bundled (upstream-structured) schemas, in both
    /// generations: what the real API server would also accept.
    #[test]
    fn every_fixture_shape_is_valid() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        for g in [Generation::V1beta2, Generation::V1beta1] {
            let sb = rt
                .block_on(Sandbox::start(SandboxConfig {
                    generation: g,
                    controllers: false,
                    ..Default::default()
                }))
                .unwrap();
            let mut shapes = vec![
                ClusterSpec::new("plain", "default", 3, 2),
                ClusterSpec::new("no-workers", "default", 1, 0),
            ];
            let mut sick = ClusterSpec::new("sick", "default", 3, 3);
            sick.unhealthy = vec!["sick-control-plane-00001".into(), "sick-md-0-7d9f8c-00000".into()];
            sick.health_check = true;
            sick.deployments.push(("md-1".into(), 0));
            shapes.push(sick);
            let mut class = ClusterSpec::new("classy", "default", 1, 1);
            class.class = Some("quick-start".into());
            shapes.push(class);
            for mut s in shapes {
                s.generation = g;
                load(sb.api(), &s).unwrap_or_else(|e| panic!("{} {}: {e:?}", g.as_str(), s.name));
            }
            rt.block_on(sb.shutdown());
        }
    }
}
