//! What is built and how: one entry per binary, naming the Go module folder of ours that pins it
//! (a committed go.mod/go.sum under `realstack/go/`) and the flags that stamp its release into it.
//! The release itself is read from that go.mod, so a pin lives in one place. A change of go.mod,
//! go.sum, these flags or the Go toolchain makes a new build.

/// One binary built from a Go module.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    /// The binary's name (also its file name).
    pub name: &'static str,
    /// The folder under `realstack/go/` holding the module.
    pub module_dir: &'static str,
    /// The main package to build.
    pub package: &'static str,
    /// The required module whose version is the release (read from go.mod).
    pub release_of: &'static str,
    /// `-ldflags` stamping the release: `{version}`, `{major}` and `{minor}` are filled in.
    pub ldflags: &'static str,
}

const K8S_LDFLAGS: &str = "-X k8s.io/component-base/version.gitVersion={version} -X k8s.io/component-base/version.gitMajor={major} -X k8s.io/component-base/version.gitMinor={minor} -X k8s.io/client-go/pkg/version.gitVersion={version}";
const CAPI_LDFLAGS: &str = "-X sigs.k8s.io/cluster-api/version.gitVersion={version} -X sigs.k8s.io/cluster-api/version.gitMajor={major} -X sigs.k8s.io/cluster-api/version.gitMinor={minor}";

/// etcd, the storage of the API server.
pub const ETCD: Component = Component {
    name: "etcd",
    module_dir: "etcd",
    package: "go.etcd.io/etcd/server/v3",
    release_of: "go.etcd.io/etcd/server/v3",
    ldflags: "",
};

/// kube-apiserver.
pub const KUBE_APISERVER: Component = Component {
    name: "kube-apiserver",
    module_dir: "kubernetes",
    package: "k8s.io/kubernetes/cmd/kube-apiserver",
    release_of: "k8s.io/kubernetes",
    ldflags: K8S_LDFLAGS,
};

/// kube-controller-manager, run with only the garbage collector and the namespace controller:
/// what every real cluster has and Cluster API relies on (owner-reference cascades, namespace
/// deletion).
pub const KUBE_CONTROLLER_MANAGER: Component = Component {
    name: "kube-controller-manager",
    module_dir: "kubernetes",
    package: "k8s.io/kubernetes/cmd/kube-controller-manager",
    release_of: "k8s.io/kubernetes",
    ldflags: K8S_LDFLAGS,
};

/// clusterctl, run beside `kubectl capi` in comparisons.
pub const CLUSTERCTL: Component = Component {
    name: "clusterctl",
    module_dir: "clusterctl",
    package: "sigs.k8s.io/cluster-api/cmd/clusterctl",
    release_of: "sigs.k8s.io/cluster-api",
    ldflags: CAPI_LDFLAGS,
};

/// Cluster API's core manager (Cluster, MachineDeployment, MachineSet, Machine, MachinePool,
/// MachineHealthCheck, ClusterClass topology, ClusterResourceSet).
pub const CAPI_CORE: Component = Component {
    name: "capi-controller-manager",
    module_dir: "cluster-api",
    package: "sigs.k8s.io/cluster-api/core",
    release_of: "sigs.k8s.io/cluster-api",
    ldflags: CAPI_LDFLAGS,
};

/// The kubeadm bootstrap provider's manager (KubeadmConfig).
pub const CAPI_KUBEADM_BOOTSTRAP: Component = Component {
    name: "capi-kubeadm-bootstrap-controller-manager",
    module_dir: "cluster-api",
    package: "sigs.k8s.io/cluster-api/bootstrap/kubeadm",
    release_of: "sigs.k8s.io/cluster-api",
    ldflags: CAPI_LDFLAGS,
};

/// The kubeadm control plane provider's manager (KubeadmControlPlane).
pub const CAPI_KUBEADM_CONTROL_PLANE: Component = Component {
    name: "capi-kubeadm-control-plane-controller-manager",
    module_dir: "cluster-api",
    package: "sigs.k8s.io/cluster-api/controlplane/kubeadm",
    release_of: "sigs.k8s.io/cluster-api",
    ldflags: CAPI_LDFLAGS,
};

/// The Dev infrastructure provider (CAPD's manager; its `DevCluster`/`DevMachine` in-memory
/// backend needs no Docker), from Cluster API's test module of the same release.
pub const CAPI_DEV_INFRASTRUCTURE: Component = Component {
    name: "capd-controller-manager",
    module_dir: "cluster-api",
    package: "sigs.k8s.io/cluster-api/test/infrastructure/docker",
    release_of: "sigs.k8s.io/cluster-api/test",
    ldflags: CAPI_LDFLAGS,
};

/// Every binary of the real stack, in build order (smallest first, so a missing toolchain or
/// module shows early).
pub const COMPONENTS: &[Component] = &[
    ETCD,
    KUBE_APISERVER,
    KUBE_CONTROLLER_MANAGER,
    CLUSTERCTL,
    CAPI_CORE,
    CAPI_KUBEADM_BOOTSTRAP,
    CAPI_KUBEADM_CONTROL_PLANE,
    CAPI_DEV_INFRASTRUCTURE,
];

/// The version `go.mod` requires of `module` (`require module vX.Y.Z`, alone or in a block).
pub fn required_version(go_mod: &str, module: &str) -> Option<String> {
    go_mod.lines().find_map(|line| {
        let line = line.trim().strip_prefix("require ").unwrap_or(line.trim());
        let mut words = line.split_whitespace();
        (words.next()? == module).then(|| words.next().map(str::to_string))?
    })
}

/// The `-ldflags` of `c` at `version` (`v1.34.4` gives major `1`, minor `34`).
pub fn ldflags(c: &Component, version: &str) -> String {
    let mut parts = version.trim_start_matches('v').split('.');
    let major = parts.next().unwrap_or("0");
    let minor = parts.next().unwrap_or("0");
    c.ldflags
        .replace("{version}", version)
        .replace("{major}", major)
        .replace("{minor}", minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_required_version_alone_or_in_a_block() {
        let m = "module x\n\nrequire k8s.io/kubernetes v1.34.4\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 v3.6.16\n\tgithub.com/a/b v1.0.0 // indirect\n)\nreplace k8s.io/api => k8s.io/api v0.34.4\n";
        assert_eq!(
            required_version(m, "k8s.io/kubernetes").as_deref(),
            Some("v1.34.4")
        );
        assert_eq!(
            required_version(m, "go.etcd.io/etcd/server/v3").as_deref(),
            Some("v3.6.16")
        );
        assert_eq!(required_version(m, "k8s.io/api"), None);
    }

    #[test]
    fn stamps_major_and_minor() {
        let f = ldflags(&KUBE_APISERVER, "v1.34.4");
        assert!(f.contains("gitVersion=v1.34.4"), "{f}");
        assert!(f.contains("gitMajor=1 "), "{f}");
        assert!(f.contains("gitMinor=34 "), "{f}");
    }
}
