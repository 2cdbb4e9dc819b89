//! The detailed fidelity: a recorded [`Program`] run wavelet by wavelet on the event engine.
//! Every router is a component holding, for each message (color) routed through it, the queue
//! of its wavelets at that position of the route; a wavelet leaves over all its outputs at once
//! when each output port has passed its earlier messages and is free, and every credited queue
//! it enters has a slot (`program.rs`). Every PE is a component running its tasks item by item,
//! each activated by the arrival of the wavelet it consumes, whose slot it frees as it starts.
//! Ports (router links, ramps and I/O lanes) are shared state, since an I/O lane serves the
//! edge routers of several rows. If the events run out while work remains, the program waits
//! on itself: the run reports the deadlock, naming the PE and router and the message.

use super::geometry::{Pe, RAMP_IN};
use super::program::Program;
use crate::engine::{
    Component, ComponentId, Context, Cycle, EngineError, Label, Phase, SimBuilder, Simulator, Trace,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Events of the wafer model.
#[derive(Clone, Copy, Debug)]
pub enum Ev {
    /// A wavelet of `msg` entered its queue at position `pos` of the route.
    Arrive { msg: u32, pos: u32 },
    /// Position `pos` of `msg` may be able to send (a port it waits for is free or now serves
    /// it).
    Try { msg: u32, pos: u32 },
    /// A slot of the queue behind link `pos` of `msg` is free again.
    Credit { msg: u32, pos: u32 },
    /// A slot of the PE's queue at drop `drop` of `msg` is free again.
    DropCredit { msg: u32, drop: u32 },
    /// A wavelet of `msg` reached the PE at its drop `drop`.
    Deliver { msg: u32, drop: u32 },
    /// The PE's current item is done.
    Done,
}

/// A recorded program inconsistent with itself (a bug of the mapper, not of the input).
fn wafer_error(reason: &str) -> EngineError {
    EngineError::Model {
        component: "wafer program".to_owned(),
        reason: reason.to_owned(),
    }
}

/// One link's port: the (message, position) pairs it serves, in program order.
struct Port {
    link: u32,
    order: Vec<(u32, u32)>,
    head: usize,
    /// The cycle it may send again.
    free: u64,
    /// When the head message's first wavelet left.
    started: u64,
}

/// One message's queue at one position of its route.
#[derive(Default)]
struct Queue {
    arrived: u32,
    sent: u32,
    /// Credits returned by the queue behind the link out of here.
    credits: u32,
    /// Ports it leaves over: the link out of here, then the ramps of its drops.
    outputs: Vec<usize>,
    /// Its drops (indices into the route's drops).
    drops: std::ops::Range<u32>,
    /// Whether the link out of here needs credits.
    credited: bool,
    /// A pending `Try` at this cycle.
    wake: Option<u64>,
}

/// Everything the components share.
struct Fabric {
    prog: Program,
    queue: u32,
    ports: Vec<Port>,
    /// Queues by message and position.
    queues: Vec<Vec<Queue>>,
    /// Credits returned by the PE at each drop, by message.
    drop_credits: Vec<Vec<u32>>,
    /// Router and PE component of each PE in use.
    router: BTreeMap<Pe, ComponentId>,
    pe: BTreeMap<Pe, ComponentId>,
    task_done: Vec<u64>,
    completed: Vec<bool>,
    link_load: BTreeMap<u32, u64>,
}

type Shared = Rc<RefCell<Fabric>>;

impl Fabric {
    fn items(&self, msg: u32) -> u32 {
        let m = &self.prog.messages[msg as usize];
        self.prog.tasks[m.src as usize].items as u32
    }

    /// The router handling position `pos` of `msg`.
    fn handler(&self, msg: u32, pos: u32) -> Result<ComponentId, EngineError> {
        let nodes = &self.prog.messages[msg as usize].route.nodes;
        nodes
            .get(pos as usize)
            .and_then(|pe| self.router.get(pe))
            .copied()
            .ok_or_else(|| wafer_error("route position without a router"))
    }

    /// Why wavelet `sent` of `msg` cannot leave `pos` now (`None`: it can).
    fn blocked(&self, msg: u32, pos: u32, now: u64) -> Option<Blocked> {
        let q = &self.queues[msg as usize][pos as usize];
        if q.sent >= q.arrived {
            return Some(Blocked::Empty);
        }
        let k = q.sent;
        if k >= self.queue {
            if q.credited && q.credits + self.queue <= k {
                return Some(Blocked::Credit);
            }
            let credits = &self.drop_credits[msg as usize];
            if q.drops
                .clone()
                .any(|d| credits[d as usize] + self.queue <= k)
            {
                return Some(Blocked::PeQueue);
            }
        }
        for &p in &q.outputs {
            let port = &self.ports[p];
            if port.order.get(port.head) != Some(&(msg, pos)) {
                return Some(Blocked::Order(p));
            }
            if port.free > now {
                return Some(Blocked::Busy(port.free));
            }
        }
        None
    }
}

/// What holds a wavelet in its queue.
enum Blocked {
    /// Nothing queued.
    Empty,
    /// The next router's queue is full.
    Credit,
    /// The queue of a PE it is dropped at is full.
    PeQueue,
    /// A port serves an earlier message first.
    Order(usize),
    /// A port is busy until this cycle.
    Busy(u64),
}

/// A router: the queues of the route positions at it.
struct Router {
    fab: Shared,
}

impl Router {
    fn wake(
        fab: &mut Fabric,
        msg: u32,
        pos: u32,
        at: u64,
        ctx: &mut Context<'_, Ev>,
    ) -> Result<(), EngineError> {
        let q = &mut fab.queues[msg as usize][pos as usize];
        if q.wake == Some(at) {
            return Ok(());
        }
        q.wake = Some(at);
        let to = fab.handler(msg, pos)?;
        ctx.send_at(to, Cycle(at), Phase::Transfer, Ev::Try { msg, pos })
    }

    /// Send the next wavelet of `msg` from `pos` if nothing holds it.
    fn send(&self, msg: u32, pos: u32, ctx: &mut Context<'_, Ev>) -> Result<(), EngineError> {
        let now = ctx.now().get();
        let mut fab = self.fab.borrow_mut();
        let fab = &mut *fab;
        match fab.blocked(msg, pos, now) {
            None => {}
            Some(Blocked::Busy(at)) => return Self::wake(fab, msg, pos, at, ctx),
            Some(_) => return Ok(()),
        }
        let total = fab.items(msg);
        let hop = fab.prog.geometry.hop;
        let q = &mut fab.queues[msg as usize][pos as usize];
        q.sent += 1;
        let (sent, more, drops) = (q.sent, q.sent < q.arrived, q.drops.clone());
        ctx.busy(1)?;
        for i in 0..fab.queues[msg as usize][pos as usize].outputs.len() {
            let p = fab.queues[msg as usize][pos as usize].outputs[i];
            let port = &mut fab.ports[p];
            if sent == 1 {
                port.started = now;
            }
            port.free = now + 1;
            *fab.link_load.entry(port.link).or_insert(0) += 1;
            if sent == total {
                port.head += 1;
                if ctx.tracing() {
                    let name = format!("link {}: message {msg}, {total} wavelets", port.link);
                    ctx.span(name, Cycle(port.started), now + 1 - port.started)?;
                }
                if let Some(&(m, at)) = port.order.get(port.head) {
                    Self::wake(fab, m, at, now + 1, ctx)?;
                }
            }
        }
        let route = &fab.prog.messages[msg as usize].route;
        if let Some(&(_, latency)) = route.links.get(pos as usize) {
            let to = fab.handler(msg, pos + 1)?;
            let ev = Ev::Arrive { msg, pos: pos + 1 };
            ctx.send(to, latency, Phase::Transfer, ev)?;
        }
        for drop in drops {
            let pe = route.drops[drop as usize].1;
            let to = *fab
                .pe
                .get(&pe)
                .ok_or_else(|| wafer_error("drop at a PE outside the program"))?;
            ctx.send(to, hop, Phase::Transfer, Ev::Deliver { msg, drop })?;
        }
        // The slot this wavelet held is free again next cycle.
        if pos > 0 && fab.queues[msg as usize][pos as usize - 1].credited {
            let to = fab.handler(msg, pos - 1)?;
            let ev = Ev::Credit { msg, pos: pos - 1 };
            ctx.send(to, 1, Phase::Transfer, ev)?;
        }
        if more {
            Self::wake(fab, msg, pos, now + 1, ctx)?;
        }
        Ok(())
    }
}

impl Component<Ev> for Router {
    fn handle(&mut self, ev: Ev, ctx: &mut Context<'_, Ev>) -> Result<(), EngineError> {
        let (msg, pos) = {
            let mut fab = self.fab.borrow_mut();
            match ev {
                Ev::Arrive { msg, pos } => {
                    fab.queues[msg as usize][pos as usize].arrived += 1;
                    (msg, pos)
                }
                Ev::Try { msg, pos } => {
                    let q = &mut fab.queues[msg as usize][pos as usize];
                    if q.wake == Some(ctx.now().get()) {
                        q.wake = None;
                    }
                    (msg, pos)
                }
                Ev::Credit { msg, pos } => {
                    fab.queues[msg as usize][pos as usize].credits += 1;
                    (msg, pos)
                }
                Ev::DropCredit { msg, drop } => {
                    fab.drop_credits[msg as usize][drop as usize] += 1;
                    let route = &fab.prog.messages[msg as usize].route;
                    (msg, route.drops[drop as usize].0)
                }
                Ev::Deliver { .. } | Ev::Done => return Ok(()),
            }
        };
        self.send(msg, pos, ctx)
    }
}

/// A PE running its tasks in program order.
struct PeModel {
    fab: Shared,
    pe: Pe,
    tasks: Vec<u32>,
    /// Messages each task sends, by task id.
    sends: BTreeMap<u32, Vec<u32>>,
    cur: usize,
    done: u64,
    busy_until: u64,
    started: u64,
    done_event: Option<u64>,
    /// Wavelets delivered per (message, drop).
    arrived: BTreeMap<(u32, u32), u64>,
}

impl PeModel {
    fn run(&mut self, ctx: &mut Context<'_, Ev>) -> Result<(), EngineError> {
        let now = ctx.now().get();
        let fab = Rc::clone(&self.fab);
        let mut fab = fab.borrow_mut();
        while let Some(&id) = self.tasks.get(self.cur) {
            if self.busy_until > now {
                if self.done_event != Some(self.busy_until) {
                    self.done_event = Some(self.busy_until);
                    ctx.send_at(ctx.id(), Cycle(self.busy_until), Phase::Transfer, Ev::Done)?;
                }
                return Ok(());
            }
            let task = &fab.prog.tasks[id as usize];
            let (input, items, service) = (task.input, task.items, task.service);
            if self.done == items {
                fab.task_done[id as usize] = self.busy_until;
                fab.completed[id as usize] = true;
                if ctx.tracing() {
                    let name = format!("task {id}");
                    ctx.span(name, Cycle(self.started), self.busy_until - self.started)?;
                }
                self.cur += 1;
                self.done = 0;
                continue;
            }
            if let Some(key) = input {
                if self.arrived.get(&key).copied().unwrap_or(0) <= self.done {
                    return Ok(());
                }
                // Taking the wavelet frees its slot in the PE's queue.
                let router = *fab
                    .router
                    .get(&self.pe)
                    .ok_or_else(|| wafer_error("PE without a router"))?;
                let ev = Ev::DropCredit {
                    msg: key.0,
                    drop: key.1,
                };
                ctx.send(router, 1, Phase::Transfer, ev)?;
            }
            if self.done == 0 {
                self.started = now;
            }
            self.done += 1;
            self.busy_until = now + service;
            ctx.busy(service)?;
            if let Some(msgs) = self.sends.get(&id) {
                for &msg in msgs {
                    let to = fab.handler(msg, 0)?;
                    let ev = Ev::Arrive { msg, pos: 0 };
                    ctx.send_at(to, Cycle(self.busy_until), Phase::Transfer, ev)?;
                }
            }
        }
        Ok(())
    }
}

impl Component<Ev> for PeModel {
    fn handle(&mut self, ev: Ev, ctx: &mut Context<'_, Ev>) -> Result<(), EngineError> {
        match ev {
            Ev::Deliver { msg, drop } => *self.arrived.entry((msg, drop)).or_insert(0) += 1,
            Ev::Done => self.done_event = None,
            _ => {}
        }
        self.run(ctx)
    }
}

/// What a detailed run measured.
pub struct Detailed {
    /// Completion of every task [cycles].
    pub task_done: Vec<u64>,
    /// Wavelets over each link used.
    pub link_load: BTreeMap<u32, u64>,
    /// Busy cycles of each PE in use.
    pub pe_busy: Vec<u64>,
    pub trace: Option<Trace>,
}

/// The ports and queues of `prog`, with no wavelet sent yet.
fn wire(prog: &Program) -> (Vec<Port>, Vec<Vec<Queue>>) {
    let g = &prog.geometry;
    let mut ports: Vec<Port> = Vec::new();
    let mut index: BTreeMap<u32, usize> = BTreeMap::new();
    let mut port = |link: u32, key: (u32, u32)| {
        let i = *index.entry(link).or_insert_with(|| {
            ports.push(Port {
                link,
                order: Vec::new(),
                head: 0,
                free: 0,
                started: 0,
            });
            ports.len() - 1
        });
        ports[i].order.push(key);
        i
    };
    let mut queues = Vec::with_capacity(prog.messages.len());
    for (m, msg) in prog.messages.iter().enumerate() {
        let route = &msg.route;
        let mut qs: Vec<Queue> = Vec::with_capacity(route.links.len() + 1);
        let mut d = 0;
        for p in 0..=route.links.len() {
            let key = (m as u32, p as u32);
            let mut q = Queue::default();
            if let Some(&(link, _)) = route.links.get(p) {
                q.outputs.push(port(link, key));
                q.credited = g.credited(link);
            }
            let first = d;
            while let Some(&(_, pe)) = route.drops.get(d).filter(|x| x.0 as usize == p) {
                q.outputs.push(port(g.link(pe, RAMP_IN), key));
                d += 1;
            }
            q.drops = first as u32..d as u32;
            qs.push(q);
        }
        queues.push(qs);
    }
    (ports, queues)
}

/// The deadlock error: the first PE left waiting, the message it waits for, and the router where
/// that message is held and why.
fn deadlock(fab: &Fabric, pe: Pe, task: u32, now: u64) -> EngineError {
    let g = &fab.prog.geometry;
    let name = |pe: Pe| {
        let (w, r, c) = g.coords(pe);
        format!("({r},{c}) of wafer {w}")
    };
    let Some((msg, _)) = fab.prog.tasks[task as usize].input else {
        return wafer_error("a PE stopped on a task of its own memory");
    };
    let qs = &fab.queues[msg as usize];
    let route = &fab.prog.messages[msg as usize].route;
    let total = fab.items(msg);
    // The furthest queue holding some of it is where the wait starts.
    let held = qs
        .iter()
        .rposition(|q| q.sent < total && q.sent < q.arrived);
    let (at, why) = match held {
        Some(p) => {
            let why = match fab.blocked(msg, p as u32, u64::MAX) {
                Some(Blocked::Credit) => "the next router's queue of it is full".to_owned(),
                Some(Blocked::PeQueue) => "a PE it is dropped at has its queue full".to_owned(),
                Some(Blocked::Order(port)) => {
                    let (m, _) = fab.ports[port].order[fab.ports[port].head];
                    format!(
                        "link {} still serves message {m} first",
                        fab.ports[port].link
                    )
                }
                _ => "nothing".to_owned(),
            };
            (route.nodes.get(p).copied().unwrap_or(pe), why)
        }
        None => (pe, "its sender".to_owned()),
    };
    EngineError::Model {
        component: format!("router {}", name(at)),
        reason: format!(
            "deadlock at cycle {now}: message {msg} waits for {why}; PE {} waits for it \
             (task {task})",
            name(pe)
        ),
    }
}

/// Run `prog` wavelet by wavelet; `budget` bounds the events handled.
pub fn run(
    prog: Program,
    clock: crate::engine::Clock,
    trace: bool,
    budget: u64,
) -> Result<Detailed, EngineError> {
    let g = prog.geometry.clone();
    let mut used: BTreeMap<Pe, ()> = BTreeMap::new();
    for t in &prog.tasks {
        used.insert(t.pe, ());
    }
    for m in &prog.messages {
        for &pe in &m.route.nodes {
            used.insert(pe, ());
        }
    }
    let mut b = SimBuilder::<Ev>::new(clock)
        .trace(trace)
        .event_budget(budget);
    let mut router = BTreeMap::new();
    let mut pe_ids = BTreeMap::new();
    for &pe in used.keys() {
        router.insert(pe, b.reserve()?);
        pe_ids.insert(pe, b.reserve()?);
    }
    let mut sends: BTreeMap<Pe, BTreeMap<u32, Vec<u32>>> = BTreeMap::new();
    for (i, m) in prog.messages.iter().enumerate() {
        let pe = prog.tasks[m.src as usize].pe;
        sends
            .entry(pe)
            .or_default()
            .entry(m.src)
            .or_default()
            .push(i as u32);
    }
    let mut tasks: BTreeMap<Pe, Vec<u32>> = BTreeMap::new();
    for (i, t) in prog.tasks.iter().enumerate() {
        tasks.entry(t.pe).or_default().push(i as u32);
    }
    let (ports, queues) = wire(&prog);
    let fab: Shared = Rc::new(RefCell::new(Fabric {
        queue: u32::try_from(g.queue).unwrap_or(u32::MAX),
        ports,
        drop_credits: prog
            .messages
            .iter()
            .map(|m| vec![0; m.route.drops.len()])
            .collect(),
        queues,
        task_done: vec![0; prog.tasks.len()],
        completed: vec![false; prog.tasks.len()],
        link_load: BTreeMap::new(),
        router: router.clone(),
        pe: pe_ids.clone(),
        prog,
    }));
    for (&pe, &id) in &router {
        let (w, r, c) = g.coords(pe);
        let label = |unit: String| Label::new(format!("wafer{w}"), unit);
        let rt = Router {
            fab: Rc::clone(&fab),
        };
        b.install(id, label(format!("router({r},{c})")), rt)?;
        let model = PeModel {
            fab: Rc::clone(&fab),
            pe,
            tasks: tasks.remove(&pe).unwrap_or_default(),
            sends: sends.remove(&pe).unwrap_or_default(),
            cur: 0,
            done: 0,
            busy_until: 0,
            started: 0,
            done_event: None,
            arrived: BTreeMap::new(),
        };
        b.install(pe_ids[&pe], label(format!("pe({r},{c})")), model)?;
    }
    let mut sim: Simulator<Ev> = b.build()?;
    for &id in pe_ids.values() {
        sim.schedule(id, Cycle::ZERO, Phase::Transfer, Ev::Done)?;
    }
    let _ = sim.run()?;
    let now = sim.now().get();
    let pe_busy = sim
        .counters()
        .filter(|(_, l, _)| l.unit.starts_with("pe("))
        .map(|(_, _, c)| c.busy())
        .collect();
    let trace = sim.trace().cloned();
    drop(sim);
    let fab = Rc::try_unwrap(fab)
        .map_err(|_| wafer_error("results still shared"))?
        .into_inner();
    // A PE's tasks are in program order, so the first task left undone is its PE's current one.
    if let Some(t) = fab.completed.iter().position(|&c| !c) {
        let pe = fab.prog.tasks[t].pe;
        return Err(deadlock(&fab, pe, t as u32, now));
    }
    Ok(Detailed {
        task_done: fab.task_done,
        link_load: fab.link_load,
        pe_busy,
        trace,
    })
}
