//! What a reconciler returns: an [`Action`] (when to look at the object again) or a
//! [`SimError`] (a write the API server refused, with the object it was about). The runner
//! (`sim.rs`) turns an error into a logged, backed-off retry; a reconciler never logs a write
//! itself, so every refused write is reported once, in one place.

use std::time::Duration;

use crate::api::error::ApiError;

/// When the runner should reconcile the object again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Only when something it watches changes.
    AwaitChange,
    /// After this long, whether or not anything changed (a simulated step is still running).
    RequeueAfter(Duration),
}

impl Action {
    /// Look again after `after`.
    pub fn requeue(after: Duration) -> Action {
        Action::RequeueAfter(after)
    }

    /// The sooner of two actions (a requeue wins over waiting for a change).
    pub fn or_sooner(self, other: Action) -> Action {
        match (self, other) {
            (Action::RequeueAfter(a), Action::RequeueAfter(b)) => Action::RequeueAfter(a.min(b)),
            (Action::RequeueAfter(a), _) | (_, Action::RequeueAfter(a)) => Action::RequeueAfter(a),
            _ => Action::AwaitChange,
        }
    }

    /// The requeue delay, if any.
    pub fn after(self) -> Option<Duration> {
        match self {
            Action::AwaitChange => None,
            Action::RequeueAfter(d) => Some(d),
        }
    }
}

impl From<Option<Duration>> for Action {
    fn from(after: Option<Duration>) -> Action {
        after.map_or(Action::AwaitChange, Action::RequeueAfter)
    }
}

/// A write of a simulated controller that the API server refused.
#[derive(Debug, thiserror::Error)]
#[error("{verb} {kind} {namespace}/{name}")]
pub struct SimError {
    /// What was attempted: `create`, `update`, `delete`.
    pub verb: &'static str,
    /// The kind of the object written.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The API server's answer.
    #[source]
    pub source: ApiError,
}

impl SimError {
    /// The HTTP status of the refusal.
    pub fn code(&self) -> u16 {
        self.source.code
    }

    /// A conflict or a vanished object: the world moved on between read and write, and the
    /// next pass (which the change's own event also queues) sees the new state.
    pub fn is_race(&self) -> bool {
        matches!(self.source.code, 404 | 409)
    }
}

/// A reconciler's result.
pub type SimResult<T = Action> = Result<T, SimError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sooner_requeue_wins_and_waiting_loses() {
        let a = Action::requeue(Duration::from_secs(2));
        let b = Action::requeue(Duration::from_secs(1));
        assert_eq!(a.or_sooner(b), b);
        assert_eq!(Action::AwaitChange.or_sooner(a), a);
        assert_eq!(a.or_sooner(Action::AwaitChange), a);
        assert_eq!(
            Action::AwaitChange.or_sooner(Action::AwaitChange),
            Action::AwaitChange
        );
        assert_eq!(Action::from(None), Action::AwaitChange);
    }
}
