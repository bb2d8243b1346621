//! `kubectl capi`: lists the verbs, prints the version, and runs `kubectl-capi-VERB` found next
//! to this executable (so an install where only `kubectl-capi` is on PATH, as krew makes, works).
//! Started as `kubectl_complete-capi[-VERB]` (links made by `kubectl capi completion install`),
//! it answers kubectl's shell completion requests.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use capi_shared::cli::{completion, dispatch};

const COMPLETION_HELP: &str = "kubectl capi completion: shell completion through kubectl (1.26+).

Usage:
  kubectl capi completion install [--dir DIR] [--force]

kubectl completes `kubectl capi ...` by running executables named kubectl_complete-capi and
kubectl_complete-capi-VERB found on PATH. krew links only kubectl-capi, so this command creates
those names as links to kubectl-capi, by default in the directory kubectl found kubectl-capi in
(~/.krew/bin for a krew install). Then enable kubectl's own completion, e.g.
  source <(kubectl completion bash)
Verbs, flags, flag values and live names (clusters, MachineDeployments, control planes,
namespaces, contexts) are completed.
";

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(rest) = base.strip_prefix("kubectl_complete-capi") {
        return complete(rest, &args);
    }
    let Some(verb) = args.first() else {
        print!("{}", dispatch::usage());
        return ExitCode::SUCCESS;
    };
    match verb.as_str() {
        "-h" | "--help" | "help" => {
            print!("{}", dispatch::usage());
            return ExitCode::SUCCESS;
        }
        "version" | "--version" => {
            // `version` takes nothing but --help: anything else is a usage error, as everywhere.
            if matches!(args.get(1).map(String::as_str), Some("-h" | "--help")) {
                println!("Print the version of kubectl-capi.\n\nUsage: kubectl capi version");
                return ExitCode::SUCCESS;
            }
            if let Some(extra) = args.get(1) {
                eprintln!("error: unexpected argument {extra:?} to `kubectl capi version` (it takes none)");
                return ExitCode::from(2);
            }
            println!("kubectl-capi {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        "completion" => return completion_cmd(&argv0, &args[1..]),
        _ => {}
    }
    if verb.starts_with('-') {
        eprintln!("error: flags go after the verb, e.g. `kubectl capi describe cluster NAME -n NS`\n");
        eprint!("{}", dispatch::usage());
        return ExitCode::from(2);
    }
    let known = dispatch::VERBS.iter().any(|(v, _)| v == verb);
    let Some(binary) = dispatch::find_verb(verb, dispatch::own_dir().as_deref()) else {
        if known {
            eprintln!(
                "error: the {:?} verb is not installed: {} was not found next to kubectl-capi or on PATH",
                verb,
                dispatch::binary_name(verb)
            );
            return ExitCode::from(1);
        }
        let hint = dispatch::suggest(verb)
            .map(|s| format!(" Did you mean {s:?}?"))
            .unwrap_or_default();
        eprintln!("error: unknown verb {verb:?}.{hint}\n");
        eprint!("{}", dispatch::usage());
        return ExitCode::from(2);
    };
    // exec replaces this process: exit code, stdin/stdout and signals belong to the verb.
    let err = Command::new(&binary).args(&args[1..]).exec();
    eprintln!("error: running {}: {err}", binary.display());
    ExitCode::from(1)
}

/// Answers kubectl's completion request: the verbs for the first word, else the verb's binary.
fn complete(rest: &str, args: &[String]) -> ExitCode {
    let (verb, words): (String, &[String]) = match rest.strip_prefix('-') {
        Some(v) => (v.replace('_', "-"), args),
        None if args.len() <= 1 => {
            let cur = args.first().map(String::as_str).unwrap_or("");
            let mut candidates: Vec<String> =
                dispatch::VERBS.iter().map(|(v, d)| format!("{v}\t{d}")).collect();
            candidates.push("completion\tInstall shell completion for kubectl capi".into());
            let answer = completion::Answer {
                candidates: candidates.into_iter().filter(|c| c.starts_with(cur)).collect(),
                directive: completion::NO_FILE_COMP,
            };
            print!("{}", answer.render());
            return ExitCode::SUCCESS;
        }
        None => (args[0].clone(), &args[1..]),
    };
    let Some(binary) = dispatch::find_verb(&verb, dispatch::own_dir().as_deref()) else {
        print!(
            "{}",
            completion::Answer {
                candidates: vec![],
                directive: completion::NO_FILE_COMP
            }
            .render()
        );
        return ExitCode::SUCCESS;
    };
    let err = Command::new(&binary)
        .arg(completion::COMPLETE_ARG)
        .args(words)
        .exec();
    eprintln!("error: running {}: {err}", binary.display());
    ExitCode::from(1)
}

/// `kubectl capi completion install [--dir DIR] [--force]`.
fn completion_cmd(argv0: &str, args: &[String]) -> ExitCode {
    let mut dir: Option<std::path::PathBuf> = None;
    let mut force = false;
    let mut install = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "install" => install = true,
            "--force" => force = true,
            "--dir" => match it.next() {
                Some(d) => dir = Some(d.into()),
                None => {
                    eprintln!("error: --dir needs a directory");
                    return ExitCode::from(2);
                }
            },
            d if d.starts_with("--dir=") => dir = Some(d["--dir=".len()..].into()),
            "-h" | "--help" | "help" => {
                print!("{COMPLETION_HELP}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown argument {other:?}\n\n{COMPLETION_HELP}");
                return ExitCode::from(2);
            }
        }
    }
    if !install {
        print!("{COMPLETION_HELP}");
        return ExitCode::from(2);
    }
    let target = match std::env::current_exe().and_then(std::fs::canonicalize) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot tell where kubectl-capi is installed: {e}");
            return ExitCode::from(1);
        }
    };
    // kubectl runs a plugin with argv[0] set to the path it found on PATH (krew's bin dir).
    let dir = dir.or_else(|| {
        let p = std::path::Path::new(argv0);
        if p.is_absolute() {
            p.parent().map(std::path::Path::to_path_buf)
        } else {
            target.parent().map(std::path::Path::to_path_buf)
        }
    });
    let Some(dir) = dir else {
        eprintln!("error: pass --dir with a directory on your PATH");
        return ExitCode::from(2);
    };
    let verbs: Vec<&str> = dispatch::VERBS
        .iter()
        .map(|(v, _)| *v)
        .filter(|v| *v != "version")
        .collect();
    match completion::install(&dir, &target, &verbs, force) {
        Ok(made) => {
            for m in made {
                println!("{}", m.display());
            }
            println!(
                "Completion links are in {}; enable kubectl's completion (e.g. `source <(kubectl completion bash)`).",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
