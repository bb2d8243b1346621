//! `kubectl capi upgrade providers apply`: new provider components applied in place with
//! server-side apply (no delete and recreate, so the controllers keep running), the operator's
//! changes to each Deployment carried over ([`super::keep`]), what the old components had and
//! the new ones do not deleted (found by the provider label, per kind of the old components;
//! CRDs and Namespaces are kept, as clusterctl keeps them), then the inventory updated.

use std::time::Duration;

use kube::api::ListParams;
use serde::Serialize;

use super::apply::Writer;
use super::components::{self, Components, Inputs, ObjectId};
use super::inventory::{self, PROVIDER_LABEL};
use super::provider::{ProviderType, Wanted};
use super::repository::{Release, Repositories, compatible};
use super::wait::{self, Group};
use crate::capi::Catalog;
use crate::client::Kube;
use crate::flags::WriteMode;
use crate::generate::Values;
use crate::upgrade::providers::{self, Installed, Offer};
use crate::{Error, Result};

/// What to upgrade.
pub struct Request<'a> {
    /// `--contract`: every provider to its next version for this contract (as the plan shows).
    pub contract: Option<String>,
    /// `--core/-b/-c/-i ... NAME:VERSION`: these providers to these versions.
    pub targets: Vec<Wanted>,
    /// Variable values.
    pub values: &'a Values<'a>,
    /// Stored or server dry-run.
    pub mode: WriteMode,
    /// `--wait-providers` with its timeout.
    pub wait: Option<Duration>,
}

/// One provider of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The manifest label.
    pub name: String,
    /// `CoreProvider`, ...
    #[serde(rename = "type")]
    pub provider_type: String,
    /// Its namespace.
    pub namespace: String,
    /// The installed version.
    pub from: String,
    /// The new version.
    pub to: String,
    /// The operator's Deployment changes carried over.
    pub kept: Vec<String>,
    /// Objects of the old components that the new ones do not have, deleted.
    pub deleted: Vec<String>,
}

/// What an upgrade did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Whether nothing was stored.
    pub dry_run: bool,
    /// Each provider upgraded.
    pub providers: Vec<Row>,
    /// Objects sent.
    pub written: usize,
    /// Objects a dry run could not send (their CRD or namespace would be new).
    pub not_yet_served: Vec<String>,
}

/// One provider's upgrade, prepared.
struct Step {
    installed: Installed,
    ty: ProviderType,
    new: Release,
    old_components: Components,
    new_components: Components,
}

/// Plans, checks, writes, deletes, records and waits.
pub async fn run(
    kube: &Kube,
    repos: &Repositories,
    req: Request<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let catalog = Catalog::fetch(kube).await?;
    let installed = providers::inventory(kube, &catalog).await?;
    let targets = targets(repos, &installed, &req)?;
    let mut steps = vec![];
    for (p, w) in targets {
        steps.push(prepare(repos, p, w, req.values).await?);
    }
    check_contracts(repos, &installed, &steps).await?;
    let mut w = Writer::new(kube, catalog, req.mode);
    let mut report = Report {
        dry_run: req.mode.is_dry_run(),
        providers: vec![],
        written: 0,
        not_yet_served: vec![],
    };
    for s in &mut steps {
        progress(&format!(
            "Upgrading {} {} -> {} in namespace {}",
            s.installed.name, s.installed.version, s.new.version, s.installed.namespace
        ));
        let kept = carry_over(kube, &w.catalog, s).await?;
        let applied = w.apply(&s.new_components.objects).await?;
        report.written += applied.written;
        report.not_yet_served.extend(applied.not_yet_served);
        let deleted = delete_removed(&w, s).await?;
        let record = inventory::provider(
            s.ty,
            &s.installed.provider_name,
            &s.installed.namespace,
            &s.new.version,
        );
        report.written += w.apply(&[record]).await?.written;
        report.providers.push(Row {
            name: s.installed.name.clone(),
            provider_type: s.installed.provider_type.clone(),
            namespace: s.installed.namespace.clone(),
            from: s.installed.version.clone(),
            to: s.new.version.clone(),
            kept,
            deleted,
        });
    }
    if let (Some(t), false) = (req.wait, req.mode.is_dry_run()) {
        let groups: Vec<Group> = steps
            .iter()
            .map(|s| Group {
                what: s.installed.name.clone(),
                namespace: s.installed.namespace.clone(),
                selector: format!("{PROVIDER_LABEL}={}", s.installed.name),
            })
            .collect();
        progress("Waiting for the providers' Deployments to be Available...");
        wait::available(kube, &groups, t, progress).await?;
    }
    Ok(report)
}

/// The providers to upgrade and their wanted versions.
fn targets(
    repos: &Repositories,
    installed: &[Installed],
    req: &Request<'_>,
) -> Result<Vec<(Installed, Wanted)>> {
    match (&req.contract, req.targets.is_empty()) {
        (Some(_), false) => Err(Error::Usage(
            "give either --contract or providers with versions (--core/-b/-c/-i NAME:VERSION), not both".into(),
        )),
        (None, true) => Err(Error::Usage(
            "nothing to upgrade: give --contract CONTRACT (every provider to its next version, as `kubectl capi upgrade providers plan` shows) or providers with versions (--core cluster-api:vX.Y.Z, -i NAME:vX.Y.Z, ...)".into(),
        )),
        (Some(c), true) => by_contract(repos, installed, c),
        (None, false) => req.targets.iter().map(|w| explicit(installed, w)).collect(),
    }
}

fn by_contract(
    repos: &Repositories,
    installed: &[Installed],
    contract: &str,
) -> Result<Vec<(Installed, Wanted)>> {
    let Some(dir) = &repos.local else {
        return Err(Error::Usage(
            "--contract needs --repository DIR to find the next versions in".into(),
        ));
    };
    let plans = providers::plan(installed, |label| Offer::read(dir, label))?;
    let Some(plan) = plans.iter().find(|p| p.contract == contract) else {
        let known: Vec<&str> = plans.iter().map(|p| p.contract.as_str()).collect();
        return Err(Error::NotFound(format!(
            "no upgrade plan for the contract {contract}: the repository offers {} (see `kubectl capi upgrade providers plan`)",
            known.join(", ")
        )));
    };
    let mut out = vec![];
    for r in &plan.providers {
        let Some(next) = &r.next_version else { continue };
        let ty = ProviderType::from_type_name(&r.provider.provider_type).ok_or_else(|| {
            Error::Other(format!(
                "{}: unknown provider type {}",
                r.provider.name, r.provider.provider_type
            ))
        })?;
        let w = Wanted {
            ty,
            name: r.provider.provider_name.clone(),
            version: Some(next.clone()),
        };
        out.push((r.provider.clone(), w));
    }
    if out.is_empty() {
        return Err(Error::Refused(format!(
            "every provider is already up to date for the contract {contract}"
        )));
    }
    Ok(out)
}

fn explicit(installed: &[Installed], w: &Wanted) -> Result<(Installed, Wanted)> {
    let label = w.label();
    let Some(p) = installed
        .iter()
        .find(|p| p.name == label && p.provider_type == w.ty.type_name())
    else {
        return Err(Error::NotFound(format!(
            "{label} is not installed (the inventory has {}); install it with `kubectl capi init`",
            installed
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if w.version.is_none() {
        return Err(Error::Usage(format!(
            "{label}: give the version to upgrade to, {} {}:vX.Y.Z",
            w.ty.flag(),
            w.name
        )));
    }
    Ok((p.clone(), w.clone()))
}

async fn prepare(repos: &Repositories, p: Installed, w: Wanted, values: &Values<'_>) -> Result<Step> {
    let old_w = Wanted {
        version: Some(p.version.clone()),
        ..w.clone()
    };
    let old = repos.release(&old_w, None).await.map_err(|e| {
        Error::NotFound(format!(
            "{e}\n(the installed release {} {} is needed too: its components tell what the upgrade removes and which Deployment changes are the operator's)",
            p.name, p.version
        ))
    })?;
    let new = repos.release(&w, None).await?;
    let old_components = components_of(repos, &old, &p.namespace, values).await?;
    let new_components = components_of(repos, &new, &p.namespace, values).await?;
    Ok(Step {
        ty: w.ty,
        installed: p,
        new,
        old_components,
        new_components,
    })
}

/// A release's components, prepared for the namespace the provider is installed in.
async fn components_of(
    repos: &Repositories,
    rel: &Release,
    namespace: &str,
    values: &Values<'_>,
) -> Result<Components> {
    let text = repos.read(rel, &rel.file).await?;
    let origin = format!("{}/{}/{}", rel.label, rel.version, rel.file);
    let inputs = Inputs {
        label: &rel.label,
        target_namespace: Some(namespace),
        values,
        images: &repos.config.images,
        keep_missing: false,
    };
    components::prepare(&text, &origin, &inputs)
}

/// Every provider after the upgrade must fit the core provider's contract after it.
async fn check_contracts(repos: &Repositories, installed: &[Installed], steps: &[Step]) -> Result<()> {
    let core_type = ProviderType::Core.type_name();
    let mut after: Vec<(String, Option<String>)> = vec![];
    for p in installed {
        let contract = match steps.iter().find(|s| s.installed.name == p.name) {
            Some(s) => s.new.contract().map(str::to_string),
            None => {
                let ty = ProviderType::from_type_name(&p.provider_type).unwrap_or(ProviderType::Addon);
                let w = Wanted {
                    ty,
                    name: p.provider_name.clone(),
                    version: Some(p.version.clone()),
                };
                repos
                    .release(&w, None)
                    .await
                    .ok()
                    .and_then(|r| r.contract().map(str::to_string))
            }
        };
        after.push((p.name.clone(), contract));
    }
    let core = installed.iter().position(|p| p.provider_type == core_type);
    let Some(Some(core_contract)) = core.map(|i| after[i].1.clone()) else {
        return Ok(());
    };
    let bad: Vec<String> = after
        .iter()
        .filter_map(|(n, c)| {
            c.as_ref()
                .filter(|c| !compatible(&core_contract, c))
                .map(|c| format!("{n} ({c})"))
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "after this upgrade the core provider serves the contract {core_contract}, which {} would not fit; upgrade them in the same run (--contract {core_contract})",
        bad.join(", ")
    )))
}

/// Carries the operator's changes of each live Deployment into the new components.
async fn carry_over(kube: &Kube, catalog: &Catalog, s: &mut Step) -> Result<Vec<String>> {
    let Some((ar, _)) = catalog.resolve(kube, "apps", "Deployment").await? else {
        return Ok(vec![]);
    };
    let api = kube.api(&ar, Some(&s.installed.namespace));
    let mut kept = vec![];
    for new in s
        .new_components
        .objects
        .iter_mut()
        .filter(|o| o["kind"] == "Deployment")
    {
        let id = ObjectId::of(new);
        let Some(old) = s.old_components.objects.iter().find(|o| ObjectId::of(o) == id) else {
            continue;
        };
        let live = kube.call(&format!("reading {id}"), api.get_opt(&id.name)).await?;
        let Some(live) = live else { continue };
        let live = serde_json::to_value(live).map_err(|e| Error::Other(format!("{id}: {e}")))?;
        kept.extend(
            super::keep::carry_over(new, old, &live)
                .into_iter()
                .map(|k| format!("{}: {k}", id.name)),
        );
    }
    Ok(kept)
}

/// Kinds never deleted by an upgrade: deleting a CRD deletes every object of it, and the
/// namespace holds the provider's new objects.
const KEPT_KINDS: [&str; 2] = ["CustomResourceDefinition", "Namespace"];

/// Deletes what carries the provider's label, is of a kind of the old components and is not in
/// the new components.
async fn delete_removed(w: &Writer<'_>, s: &Step) -> Result<Vec<String>> {
    let keep: Vec<ObjectId> = s.new_components.objects.iter().map(ObjectId::of).collect();
    let same = |a: &ObjectId, b: &ObjectId| {
        a.kind == b.kind && a.group() == b.group() && a.namespace == b.namespace && a.name == b.name
    };
    let mut kinds: Vec<(String, String)> = s
        .old_components
        .objects
        .iter()
        .map(ObjectId::of)
        .filter(|id| !KEPT_KINDS.contains(&id.kind.as_str()))
        .map(|id| (id.api_version, id.kind))
        .collect();
    kinds.sort();
    kinds.dedup();
    let selector = format!("{PROVIDER_LABEL}={}", s.installed.name);
    let mut deleted = vec![];
    for (api_version, kind) in kinds {
        let Some((ar, _)) = w.catalog.resolve_api_version(w.kube, &api_version, &kind).await? else {
            continue;
        };
        let probe = ObjectId {
            api_version: api_version.clone(),
            kind: kind.clone(),
            namespace: String::new(),
            name: String::new(),
        };
        let ns = (!probe.cluster_scoped()).then_some(s.installed.namespace.as_str());
        let list = w
            .kube
            .call(
                &format!("listing {kind}"),
                w.kube.api(&ar, ns).list(&ListParams::default().labels(&selector)),
            )
            .await?;
        for item in list.items {
            let v = serde_json::to_value(&item).map_err(|e| Error::Other(e.to_string()))?;
            let mut id = ObjectId::of(&v);
            id.api_version.clone_from(&api_version);
            id.kind.clone_from(&kind);
            if keep.iter().any(|k| same(k, &id)) {
                continue;
            }
            if w.delete(&id).await? {
                deleted.push(id.to_string());
            }
        }
    }
    Ok(deleted)
}

/// The report as text.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    for p in &r.providers {
        out.push_str(&format!(
            "{} ({}) in {}: {} -> {}{}\n",
            p.name,
            p.provider_type,
            p.namespace,
            p.from,
            p.to,
            if r.dry_run { " (dry run)" } else { "" }
        ));
        for k in &p.kept {
            out.push_str(&format!("  kept {k}\n"));
        }
        for d in &p.deleted {
            out.push_str(&format!(
                "  {} {d}\n",
                if r.dry_run { "would delete" } else { "deleted" }
            ));
        }
    }
    if !r.not_yet_served.is_empty() {
        out.push_str(&format!(
            "not sent by the dry run (their CRD or namespace would be new): {}\n",
            r.not_yet_served.join(", ")
        ));
    }
    out.push_str(if r.dry_run {
        "Server dry run: nothing was stored.\n"
    } else {
        "Providers upgraded in place; their controllers kept running.\n"
    });
    out
}
