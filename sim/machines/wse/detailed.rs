//! The detailed fidelity: a recorded [`Program`] run wavelet by wavelet on the event engine.
//! Every router is a component with one queue per port (link); every PE is a component running
//! its tasks item by item, each activated by the arrival of the wavelet it consumes; wafers'
//! I/O lanes are a component per wafer. Ports pass the messages routed over them in program
//! order, one wavelet per cycle; queued wavelets wait in the port's buffer for their turn.
//! Back-pressure is credits: a fabric port holds `queue` credits per message, spends one per
//! wavelet and gets it back a cycle after the wavelet left the queue at the far end (was sent on
//! by every output there, [`Flows`]); a ramp into an input queue gets it back a cycle after the
//! task did the item, and a ramp into a buffer in memory waits for the buffer's release.

use super::geometry::{Pe, RAMP_IN};
use super::program::{Buffer, Program};
use crate::engine::{
    Component, ComponentId, Context, Cycle, EngineError, Label, Phase, SimBuilder, Simulator, Trace,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Events of the wafer model.
#[derive(Clone, Copy, Debug)]
pub enum Ev {
    /// Wavelet `k` of message `msg` is at position `pos` of its route.
    At { msg: u32, k: u32, pos: u32 },
    /// The port on `link` may send again.
    Wake { link: u32 },
    /// A wavelet of message `msg` reached the PE at its drop `drop`.
    Deliver { msg: u32, drop: u32 },
    /// The PE's current item is done.
    Done,
    /// A credit for entry `key` (message, position or drop) of the port on `link`.
    Credit { link: u32, key: (u32, u32) },
    /// Task `task`, a buffer's previous user, is done.
    Released { task: u32 },
}

/// A recorded program inconsistent with itself (a bug of the mapper, not of the input).
fn wafer_error(reason: &str) -> EngineError {
    EngineError::Model {
        component: "wafer program".to_owned(),
        reason: reason.to_owned(),
    }
}

/// What the run measured, shared with the components while it runs.
#[derive(Default)]
struct Results {
    task_done: Vec<u64>,
    /// Items each task has started (all of them, and done, for a finished task).
    started: Vec<u64>,
    finished: Vec<bool>,
    link_load: BTreeMap<u32, u64>,
}

/// The queues messages wait in at routers: per (message, position), the wavelets each of the
/// router's outputs (the next link, the ramp into the PE) has sent on, and how many left.
#[derive(Default)]
struct Flows {
    queues: BTreeMap<(u32, u32), ([u32; 2], u32)>,
}

/// Output of a router's queue: the next link or the ramp into its PE.
#[derive(Clone, Copy)]
enum Output {
    Link = 0,
    Ramp = 1,
}

type Shared = Rc<RefCell<Results>>;

/// One link's queue: the (message, position) pairs it serves, in program order (ramps into a
/// PE: (message, drop)).
struct Port {
    order: Vec<(u32, u32)>,
    arrived: Vec<u32>,
    /// Credits returned per entry (`None`: not credit-limited).
    credits: Vec<Option<u32>>,
    /// The task whose end releases an entry's buffer.
    gates: Vec<Option<u32>>,
    head: usize,
    sent: u32,
    /// When the head message's first wavelet left.
    started: u64,
    free: u64,
    wake: Option<u64>,
    latency: u64,
    /// Where wavelets go: the component at the far end (`None`: the PE's ramp in).
    deliver_to: Option<ComponentId>,
}

/// The components a position of a route is handled by.
struct Wiring {
    prog: Rc<Program>,
    /// Router component of each PE in use.
    router: BTreeMap<Pe, ComponentId>,
    /// PE component of each PE in use.
    pe: BTreeMap<Pe, ComponentId>,
    /// I/O component of each wafer.
    io: Vec<ComponentId>,
    flows: RefCell<Flows>,
}

impl Wiring {
    /// Reserve a router and a PE component for every PE `prog` uses (a task or a route passes
    /// it), in PE order, then an I/O component per wafer.
    fn reserve(b: &mut SimBuilder<Ev>, prog: Program) -> Result<Wiring, EngineError> {
        let mut used: BTreeSet<Pe> = BTreeSet::new();
        used.extend(prog.tasks.iter().map(|t| t.pe));
        for m in &prog.messages {
            used.extend(m.route.nodes.iter().copied());
        }
        let mut router = BTreeMap::new();
        let mut pe = BTreeMap::new();
        for &at in &used {
            router.insert(at, b.reserve()?);
            pe.insert(at, b.reserve()?);
        }
        let io = (0..prog.geometry.wafers)
            .map(|_| b.reserve())
            .collect::<Result<_, _>>()?;
        Ok(Wiring {
            prog: Rc::new(prog),
            router,
            pe,
            io,
            flows: RefCell::default(),
        })
    }

    fn router(&self, pe: Pe) -> Result<ComponentId, EngineError> {
        self.router
            .get(&pe)
            .copied()
            .ok_or_else(|| wafer_error("router outside the program"))
    }
}

/// A set of ports (a router's, or a wafer's I/O lanes).
struct Switch {
    wiring: Rc<Wiring>,
    ports: BTreeMap<u32, Port>,
    results: Shared,
    /// For routers: the PE whose drops this router serves.
    pe: Option<Pe>,
    /// Tasks done that release buffers of this router's ramp.
    released: BTreeSet<u32>,
}

impl Switch {
    fn total(&self, msg: u32) -> u32 {
        let prog = &self.wiring.prog;
        prog.tasks[prog.messages[msg as usize].src as usize].items as u32
    }

    /// The port on `link` and the index of entry `key` in it.
    fn entry(&mut self, link: u32, key: (u32, u32)) -> Result<(&mut Port, usize), EngineError> {
        let port = (self.ports.get_mut(&link)).ok_or_else(|| wafer_error("no port on the link"))?;
        let i = (port.order.binary_search(&key)).map_err(|_| wafer_error("no such entry"))?;
        Ok((port, i))
    }

    fn arrive(
        &mut self,
        link: u32,
        key: (u32, u32),
        ctx: &mut Context<'_, Ev>,
    ) -> Result<(), EngineError> {
        let (port, i) = self.entry(link, key)?;
        port.arrived[i] += 1;
        self.serve(link, ctx)
    }

    /// Credit entry `key` of the port on `link`.
    fn credit(
        &mut self,
        link: u32,
        key: (u32, u32),
        ctx: &mut Context<'_, Ev>,
    ) -> Result<(), EngineError> {
        let (port, i) = self.entry(link, key)?;
        let c = (port.credits[i].as_mut()).ok_or_else(|| wafer_error("credit to a free entry"))?;
        *c += 1;
        self.serve(link, ctx)
    }

    /// Wavelet `msg`'s `output` at route position `pos` sent one on: when that lets one more
    /// leave the queue there, the fabric link into it gets its credit back a cycle later.
    fn sent_on(
        &self,
        (msg, pos): (u32, u32),
        output: Output,
        ctx: &mut Context<'_, Ev>,
    ) -> Result<(), EngineError> {
        let prog = &self.wiring.prog;
        let route = &prog.messages[msg as usize].route;
        if pos == 0 || prog.geometry.is_io(route.links[pos as usize - 1].0) {
            return Ok(());
        }
        let has_link = (pos as usize) < route.links.len();
        let has_ramp = route.drops.binary_search_by_key(&pos, |d| d.0).is_ok();
        let mut flows = self.wiring.flows.borrow_mut();
        let (sent, left) = flows.queues.entry((msg, pos)).or_default();
        sent[output as usize] += 1;
        let leaving = match (has_link, has_ramp) {
            (true, true) => sent[0].min(sent[1]),
            (true, false) => sent[0],
            _ => sent[1],
        };
        if leaving > *left {
            *left = leaving;
            let upstream = self.wiring.router(route.nodes[pos as usize - 1])?;
            let link = route.links[pos as usize - 1].0;
            let ev = Ev::Credit {
                link,
                key: (msg, pos - 1),
            };
            ctx.send(upstream, 1, Phase::Transfer, ev)?;
        }
        Ok(())
    }

    fn serve(&mut self, link: u32, ctx: &mut Context<'_, Ev>) -> Result<(), EngineError> {
        let now = ctx.now().get();
        loop {
            let port = &self.ports[&link];
            if port.head >= port.order.len() {
                return Ok(());
            }
            if port.free > now {
                let at = port.free;
                if port.wake != Some(at) {
                    if let Some(p) = self.ports.get_mut(&link) {
                        p.wake = Some(at);
                    }
                    ctx.send_at(ctx.id(), Cycle(at), Phase::Transfer, Ev::Wake { link })?;
                }
                return Ok(());
            }
            if port.arrived[port.head] <= port.sent {
                return Ok(());
            }
            let depth = self.wiring.prog.geometry.queue;
            if (port.credits[port.head]).is_some_and(|c| port.sent as u64 >= depth + c as u64) {
                return Ok(());
            }
            let gate = port.gates[port.head].filter(|t| !self.released.contains(t));
            if port.sent == 0 && gate.is_some() {
                return Ok(());
            }
            let (msg, pos) = port.order[port.head];
            let total = self.total(msg);
            let port = self
                .ports
                .get_mut(&link)
                .ok_or_else(|| wafer_error("port outside the program"))?;
            let k = port.sent;
            if k == 0 {
                port.started = now;
            }
            port.sent += 1;
            port.free = now + 1;
            let (latency, deliver_to, started) = (port.latency, port.deliver_to, port.started);
            if port.sent == total {
                port.head += 1;
                port.sent = 0;
                // Link load on the router's track: one span per message over the link.
                if ctx.tracing() {
                    let name = format!("link {link}: message {msg}, {total} wavelets");
                    ctx.span(name, Cycle(started), now + 1 - started)?;
                }
            }
            ctx.busy(1)?;
            *self.results.borrow_mut().link_load.entry(link).or_insert(0) += 1;
            match deliver_to {
                Some(_) => self.sent_on((msg, pos), Output::Link, ctx)?,
                None => {
                    let route = &self.wiring.prog.messages[msg as usize].route;
                    let at = route.drops[pos as usize].0;
                    self.sent_on((msg, at), Output::Ramp, ctx)?;
                }
            }
            let ev = match deliver_to {
                None => Ev::Deliver { msg, drop: pos },
                Some(_) => Ev::At {
                    msg,
                    k,
                    pos: pos + 1,
                },
            };
            let to = match deliver_to {
                Some(c) => c,
                None => {
                    let pe = self.pe.ok_or_else(|| wafer_error("ramp without a PE"))?;
                    *self
                        .wiring
                        .pe
                        .get(&pe)
                        .ok_or_else(|| wafer_error("ramp into a PE outside the program"))?
                }
            };
            ctx.send(to, latency, Phase::Transfer, ev)?;
        }
    }
}

impl Component<Ev> for Switch {
    fn handle(&mut self, ev: Ev, ctx: &mut Context<'_, Ev>) -> Result<(), EngineError> {
        match ev {
            Ev::Wake { link } => {
                if let Some(p) = self.ports.get_mut(&link) {
                    p.wake = None;
                }
                self.serve(link, ctx)
            }
            Ev::At { msg, k, pos } => {
                let wiring = Rc::clone(&self.wiring);
                let g = &wiring.prog.geometry;
                let route = &wiring.prog.messages[msg as usize].route;
                let at_router = self.pe.is_some();
                if let (true, Ok(d)) = (at_router, route.drops.binary_search_by_key(&pos, |d| d.0))
                {
                    let ramp = g.link(route.drops[d].1, RAMP_IN);
                    self.arrive(ramp, (msg, d as u32), ctx)?;
                }
                if let Some(&(link, _)) = route.links.get(pos as usize) {
                    if at_router && g.is_io(link) {
                        let io = wiring.io[g.io_wafer(link) as usize];
                        ctx.send(io, 0, Phase::Transfer, Ev::At { msg, k, pos })?;
                    } else {
                        self.arrive(link, (msg, pos), ctx)?;
                    }
                }
                Ok(())
            }
            Ev::Credit { link, key } => self.credit(link, key, ctx),
            Ev::Released { task } => {
                self.released.insert(task);
                let pe = self.pe.ok_or_else(|| wafer_error("release off a router"))?;
                let ramp = self.wiring.prog.geometry.link(pe, RAMP_IN);
                match self.ports.contains_key(&ramp) {
                    true => self.serve(ramp, ctx),
                    false => Err(wafer_error("release for a ramp without deliveries")),
                }
            }
            Ev::Deliver { .. } | Ev::Done => Ok(()),
        }
    }
}

/// A PE running its tasks in program order.
struct PeModel {
    wiring: Rc<Wiring>,
    results: Shared,
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
    /// Tasks whose end releases a buffer.
    gates: BTreeSet<u32>,
}

impl PeModel {
    fn run(&mut self, ctx: &mut Context<'_, Ev>) -> Result<(), EngineError> {
        let now = ctx.now().get();
        let wiring = Rc::clone(&self.wiring);
        let prog = &wiring.prog;
        while let Some(&id) = self.tasks.get(self.cur) {
            if self.busy_until > now {
                if self.done_event != Some(self.busy_until) {
                    self.done_event = Some(self.busy_until);
                    ctx.send_at(ctx.id(), Cycle(self.busy_until), Phase::Transfer, Ev::Done)?;
                }
                return Ok(());
            }
            let task = &prog.tasks[id as usize];
            if self.done == task.items {
                {
                    let mut r = self.results.borrow_mut();
                    r.task_done[id as usize] = self.busy_until;
                    r.finished[id as usize] = true;
                }
                if self.gates.contains(&id) {
                    let router = wiring.router(self.pe)?;
                    let at = Cycle(self.busy_until.max(now));
                    ctx.send_at(router, at, Phase::Transfer, Ev::Released { task: id })?;
                }
                if ctx.tracing() {
                    let name = format!("task {id}");
                    ctx.span(name, Cycle(self.started), self.busy_until - self.started)?;
                }
                self.cur += 1;
                self.done = 0;
                continue;
            }
            let available = task
                .input
                .is_none_or(|key| self.arrived.get(&key).copied().unwrap_or(0) > self.done);
            if !available {
                return Ok(());
            }
            if self.done == 0 {
                self.started = now;
            }
            let k = self.done as u32;
            self.done += 1;
            self.busy_until = now + task.service;
            self.results.borrow_mut().started[id as usize] = self.done;
            ctx.busy(task.service)?;
            // An item taken from the input queue frees its place once done.
            if let Some((msg, drop)) = task.input {
                let buffer = &prog.messages[msg as usize].buffers[drop as usize];
                if *buffer == Buffer::Queue {
                    let router = wiring.router(self.pe)?;
                    let link = prog.geometry.link(self.pe, RAMP_IN);
                    let ev = Ev::Credit {
                        link,
                        key: (msg, drop),
                    };
                    ctx.send_at(router, Cycle(self.busy_until + 1), Phase::Transfer, ev)?;
                }
            }
            if let Some(msgs) = self.sends.get(&id) {
                let router = wiring.router(self.pe)?;
                for &msg in msgs {
                    let ev = Ev::At { msg, k, pos: 0 };
                    ctx.send_at(router, Cycle(self.busy_until), Phase::Transfer, ev)?;
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
            Ev::At { .. } | Ev::Wake { .. } | Ev::Credit { .. } | Ev::Released { .. } => {}
        }
        self.run(ctx)
    }
}

/// The first task that never finished, what it waits for, and where that is held.
fn deadlock(prog: &Program, task: u32, r: &Results) -> EngineError {
    let g = &prog.geometry;
    let t = &prog.tasks[task as usize];
    let at = |pe: Pe| {
        let (w, row, col) = g.coords(pe);
        format!("PE ({row},{col}) of wafer {w}")
    };
    let waits = match t.input {
        Some((msg, drop)) => {
            let m = &prog.messages[msg as usize];
            let src = &prog.tasks[m.src as usize];
            format!(
                "; it takes message {msg} from {} (drop {drop}), whose sender started {} of \
                 its {} items",
                at(src.pe),
                r.started[m.src as usize],
                src.items
            )
        }
        None => String::new(),
    };
    EngineError::Model {
        component: format!("wafer: {}", at(t.pe)),
        reason: format!(
            "deadlock: no event left while task {task} there has started {} of its {} items\
             {waits} (a queue of {} wavelets waits for something later in program order)",
            r.started[task as usize], t.items, g.queue
        ),
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

/// Run `prog` wavelet by wavelet; `budget` bounds the events handled.
pub fn run(
    prog: Program,
    clock: crate::engine::Clock,
    trace: bool,
    budget: u64,
) -> Result<Detailed, EngineError> {
    let mut b = SimBuilder::<Ev>::new(clock)
        .trace(trace)
        .event_budget(budget);
    let wiring = Rc::new(Wiring::reserve(&mut b, prog)?);
    let tasks = wiring.prog.tasks.len();
    let results: Shared = Rc::new(RefCell::new(Results {
        task_done: vec![0; tasks],
        started: vec![0; tasks],
        finished: vec![false; tasks],
        link_load: BTreeMap::new(),
    }));
    install(&mut b, &wiring, &results)?;
    let mut sim: Simulator<Ev> = b.build()?;
    for &id in wiring.pe.values() {
        sim.schedule(id, Cycle::ZERO, Phase::Transfer, Ev::Done)?;
    }
    let _ = sim.run()?;
    let pe_busy = sim
        .counters()
        .filter(|(_, l, _)| l.unit.starts_with("pe("))
        .map(|(_, _, c)| c.busy())
        .collect();
    let trace = sim.trace().cloned();
    drop(sim);
    let r = Rc::try_unwrap(results)
        .map_err(|_| wafer_error("results still shared"))?
        .into_inner();
    if let Some(stuck) = r.finished.iter().position(|&f| !f) {
        return Err(deadlock(&wiring.prog, stuck as u32, &r));
    }
    Ok(Detailed {
        task_done: r.task_done,
        link_load: r.link_load,
        pe_busy,
        trace,
    })
}

/// Ports by their switch: router ports by their router's PE, I/O lanes by their wafer.
type Switches = BTreeMap<Result<Pe, u32>, BTreeMap<u32, Port>>;

/// The port of every link `prog` uses: the (message, position) pairs over it in program order
/// (ramps into a PE: (message, drop)), which of them are credit-limited (fabric links, and
/// ramps into input queues) and which gated (ramps into buffers released by a task).
fn switch_ports(prog: &Program, router: &BTreeMap<Pe, ComponentId>) -> Switches {
    let g = &prog.geometry;
    let mut ports: BTreeMap<u32, Vec<(u32, u32)>> = BTreeMap::new();
    for (i, m) in prog.messages.iter().enumerate() {
        for (p, &(link, _)) in m.route.links.iter().enumerate() {
            ports.entry(link).or_default().push((i as u32, p as u32));
        }
        for (d, &(_, pe)) in m.route.drops.iter().enumerate() {
            ports
                .entry(g.link(pe, RAMP_IN))
                .or_default()
                .push((i as u32, d as u32));
        }
    }
    let mut latency: BTreeMap<u32, (u64, Pe)> = BTreeMap::new();
    for m in &prog.messages {
        for (p, &(link, lat)) in m.route.links.iter().enumerate() {
            latency.insert(link, (lat, m.route.nodes[p + 1]));
        }
    }
    let credited = |link: u32, (msg, pos): (u32, u32)| -> Option<u32> {
        let m = &prog.messages[msg as usize];
        let ramp = !latency.contains_key(&link);
        let limited = match ramp {
            true => m.buffers[pos as usize] == Buffer::Queue,
            false => !g.is_io(link),
        };
        limited.then_some(0)
    };
    let gate = |link: u32, (msg, pos): (u32, u32)| -> Option<u32> {
        match (
            latency.get(&link),
            &prog.messages[msg as usize].buffers.get(pos as usize),
        ) {
            (None, Some(Buffer::Memory { after })) => *after,
            _ => None,
        }
    };
    let mut switches = Switches::new();
    for (link, order) in ports {
        let owner = g
            .link_port(link)
            .map(|(pe, _)| pe)
            .ok_or_else(|| g.io_wafer(link));
        let (lat, to) = match latency.get(&link) {
            Some(&(lat, to)) => (lat, Some(router[&to])),
            None => (g.hop, None),
        };
        let port = Port {
            arrived: vec![0; order.len()],
            credits: order.iter().map(|&key| credited(link, key)).collect(),
            gates: order.iter().map(|&key| gate(link, key)).collect(),
            order,
            head: 0,
            sent: 0,
            started: 0,
            free: 0,
            wake: None,
            latency: lat,
            deliver_to: to,
        };
        switches.entry(owner).or_default().insert(link, port);
    }
    switches
}

/// What each PE runs: its tasks in program order, the messages each task sends, and the tasks
/// whose end releases a buffer.
#[derive(Default)]
struct PeWork {
    tasks: BTreeMap<Pe, Vec<u32>>,
    sends: BTreeMap<Pe, BTreeMap<u32, Vec<u32>>>,
    gates: BTreeMap<Pe, BTreeSet<u32>>,
}

impl PeWork {
    fn of(prog: &Program) -> Self {
        let mut work = PeWork::default();
        for (i, m) in prog.messages.iter().enumerate() {
            let pe = prog.tasks[m.src as usize].pe;
            work.sends
                .entry(pe)
                .or_default()
                .entry(m.src)
                .or_default()
                .push(i as u32);
        }
        for (i, t) in prog.tasks.iter().enumerate() {
            work.tasks.entry(t.pe).or_default().push(i as u32);
        }
        for m in &prog.messages {
            for b in &m.buffers {
                if let Buffer::Memory { after: Some(t) } = b {
                    work.gates
                        .entry(prog.tasks[*t as usize].pe)
                        .or_default()
                        .insert(*t);
                }
            }
        }
        work
    }
}

/// Install the components reserved in `wiring`: each PE's router and PE model, then each
/// wafer's I/O lanes.
fn install(
    b: &mut SimBuilder<Ev>,
    wiring: &Rc<Wiring>,
    results: &Shared,
) -> Result<(), EngineError> {
    let prog = &wiring.prog;
    let mut switches = switch_ports(prog, &wiring.router);
    let mut work = PeWork::of(prog);
    for (&pe, &id) in &wiring.router {
        let (w, r, c) = prog.geometry.coords(pe);
        let sw = Switch {
            wiring: Rc::clone(wiring),
            ports: switches.remove(&Ok(pe)).unwrap_or_default(),
            results: Rc::clone(results),
            pe: Some(pe),
            released: BTreeSet::new(),
        };
        b.install(
            id,
            Label::new(format!("wafer{w}"), format!("router({r},{c})")),
            sw,
        )?;
        let model = PeModel {
            wiring: Rc::clone(wiring),
            results: Rc::clone(results),
            pe,
            tasks: work.tasks.remove(&pe).unwrap_or_default(),
            sends: work.sends.remove(&pe).unwrap_or_default(),
            cur: 0,
            done: 0,
            busy_until: 0,
            started: 0,
            done_event: None,
            arrived: BTreeMap::new(),
            gates: work.gates.remove(&pe).unwrap_or_default(),
        };
        b.install(
            wiring.pe[&pe],
            Label::new(format!("wafer{w}"), format!("pe({r},{c})")),
            model,
        )?;
    }
    for (w, &id) in wiring.io.iter().enumerate() {
        let sw = Switch {
            wiring: Rc::clone(wiring),
            ports: switches.remove(&Err(w as u32)).unwrap_or_default(),
            results: Rc::clone(results),
            pe: None,
            released: BTreeSet::new(),
        };
        b.install(id, Label::new(format!("wafer{w}"), "io"), sw)?;
    }
    Ok(())
}
