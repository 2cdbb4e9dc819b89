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
//! Queues are finite: a router holds at most `queue` wavelets of each color (message) at each
//! position of its route, and a PE as many of each message it consumes; a wavelet leaves a
//! position over all its outputs at once (the next link and the ramps of PEs it is dropped
//! at), when each of them has passed its earlier messages, is free this cycle, and (except an
//! I/O lane) has a free slot behind it. A slot freed in cycle `t` (its wavelet left, or the
//! consuming task started on it) takes a wavelet again from `t + 1` (the credit's return).
//! Senders are not stalled: a message is sent from memory, as by a fabric output DSD.
//!
//! The mapper writes the program into a [`Sink`]: the fast fidelity evaluates it as it comes
//! (message by message), the detailed one records it ([`Program`]) and runs it wavelet by
//! wavelet on the event engine. Both obey the rules above, so they agree exactly.

use super::geometry::{Geometry, Pe, Route};
use crate::engine::EngineError;

/// Receiver of a wafer program in program order.
pub trait Sink {
    /// A task's handle, to send its items as a message. It stays valid until the next task is
    /// created (the mapper sends a task's items right after creating it).
    type Task: Copy;

    /// The system the program runs on.
    fn geometry(&self) -> &Geometry;

    /// A task on `pe` processing `items` from its memory at `service` cycles each.
    fn task(&mut self, pe: Pe, items: u64, service: u64) -> Result<Self::Task, EngineError>;

    /// A message of one wavelet per item of `src` along `route`, consumed at each drop `d` by a
    /// task created there with it, `services[d]` cycles per wavelet; those tasks go to
    /// `consumers`. Consuming a message as it is sent keeps every wait on something earlier in
    /// program order (or on an earlier wavelet of the same message), so with queues of at least
    /// one wavelet no program of a sink can deadlock.
    fn message(
        &mut self,
        src: Self::Task,
        route: &Route,
        services: &[u64],
        consumers: &mut Vec<Self::Task>,
    ) -> Result<(), EngineError>;

    /// Whether messages need their routes' `nodes` (the routers they pass).
    fn route_nodes(&self) -> bool {
        true
    }

    /// Tasks from now on belong to part `index` of the step (a layer, the classifier).
    fn part(&mut self, index: usize);
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

/// Refuse a message whose consumers do not match its drops (a bug of the mapper).
pub fn one_consumer_per_drop(route: &Route, services: &[u64]) -> Result<(), EngineError> {
    if services.len() == route.drops.len() {
        return Ok(());
    }
    Err(EngineError::Model {
        component: "wafer program".to_owned(),
        reason: format!(
            "{} consumers for {} drops",
            services.len(),
            route.drops.len()
        ),
    })
}

fn index(n: usize, what: &'static str) -> Result<u32, EngineError> {
    u32::try_from(n).map_err(|_| EngineError::Overflow { what })
}

impl Program {
    fn push(
        &mut self,
        pe: Pe,
        input: Option<(u32, u32)>,
        items: u64,
        service: u64,
    ) -> Result<u32, EngineError> {
        self.tasks.push(Task {
            pe,
            input,
            items,
            service,
            part: self.part,
        });
        index(self.tasks.len() - 1, "task count")
    }
}

impl Sink for Program {
    type Task = u32;

    fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    fn task(&mut self, pe: Pe, items: u64, service: u64) -> Result<u32, EngineError> {
        self.push(pe, None, items, service)
    }

    fn message(
        &mut self,
        src: u32,
        route: &Route,
        services: &[u64],
        consumers: &mut Vec<u32>,
    ) -> Result<(), EngineError> {
        one_consumer_per_drop(route, services)?;
        let id = index(self.messages.len(), "message count")?;
        self.messages.push(Message {
            src,
            route: route.clone(),
        });
        let items = self.tasks[src as usize].items;
        consumers.clear();
        for (d, (&service, &(_, pe))) in services.iter().zip(&route.drops).enumerate() {
            let t = self.push(pe, Some((id, index(d, "drop count")?)), items, service)?;
            consumers.push(t);
        }
        Ok(())
    }

    fn part(&mut self, index: usize) {
        self.part = index;
    }
}
