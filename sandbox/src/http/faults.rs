//! Faults a test injects into a running sandbox, so that what a client does when the server
//! fails part-way (a move's rollback and resume) is tested for real: after `after` matching
//! requests, further ones of that verb on that resource fail with a 500 or never get an answer
//! (the client is then killed mid-request, as `kill -9` would find it).

use std::sync::Mutex;

/// What happens to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Answer 500 InternalError.
    Fail,
    /// Never answer.
    Hang,
}

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The verb as RBAC names it: `create`, `update`, `patch`, `delete`.
    pub verb: String,
    /// The resource plural (`machines`); subresources never match.
    pub resource: String,
    /// How many matching requests pass first.
    pub after: usize,
    /// What happens to the rest.
    pub effect: Effect,
}

/// The faults in force, each with the matching requests seen so far.
#[derive(Debug, Default)]
pub struct Faults(Mutex<Vec<(Fault, usize)>>);

impl Faults {
    /// Adds a fault.
    pub fn inject(&self, f: Fault) {
        if let Ok(mut v) = self.0.lock() {
            v.push((f, 0));
        }
    }

    /// Removes every fault.
    pub fn clear(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }

    /// How many requests the faults have failed or held so far (a test waits for this before
    /// killing a client it holds).
    pub fn bitten(&self) -> usize {
        self.0
            .lock()
            .map(|v| v.iter().map(|(f, seen)| seen.saturating_sub(f.after)).sum())
            .unwrap_or(0)
    }

    /// The effect on a request, counting it.
    pub(crate) fn check(&self, verb: &str, resource: &str, subresource: &str) -> Option<Effect> {
        if !subresource.is_empty() {
            return None;
        }
        let mut v = self.0.lock().ok()?;
        for (f, seen) in v.iter_mut() {
            if f.verb == verb && f.resource == resource {
                *seen += 1;
                if *seen > f.after {
                    return Some(f.effect);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_lets_the_first_requests_through_then_bites() {
        let f = Faults::default();
        f.inject(Fault {
            verb: "create".into(),
            resource: "machines".into(),
            after: 2,
            effect: Effect::Fail,
        });
        assert_eq!(f.check("create", "machines", ""), None);
        assert_eq!(f.check("create", "secrets", ""), None);
        assert_eq!(f.check("create", "machines", "status"), None);
        assert_eq!(f.check("create", "machines", ""), None);
        assert_eq!(f.check("create", "machines", ""), Some(Effect::Fail));
        assert_eq!(f.bitten(), 1);
        f.clear();
        assert_eq!(f.check("create", "machines", ""), None);
    }
}
