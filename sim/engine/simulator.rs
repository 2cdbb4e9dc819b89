//! The simulator: components wired at build time, one event queue, and a run loop that always
//! terminates (queue drained, cycle limit reached, or event budget exhausted).

use super::component::{Component, ComponentId, Context, Delivery, Label};
use super::counters::Counters;
use super::error::EngineError;
use super::queue::{EventQueue, Phase};
use super::time::{Clock, Cycle};
use super::trace::{Trace, TrackId};

/// Default limit on events one simulator may handle over its life [events]: far more than a
/// correct model of one inference step needs, yet a runaway loop stops within minutes. Models
/// of longer runs raise it with [`SimBuilder::event_budget`].
pub const DEFAULT_EVENT_BUDGET: u64 = 1 << 32;

/// Why a run ended normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Stop {
    /// No events are left.
    Drained,
    /// The next event lies beyond the cycle limit; it stays queued, so the run can resume.
    Limit,
}

/// A reserved component id: empty until its component is installed.
type Slot<E> = Option<(Label, Box<dyn Component<E>>)>;

/// Collects components and their wiring before the simulator is fixed.
pub struct SimBuilder<E> {
    clock: Clock,
    budget: u64,
    trace: bool,
    slots: Vec<Slot<E>>,
}

impl<E> SimBuilder<E> {
    /// A simulator-to-be counting cycles of `clock`, with the default event budget and no trace.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            budget: DEFAULT_EVENT_BUDGET,
            trace: false,
            slots: Vec::new(),
        }
    }

    /// Stop with [`EngineError::EventBudget`] after `events` handled events [events].
    pub fn event_budget(mut self, events: u64) -> Self {
        self.budget = events;
        self
    }

    /// Record trace spans (off by default: then span calls cost one branch).
    pub fn trace(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }

    /// An id for a component to be installed later, so that components which address each other
    /// can be given their peers' ids at construction.
    pub fn reserve(&mut self) -> Result<ComponentId, EngineError> {
        let id = u32::try_from(self.slots.len())
            .map_err(|_| EngineError::Overflow {
                what: "component count",
            })
            .map(ComponentId)?;
        self.slots.push(None);
        Ok(id)
    }

    /// Install `component`, labelled `label`, under the reserved `id`.
    pub fn install(
        &mut self,
        id: ComponentId,
        label: Label,
        component: impl Component<E> + 'static,
    ) -> Result<(), EngineError> {
        match self.slots.get_mut(id.index()) {
            None => Err(EngineError::UnknownComponent(id)),
            Some(Some(_)) => Err(EngineError::AlreadyInstalled(id)),
            Some(slot) => {
                *slot = Some((label, Box::new(component)));
                Ok(())
            }
        }
    }

    /// Reserve an id and install `component` under it.
    pub fn add(
        &mut self,
        label: Label,
        component: impl Component<E> + 'static,
    ) -> Result<ComponentId, EngineError> {
        let id = self.reserve()?;
        self.install(id, label, component)?;
        Ok(id)
    }

    /// Fix the wiring; every reserved id must have been installed.
    pub fn build(self) -> Result<Simulator<E>, EngineError> {
        let count = self.slots.len();
        let mut labels = Vec::with_capacity(count);
        let mut components = Vec::with_capacity(count);
        for (i, slot) in self.slots.into_iter().enumerate() {
            let (label, component) = slot.ok_or(EngineError::Unwired(ComponentId(i as u32)))?;
            labels.push(label);
            components.push(component);
        }
        let (trace, tracks) = if self.trace {
            let mut trace = Trace::new(self.clock);
            let tracks = labels
                .iter()
                .map(|l| trace.track(&l.chip, &l.unit))
                .collect();
            (Some(trace), tracks)
        } else {
            (None, Vec::new())
        };
        Ok(Simulator {
            clock: self.clock,
            budget: self.budget,
            handled: 0,
            queue: EventQueue::new(),
            counters: vec![Counters::default(); count],
            labels,
            components,
            trace,
            tracks,
        })
    }
}

/// A wired machine model and its pending events. Single-threaded by design: parallelism belongs
/// above it (independent simulations), which keeps every run bit-identical.
pub struct Simulator<E> {
    clock: Clock,
    budget: u64,
    handled: u64,
    queue: EventQueue<Delivery<E>>,
    labels: Vec<Label>,
    components: Vec<Box<dyn Component<E>>>,
    counters: Vec<Counters>,
    trace: Option<Trace>,
    tracks: Vec<TrackId>,
}

impl<E> Simulator<E> {
    /// The clock cycles are counted in.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The cycle of the last handled event [cycles].
    pub fn now(&self) -> Cycle {
        self.queue.now()
    }

    /// Events waiting.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Events handled so far, over all runs [events].
    pub fn handled(&self) -> u64 {
        self.handled
    }

    /// Inject `event` for `to` at cycle `at` in `phase`, e.g. the first instruction of a program.
    pub fn schedule(
        &mut self,
        to: ComponentId,
        at: Cycle,
        phase: Phase,
        event: E,
    ) -> Result<(), EngineError> {
        if to.index() >= self.components.len() {
            return Err(EngineError::UnknownComponent(to));
        }
        self.queue.schedule(at, phase, Delivery { to, event })
    }

    /// Handle events until none are left.
    pub fn run(&mut self) -> Result<Stop, EngineError> {
        self.run_until(Cycle(u64::MAX))
    }

    /// Handle events firing at or before `limit` [cycles].
    pub fn run_until(&mut self, limit: Cycle) -> Result<Stop, EngineError> {
        loop {
            match self.queue.peek_time() {
                None => return Ok(Stop::Drained),
                Some((at, _)) if at > limit => return Ok(Stop::Limit),
                Some(_) => {}
            }
            if self.handled >= self.budget {
                return Err(EngineError::EventBudget {
                    budget: self.budget,
                    at: self.queue.now(),
                    pending: self.queue.len(),
                });
            }
            let Some(next) = self.queue.pop() else {
                return Ok(Stop::Drained);
            };
            self.handled += 1;
            self.dispatch(next.payload)?;
        }
    }

    #[inline]
    fn dispatch(&mut self, delivery: Delivery<E>) -> Result<(), EngineError> {
        let Delivery { to, event } = delivery;
        let i = to.index();
        let (Some(component), Some(counters)) =
            (self.components.get_mut(i), self.counters.get_mut(i))
        else {
            return Err(EngineError::UnknownComponent(to));
        };
        counters.add_event();
        let trace = match (&mut self.trace, self.tracks.get(i)) {
            (Some(trace), Some(&track)) => Some((trace, track)),
            _ => None,
        };
        let mut ctx = Context {
            id: to,
            components: self.labels.len(),
            queue: &mut self.queue,
            counters,
            trace,
        };
        component.handle(event, &mut ctx)
    }

    /// Every component's label and counters, in wiring order.
    pub fn counters(&self) -> impl Iterator<Item = (ComponentId, &Label, &Counters)> {
        self.labels
            .iter()
            .zip(&self.counters)
            .enumerate()
            .map(|(i, (label, counters))| (ComponentId(i as u32), label, counters))
    }

    /// The counters of `id`, if it exists.
    pub fn counters_of(&self, id: ComponentId) -> Option<&Counters> {
        self.counters.get(id.index())
    }

    /// The recorded trace, if tracing was turned on.
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// A ball bouncing between two players; each hit takes the hitter `latency` cycles.
    struct Player {
        peer: ComponentId,
        latency: u64,
    }

    impl Component<u32> for Player {
        fn handle(
            &mut self,
            hits_left: u32,
            ctx: &mut Context<'_, u32>,
        ) -> Result<(), EngineError> {
            ctx.busy(self.latency)?;
            ctx.count("bytes", 64)?;
            ctx.span("hit", ctx.now(), self.latency)?;
            match hits_left.checked_sub(1) {
                Some(left) => ctx.send(self.peer, self.latency, Phase::Transfer, left),
                None => Ok(()),
            }
        }
    }

    fn ping_pong(trace: bool) -> Simulator<u32> {
        let mut b = SimBuilder::new(Clock::new(1_000_000).unwrap()).trace(trace);
        let (a, z) = (b.reserve().unwrap(), b.reserve().unwrap());
        b.install(
            a,
            Label::new("chip", "a"),
            Player {
                peer: z,
                latency: 2,
            },
        )
        .unwrap();
        b.install(
            z,
            Label::new("chip", "b"),
            Player {
                peer: a,
                latency: 5,
            },
        )
        .unwrap();
        let mut sim = b.build().unwrap();
        sim.schedule(a, Cycle::ZERO, Phase::Issue, 5).unwrap();
        sim
    }

    #[test]
    fn ping_pong_ends_at_the_hand_computed_cycle() {
        // a@0 -> b@2 -> a@7 -> b@9 -> a@14 -> b@16, which has no hits left.
        let mut sim = ping_pong(false);
        assert_eq!(sim.run(), Ok(Stop::Drained));
        assert_eq!(sim.now(), Cycle(16));
        assert_eq!(sim.handled(), 6);
        let report: Vec<(String, u64, u64, u64)> = sim
            .counters()
            .map(|(_, l, c)| (l.to_string(), c.events(), c.busy(), c.get("bytes")))
            .collect();
        assert_eq!(
            report,
            [("chip/a".into(), 3, 6, 192), ("chip/b".into(), 3, 15, 192)]
        );
        let a = sim.counters().next().unwrap().2;
        assert_eq!(a.utilization(sim.now().get()), Some(6.0 / 16.0));
        assert!(sim.trace().is_none());
    }

    #[test]
    fn run_until_stops_at_the_limit_and_resumes() {
        let mut sim = ping_pong(false);
        assert_eq!(sim.run_until(Cycle(8)), Ok(Stop::Limit));
        assert_eq!((sim.now(), sim.pending()), (Cycle(7), 1));
        assert_eq!(sim.run(), Ok(Stop::Drained));
        assert_eq!(sim.now(), Cycle(16));
    }

    #[test]
    fn traced_run_has_one_track_per_component() {
        let mut sim = ping_pong(true);
        assert_eq!(sim.run(), Ok(Stop::Drained));
        let mut bytes = Vec::new();
        sim.trace().unwrap().write_chrome_json(&mut bytes).unwrap();
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        let events = json["traceEvents"].as_array().unwrap();
        let threads: Vec<&str> = events
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(threads, ["a", "b"]);
        assert_eq!(events.iter().filter(|e| e["ph"] == "X").count(), 6);
    }

    #[test]
    fn repeated_runs_are_byte_identical() {
        let json = || {
            let mut sim = ping_pong(true);
            assert_eq!(sim.run(), Ok(Stop::Drained));
            let mut bytes = Vec::new();
            sim.trace().unwrap().write_chrome_json(&mut bytes).unwrap();
            bytes
        };
        assert_eq!(json(), json());
    }

    /// Sends to itself forever without time passing: the hang the budget exists for.
    struct Spinner;

    impl Component<()> for Spinner {
        fn handle(&mut self, (): (), ctx: &mut Context<'_, ()>) -> Result<(), EngineError> {
            ctx.send(ctx.id(), 0, ctx.phase(), ())
        }
    }

    #[test]
    fn event_budget_stops_a_zero_delay_loop() {
        let mut b = SimBuilder::new(Clock::new(1).unwrap()).event_budget(1000);
        let id = b.add(Label::new("chip", "spin"), Spinner).unwrap();
        let mut sim = b.build().unwrap();
        sim.schedule(id, Cycle(3), Phase::Compute, ()).unwrap();
        assert_eq!(
            sim.run(),
            Err(EngineError::EventBudget {
                budget: 1000,
                at: Cycle(3),
                pending: 1
            })
        );
        assert_eq!(sim.handled(), 1000);
    }

    #[test]
    fn wiring_mistakes_are_errors() {
        let mut b = SimBuilder::<()>::new(Clock::new(1).unwrap());
        let id = b.reserve().unwrap();
        assert_eq!(b.reserve().map(|i| i.index()), Ok(1));
        b.install(id, Label::new("c", "u"), Spinner).unwrap();
        assert_eq!(
            b.install(id, Label::new("c", "u"), Spinner),
            Err(EngineError::AlreadyInstalled(id))
        );
        assert_eq!(
            b.install(ComponentId(9), Label::new("c", "u"), Spinner),
            Err(EngineError::UnknownComponent(ComponentId(9)))
        );
        assert!(matches!(
            b.build(),
            Err(EngineError::Unwired(ComponentId(1)))
        ));

        let mut sim = SimBuilder::<()>::new(Clock::new(1).unwrap())
            .build()
            .unwrap();
        assert_eq!(
            sim.schedule(ComponentId(0), Cycle(0), Phase::Issue, ()),
            Err(EngineError::UnknownComponent(ComponentId(0)))
        );
        assert_eq!(sim.run(), Ok(Stop::Drained));
    }
}
