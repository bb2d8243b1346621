//! One `kubectl capi init`: read the inventory, plan and check every provider, then write in
//! clusterctl's order (cert-manager, each provider's components, the inventory) and, when
//! asked, wait for every Deployment to be Available. Nothing is written before every check
//! passed; a provider already installed at the asked version is not written again.

use std::time::Duration;

use serde::Serialize;

use super::apply::{Writer, get_crd};
use super::certmanager::{self, Plan as CertManagerPlan};
use super::inventory::{self, PROVIDER_LABEL};
use super::plan::{self, Action, Settings, Step};
use super::provider::Wanted;
use super::repository::Repositories;
use super::wait::{self, Group};
use crate::capi::Catalog;
use crate::client::Kube;
use crate::flags::WriteMode;
use crate::upgrade::providers::{Installed, inventory as read_inventory};
use crate::{Error, Result};

/// What to do.
pub struct Request<'a> {
    /// The providers asked for (before defaults).
    pub wanted: Vec<Wanted>,
    /// `-b -` and `-c -`: no default bootstrap / control plane provider.
    pub skip_bootstrap: bool,
    /// See `skip_bootstrap`.
    pub skip_control_plane: bool,
    /// Namespace, variables, checks.
    pub settings: Settings<'a>,
    /// Stored or server dry-run.
    pub mode: WriteMode,
    /// `--wait-providers` with its timeout.
    pub wait: Option<Duration>,
}

/// One provider in the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The manifest label and inventory name.
    pub name: String,
    /// `CoreProvider`, ...
    #[serde(rename = "type")]
    pub provider_type: String,
    /// `kubeadm`, ...
    pub provider_name: String,
    /// The version.
    pub version: String,
    /// Its namespace.
    pub namespace: String,
    /// What happened.
    pub action: Action,
    /// How many objects its components hold.
    pub objects: usize,
    /// Its images.
    pub images: Vec<String>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Whether nothing was stored (`--dry-run=server`).
    pub dry_run: bool,
    /// Whether the cluster had no core provider before.
    pub first_run: bool,
    /// cert-manager.
    pub cert_manager: CertManagerPlan,
    /// Every provider of the run.
    pub providers: Vec<Row>,
    /// Objects sent to the server (none on a re-run that changes nothing).
    pub written: usize,
    /// Objects a dry run could not send because the CRD that defines them is new.
    pub not_yet_served: Vec<String>,
}

/// The inventory, or nothing on a cluster that has never had it.
pub async fn installed(kube: &Kube, catalog: &Catalog) -> Result<Vec<Installed>> {
    match read_inventory(kube, catalog).await {
        Ok(v) => Ok(v),
        Err(Error::NotFound(_)) => Ok(vec![]),
        Err(e) => Err(e),
    }
}

/// Plans, checks, writes and waits.
pub async fn run(
    kube: &Kube,
    repos: &Repositories,
    req: Request<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let catalog = Catalog::fetch(kube).await?;
    let have = installed(kube, &catalog).await?;
    let first_run = !have.iter().any(|p| p.provider_type == "CoreProvider");
    let wanted = plan::with_defaults(req.wanted, &have, req.skip_bootstrap, req.skip_control_plane);
    let steps = plan::build(repos, &wanted, &have, &req.settings).await?;
    let needed = steps
        .iter()
        .filter(|s| s.action == Action::Install)
        .any(|s| certmanager::needed_by(&s.components.objects));
    let found = certmanager::detect(kube).await?;
    let cm = certmanager::decide(repos, &repos.config.cert_manager, &found, needed).await?;

    let mut w = Writer::new(kube, catalog, req.mode);
    let mut report = Report {
        dry_run: req.mode.is_dry_run(),
        first_run,
        cert_manager: cm.clone(),
        providers: steps.iter().map(row).collect(),
        written: 0,
        not_yet_served: vec![],
    };
    if let CertManagerPlan::Install {
        version,
        objects,
        wait,
    } = &cm
    {
        progress(&format!("Installing cert-manager {version}"));
        absorb(&mut report, w.apply(objects).await?);
        if *wait && !req.mode.is_dry_run() {
            let t = cert_manager_timeout(repos)?;
            let g = Group {
                what: "cert-manager".into(),
                namespace: cert_manager_namespace(objects),
                selector: certmanager::selector(),
            };
            progress("Waiting for cert-manager to be available...");
            wait::available(kube, &[g], t, progress).await?;
        }
    }
    for s in steps.iter().filter(|s| s.action == Action::Install) {
        progress(&format!(
            "Installing {} {} ({}) in namespace {}",
            s.release.label,
            s.release.version,
            s.wanted.ty.type_name(),
            s.components.namespace
        ));
        absorb(&mut report, w.apply(&s.components.objects).await?);
    }
    let mut records: Vec<serde_json::Value> = steps
        .iter()
        .filter(|s| s.action == Action::Install)
        .map(|s| {
            inventory::provider(
                s.wanted.ty,
                &s.wanted.name,
                &s.components.namespace,
                &s.release.version,
            )
        })
        .collect();
    if !records.is_empty() {
        if get_crd(kube, inventory::CRD_NAME).await?.is_none() {
            records.insert(0, inventory::crd());
        }
        absorb(&mut report, w.apply(&records).await?);
    }
    if let (Some(t), false) = (req.wait, req.mode.is_dry_run()) {
        let groups: Vec<Group> = steps.iter().map(group).collect();
        progress("Waiting for the providers' Deployments to be Available...");
        wait::available(kube, &groups, t, progress).await?;
    }
    Ok(report)
}

/// The images one provider or cert-manager would run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRow {
    /// The manifest label, or `cert-manager`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The images, overrides applied.
    pub images: Vec<String>,
}

/// `init list-images`: the images of what a run would install, from the repositories alone.
/// `have` is the inventory when a cluster was given (a re-run's defaults), else empty; a
/// variable without a value stays `${NAME}`, as nothing is installed.
pub async fn list_images(
    repos: &Repositories,
    req: Request<'_>,
    have: &[Installed],
) -> Result<Vec<ImageRow>> {
    let wanted = plan::with_defaults(req.wanted, have, req.skip_bootstrap, req.skip_control_plane);
    let steps = plan::build(repos, &wanted, have, &req.settings).await?;
    let mut out: Vec<ImageRow> = vec![];
    let needed = steps
        .iter()
        .any(|s| certmanager::needed_by(&s.components.objects));
    if needed && !repos.config.cert_manager.externally_provisioned {
        let absent = certmanager::Found::Absent;
        // A repository without cert-manager lists the providers' images only.
        match certmanager::decide(repos, &repos.config.cert_manager, &absent, true).await {
            Ok(CertManagerPlan::Install { version, objects, .. }) => out.push(ImageRow {
                name: super::repository::CERT_MANAGER.into(),
                version,
                images: super::components::images(&objects),
            }),
            Ok(_) | Err(Error::Refused(_)) => {}
            Err(e) => return Err(e),
        }
    }
    out.extend(steps.iter().map(|s| ImageRow {
        name: s.release.label.clone(),
        version: s.release.version.clone(),
        images: super::components::images(&s.components.objects),
    }));
    Ok(out)
}

/// The config file's `cert-manager.timeout` (clusterctl's default: 10 minutes).
fn cert_manager_timeout(repos: &Repositories) -> Result<Duration> {
    match &repos.config.cert_manager.timeout {
        None => Ok(Duration::from_secs(600)),
        Some(t) => crate::flags::parse_duration(t).map_err(|e| {
            Error::Config(format!(
                "cert-manager.timeout {t:?} is not a duration (10m, 90s): {e}"
            ))
        }),
    }
}

fn absorb(r: &mut Report, a: super::apply::Applied) {
    r.written += a.written;
    r.not_yet_served.extend(a.not_yet_served);
}

fn row(s: &Step) -> Row {
    Row {
        name: s.release.label.clone(),
        provider_type: s.wanted.ty.type_name().into(),
        provider_name: s.wanted.name.clone(),
        version: s.release.version.clone(),
        namespace: s.components.namespace.clone(),
        action: s.action,
        objects: s.components.objects.len(),
        images: super::components::images(&s.components.objects),
    }
}

fn group(s: &Step) -> Group {
    Group {
        what: s.release.label.clone(),
        namespace: s.components.namespace.clone(),
        selector: format!("{PROVIDER_LABEL}={}", s.release.label),
    }
}

fn cert_manager_namespace(objects: &[serde_json::Value]) -> String {
    objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .and_then(|o| o.pointer("/metadata/namespace").and_then(|n| n.as_str()))
        .unwrap_or("cert-manager")
        .to_string()
}

/// The report as text.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let verb = |a: Action| match (a, r.dry_run) {
        (Action::Unchanged, _) => "unchanged",
        (Action::Install, true) => "would install",
        (Action::Install, false) => "installed",
    };
    match &r.cert_manager {
        CertManagerPlan::Install { version, .. } => out.push_str(&format!(
            "cert-manager {version}: {}\n",
            if r.dry_run { "would install" } else { "installed" }
        )),
        CertManagerPlan::Present { version } => {
            out.push_str(&format!("cert-manager {version}: already installed\n"));
        }
        CertManagerPlan::ExternallyProvisioned => {
            out.push_str("cert-manager: externally provisioned (not checked)\n");
        }
        CertManagerPlan::NotNeeded => {}
    }
    for p in &r.providers {
        out.push_str(&format!(
            "{} {} ({}) in {}: {} ({} objects)\n",
            p.name,
            p.version,
            p.provider_type,
            p.namespace,
            verb(p.action),
            p.objects
        ));
    }
    if !r.not_yet_served.is_empty() {
        out.push_str(&format!(
            "not sent by the dry run (their CRD or namespace would be new): {}\n",
            r.not_yet_served.join(", ")
        ));
    }
    if r.dry_run {
        out.push_str("Server dry run: nothing was stored.\n");
    } else if r.written == 0 {
        out.push_str("Nothing to do: every provider asked for is installed.\n");
    } else if r.first_run {
        out.push_str("\nYour management cluster has been initialized successfully!\n\nYou can now create your first workload cluster:\n  kubectl capi generate cluster NAME --from TEMPLATE --kubernetes-version VERSION | kubectl apply -f -\n");
    }
    out
}
