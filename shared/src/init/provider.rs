//! Provider types and the `name[:version]` arguments of init and upgrade: clusterctl's seven
//! types, their manifest labels (`cluster-api`, `bootstrap-kubeadm`, ...) and components files.

use serde::Serialize;

use crate::upgrade::providers::TYPE_ORDER;
use crate::{Error, Result};

/// A provider type, in clusterctl's install order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ProviderType {
    /// `CoreProvider`.
    Core,
    /// `BootstrapProvider`.
    Bootstrap,
    /// `ControlPlaneProvider`.
    ControlPlane,
    /// `InfrastructureProvider`.
    Infrastructure,
    /// `IPAMProvider`.
    Ipam,
    /// `RuntimeExtensionProvider`.
    RuntimeExtension,
    /// `AddonProvider`.
    Addon,
}

impl ProviderType {
    /// Every type, in install order.
    pub const ALL: [ProviderType; 7] = [
        ProviderType::Core,
        ProviderType::Bootstrap,
        ProviderType::ControlPlane,
        ProviderType::Infrastructure,
        ProviderType::Ipam,
        ProviderType::RuntimeExtension,
        ProviderType::Addon,
    ];

    /// The inventory's `type` (`CoreProvider`, ...).
    pub fn type_name(self) -> &'static str {
        TYPE_ORDER[self as usize]
    }

    /// The type an inventory `type` names.
    pub fn from_type_name(s: &str) -> Option<ProviderType> {
        Self::ALL.into_iter().find(|t| t.type_name() == s)
    }

    /// The rank of an inventory `type` in install order (unknown types last).
    pub fn rank(type_name: &str) -> usize {
        crate::upgrade::providers::type_rank(type_name)
    }

    /// The manifest label's prefix (none for the core provider).
    fn prefix(self) -> &'static str {
        match self {
            ProviderType::Core => "",
            ProviderType::Bootstrap => "bootstrap-",
            ProviderType::ControlPlane => "control-plane-",
            ProviderType::Infrastructure => "infrastructure-",
            ProviderType::Ipam => "ipam-",
            ProviderType::RuntimeExtension => "runtime-extension-",
            ProviderType::Addon => "addon-",
        }
    }

    /// The components file of a release (`core-components.yaml`, ...).
    pub fn components_file(self) -> String {
        let stem = match self {
            ProviderType::Core => "core",
            ProviderType::Bootstrap => "bootstrap",
            ProviderType::ControlPlane => "control-plane",
            ProviderType::Infrastructure => "infrastructure",
            ProviderType::Ipam => "ipam",
            ProviderType::RuntimeExtension => "runtime-extension",
            ProviderType::Addon => "addon",
        };
        format!("{stem}-components.yaml")
    }

    /// The flag that names providers of this type.
    pub fn flag(self) -> &'static str {
        match self {
            ProviderType::Core => "--core",
            ProviderType::Bootstrap => "--bootstrap",
            ProviderType::ControlPlane => "--control-plane",
            ProviderType::Infrastructure => "--infrastructure",
            ProviderType::Ipam => "--ipam",
            ProviderType::RuntimeExtension => "--runtime-extension",
            ProviderType::Addon => "--addon",
        }
    }

    /// The manifest label of provider `name` of this type: the inventory object's name and
    /// the provider's folder in a repository.
    pub fn label(self, name: &str) -> String {
        format!("{}{name}", self.prefix())
    }
}

/// A provider asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Its type.
    pub ty: ProviderType,
    /// Its name (`kubeadm`, `docker`).
    pub name: String,
    /// The version asked for; `None` is the latest.
    pub version: Option<String>,
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl Wanted {
    /// Parses `name[:version]` given to the type's flag.
    pub fn parse(ty: ProviderType, arg: &str) -> Result<Wanted> {
        let (name, version) = match arg.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        let name = name.to_ascii_lowercase();
        if !is_dns_label(&name) {
            return Err(Error::Usage(format!(
                "{} {arg:?}: the provider name must be a DNS label (lower-case letters, digits and '-'), e.g. {} kubeadm:v1.14.0",
                ty.flag(),
                ty.flag()
            )));
        }
        let version = match version {
            None | Some("latest") => None,
            Some("") => {
                return Err(Error::Usage(format!(
                    "{} {arg:?}: the version after ':' is empty; give name:vX.Y.Z, or the name alone for the latest",
                    ty.flag()
                )));
            }
            Some(v) => {
                let v = if v.starts_with('v') {
                    v.to_string()
                } else {
                    format!("v{v}")
                };
                if crate::version::Semver::parse(&v).is_none() {
                    return Err(Error::Usage(format!(
                        "{} {arg:?}: {v:?} is not a version like v1.14.0",
                        ty.flag()
                    )));
                }
                Some(v)
            }
        };
        Ok(Wanted { ty, name, version })
    }

    /// Its manifest label.
    pub fn label(&self) -> String {
        self.ty.label(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_files_as_clusterctl() {
        assert_eq!(ProviderType::Core.label("cluster-api"), "cluster-api");
        assert_eq!(
            ProviderType::ControlPlane.label("kubeadm"),
            "control-plane-kubeadm"
        );
        assert_eq!(
            ProviderType::RuntimeExtension.components_file(),
            "runtime-extension-components.yaml"
        );
        assert_eq!(ProviderType::rank("InfrastructureProvider"), 3);
        assert_eq!(ProviderType::rank("Other"), 7);
    }

    #[test]
    fn parses_name_and_version() {
        let w = Wanted::parse(ProviderType::Infrastructure, "Docker:1.14.0").unwrap();
        assert_eq!(
            (w.name.as_str(), w.version.as_deref()),
            ("docker", Some("v1.14.0"))
        );
        assert_eq!(w.label(), "infrastructure-docker");
        assert_eq!(
            Wanted::parse(ProviderType::Bootstrap, "kubeadm:latest")
                .unwrap()
                .version,
            None
        );
        for bad in ["kubeadm:", "under_score", "x:not-a-version", ""] {
            let e = Wanted::parse(ProviderType::Bootstrap, bad).unwrap_err();
            assert!(e.to_string().contains("--bootstrap"), "{bad}: {e}");
        }
    }
}
