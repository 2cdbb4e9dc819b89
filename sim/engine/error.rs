//! Why a simulation could not go on. Every variant is something a machine model or its input
//! can cause, so it is an error value, never a panic.

use super::component::ComponentId;
use super::queue::Phase;
use super::time::Cycle;

/// A failure of the engine or of a component's handler.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// An event was scheduled before the event being handled; time only moves forward, and
    /// within a cycle phases only move forward too.
    #[error(
        "event scheduled at cycle {at} ({phase:?}), before the current cycle {now} ({now_phase:?})"
    )]
    Past {
        at: Cycle,
        phase: Phase,
        now: Cycle,
        now_phase: Phase,
    },
    /// A time or count does not fit in 64 bits.
    #[error("{what} overflows 64 bits")]
    Overflow { what: &'static str },
    /// More than 2^56 events were scheduled on one queue (the width of the tie-break counter).
    #[error("event sequence counter exhausted after 2^56 events")]
    SequenceExhausted,
    /// A clock needs a positive frequency.
    #[error("clock frequency must be positive, got 0 Hz")]
    ZeroFrequency,
    /// A duration in seconds is negative, NaN or infinite.
    #[error("time {seconds} s is not a finite non-negative number")]
    BadSeconds { seconds: f64 },
    /// The max-events budget ran out while events were still pending: most likely an event loop
    /// that never drains.
    #[error(
        "event budget of {budget} events exhausted at cycle {at} with {pending} events pending \
         (an event loop that never drains?)"
    )]
    EventBudget {
        budget: u64,
        at: Cycle,
        pending: usize,
    },
    /// An event was addressed to a component this simulator does not have.
    #[error("component {0} does not exist in this simulator")]
    UnknownComponent(ComponentId),
    /// A reserved component id was never given a component before `build`.
    #[error("component {0} was reserved but never installed")]
    Unwired(ComponentId),
    /// A component id was given a component twice.
    #[error("component {0} was installed twice")]
    AlreadyInstalled(ComponentId),
    /// A span was recorded on a track this trace does not have.
    #[error("trace track {0} does not exist")]
    UnknownTrack(u32),
    /// A simulation given a cut-off stopped once what it had measured showed it could not beat
    /// it (a mapping search's branch and bound abandoning a candidate part way).
    #[error("abandoned at part {part}: the run takes at least {at_least} cycles")]
    Abandoned { part: usize, at_least: u64 },
    /// A component's own model rejected what it was asked to do.
    #[error("{component}: {reason}")]
    Model { component: String, reason: String },
}
