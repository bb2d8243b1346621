//! Progress of an upgrade on stderr: a heading per stage and a bar per object, a new line
//! whenever it moves (so logs and terminals show the same thing).

use std::io::Write;

use crate::rollout::status::RolloutStatus;

/// Width of the bars.
const WIDTH: usize = 20;

/// A `[#####...............] 1/4` bar.
pub fn bar(done: i64, total: i64) -> String {
    let total = total.max(0);
    let done = done.clamp(0, total);
    let filled = if total == 0 {
        WIDTH
    } else {
        (done as usize * WIDTH) / total as usize
    };
    format!(
        "[{}{}] {done}/{total}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled)
    )
}

/// Where progress goes.
pub trait Reporter: Send + Sync {
    /// A stage starts: `[2/3] MachineDeployments`.
    fn stage(&self, n: usize, total: usize, title: &str);
    /// An object moved.
    fn object(&self, what: &str, s: &RolloutStatus);
    /// Anything else worth a line.
    fn note(&self, line: &str);
}

/// Writes to stderr.
pub struct Stderr;

impl Reporter for Stderr {
    fn stage(&self, n: usize, total: usize, title: &str) {
        let _ = writeln!(std::io::stderr(), "[{n}/{total}] {title}");
    }

    fn object(&self, what: &str, s: &RolloutStatus) {
        let _ = writeln!(
            std::io::stderr(),
            "      {what:<48} {} up to date  {}",
            // Until the controller has seen the new spec its counters describe the old one.
            bar(
                if s.observed {
                    s.up_to_date.min(s.desired)
                } else {
                    0
                },
                s.desired
            ),
            if s.complete {
                "done".to_string()
            } else {
                s.message.clone()
            }
        );
    }

    fn note(&self, line: &str) {
        let _ = writeln!(std::io::stderr(), "      {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_proportion() {
        assert_eq!(bar(0, 4), format!("[{}] 0/4", ".".repeat(WIDTH)));
        assert_eq!(bar(1, 4), format!("[{}{}] 1/4", "#".repeat(5), ".".repeat(15)));
        assert_eq!(bar(9, 4), format!("[{}] 4/4", "#".repeat(WIDTH)));
        assert_eq!(bar(0, 0), format!("[{}] 0/0", "#".repeat(WIDTH)));
    }
}
