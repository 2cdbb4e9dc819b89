//! The wafer program the mapper emits: PE tasks and messages in one program order.
//!
//! A **task** runs on one PE and processes `items` in order, `service` cycles each; its items come
//! either from a message delivered to the PE (one item per wavelet, in arrival order) or from
//! the PE's memory (all available at once). A PE runs its tasks strictly in program order, and a
//! task's item `k` completes at `max(arrival k, completion k-1) + service`. A **message** carries
//! one wavelet per item of the task that sends it along a route, and is delivered at the route's
//! drops; every link (router port) passes the messages that use it in program order, one
//! wavelet per cycle. PEs only learn of each other's results through messages, as on the wafer.
//!
//! The mapper writes the program into a [`Sink`]: the fast fidelity evaluates it as it comes
//! (message by message, in closed form), the detailed one records it ([`Program`]) and runs it
//! wavelet by wavelet on the event engine. Both obey the rules above, so they agree exactly.

use super::geometry::{Geometry, Pe, Route, Shift};
use crate::engine::EngineError;

/// Receiver of a wafer program in program order.
pub trait Sink {
    /// A task's handle, to send its items as a message.
    type Task: Copy;
    /// A message's arrival at one PE, to be consumed by one task there.
    type Delivery: Copy;

    /// The system the program runs on.
    fn geometry(&self) -> &Geometry;

    /// A task on `pe` processing `items` (the wavelets of `input` when given) at `service`
    /// cycles each.
    fn task(
        &mut self,
        pe: Pe,
        input: Option<Self::Delivery>,
        items: u64,
        service: u64,
    ) -> Result<Self::Task, EngineError>;

    /// A message of one wavelet per item of `src` along `route`; its deliveries, one per drop.
    fn message(
        &mut self,
        src: Self::Task,
        route: &Route,
        deliveries: &mut Vec<Self::Delivery>,
    ) -> Result<(), EngineError>;

    /// Whether messages need their routes' `nodes` (the routers they pass).
    fn route_nodes(&self) -> bool {
        true
    }

    /// Tasks from now on belong to part `index` of the step (a layer, the classifier).
    fn part(&mut self, index: usize);

    /// Record the current part as recording `slot` (one per kind of part), so that a later
    /// part that is its translate may be replayed.
    fn record(&mut self, _slot: usize) {}

    /// Account the current part as recording `slot` moved `offset` PEs on (a rigid `shift`),
    /// if the state it starts from makes that exact; `false` (and nothing done) when the part
    /// must be written out. Sinks that keep the whole program never replay.
    fn replay(&mut self, _slot: usize, _offset: i64, _shift: Shift) -> bool {
        false
    }
}

/// One recorded task.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub pe: Pe,
    /// (message, drop) it consumes.
    pub input: Option<(u32, u32)>,
    pub items: u64,
    pub service: u64,
    pub part: usize,
}

/// One recorded message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The task whose items it carries.
    pub src: u32,
    pub route: Route,
}

/// A whole recorded program, for the detailed fidelity.
#[derive(Clone, Debug)]
pub struct Program {
    pub geometry: Geometry,
    pub tasks: Vec<Task>,
    pub messages: Vec<Message>,
    part: usize,
}

impl Program {
    /// An empty program for `geometry`.
    pub fn new(geometry: Geometry) -> Program {
        Program {
            geometry,
            tasks: Vec::new(),
            messages: Vec::new(),
            part: 0,
        }
    }
}

fn index(n: usize, what: &'static str) -> Result<u32, EngineError> {
    u32::try_from(n).map_err(|_| EngineError::Overflow { what })
}

impl Sink for Program {
    type Task = u32;
    type Delivery = (u32, u32);

    fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    fn task(
        &mut self,
        pe: Pe,
        input: Option<(u32, u32)>,
        items: u64,
        service: u64,
    ) -> Result<u32, EngineError> {
        let items = match input {
            Some((m, _)) => self.tasks[self.messages[m as usize].src as usize].items,
            None => items,
        };
        self.tasks.push(Task {
            pe,
            input,
            items,
            service,
            part: self.part,
        });
        index(self.tasks.len() - 1, "task count")
    }

    fn message(
        &mut self,
        src: u32,
        route: &Route,
        deliveries: &mut Vec<(u32, u32)>,
    ) -> Result<(), EngineError> {
        let id = index(self.messages.len(), "message count")?;
        deliveries.clear();
        for d in 0..route.drops.len() {
            deliveries.push((id, index(d, "drop count")?));
        }
        self.messages.push(Message {
            src,
            route: route.clone(),
        });
        Ok(())
    }

    fn part(&mut self, index: usize) {
        self.part = index;
    }
}
