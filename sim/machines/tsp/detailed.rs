//! The detailed fidelity: every chip of every stage runs on the event engine, one component per
//! (chip, functional unit) executing its instruction queue, and every vector is an event: each
//! input read, each output leaving its unit, each arrival at a consumer. Streams are claimed
//! per vector and diagonal, MEM banks per access and cycle, units per issue; a read of a vector
//! that has not arrived, or of results not yet written, stops the run with the same kind of
//! error the fast fidelity reports.

use super::fast::{StageRun, error};
use super::machine::{Machine, Stream, Unit};
use super::program::{Chip, Dep, Instr, Kind, Program};
use crate::engine::{
    Clock, Component, ComponentId, Context, Cycle, EngineError, Label, Phase, SimBuilder, Trace,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// An instruction of one chip: (stage, rank, index).
type Gid = (u32, u32, u32);

#[derive(Clone, Copy, Debug)]
enum Ev {
    Issue(Gid),
    /// Input vector `j` is read.
    Read(Gid, u32),
    /// Output vector `j` leaves the unit.
    Emit(Gid, u32),
    /// Output vector `j` of a producer reaches dependency `dep` of a consumer.
    Arrive(Gid, u32),
}

/// Everything the components share: the programs and what has happened so far.
struct World {
    m: Machine,
    progs: Vec<Program>,
    /// Per stage: for each producer, its stream readers `(consumer, dep index)`.
    readers: Vec<Vec<Vec<(u32, u32)>>>,
    /// Per chip (stage, rank): component of each unit.
    comps: Vec<Vec<BTreeMap<Unit, ComponentId>>>,
    /// Per instruction: vectors arrived per dependency, and cycle it finished.
    arrived: HashMap<(Gid, u32), u32>,
    finished: HashMap<Gid, u64>,
    /// Per issued instruction: events left, reads left, and the latest end seen so far.
    pending: HashMap<Gid, (u32, u32, u64)>,
    /// Cycle after the last input of an instruction was read.
    inputs_read: HashMap<Gid, u64>,
    busy_until: HashMap<(u32, u32, Unit), u64>,
    streams: HashMap<(u32, u32, Stream, u64), u32>,
    banks: HashMap<(u32, u32, u16, u64, u64), u32>,
    runs: Vec<StageRun>,
}

impl World {
    fn instr(&self, g: Gid) -> &Instr {
        &self.progs[g.0 as usize].instrs[g.2 as usize]
    }

    fn chip(&self, g: Gid) -> u64 {
        self.progs[g.0 as usize].first_chip + u64::from(g.1)
    }

    fn fail(&self, g: Gid, cycle: u64, why: String) -> EngineError {
        let i = self.instr(g);
        error(self.chip(g), i.unit, cycle, g.2 as usize, i, why)
    }

    /// The chip a reference of `g`'s program points at.
    fn target(&self, g: Gid, chip: Chip, idx: u32) -> Gid {
        let tp = self.progs[g.0 as usize].tp as u32;
        match chip {
            Chip::Same => (g.0, g.1, idx),
            Chip::Peer(d) => (g.0, (g.1 + tp - d % tp) % tp, idx),
            Chip::PrevStage => (g.0.wrapping_sub(1), g.1, idx),
        }
    }

    /// Count one event of `g` keeping its unit busy until `end`; a read if `read`. Record when
    /// its inputs are all read and when it is done.
    fn step(&mut self, g: Gid, end: u64, read: bool) {
        let Some(left) = self.pending.get_mut(&g) else {
            return;
        };
        left.0 -= 1;
        left.2 = left.2.max(end);
        let latest = left.2;
        if read {
            left.1 -= 1;
            if left.1 == 0 {
                self.inputs_read.insert(g, end);
            }
        }
        if left.0 == 0 {
            self.finished.insert(g, latest);
            let prog = &self.progs[g.0 as usize];
            let part = &prog.parts[usize::from(prog.instrs[g.2 as usize].part)];
            let run = &mut self.runs[g.0 as usize];
            run.done = run.done.max(latest);
            if let Some(p) = run.parts.iter_mut().find(|p| p.0 == *part) {
                p.2 = p.2.max(latest);
            }
        }
    }
}

/// One functional unit of one chip.
struct UnitModel {
    world: Rc<RefCell<World>>,
}

impl Component<Ev> for UnitModel {
    fn handle(&mut self, ev: Ev, ctx: &mut Context<'_, Ev>) -> Result<(), EngineError> {
        let now = ctx.now().get();
        let mut w = self.world.borrow_mut();
        match ev {
            Ev::Issue(g) => issue(&mut w, g, now, ctx),
            Ev::Read(g, j) => read(&mut w, g, j, now, ctx),
            Ev::Emit(g, j) => emit(&mut w, g, j, now, ctx),
            Ev::Arrive(g, dep) => {
                *w.arrived.entry((g, dep)).or_insert(0) += 1;
                Ok(())
            }
        }
    }
}

fn comp(w: &World, g: Gid) -> ComponentId {
    w.comps[g.0 as usize][g.1 as usize][&w.instr(g).unit]
}

fn issue(w: &mut World, g: Gid, now: u64, ctx: &mut Context<'_, Ev>) -> Result<(), EngineError> {
    let i = *w.instr(g);
    let prog = &w.progs[g.0 as usize];
    for dep in prog.deps_of(&i) {
        let (r, after) = match *dep {
            Dep::After(r) => (r, true),
            Dep::Free(r) => (r, false),
            Dep::Stream { .. } => continue,
        };
        let p = w.target(g, r.chip, r.idx);
        let pi = w
            .progs
            .get(p.0 as usize)
            .and_then(|q| q.instrs.get(p.2 as usize));
        let Some(pi) = pi else {
            return Err(w.fail(
                g,
                now,
                format!("waits for a missing instruction #{}", r.idx),
            ));
        };
        let hops = if r.chip == Chip::Same {
            w.m.hops(pi.unit, i.unit)
        } else {
            0
        };
        let (ready, what) = if after {
            let done = w.finished.get(&p).copied();
            (done.map(|d| d + hops), "before its producer finishes")
        } else {
            // The producer stopped reading once its last input was read.
            let read = if pi.n_in == 0 {
                w.pending.contains_key(&p).then_some(pi.issue)
            } else {
                w.inputs_read.get(&p).copied()
            };
            (read, "overwrites a buffer still being read")
        };
        let expected = if after {
            pi.done() + hops
        } else {
            pi.inputs_done()
        };
        if ready.is_none_or(|t| t > now) {
            return Err(w.fail(
                g,
                now,
                format!(
                    "starts {what}: #{} {} ({:?}) until cycle {expected}",
                    r.idx,
                    pi.label(),
                    r.chip
                ),
            ));
        }
    }
    if !matches!(i.unit, Unit::Mem(_)) {
        let key = (g.0, g.1, i.unit);
        let until = w.busy_until.get(&key).copied().unwrap_or(0);
        if now < until {
            return Err(w.fail(
                g,
                now,
                format!("unit conflict: {} is busy until cycle {until}", i.unit),
            ));
        }
        w.busy_until.insert(key, now + u64::from(i.occ));
        *w.runs[g.0 as usize].busy.entry(i.unit.kind()).or_default() += u64::from(i.occ);
    }
    let run = &mut w.runs[g.0 as usize];
    let part = prog.parts[usize::from(i.part)].clone();
    match run.parts.iter_mut().find(|p| p.0 == part) {
        Some(p) => p.1 = p.1.min(now),
        None => run.parts.push((part, now, now)),
    }
    run.instrs += 1;
    if ctx.tracing() {
        ctx.span(i.label(), Cycle(now), u64::from(i.occ))?;
    }
    w.pending.insert(g, (i.n_in + i.n_out + 1, i.n_in, 0));
    let me = ctx.id();
    if i.n_in > 0 {
        ctx.send_at(me, Cycle(i.consume_at(0)), Phase::Compute, Ev::Read(g, 0))?;
    }
    if i.n_out > 0 {
        ctx.send_at(me, Cycle(i.emit_at(0)), Phase::Transfer, Ev::Emit(g, 0))?;
    }
    w.step(g, now + 1, false);
    Ok(())
}

/// Claim bank `(address) mod banks` of `g`'s MEM slice at `cycle`.
fn bank(w: &mut World, g: Gid, addr: u64, cycle: u64) -> Result<(), EngineError> {
    let i = *w.instr(g);
    let Unit::Mem(s) = i.unit else {
        return Ok(());
    };
    let b = addr % w.m.banks;
    if let Some(&other) = w.banks.get(&(g.0, g.1, s, b, cycle)) {
        let o = w.instr((g.0, g.1, other));
        return Err(w.fail(
            g,
            cycle,
            format!(
                "bank conflict: bank {b} of mem{s} is accessed by #{other} {} at this cycle",
                o.label()
            ),
        ));
    }
    w.banks.insert((g.0, g.1, s, b, cycle), g.2);
    *w.runs[g.0 as usize].busy.entry("mem").or_default() += 1;
    Ok(())
}

fn read(
    w: &mut World,
    g: Gid,
    j: u32,
    now: u64,
    ctx: &mut Context<'_, Ev>,
) -> Result<(), EngineError> {
    let i = *w.instr(g);
    let deps = w.progs[g.0 as usize].deps_of(&i).to_vec();
    for (k, dep) in deps.iter().enumerate() {
        let Dep::Stream {
            from,
            first,
            offset,
            count,
        } = *dep
        else {
            continue;
        };
        if !(offset..offset + count).contains(&j) {
            continue;
        }
        let v = j - offset;
        let have = w.arrived.get(&(g, k as u32)).copied().unwrap_or(0);
        if have <= v {
            let p = w.instr((g.0, g.1, from));
            let arrive = p.emit_at(u64::from(first + v)) + w.m.hops(p.unit, i.unit);
            return Err(w.fail(
                g,
                now,
                format!(
                    "reads vector {v} of #{from} {} before it arrives at cycle {arrive}",
                    p.label()
                ),
            ));
        }
    }
    if let Kind::Write { addr } = i.kind {
        bank(w, g, u64::from(addr) + u64::from(j), now)?;
    }
    if matches!(i.kind, Kind::Send) {
        w.runs[g.0 as usize].c2c_bytes += w.m.vector_bytes;
    }
    if j + 1 < i.n_in {
        wake_self(
            ctx,
            i.consume_at(u64::from(j) + 1),
            Phase::Compute,
            Ev::Read(g, j + 1),
        )?;
    }
    w.step(g, now + u64::from(i.ii), true);
    Ok(())
}

/// Schedule an instruction's next vector on the component running it.
fn wake_self(ctx: &mut Context<'_, Ev>, at: u64, phase: Phase, ev: Ev) -> Result<(), EngineError> {
    let me = ctx.id();
    ctx.send_at(me, Cycle(at), phase, ev)
}

fn emit(
    w: &mut World,
    g: Gid,
    j: u32,
    now: u64,
    ctx: &mut Context<'_, Ev>,
) -> Result<(), EngineError> {
    let i = *w.instr(g);
    if let Kind::Read { addr } = i.kind {
        bank(w, g, u64::from(addr) + u64::from(j), now - u64::from(i.lat))?;
    }
    if let Some(s) = i.stream {
        let diag = w.m.diagonal(s.dir, i.unit, now);
        if let Some(&other) = w.streams.get(&(g.0, g.1, s, diag)) {
            let o = w.instr((g.0, g.1, other));
            return Err(w.fail(
                g,
                now,
                format!(
                    "stream conflict: its vector {j} on {s} meets a vector of #{other} {}",
                    o.label()
                ),
            ));
        }
        w.streams.insert((g.0, g.1, s, diag), g.2);
        let readers = w.readers[g.0 as usize][g.2 as usize].clone();
        for (c, k) in readers {
            let cg = (g.0, g.1, c);
            let ci = w.instr(cg);
            let Some(Dep::Stream { first, count, .. }) =
                w.progs[g.0 as usize].deps_of(ci).get(k as usize).copied()
            else {
                continue;
            };
            if (first..first + count).contains(&j) {
                let hops = w.m.hops(i.unit, ci.unit);
                let to = comp(w, cg);
                ctx.send_at(to, Cycle(now + hops), Phase::Transfer, Ev::Arrive(cg, k))?;
            }
        }
    }
    if j + 1 < i.n_out {
        wake_self(
            ctx,
            i.emit_at(u64::from(j) + 1),
            Phase::Transfer,
            Ev::Emit(g, j + 1),
        )?;
    }
    w.step(g, now + 1, false);
    Ok(())
}

/// Run every rank of every stage of `progs` together; one [`StageRun`] per stage, summed over
/// its ranks.
pub fn run(
    m: &Machine,
    progs: &[Program],
    trace: bool,
) -> Result<(Vec<StageRun>, Option<Trace>), EngineError> {
    let readers = progs
        .iter()
        .map(|p| {
            let mut r = vec![Vec::new(); p.instrs.len()];
            for (c, i) in p.instrs.iter().enumerate() {
                for (k, d) in p.deps_of(i).iter().enumerate() {
                    if let Dep::Stream { from, .. } = *d {
                        r[from as usize].push((c as u32, k as u32));
                    }
                }
            }
            r
        })
        .collect();
    let world = Rc::new(RefCell::new(World {
        m: m.clone(),
        progs: progs.to_vec(),
        readers,
        comps: Vec::new(),
        arrived: HashMap::new(),
        finished: HashMap::new(),
        pending: HashMap::new(),
        inputs_read: HashMap::new(),
        busy_until: HashMap::new(),
        streams: HashMap::new(),
        banks: HashMap::new(),
        runs: vec![StageRun::default(); progs.len()],
    }));
    let mut b = SimBuilder::new(Clock::new(m.clock_hz as u64)?)
        .trace(trace)
        .event_budget(u64::MAX);
    let mut comps = Vec::new();
    for p in progs {
        let mut ranks = Vec::new();
        for r in 0..p.tp {
            let mut units = BTreeMap::new();
            for i in &p.instrs {
                if let std::collections::btree_map::Entry::Vacant(e) = units.entry(i.unit) {
                    let label = Label::new(format!("tsp{}", p.first_chip + r), i.unit.to_string());
                    let model = UnitModel {
                        world: Rc::clone(&world),
                    };
                    e.insert(b.add(label, model)?);
                }
            }
            ranks.push(units);
        }
        comps.push(ranks);
    }
    let mut sim = b.build()?;
    for (s, p) in progs.iter().enumerate() {
        for r in 0..p.tp {
            // The ICU: every queue's instructions in issue order.
            for (idx, i) in p.instrs.iter().enumerate() {
                let g = (s as u32, r as u32, idx as u32);
                sim.schedule(
                    comps[s][r as usize][&i.unit],
                    Cycle(i.issue),
                    Phase::Issue,
                    Ev::Issue(g),
                )?;
            }
        }
    }
    world.borrow_mut().comps = comps;
    let _drained = sim.run()?;
    let mut w = world.borrow_mut();
    let runs = std::mem::take(&mut w.runs);
    Ok((runs, sim.trace().cloned()))
}
