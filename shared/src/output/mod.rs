//! Presentation: colours that honour NO_COLOR and terminals, kubectl-style tables, JSON and YAML.

pub mod color;
pub mod table;

use serde::Serialize;

use crate::error::{Error, Result};

/// Machine-readable output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Serialises a value as JSON (pretty) or YAML, ending with a newline.
pub fn render<T: Serialize>(value: &T, format: Format) -> Result<String> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| Error::Other(format!("encoding JSON: {e}"))),
        Format::Yaml => {
            serde_saphyr::to_string(value).map_err(|e| Error::Other(format!("encoding YAML: {e}")))
        }
    }
}

/// Writes text to stdout; a closed pipe ends quietly.
pub fn print(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(Error::io("writing", "stdout"))
}
