//! Kubernetes versions (`v1.33.0`, with optional pre-release and build parts) as semver.

/// The (major, minor, patch) of a version as written, pre-release parts ignored; None when it
/// does not parse.
pub fn release_of(v: &str) -> Option<(u64, u64, u64)> {
    Semver::parse(v).map(|s| s.core())
}

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

    /// Semver precedence: numbers first, then a pre-release sorts before its release.
    pub fn precedence(&self, o: &Semver) -> std::cmp::Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (&self.pre, &o.pre) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }

    /// (major, minor, patch), for ordering by release while ignoring pre-release parts.
    pub fn core(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }

    /// `v1.34`, the release series.
    pub fn series(&self) -> String {
        format!("v{}.{}", self.major, self.minor)
    }
}

impl std::fmt::Display for Semver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(p) = &self.pre {
            write!(f, "-{p}")?;
        }
        Ok(())
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
        let rc = Semver::parse("v1.34.0-rc.1").unwrap();
        let ga = Semver::parse("v1.34.0").unwrap();
        assert_eq!(rc.precedence(&ga), std::cmp::Ordering::Less);
        assert_eq!(
            ga.precedence(&Semver::parse("1.33.9").unwrap()),
            std::cmp::Ordering::Greater
        );
        assert_eq!(rc.to_string(), "v1.34.0-rc.1");
        assert_eq!(ga.series(), "v1.34");
    }
}
