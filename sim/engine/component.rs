//! Components: the units of a machine model. Each is wired once when the simulator is built and
//! only talks to others through timed events, so the queue alone decides what happens when.

use super::counters::Counters;
use super::error::EngineError;
use super::queue::{EventQueue, Phase};
use super::time::Cycle;
use super::trace::{Trace, TrackId};
use std::borrow::Cow;
use std::fmt;

/// Where an event goes: a component's index in wiring order, the explicit key that orders
/// reports and tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId(pub(super) u32);

impl ComponentId {
    /// Position in wiring order.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which chip and unit a component models; names its counters and its trace track.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// e.g. `"tsp0"`, `"wse"`.
    pub chip: String,
    /// e.g. `"mxm"`, `"pe(3,7)"`.
    pub unit: String,
}

impl Label {
    /// The label of `unit` on `chip`.
    pub fn new(chip: impl Into<String>, unit: impl Into<String>) -> Self {
        Self {
            chip: chip.into(),
            unit: unit.into(),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.chip, self.unit)
    }
}

/// A unit of a machine model reacting to events of type `E`.
pub trait Component<E> {
    /// React to `event`, which fires now (`ctx.now()`, `ctx.phase()`): update state, count work,
    /// schedule follow-up events. An error stops the simulation.
    fn handle(&mut self, event: E, ctx: &mut Context<'_, E>) -> Result<(), EngineError>;
}

/// An event on its way to a component: the queue's payload.
pub(super) struct Delivery<E> {
    pub(super) to: ComponentId,
    pub(super) event: E,
}

/// What a handler may do besides changing its own state: read the time, send events, count work
/// and record trace spans, all on behalf of the component being run.
pub struct Context<'a, E> {
    pub(super) id: ComponentId,
    pub(super) components: usize,
    pub(super) queue: &'a mut EventQueue<Delivery<E>>,
    pub(super) counters: &'a mut Counters,
    pub(super) trace: Option<(&'a mut Trace, TrackId)>,
}

impl<E> Context<'_, E> {
    /// The component being run.
    pub fn id(&self) -> ComponentId {
        self.id
    }

    /// The current cycle [cycles].
    pub fn now(&self) -> Cycle {
        self.queue.now()
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.queue.phase()
    }

    /// Deliver `event` to `to` at cycle `at` in `phase`.
    pub fn send_at(
        &mut self,
        to: ComponentId,
        at: Cycle,
        phase: Phase,
        event: E,
    ) -> Result<(), EngineError> {
        if to.index() >= self.components {
            return Err(EngineError::UnknownComponent(to));
        }
        self.queue.schedule(at, phase, Delivery { to, event })
    }

    /// Deliver `event` to `to` `delay` [cycles] from now, in `phase`.
    pub fn send(
        &mut self,
        to: ComponentId,
        delay: u64,
        phase: Phase,
        event: E,
    ) -> Result<(), EngineError> {
        self.send_at(to, self.now().checked_add(delay)?, phase, event)
    }

    /// Declare `cycles` [cycles] of work, counted towards utilization.
    pub fn busy(&mut self, cycles: u64) -> Result<(), EngineError> {
        self.counters.add_busy(cycles)
    }

    /// Add `n` to this component's named counter `name` (e.g. `"bytes"`).
    pub fn count(&mut self, name: &'static str, n: u64) -> Result<(), EngineError> {
        self.counters.add(name, n)
    }

    /// Whether spans are being recorded; check it before formatting an expensive span name.
    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// Record on this component's track that it spent `duration` [cycles] from `start` on
    /// `name`; nothing when tracing is off.
    pub fn span(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        start: Cycle,
        duration: u64,
    ) -> Result<(), EngineError> {
        match &mut self.trace {
            Some((trace, track)) => trace.span(*track, name, start, duration),
            None => Ok(()),
        }
    }
}
