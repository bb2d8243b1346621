//! Kubernetes versions (`v1.33.0`, with optional pre-release and build parts) as semver.

/// A parsed semantic version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Semver {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Pre-release part after `-`, if any.
    pub pre: Option<String>,
}

impl Semver {
    /// Parses `v1.33.0`, `1.33.0`, `v1.33.0-rc.1+build`; None for anything else.
    pub fn parse(s: &str) -> Option<Semver> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = s.split_once('+').map_or(s, |(v, _)| v);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) if !p.is_empty() => (c, Some(p.to_string())),
            Some(_) => return None,
            None => (s, None),
        };
        let mut it = core.split('.');
        let num = |p: Option<&str>| -> Option<u64> {
            let p = p?;
            if p.is_empty() || (p.len() > 1 && p.starts_with('0')) || !p.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let v = Semver {
            major: num(it.next())?,
            minor: num(it.next())?,
            patch: num(it.next())?,
            pre,
        };
        it.next().is_none().then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_versions() {
        let v = Semver::parse("v1.33.2").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 33, 2));
        assert_eq!(
            Semver::parse("1.34.0-rc.1+abc").unwrap().pre.as_deref(),
            Some("rc.1")
        );
        for bad in ["", "v1.33", "v1.33.x", "v01.2.3", "v1.2.3.4", "v1.2.3-", "latest"] {
            assert!(Semver::parse(bad).is_none(), "{bad}");
        }
        assert!(Semver::parse("v1.33.0") < Semver::parse("v1.34.0"));
    }
}
