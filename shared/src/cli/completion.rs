//! Shell completion through kubectl (1.26+): kubectl runs `kubectl_complete-capi[-VERB]` with the
//! words typed so far and prints the candidates it gets back, one per line (`value\tdescription`),
//! ending with `:N`, cobra's directive. The dispatcher answers for the verbs and hands everything
//! else to the verb's binary as `kubectl-capi-VERB __complete WORDS...`, which answers from its own
//! clap definition (sub-commands, flags, flag values) and, for object names, from the live cluster
//! of the current context (short timeout, silent on failure).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Command;
use kube::core::ApiResource;

use crate::capi::Catalog;
use crate::client::Kube;
use crate::flags::ConnArgs;
use crate::{Error, Result};

/// The argument that switches a plugin binary into completion mode.
pub const COMPLETE_ARG: &str = "__complete";
/// The prefix kubectl looks for on PATH.
pub const COMPLETER_PREFIX: &str = "kubectl_complete-";
/// cobra: do not complete file names.
pub const NO_FILE_COMP: u32 = 4;
/// cobra: no space after the candidate.
pub const NO_SPACE: u32 = 2;

/// Candidates and the directive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// `value` or `value\tdescription`.
    pub candidates: Vec<String>,
    /// cobra's ShellCompDirective.
    pub directive: u32,
}

impl Answer {
    /// The text kubectl expects.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for c in &self.candidates {
            s.push_str(c);
            s.push('\n');
        }
        s.push_str(&format!(":{}\n", self.directive));
        s
    }
}

fn first_line(s: Option<&clap::builder::StyledStr>) -> String {
    s.map(|h| h.to_string().lines().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// If this process was started as `BIN __complete WORDS...`, answers and exits.
pub fn handle(cmd: Command) {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(COMPLETE_ARG) {
        return;
    }
    let words = &args[2..];
    let answer = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(complete(cmd, words)),
        Err(_) => Answer {
            candidates: vec![],
            directive: 1,
        },
    };
    print!("{}", answer.render());
    std::process::exit(0);
}

/// What a word at a position means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need {
    Flags,
    FlagValue(String),
    Subcommands,
    Types,
    Names(String),
    Nothing,
}

/// The types accepted by TYPE/NAME arguments.
const TYPES: &[(&str, &str)] = &[
    ("machinedeployment/", "a MachineDeployment"),
    ("machinepool/", "a MachinePool"),
    ("kubeadmcontrolplane/", "a KubeadmControlPlane"),
    ("md/", "a MachineDeployment"),
    ("mp/", "a MachinePool"),
    ("kcp/", "a KubeadmControlPlane"),
];

fn is_type_word(w: &str) -> bool {
    let w = w.to_ascii_lowercase();
    TYPES.iter().any(|(t, _)| t.trim_end_matches('/') == w)
        || matches!(
            w.as_str(),
            "cluster" | "clusters" | "cl" | "machinedeployments" | "mds"
        )
}

/// Answers for `words` (the last one is being completed) against a plugin's clap definition.
pub async fn complete(mut cmd: Command, words: &[String]) -> Answer {
    cmd.build();
    let (cur, prev) = match words.split_last() {
        Some((c, p)) => (c.as_str(), p),
        None => ("", &[][..]),
    };
    let mut read = Read::new(&cmd);
    for w in prev {
        read.word(w);
    }
    let need = read.need(cur, &cmd);
    answer(&read, need, cur, &cmd).await
}

/// What the words before the cursor said: the subcommand reached, its positional words, a flag
/// still waiting for its value, and the connection flags given (to ask the right cluster).
struct Read<'a> {
    cmd: &'a Command,
    positionals: Vec<String>,
    pending: Option<String>,
    conn: ConnArgs,
}

impl<'a> Read<'a> {
    fn new(cmd: &'a Command) -> Read<'a> {
        Read {
            cmd,
            positionals: vec![],
            pending: None,
            conn: ConnArgs {
                request_timeout: Duration::from_secs(3),
                ..Default::default()
            },
        }
    }

    /// Takes one word: a flag's value, a flag, a subcommand or a positional.
    fn word(&mut self, w: &String) {
        if let Some(id) = self.pending.take() {
            remember(&mut self.conn, &id, w);
            return;
        }
        if let Some(flag) = w.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (flag, None),
            };
            if let Some(a) = self.cmd.get_arguments().find(|a| a.get_long() == Some(name)) {
                match value {
                    Some(v) => remember(&mut self.conn, a.get_id().as_str(), v),
                    None if takes_next_word(a) => self.pending = Some(a.get_id().to_string()),
                    None => {}
                }
            }
        } else if let Some(short) = w.strip_prefix('-').filter(|s| !s.is_empty()) {
            let ch = short.chars().next().unwrap_or(' ');
            if let Some(a) = self.cmd.get_arguments().find(|a| a.get_short() == Some(ch)) {
                let rest = short.get(ch.len_utf8()..).unwrap_or("");
                let rest = rest.strip_prefix('=').unwrap_or(rest);
                if !rest.is_empty() {
                    remember(&mut self.conn, a.get_id().as_str(), rest);
                } else if takes_next_word(a) {
                    self.pending = Some(a.get_id().to_string());
                }
            }
        } else if self.positionals.is_empty()
            && let Some(sub) = self
                .cmd
                .get_subcommands()
                .find(|s| s.get_name() == w || s.get_all_aliases().any(|al| al == w))
        {
            self.cmd = sub;
        } else {
            self.positionals.push(w.clone());
        }
    }

    /// What the word at the cursor should be.
    fn need(&self, cur: &str, root: &Command) -> Need {
        if let Some(id) = self.pending.clone() {
            Need::FlagValue(id)
        } else if cur.starts_with('-') {
            Need::Flags
        } else if self.positionals.is_empty() && self.cmd.has_subcommands() {
            Need::Subcommands
        } else if let Some((ty, _)) = cur.split_once('/') {
            Need::Names(ty.to_string())
        } else if self.positionals.last().is_some_and(|p| is_type_word(p))
            && self.cmd.get_positionals().any(|a| value_name(a).contains("TYPE"))
        {
            Need::Names(self.positionals.last().cloned().unwrap_or_default())
        } else {
            let pos: Vec<&clap::Arg> = self.cmd.get_positionals().collect();
            let at = pos.get(self.positionals.len()).or(pos.last()).copied();
            match at.map(value_name) {
                Some(v) if v.contains("TYPE") => Need::Types,
                // A name to create (generate) is not completed from the cluster.
                Some(_)
                    if self.cmd.get_name().contains("generate") || root.get_name().contains("generate") =>
                {
                    Need::Nothing
                }
                Some(v) if v == "NAME" || v == "CLUSTER" => Need::Names("cluster".into()),
                _ => Need::Nothing,
            }
        }
    }
}

/// The candidates for what is needed.
async fn answer(read: &Read<'_>, need: Need, cur: &str, root: &Command) -> Answer {
    match need {
        Need::Flags => {
            let mut out = vec![];
            for a in read.cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                let help = first_line(a.get_help());
                if let Some(l) = a.get_long() {
                    out.push(format!("--{l}\t{help}"));
                }
                if let Some(s) = a.get_short() {
                    out.push(format!("-{s}\t{help}"));
                }
            }
            filter(out, cur, NO_FILE_COMP)
        }
        Need::Subcommands => {
            let out = read
                .cmd
                .get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                .map(|s| format!("{}\t{}", s.get_name(), first_line(s.get_about())))
                .collect();
            filter(out, cur, NO_FILE_COMP)
        }
        Need::Types => {
            let mut out: Vec<String> = TYPES.iter().map(|(t, d)| format!("{t}\t{d}")).collect();
            if root.get_name().contains("rollout") {
                out.push("cluster/\ta Cluster: its control plane and MachineDeployments".into());
            }
            filter(out, cur, NO_FILE_COMP | NO_SPACE)
        }
        Need::FlagValue(id) => {
            let arg = read.cmd.get_arguments().find(|a| a.get_id() == id.as_str());
            let values: Vec<String> = arg
                .map(|a| {
                    a.get_possible_values()
                        .iter()
                        .map(|v| v.get_name().to_string())
                        .collect()
                })
                .unwrap_or_default();
            if !values.is_empty() {
                return filter(values, cur, NO_FILE_COMP);
            }
            match id.as_str() {
                "namespace" => filter(live(&read.conn, "namespace").await, cur, NO_FILE_COMP),
                "context" => filter(contexts(&read.conn), cur, NO_FILE_COMP),
                // Paths: let the shell complete files.
                _ => Answer {
                    candidates: vec![],
                    directive: 0,
                },
            }
        }
        Need::Names(ty) => {
            let prefix = if cur.contains('/') {
                format!("{ty}/")
            } else {
                String::new()
            };
            let names = live(&read.conn, &ty).await;
            filter(
                names.into_iter().map(|n| format!("{prefix}{n}")).collect(),
                cur,
                NO_FILE_COMP,
            )
        }
        Need::Nothing => Answer {
            candidates: vec![],
            directive: NO_FILE_COMP,
        },
    }
}

fn value_name(a: &clap::Arg) -> String {
    a.get_value_names()
        .and_then(|v| v.first())
        .map(|s| s.to_string())
        .unwrap_or_else(|| a.get_id().as_str().to_ascii_uppercase())
}

fn takes_next_word(a: &clap::Arg) -> bool {
    a.get_action().takes_values() && a.get_num_args().is_none_or(|r| r.min_values() > 0)
}

fn remember(conn: &mut ConnArgs, id: &str, v: &str) {
    match id {
        "kubeconfig" => conn.kubeconfig = Some(PathBuf::from(v)),
        "context" => conn.context = Some(v.to_string()),
        "namespace" => conn.namespace = Some(v.to_string()),
        _ => {}
    }
}

fn filter(candidates: Vec<String>, cur: &str, directive: u32) -> Answer {
    Answer {
        candidates: candidates.into_iter().filter(|c| c.starts_with(cur)).collect(),
        directive,
    }
}

fn contexts(conn: &ConnArgs) -> Vec<String> {
    crate::kubeconfig::load(conn.kubeconfig.as_deref())
        .map(|l| l.config.contexts.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

/// Names of a type in the namespace, from the live cluster; empty on any failure.
async fn live(conn: &ConnArgs, ty: &str) -> Vec<String> {
    let fut = async {
        let kube = Kube::connect(conn, None).await?;
        let ns = kube.namespace.clone();
        let (ar, namespaced): (ApiResource, bool) = if ty == "namespace" {
            (
                ApiResource {
                    group: String::new(),
                    version: "v1".into(),
                    api_version: "v1".into(),
                    kind: "Namespace".into(),
                    plural: "namespaces".into(),
                },
                false,
            )
        } else {
            let catalog = Catalog::fetch(&kube).await?;
            if is_cluster(ty) {
                (crate::tree::fetch::core(&kube, &catalog, "Cluster").await?, true)
            } else {
                (
                    crate::capi::target::resolve(&kube, &catalog, ty).await?.resource,
                    true,
                )
            }
        };
        let (items, _) = kube
            .list_all(&ar, namespaced.then_some(ns.as_str()), None, None)
            .await?;
        let mut names: Vec<String> = items.into_iter().filter_map(|o| o.metadata.name).collect();
        names.sort();
        Ok::<_, Error>(names)
    };
    match tokio::time::timeout(Duration::from_secs(5), fut).await {
        Ok(Ok(n)) => n,
        _ => vec![],
    }
}

fn is_cluster(ty: &str) -> bool {
    matches!(ty.to_ascii_lowercase().as_str(), "cluster" | "clusters" | "cl")
}

/// The completer names to install: one for the entry point, one per verb binary.
pub fn completer_names(verbs: &[&str]) -> Vec<String> {
    let mut out = vec![format!("{COMPLETER_PREFIX}capi")];
    for v in verbs {
        out.push(format!("{COMPLETER_PREFIX}capi-{}", v.replace('-', "_")));
    }
    out
}

/// Creates the completer symlinks in `dir`, all pointing at `target` (the entry point). An
/// existing file that is not such a link is left alone unless `force`.
pub fn install(dir: &Path, target: &Path, verbs: &[&str], force: bool) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory; pass --dir with a directory on your PATH",
            dir.display()
        )));
    }
    let mut made = vec![];
    for name in completer_names(verbs) {
        let link = dir.join(&name);
        if let Ok(m) = std::fs::symlink_metadata(&link) {
            let ours = m.file_type().is_symlink() && std::fs::read_link(&link).is_ok_and(|t| t == target);
            if ours {
                made.push(link);
                continue;
            }
            if !force {
                return Err(Error::Other(format!(
                    "{} already exists and is not a link to {}; remove it or pass --force",
                    link.display(),
                    target.display()
                )));
            }
            std::fs::remove_file(&link).map_err(Error::io("removing", &link))?;
        }
        std::os::unix::fs::symlink(target, &link).map_err(Error::io("creating the link", &link))?;
        made.push(link);
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cmd() -> Command {
        Command::new("kubectl capi rollout")
            .arg(
                Arg::new("namespace")
                    .short('n')
                    .long("namespace")
                    .global(true)
                    .action(ArgAction::Set),
            )
            .arg(
                Arg::new("output")
                    .short('o')
                    .long("output")
                    .global(true)
                    .value_parser(["json", "yaml"]),
            )
            .subcommand(
                Command::new("restart")
                    .about("Replace every Machine.\nMore.")
                    .arg(Arg::new("objects").value_name("TYPE/NAME").num_args(1..)),
            )
            .subcommand(Command::new("status"))
    }

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn subcommands_flags_values_and_types() {
        let a = complete(cmd(), &w(&["re"])).await;
        assert_eq!(a.candidates, ["restart\tReplace every Machine."]);
        assert_eq!(a.directive, NO_FILE_COMP);
        let a = complete(cmd(), &w(&["restart", "--n"])).await;
        assert_eq!(a.candidates, ["--namespace\t"]);
        let a = complete(cmd(), &w(&["restart", "-o", ""])).await;
        assert_eq!(a.candidates, ["json", "yaml"]);
        let a = complete(cmd(), &w(&["restart", "-n", "x", "k"])).await;
        assert_eq!(
            a.candidates,
            [
                "kubeadmcontrolplane/\ta KubeadmControlPlane",
                "kcp/\ta KubeadmControlPlane"
            ]
        );
        assert_eq!(a.directive, NO_FILE_COMP | NO_SPACE);
        assert!(complete(cmd(), &w(&["restart", "c"])).await.candidates[0].starts_with("cluster/"));
        assert_eq!(
            Answer {
                candidates: w(&["a"]),
                directive: 4
            }
            .render(),
            "a\n:4\n"
        );
    }

    #[test]
    fn install_is_idempotent_and_keeps_foreign_files() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("kubectl-capi");
        std::fs::write(&target, "").unwrap();
        let made = install(d.path(), &target, &["scale"], false).unwrap();
        assert_eq!(made.len(), 2);
        assert_eq!(std::fs::read_link(&made[1]).unwrap(), target);
        assert_eq!(install(d.path(), &target, &["scale"], false).unwrap(), made);
        std::fs::remove_file(&made[0]).unwrap();
        std::fs::write(&made[0], "mine").unwrap();
        assert!(install(d.path(), &target, &["scale"], false).is_err());
        assert_eq!(std::fs::read_to_string(&made[0]).unwrap(), "mine", "left alone");
        install(d.path(), &target, &["scale"], true).unwrap();
        assert_eq!(std::fs::read_link(&made[0]).unwrap(), target);
        assert!(matches!(
            install(&target, &target, &[], false),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn completer_names_follow_kubectl() {
        assert_eq!(
            completer_names(&["describe", "get-kubeconfig"]),
            [
                "kubectl_complete-capi",
                "kubectl_complete-capi-describe",
                "kubectl_complete-capi-get_kubeconfig"
            ]
        );
    }
}
