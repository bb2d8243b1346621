//! `kubectl capi`: lists the verbs, prints the version, and runs `kubectl-capi-VERB` found next
//! to this executable (so an install where only `kubectl-capi` is on PATH, as krew makes, works).

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use capi_shared::dispatch;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
            println!("kubectl-capi {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
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
