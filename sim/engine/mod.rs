//! The discrete-event engine the machine models run on.
//!
//! Time is counted in [`Cycle`]s of a [`Clock`]. Pending events sit in an [`EventQueue`] in a
//! total order (cycle, [`Phase`], insertion), so a run is bit-identical whatever the host.
//! Machine models are [`Component`]s wired into a [`Simulator`] by a [`SimBuilder`]; they count
//! work in [`Counters`] and may draw a [`Trace`] that opens in Perfetto. See `docs/engine.md`.

mod calendar;
pub mod component;
pub mod counters;
pub mod error;
mod heap;
pub mod queue;
pub mod simulator;
pub mod time;
pub mod trace;

pub use component::{Component, ComponentId, Context, Label};
pub use counters::Counters;
pub use error::EngineError;
pub use queue::{Event, EventQueue, Phase};
pub use simulator::{DEFAULT_EVENT_BUDGET, SimBuilder, Simulator, Stop};
pub use time::{Clock, Cycle};
pub use trace::{Span, Trace, TrackId};
