//! The wafer program the mapper emits: PE tasks and messages in one program order.
//!
//! A **task** runs on one PE and processes `items` in order, `service` cycles each; its items come
//! either from a message delivered to the PE (one item per wavelet, in arrival order) or from
//! the PE's memory (all available at once). A PE runs its tasks strictly in program order, and a
//! task's item `k` completes at `max(arrival k, completion k-1) + service`. A **message** carries
//! one wavelet per item of the task that sends it along a route, and is delivered at the route's
//! drops, each to a task created with it; every link (router port) passes the messages that use
//! it in program order, one wavelet per cycle. PEs only learn of each other's results through
//! messages, as on the wafer.
//!
//! **Back-pressure.** Each message has its own queue (color) of `queue` wavelets
//! ([`Geometry::queue`]) at the far end of every fabric link, and a link sends wavelet `k` only
//! once wavelet `k - queue` has left that queue (been sent on by every output of the router it
//! reached: the next link, the ramp into the PE, or both), one cycle for the credit to come
//! back. A delivery lands either in the receiving PE's input queue (as deep: the ramp sends
//! wavelet `k` once the task has done item `k - queue`) or in a buffer in SRAM that the layout
//! budgets for the whole message (the ramp starts once the task that last used the buffer is
//! done). A PE sends from its memory: its tasks never wait for the fabric. I/O lanes between
//! wafers are not credit-limited (the systems' links buffer in bulk). Every wait points to
//! something earlier in program order or to an earlier wavelet, so programs written through a
//! [`Sink`] cannot deadlock.
//!
//! The mapper writes the program into a [`Sink`]: the fast fidelity evaluates it as it comes
//! (message by message, in closed form), the detailed one records it ([`Program`]) and runs it
//! wavelet by wavelet on the event engine. Both obey the rules above, so they agree exactly.

use super::geometry::{Geometry, Pe, Route, Shift};
use crate::engine::EngineError;

/// Where a delivered message lands in the receiving PE.
#[derive(Clone, Debug, PartialEq)]
pub enum Buffer<T> {
    /// The task takes it straight from the PE's input queue ([`Geometry::queue`] wavelets).
    Queue,
    /// A buffer in SRAM holding the whole message, free once task `after` (its previous user)
    /// is done.
    Memory { after: Option<T> },
}

/// The task receiving one drop of a message: `service` cycles per wavelet, from `buffer`.
#[derive(Clone, Debug, PartialEq)]
pub struct Receive<T> {
    pub service: u64,
    pub buffer: Buffer<T>,
}

/// A message needs one receiving task per drop of its route.
pub fn one_per_drop<T>(route: &Route, receives: &[Receive<T>]) -> Result<(), EngineError> {
    if receives.len() == route.drops.len() {
        return Ok(());
    }
    Err(EngineError::Model {
        component: "wafer program".to_owned(),
        reason: format!(
            "{} receiving tasks for {} drops",
            receives.len(),
            route.drops.len()
        ),
    })
}

/// Receiver of a wafer program in program order.
pub trait Sink {
    /// A task's handle, to send its items as a message.
    type Task: Clone;

    /// The system the program runs on.
    fn geometry(&self) -> &Geometry;

    /// A task on `pe` processing `items` from its memory at `service` cycles each.
    fn task(&mut self, pe: Pe, items: u64, service: u64) -> Result<Self::Task, EngineError>;

    /// A message of one wavelet per item of `src` along `route`, and the tasks receiving it,
    /// one per drop (`receives[d]` at `route.drops[d]`), into `tasks`.
    fn message(
        &mut self,
        src: &Self::Task,
        route: &Route,
        receives: &[Receive<Self::Task>],
        tasks: &mut Vec<Self::Task>,
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
    /// Where each drop lands (tasks by index).
    pub buffers: Vec<Buffer<u32>>,
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

impl Program {
    fn push(&mut self, task: Task) -> Result<u32, EngineError> {
        self.tasks.push(task);
        index(self.tasks.len() - 1, "task count")
    }
}

impl Sink for Program {
    type Task = u32;

    fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    fn task(&mut self, pe: Pe, items: u64, service: u64) -> Result<u32, EngineError> {
        let part = self.part;
        self.push(Task {
            pe,
            input: None,
            items,
            service,
            part,
        })
    }

    fn message(
        &mut self,
        src: &u32,
        route: &Route,
        receives: &[Receive<u32>],
        tasks: &mut Vec<u32>,
    ) -> Result<(), EngineError> {
        one_per_drop(route, receives)?;
        let id = index(self.messages.len(), "message count")?;
        let items = self.tasks[*src as usize].items;
        self.messages.push(Message {
            src: *src,
            route: route.clone(),
            buffers: receives.iter().map(|r| r.buffer.clone()).collect(),
        });
        tasks.clear();
        for (d, (r, &(_, pe))) in receives.iter().zip(&route.drops).enumerate() {
            let part = self.part;
            let t = self.push(Task {
                pe,
                input: Some((id, index(d, "drop count")?)),
                items,
                service: r.service,
                part,
            })?;
            tasks.push(t);
        }
        Ok(())
    }

    fn part(&mut self, index: usize) {
        self.part = index;
    }
}
