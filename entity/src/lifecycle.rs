//! The lifecycles of datahog's resources: each status is an enum stored by its name, and
//! each enum lists the moves between its statuses in one table (the README draws them).
//! Code that changes a status states the move it makes, and the move is checked here.

use std::fmt::Debug;

/// A resource's statuses and the moves allowed between them.
pub trait Lifecycle: Copy + Eq + Debug + 'static {
    /// Every allowed move, as `(from, to)`.
    const MOVES: &'static [(Self, Self)];

    /// Whether moving from `from` to `to` is allowed.
    fn allows(from: Self, to: Self) -> bool {
        Self::MOVES.contains(&(from, to))
    }

    /// The move from `from` to `to`, or the reason it is not one.
    fn check(from: Self, to: Self) -> Result<(Self, Self), IllegalMove> {
        if Self::allows(from, to) {
            Ok((from, to))
        } else {
            Err(IllegalMove(format!("{from:?} -> {to:?}")))
        }
    }
}

/// A status change its lifecycle does not allow: a bug, never data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalMove(pub String);

impl std::fmt::Display for IllegalMove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "status change not in the lifecycle: {}", self.0)
    }
}

impl std::error::Error for IllegalMove {}
