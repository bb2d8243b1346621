//! Running a plugin binary: logging set-up from `-v`, and turning the result into an exit code
//! with one `error: ...` line (plus `caused by:` lines) on stderr.

pub mod completion;
pub mod dispatch;

use std::io::Write;

use crate::error::{EXIT_OK, Error};

/// Maps kubectl's `-v` levels onto log filters: 0 warnings, 1–3 info, 4–5 debug, 6+ every HTTP
/// request (logged by the client layer), 8+ trace.
pub fn init_logging(verbosity: u8) {
    // Library logs (kube, hyper) would repeat errors the plugin already reports in one line,
    // so they are silenced below -v=4. Nothing logs request or response bodies.
    let level = match verbosity {
        0 => "warn,kube=off,kube_client=off,kube_runtime=off",
        1..=3 => "info,kube=off,kube_client=off,kube_runtime=off",
        4..=5 => "debug,hyper=info,h2=info,rustls=info",
        6..=7 => "info,capi_shared::client=debug",
        _ => "debug,capi_shared=trace,hyper=info,h2=info,rustls=info",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| level.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs redirected to a file (sandbox.log) stay plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_target(false)
        .without_time()
        .try_init();
}

/// Prints an error the way every plugin does and returns its exit code.
pub fn report(err: &Error) -> i32 {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {err}");
    let mut source = std::error::Error::source(err).filter(|_| !err.shows_causes());
    while let Some(s) = source {
        let _ = writeln!(stderr, "  caused by: {s}");
        source = s.source();
    }
    err.exit_code()
}

/// Runs `f` and exits with the right code. A closed stdout (`| head`) is not an error.
pub fn exit_with(result: crate::error::Result<()>) -> std::process::ExitCode {
    let code = match result {
        Ok(()) => EXIT_OK,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => report(&e),
    };
    std::process::ExitCode::from(code as u8)
}

/// Runs a plugin's async body on a small runtime and turns its result into the exit code.
pub fn run_async<F>(verbosity: u8, body: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = crate::error::Result<()>>,
{
    init_logging(verbosity);
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => exit_with(rt.block_on(body)),
        Err(e) => exit_with(Err(Error::Other(format!("starting the async runtime: {e}")))),
    }
}
