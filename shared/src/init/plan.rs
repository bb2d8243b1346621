//! What an init run installs: clusterctl's defaults on a first run, each provider's release and
//! prepared components, and the checks made before any write (one instance per provider,
//! exactly one core provider, contracts compatible with the core's, CRD names).

use serde::Serialize;

use super::components::{self, Components, Inputs};
use super::provider::{ProviderType, Wanted};
use super::repository::{Release, Repositories, compatible};
use crate::generate::Values;
use crate::upgrade::providers::Installed;
use crate::{Error, Result};

/// What happens to one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Installed by this run.
    Install,
    /// Already installed at this version in this namespace: nothing is written.
    Unchanged,
}

/// One provider of the run.
#[derive(Debug, Clone)]
pub struct Step {
    /// What was asked.
    pub wanted: Wanted,
    /// The release chosen.
    pub release: Release,
    /// Its components, ready to apply.
    pub components: Components,
    /// What happens.
    pub action: Action,
}

/// The providers a run installs: those asked for plus, when no core provider is installed yet
/// (a first run), clusterctl's defaults for what was not asked: core `cluster-api`, bootstrap
/// and control plane `kubeadm`. `skip_bootstrap`/`skip_control_plane` are `-b -`/`-c -`.
pub fn with_defaults(
    mut wanted: Vec<Wanted>,
    installed: &[Installed],
    skip_bootstrap: bool,
    skip_control_plane: bool,
) -> Vec<Wanted> {
    let first_run = !installed
        .iter()
        .any(|p| p.provider_type == ProviderType::Core.type_name());
    if first_run {
        let has = |t: ProviderType| wanted.iter().any(|w| w.ty == t);
        let mut defaults = vec![];
        if !has(ProviderType::Core) {
            defaults.push((ProviderType::Core, "cluster-api"));
        }
        if !has(ProviderType::Bootstrap) && !skip_bootstrap {
            defaults.push((ProviderType::Bootstrap, "kubeadm"));
        }
        if !has(ProviderType::ControlPlane) && !skip_control_plane {
            defaults.push((ProviderType::ControlPlane, "kubeadm"));
        }
        for (ty, name) in defaults {
            wanted.push(Wanted {
                ty,
                name: name.into(),
                version: None,
            });
        }
    }
    wanted.sort_by_key(|w| w.ty);
    wanted
}

/// The run's settings.
pub struct Settings<'a> {
    /// `-n/--target-namespace`.
    pub target_namespace: Option<&'a str>,
    /// Variable values.
    pub values: &'a Values<'a>,
    /// `--validate`.
    pub validate: bool,
    /// Leave variables without a value unresolved (`init list-images`).
    pub keep_missing: bool,
}

/// Resolves, prepares and checks every provider. Nothing is written.
pub async fn build(
    repos: &Repositories,
    wanted: &[Wanted],
    installed: &[Installed],
    s: &Settings<'_>,
) -> Result<Vec<Step>> {
    let mut labels: Vec<String> = wanted.iter().map(Wanted::label).collect();
    labels.sort();
    if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::Usage(format!("{} is asked for twice", w[0])));
    }
    let mut steps: Vec<Step> = vec![];
    let mut core_contract = core_contract_installed(repos, installed).await;
    for w in wanted {
        let release = repos.release(w, core_contract.as_deref()).await?;
        if w.ty == ProviderType::Core {
            core_contract = release.contract().map(str::to_string);
        }
        let origin = format!("{}/{}/{}", release.label, release.version, release.file);
        let text = repos.read(&release, &release.file).await?;
        let inputs = Inputs {
            label: &release.label,
            target_namespace: s.target_namespace,
            values: s.values,
            images: &repos.config.images,
            keep_missing: s.keep_missing,
        };
        let components = components::prepare(&text, &origin, &inputs)?;
        let same = installed
            .iter()
            .find(|p| p.name == release.label && p.provider_type == w.ty.type_name());
        let action = match same {
            Some(p) if p.version == release.version && p.namespace == components.namespace => {
                Action::Unchanged
            }
            Some(p) if s.validate => {
                return Err(Error::Refused(format!(
                    "{} is already installed ({} in namespace {}); a provider is installed once: use `kubectl capi upgrade providers apply` to change its version",
                    p.name, p.version, p.namespace
                )));
            }
            _ => Action::Install,
        };
        steps.push(Step {
            wanted: w.clone(),
            release,
            components,
            action,
        });
    }
    if s.validate {
        validate(&steps, installed, core_contract.as_deref())?;
    }
    Ok(steps)
}

/// The installed core provider's contract, from the repository's metadata of its version.
async fn core_contract_installed(repos: &Repositories, installed: &[Installed]) -> Option<String> {
    let core = installed
        .iter()
        .find(|p| p.provider_type == ProviderType::Core.type_name())?;
    let w = Wanted {
        ty: ProviderType::Core,
        name: core.provider_name.clone(),
        version: Some(core.version.clone()),
    };
    let rel = repos.release(&w, None).await.ok()?;
    rel.contract().map(str::to_string)
}

fn validate(steps: &[Step], installed: &[Installed], core_contract: Option<&str>) -> Result<()> {
    let core = ProviderType::Core.type_name();
    let installed_cores: Vec<&Installed> = installed.iter().filter(|p| p.provider_type == core).collect();
    let new_cores: Vec<&Step> = steps
        .iter()
        .filter(|s| s.wanted.ty == ProviderType::Core && s.action == Action::Install)
        .collect();
    match (installed_cores.as_slice(), new_cores.as_slice()) {
        ([], []) => {
            return Err(Error::Refused(
                "no core provider: the management cluster has none installed and none is asked for; give --core cluster-api[:VERSION]".into(),
            ));
        }
        ([have], [add, ..]) => {
            return Err(Error::Refused(format!(
                "a management cluster has exactly one core provider: {} {} is installed in {}, so {} {} cannot be added",
                have.name, have.version, have.namespace, add.release.label, add.release.version
            )));
        }
        _ => {}
    }
    let Some(core_contract) = core_contract else {
        return Err(Error::Refused(
            "the core provider's contract is unknown (the repository has no metadata.yaml naming its release series); add it to the repository, or pass --validate=false".into(),
        ));
    };
    for s in steps.iter().filter(|s| s.action == Action::Install) {
        match s.release.contract() {
            Some(c) if compatible(core_contract, c) => {}
            other => {
                return Err(Error::Refused(format!(
                    "{} {} implements the {} contract, which the core provider's {core_contract} contract does not accept; choose a release of {} for {core_contract} (its metadata.yaml lists each series' contract)",
                    s.release.label,
                    s.release.version,
                    other.map_or(
                        "unknown (its metadata.yaml lists no series for it)".to_string(),
                        |c| format!("{c:?}")
                    ),
                    s.release.label
                )));
            }
        }
        let bad = components::misnamed_crds(&s.components.objects);
        if !bad.is_empty() {
            return Err(Error::Refused(format!(
                "{} {}: CRDs must be named plural.group: {}",
                s.release.label,
                s.release.version,
                bad.join(", ")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed(name: &str, ty: &str) -> Installed {
        Installed {
            name: name.into(),
            namespace: "ns".into(),
            provider_type: ty.into(),
            provider_name: name.into(),
            version: "v1.14.0".into(),
        }
    }

    #[test]
    fn defaults_on_first_run_only() {
        let infra = Wanted::parse(ProviderType::Infrastructure, "docker").unwrap();
        let got: Vec<String> = with_defaults(vec![infra.clone()], &[], false, true)
            .iter()
            .map(Wanted::label)
            .collect();
        assert_eq!(got, ["cluster-api", "bootstrap-kubeadm", "infrastructure-docker"]);
        let got = with_defaults(
            vec![infra],
            &[installed("cluster-api", "CoreProvider")],
            false,
            false,
        );
        assert_eq!(got.len(), 1);
        let own = Wanted::parse(ProviderType::Bootstrap, "talos").unwrap();
        let got: Vec<String> = with_defaults(vec![own], &[], false, false)
            .iter()
            .map(Wanted::label)
            .collect();
        assert_eq!(got, ["cluster-api", "bootstrap-talos", "control-plane-kubeadm"]);
    }
}
