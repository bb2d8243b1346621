//! Durations as Kubernetes prints and parses them.
//!
//! `human` follows apimachinery's `HumanDuration` (the AGE/SINCE style: `45s`, `3m20s`, `5h2m`,
//! `4d3h`), so plugin output lines up with `kubectl get`. `parse_go` reads Go duration strings
//! (`1m30s`, `500ms`, `0`) as kubectl's `--request-timeout` and `--timeout` flags accept them.

use std::time::Duration;

/// Formats a signed number of seconds the way `kubectl get` prints ages.
pub fn human_seconds(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".to_string();
    }
    if secs < 0 {
        return "0s".to_string();
    }
    human(Duration::from_secs(secs as u64))
}

/// Formats a duration the way `kubectl get` prints ages.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let minutes = secs / 60;
    let hours = secs / 3600;
    if secs < 120 {
        return format!("{secs}s");
    }
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let d = days % 365;
        return if d == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{d}d")
        };
    }
    format!("{years}y")
}

/// Error for a duration string that is not in Go's `time.ParseDuration` syntax.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: {why} (examples: 30s, 1m30s, 2h, 0 for none)")]
pub struct DurationError {
    /// The string that failed to parse.
    pub input: String,
    /// What was wrong with it.
    pub why: &'static str,
}

/// Parses a Go duration (`300ms`, `1.5h`, `2h45m`, `0`). A bare integer means seconds, as kubectl's
/// `--request-timeout=5` does. Negative durations are refused.
pub fn parse_go(input: &str) -> Result<Duration, DurationError> {
    let err = |why| DurationError {
        input: input.to_string(),
        why,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if s.starts_with('-') {
        return Err(err("negative durations are not allowed"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| err("number too large"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err("expected a number"));
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err("bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(err("missing unit (use s, m or h)")),
            _ => return Err(err("unknown unit (use ns, us, ms, s, m or h)")),
        };
        total += value * scale;
    }
    if !total.is_finite() || total > 1e12 {
        return Err(err("duration too large"));
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_matches_kubectl_buckets() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 2 * 60, "5h2m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (4 * 86400 + 3 * 3600, "4d3h"),
            (5 * 86400, "5d"),
            (400 * 86400, "400d"),
            (3 * 365 * 86400 + 10 * 86400, "3y10d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human(Duration::from_secs(secs)), want, "{secs}s");
        }
        assert_eq!(human_seconds(-5), "<invalid>");
        assert_eq!(human_seconds(-1), "0s");
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_go("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_go("1.5h"), Ok(Duration::from_secs(5400)));
        assert!(parse_go("-1s").is_err());
        assert!(parse_go("10x").is_err());
        assert!(parse_go("m").is_err());
        assert!(parse_go("").is_err());
        assert!(parse_go("10").is_ok());
        let e = parse_go("3 days").unwrap_err();
        assert!(e.to_string().contains("3 days"), "{e}");
    }
}
