//! The static scheduler: instructions are placed as they are emitted, a chain at a time. A
//! chain is a set of instructions locked to each other through streams (a MEM read feeding an
//! unpack feeding a weight install); they are placed together at the earliest cycle where
//! every unit, stream and MEM bank they need is free and every instruction they wait for is
//! done. Units and streams are reserved in emission order (no back-filling), so the schedule
//! is legal by construction; the simulators check it independently.

use super::machine::{Dir, Machine, Stream, Unit};
use super::program::{Chip, Dep, Handoff, Instr, Kind, Program, Ref};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

/// Which unit a chain member runs on.
#[derive(Clone, Copy, Debug)]
pub enum Pick {
    Fixed(Unit),
    /// Whichever VXM pipeline frees first.
    AnyVxm,
}

/// One instruction of a chain, before it has a cycle.
#[derive(Clone, Debug)]
pub struct Member {
    pub unit: Pick,
    pub kind: Kind,
    pub n_in: u32,
    pub ii: u32,
    pub lat: u32,
    pub n_out: u32,
    pub oi: u32,
    /// What this one reads off the streams of earlier chain members.
    pub inputs: Vec<Input>,
    /// The instruction it waits to finish, and the one it waits to stop reading what it
    /// overwrites (at most one each: an `Option`, not a list, spares an allocation per member).
    pub after: Option<Ref>,
    pub free: Option<Ref>,
    pub tile: u32,
}

impl Member {
    /// An instruction on `unit` reading `n_in` and writing `n_out` vectors at one per cycle.
    pub fn new(unit: Pick, kind: Kind, n_in: u32, n_out: u32, lat: u32) -> Self {
        Member {
            unit,
            kind,
            n_in,
            ii: 1,
            lat,
            n_out,
            oi: 1,
            inputs: Vec::new(),
            after: None,
            free: None,
            tile: 0,
        }
    }

    /// Reading all `n` outputs of each member of `producers` in turn.
    pub fn fed_by(mut self, producers: &[(usize, u32)]) -> Self {
        let mut offset = 0;
        for &(from, count) in producers {
            self.inputs.push(Input {
                from,
                first: 0,
                offset,
                count,
            });
            offset += count;
        }
        self
    }
}

/// Outputs `first .. first + count` of chain member `from`, read as inputs `offset ..`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Input {
    pub from: usize,
    pub first: u32,
    pub offset: u32,
    pub count: u32,
}

/// Reservations made so far on one chip (every rank of a stage makes the same).
pub struct Scheduler {
    m: Machine,
    /// First free cycle per unit, indexed by [`slot`].
    unit_free: Vec<u64>,
    stream_free: [Vec<u64>; 2],
    /// Per MEM slice and bank class `(address - cycle) mod banks`: first free cycle.
    bank_free: Vec<Vec<u64>>,
    moving: Moving,
    scratch: Scratch,
}

/// Working memory of [`Scheduler::chain`], kept from one chain to the next: a stage places
/// up to hundreds of thousands of chains, and allocating it per chain cost as much as placing.
#[derive(Default)]
struct Scratch {
    units: Vec<Unit>,
    /// VXM pipelines picked by `Pick::AnyVxm` members.
    pipes_taken: Vec<Unit>,
    /// Offset of each member from the chain's start, and whether its cycle moves with the
    /// stage input (see [`Scheduler::moves`]).
    o: Vec<u64>,
    cat: Vec<bool>,
    /// The chain's start, the latest cycle compared that does not move and the earliest that
    /// does.
    t0: u64,
    still: i64,
    moving: i64,
    /// Who reads each member's stream, in reader order: member `p`'s readers (reader, input)
    /// are `readers[first_reader[p] .. first_reader[p + 1]]`.
    first_reader: Vec<usize>,
    readers: Vec<(usize, Input)>,
    /// Where the next reader of each member goes while `readers` is filled.
    cursor: Vec<usize>,
    /// Consumers whose inputs moved, smallest first (a member reads only earlier members, so
    /// popping in order sees every producer final), and whether each is queued.
    queue: BinaryHeap<Reverse<usize>>,
    queued: Vec<bool>,
    /// Producers without inputs whose readers moved: to move just in time.
    jit: Vec<usize>,
    streams: Vec<Option<(usize, usize)>>,
    groups: Vec<((usize, usize, usize), usize)>,
    /// Per direction and stream: a group of this chain took it.
    stream_taken: [Vec<bool>; 2],
    /// Per MEM slice and bank class: the end of this chain's accesses so far (0 if none),
    /// whether it moves with the input, and the entries set.
    taken: Vec<u64>,
    taken_dep: Vec<bool>,
    touched: Vec<usize>,
}

/// Dense index of a unit in `Scheduler::unit_free`: 256 entries per kind of unit with a `u8`
/// number, MEM slices (never reserved as units, but looked up alike) after them.
fn slot(u: Unit) -> usize {
    match u {
        Unit::Install(p) => usize::from(p),
        Unit::Compute(p) => 256 + usize::from(p),
        Unit::Vxm(v) => 2 * 256 + usize::from(v),
        Unit::Sxm(h) => 3 * 256 + usize::from(h),
        Unit::Tx(l) => 4 * 256 + usize::from(l),
        Unit::Rx(l) => 5 * 256 + usize::from(l),
        Unit::Mem(s) => 6 * 256 + usize::from(s),
    }
}

fn dir_index(d: Dir) -> usize {
    match d {
        Dir::East => 0,
        Dir::West => 1,
    }
}

impl Scratch {
    fn readers_of(&self, p: usize) -> &[(usize, Input)] {
        &self.readers[self.first_reader[p]..self.first_reader[p + 1]]
    }

    /// Readers grouped by producer, in reader order (a counting sort).
    fn index_readers(&mut self, members: &[Member], what: &str) {
        let n = members.len();
        self.first_reader.clear();
        self.first_reader.resize(n + 1, 0);
        for (c, mb) in members.iter().enumerate() {
            for inp in &mb.inputs {
                assert!(inp.from < c, "{what}: chain member {c} reads a later one");
                self.first_reader[inp.from + 1] += 1;
            }
        }
        for p in 0..n {
            self.first_reader[p + 1] += self.first_reader[p];
        }
        self.readers.clear();
        self.readers
            .resize(self.first_reader[n], (0, Input::default()));
        self.cursor.clear();
        self.cursor.extend_from_slice(&self.first_reader[..n]);
        for (c, mb) in members.iter().enumerate() {
            for &inp in &mb.inputs {
                let k = &mut self.cursor[inp.from];
                self.readers[*k] = (c, inp);
                *k += 1;
            }
        }
    }

    /// Offsets from the chain's start: consumers as early as their inputs allow, then
    /// producers without inputs of their own as late as their readers allow (just in time);
    /// the earliest member at offset 0.
    fn offsets(&mut self, m: &Machine, members: &[Member]) {
        let n = members.len();
        self.o.clear();
        self.o.resize(n, 0);
        self.cat.clear();
        self.cat.resize(n, false);
        self.queued.clear();
        self.queued.resize(n, false);
        self.jit.clear();
        for (i, mb) in members.iter().enumerate() {
            if mb.inputs.is_empty() {
                if !self.readers_of(i).is_empty() {
                    self.jit.push(i);
                }
            } else {
                self.queued[i] = true;
                self.queue.push(Reverse(i));
            }
        }
        self.settle(m, members, 0);
        let min = self.o.iter().copied().min().unwrap_or(0);
        self.o.iter_mut().for_each(|x| *x -= min);
    }

    /// Earliest offset of member `c` for input `inp`: every vector read after it arrives.
    fn need(&self, m: &Machine, members: &[Member], c: usize, inp: Input) -> i64 {
        let (mp, mc) = (&members[inp.from], &members[c]);
        let hops = m.hops(self.units[inp.from], self.units[c]) as i64;
        let n = i64::from(inp.count.max(1));
        [0, n - 1]
            .iter()
            .map(|&j| {
                self.o[inp.from] as i64
                    + i64::from(mp.lat)
                    + (i64::from(inp.first) + j) * i64::from(mp.oi)
                    + hops
                    - (i64::from(inp.offset) + j) * i64::from(mc.ii)
            })
            .max()
            .unwrap_or(0)
    }

    /// Queued consumers, and in turn their readers, as early as their inputs allow; then the
    /// producers without inputs of their own in `jit` (those at `from` or later whose readers
    /// moved) as late as their readers allow (just in time). Offsets only grow. Members not
    /// reached already meet their inputs and have no slack (the first call covers them all),
    /// so this equals a pass over every member from `from` on.
    fn settle(&mut self, m: &Machine, members: &[Member], from: usize) {
        while let Some(Reverse(c)) = self.queue.pop() {
            self.queued[c] = false;
            let before = self.o[c];
            for &inp in &members[c].inputs {
                let need = self.need(m, members, c, inp);
                self.raise(c, need, self.cat[inp.from]);
            }
            if self.o[c] == before {
                continue;
            }
            self.queue_readers(c);
            for inp in &members[c].inputs {
                if inp.from >= from && members[inp.from].inputs.is_empty() {
                    self.jit.push(inp.from);
                }
            }
        }
        while let Some(p) = self.jit.pop() {
            // The latest offset every reader allows, and whether it moves.
            let mut latest: Option<(i64, bool)> = None;
            for k in self.first_reader[p]..self.first_reader[p + 1] {
                let (c, inp) = self.readers[k];
                let v = self.o[c] as i64 - self.need(m, members, c, inp) + self.o[p] as i64;
                let dep = self.cat[c];
                latest = Some(match latest {
                    None => (v, dep),
                    Some(l) => {
                        self.compared(l, (v, dep));
                        if v < l.0 || (v == l.0 && !dep) {
                            (v, dep)
                        } else {
                            l
                        }
                    }
                });
            }
            if let Some((v, dep)) = latest {
                self.raise(p, v, dep);
            }
        }
    }

    /// The chain starts at `start`: every member moves with the input when the start does.
    fn start_at(&mut self, start: &Start) {
        self.cat.iter_mut().for_each(|c| *c = start.moves);
        self.t0 = start.t0;
        self.still = start.still as i64;
        self.moving = if start.moves {
            start.t0 as i64
        } else {
            i64::MAX
        };
    }

    /// Member `k` no earlier than offset `v` (which moves with the input when `dep`).
    fn raise(&mut self, k: usize, v: i64, dep: bool) {
        self.compared((self.o[k] as i64, self.cat[k]), (v, dep));
        if v > self.o[k] as i64 || (v == self.o[k] as i64 && dep) {
            self.cat[k] = dep;
        }
        self.o[k] = self.o[k].max(v.max(0) as u64);
    }

    /// Note that offsets `a` and `b` of this chain were compared: when one moves with the
    /// input and the other does not, the one that moves must stay the larger (see
    /// [`Scheduler::moves`]).
    fn compared(&mut self, a: (i64, bool), b: (i64, bool)) {
        if a.1 != b.1 {
            let (still, moving) = if a.1 { (b.0, a.0) } else { (a.0, b.0) };
            self.still = self.still.max(self.t0 as i64 + still);
            self.moving = self.moving.min(self.t0 as i64 + moving);
        }
    }

    /// Queue the readers of member `p`.
    fn queue_readers(&mut self, p: usize) {
        for k in self.first_reader[p]..self.first_reader[p + 1] {
            let r = self.readers[k].0;
            if !self.queued[r] {
                self.queued[r] = true;
                self.queue.push(Reverse(r));
            }
        }
    }
}

impl Scheduler {
    pub fn new(m: &Machine) -> Self {
        Scheduler {
            m: m.clone(),
            unit_free: vec![0; 6 * 256 + m.slices.max(1) as usize],
            stream_free: [vec![0; m.streams as usize], vec![0; m.streams as usize]],
            bank_free: vec![vec![0; m.banks as usize]; m.slices as usize],
            moving: Moving::new(m),
            scratch: Scratch {
                taken: vec![0; (m.slices * m.banks) as usize],
                taken_dep: vec![false; (m.slices * m.banks) as usize],
                stream_taken: [
                    vec![false; m.streams as usize],
                    vec![false; m.streams as usize],
                ],
                ..Scratch::default()
            },
        }
    }

    fn free(&self, u: Unit) -> u64 {
        self.unit_free.get(slot(u)).copied().unwrap_or(0)
    }

    /// Place `members` as one chain in `prog`; returns their instruction indices. A member
    /// reads only the streams of members before it.
    pub fn chain(
        &mut self,
        prog: &mut Program,
        prev: Option<&Handoff>,
        members: &[Member],
        part: u16,
        what: &'static str,
    ) -> Range<u32> {
        let mut s = std::mem::take(&mut self.scratch);
        self.pick_units(&mut s, members);
        s.index_readers(members, what);
        s.offsets(&self.m, members);
        let mut start = Start::default();
        self.unit_bounds(&s, &mut start);
        self.pick_streams(&mut s, members);
        self.wait_bounds(&s, prog, prev, members, &mut start);
        s.start_at(&start);
        self.place_mem_accesses(&mut s, members);
        let base = emit(prog, &s, members, part, what);
        self.reserve_chain(&mut s, prog, base);
        self.scratch = s;
        base..prog.instrs.len() as u32
    }

    /// The unit of every member: a fixed one, or for `Pick::AnyVxm` the VXM pipeline that
    /// frees first among those this chain has not picked.
    fn pick_units(&self, s: &mut Scratch, members: &[Member]) {
        s.units.clear();
        s.pipes_taken.clear();
        for mb in members {
            let u = match mb.unit {
                Pick::Fixed(u) => u,
                Pick::AnyVxm => {
                    let u = (0..self.m.vxm_pipes as u8)
                        .map(Unit::Vxm)
                        .filter(|u| !s.pipes_taken.contains(u))
                        .min_by_key(|&u| (self.free(u), u))
                        .unwrap_or(Unit::Vxm(0));
                    s.pipes_taken.push(u);
                    u
                }
            };
            s.units.push(u);
        }
    }

    /// Bounds on the chain's start from the units its members run on (MEM slices are bounded
    /// by their banks instead).
    fn unit_bounds(&self, s: &Scratch, start: &mut Start) {
        for (i, &unit) in s.units.iter().enumerate() {
            if !matches!(unit, Unit::Mem(_)) {
                let k = slot(unit);
                let (at, dep) = (self.unit_free.get(k), self.moving.unit.get(k));
                start.bound(at.copied().unwrap_or(0), s.o[i], dep.is_some_and(|&d| d));
            }
        }
    }

    /// Streams: producers of pure reads feeding the same reader in the same direction share
    /// one (their vectors arrive one after another, on distinct diagonals); others get their
    /// own, the first free earliest among those this chain has not taken.
    fn pick_streams(&self, s: &mut Scratch, members: &[Member]) {
        let n = members.len();
        s.streams.clear();
        s.streams.resize(n, None);
        s.groups.clear();
        for (i, mb) in members.iter().enumerate() {
            if let Some(&(c, _)) = s.readers_of(i).first() {
                let d = dir_index(self.m.dir(s.units[i], s.units[c]));
                let key = (c, d, if mb.inputs.is_empty() { usize::MAX } else { i });
                let idx = match s.groups.iter().find(|g| g.0 == key) {
                    Some(g) => g.1,
                    None => {
                        let mut best: Option<(u64, usize)> = None;
                        for (k, &f) in self.stream_free[d].iter().enumerate() {
                            if best.is_none_or(|(b, _)| f < b) && !s.stream_taken[d][k] {
                                best = Some((f, k));
                            }
                        }
                        let idx = best.map_or(0, |(_, k)| k);
                        s.groups.push((key, idx));
                        s.stream_taken[d][idx] = true;
                        idx
                    }
                };
                s.streams[i] = Some((d, idx));
            }
        }
        for &((_, d, _), k) in &s.groups {
            s.stream_taken[d][k] = false;
        }
    }

    /// Bounds on the chain's start from what its members wait for: the instruction each waits
    /// to finish, the one it waits to stop reading what it overwrites, and its stream.
    fn wait_bounds(
        &mut self,
        s: &Scratch,
        prog: &Program,
        prev: Option<&Handoff>,
        members: &[Member],
        start: &mut Start,
    ) {
        let m = &self.m;
        let mv = &mut self.moving;
        for (i, mb) in members.iter().enumerate() {
            if let Some(r) = mb.after
                && let Some(p) = prog.resolve(prev, r)
            {
                let hops = if r.chip == Chip::Same {
                    m.hops(p.unit, s.units[i])
                } else {
                    0
                };
                let dep = mv.depends(r, p);
                start.bound(p.done() + hops, s.o[i], dep);
            }
            if let Some(r) = mb.free
                && let Some(p) = prog.resolve(prev, r)
            {
                let dep = mv.depends(r, p);
                start.bound(p.inputs_done(), s.o[i], dep);
            }
            if let Some((d, idx)) = s.streams[i] {
                let dir = if d == 0 { Dir::East } else { Dir::West };
                let first = m.diagonal(dir, s.units[i], s.o[i] + u64::from(mb.lat));
                start.bound(self.stream_free[d][idx], first, mv.stream[d][idx]);
            }
        }
    }

    /// MEM banks: a run of consecutive addresses at one per cycle stays in one bank class
    /// `(address - cycle) mod banks`. Each access waits for the first cycle its class is
    /// free, delaying only itself and what it feeds.
    fn place_mem_accesses(&self, s: &mut Scratch, members: &[Member]) {
        let banks = self.m.banks;
        let t0 = s.t0;
        for (i, mb) in members.iter().enumerate() {
            let (Unit::Mem(sl), Some(addr)) = (s.units[i], address(mb.kind)) else {
                continue;
            };
            let class = |t: u64| ((addr + (banks - 1) * t) % banks) as usize;
            let row = usize::from(sl) * banks as usize;
            let bank = &self.bank_free[usize::from(sl)];
            let t = t0 + s.o[i];
            // The earliest cycle over the classes, and whether it moves with the input (the
            // access does, or a reservation that does holds the class longer).
            let rel = |(v, dep): (u64, bool)| (v as i64 - t0 as i64, dep);
            let mut best: Option<(u64, bool)> = None;
            for (c, &free) in bank.iter().enumerate() {
                let mut at = (t, s.cat[i]);
                let held = [
                    (s.taken[row + c], s.taken_dep[row + c]),
                    (free, self.moving.bank[usize::from(sl)][c]),
                ];
                for h in held {
                    s.compared(rel(at), rel(h));
                    if h.0 > at.0 || (h.0 == at.0 && h.1) {
                        at = h;
                    }
                }
                let v = (
                    at.0 + (class(at.0) + banks as usize - c) as u64 % banks,
                    at.1,
                );
                if let Some(b) = best {
                    s.compared(rel(b), rel(v));
                }
                if best.is_none_or(|b| v.0 < b.0 || (v.0 == b.0 && !v.1)) {
                    best = Some(v);
                }
            }
            let (u, moves) = best.unwrap_or((t, s.cat[i]));
            s.cat[i] = moves;
            if u > t {
                s.o[i] += u - t;
                s.queue_readers(i);
                s.settle(&self.m, members, i + 1);
            }
            let k = row + class(u);
            if s.taken[k] == 0 {
                s.touched.push(k);
            }
            let end = u + u64::from(mb.n_in.max(mb.n_out));
            reserve(&mut s.taken[k], &mut s.taken_dep[k], end, moves);
        }
        for k in s.touched.drain(..) {
            s.taken[k] = 0;
            s.taken_dep[k] = false;
        }
    }

    /// Reserve the units, streams and MEM banks of the chain's instructions (from `base` on in
    /// `prog`), noting whether each moves with the stage input.
    fn reserve_chain(&mut self, s: &mut Scratch, prog: &Program, base: u32) {
        let m = &self.m;
        let mv = &mut self.moving;
        let banks = m.banks;
        for (i, instr) in prog.instrs[base as usize..].iter().enumerate() {
            let moves = s.cat[i];
            let mut top = instr.done();
            if !matches!(instr.unit, Unit::Mem(_)) {
                let k = slot(instr.unit);
                self.unit_free[k] = instr.issue + u64::from(instr.occ);
                mv.unit[k] = moves;
                top = top.max(self.unit_free[k]);
            }
            if let (Some((d, idx)), Some(dir)) = (s.streams[i], instr.stream.map(|s| s.dir)) {
                let end = m.diagonal(dir, instr.unit, instr.out_start()) + u64::from(instr.n_out);
                reserve(
                    &mut self.stream_free[d][idx],
                    &mut mv.stream[d][idx],
                    end,
                    moves,
                );
                top = top.max(end);
            }
            if let (Unit::Mem(sl), Some((t, n, addr))) = (instr.unit, instr.mem_run()) {
                let class = ((addr + (banks - 1) * t) % banks) as usize;
                let sl = usize::from(sl);
                reserve(
                    &mut self.bank_free[sl][class],
                    &mut mv.bank[sl][class],
                    t + n,
                    moves,
                );
                top = top.max(t + n);
            }
            // What moves starts no earlier than its issue; what does not ends by `top`.
            if moves {
                s.moving = s.moving.min(instr.issue as i64);
            } else {
                s.still = s.still.max(top as i64);
            }
            mv.instrs.push(moves);
        }
        mv.still_max = mv.still_max.max(s.still.max(0) as u64);
        mv.moving_min = mv.moving_min.min(s.moving.max(0) as u64);
    }

    /// Whether the schedule so far moves exactly with the stage input: for an input arriving
    /// `delta` cycles later (`delta` a multiple of the bank count, so that no MEM access changes
    /// bank class), every instruction flagged in `moves` issues `delta` cycles later and every
    /// other one at the same cycle. Proof: every cycle the scheduler and the compiler compute
    /// either moves with the input or does not, and `+`, `max`, `min` and comparisons between
    /// two of one kind commute with the move; one of each compares the same way after the
    /// move as long as the one that moves is the larger, which holds when the smallest start
    /// of a moving chain exceeds every cycle that does not move (its reservations, bounds and
    /// instruction ends) and no access that does not move lands behind a moving one in a bank.
    /// `None` if that is not so, or the stage does not wait for exactly one instruction of the
    /// previous stage.
    pub fn moves(self) -> Option<Moves> {
        let mv = self.moving;
        let (_, at) = mv.on?;
        (mv.exact && mv.moving_min > mv.still_max).then_some(Moves {
            moves: mv.instrs,
            at,
        })
    }
}

/// How a stage's schedule follows its input (see [`Scheduler::moves`]).
#[derive(Clone, Debug)]
pub struct Moves {
    /// Per instruction: it moves with the input.
    pub moves: Vec<bool>,
    /// The cycle the previous stage's instruction the stage waits for is done.
    pub at: u64,
}

/// Which reservations and instructions of a stage depend on the previous stage (move with
/// its hand-off), and the bounds that keep every comparison between one that moves and one
/// that does not the same under a move (see [`Scheduler::moves`]).
struct Moving {
    unit: Vec<bool>,
    stream: [Vec<bool>; 2],
    bank: Vec<Vec<bool>>,
    instrs: Vec<bool>,
    /// The latest cycle of anything that does not move.
    still_max: u64,
    /// The earliest start of a chain that moves.
    moving_min: u64,
    /// No access that does not move waits for one that does.
    exact: bool,
    /// The previous stage's instruction waited for, and its end.
    on: Option<(u32, u64)>,
}

impl Moving {
    fn new(m: &Machine) -> Self {
        Moving {
            unit: vec![false; 6 * 256 + m.slices.max(1) as usize],
            stream: [
                vec![false; m.streams as usize],
                vec![false; m.streams as usize],
            ],
            bank: vec![vec![false; m.banks as usize]; m.slices as usize],
            instrs: Vec::new(),
            still_max: 0,
            moving_min: u64::MAX,
            exact: true,
            on: None,
        }
    }

    /// Whether waiting for `p` (referred to as `r`) moves with the input: it is the previous
    /// stage's instruction, or an instruction of this stage that moves.
    fn depends(&mut self, r: Ref, p: &Instr) -> bool {
        match r.chip {
            Chip::PrevStage => {
                if self.on.is_some_and(|(on, _)| on != r.idx) {
                    self.exact = false;
                }
                self.on = Some((r.idx, p.done()));
                true
            }
            Chip::Same | Chip::Peer(_) => self.instrs[r.idx as usize],
        }
    }
}

/// The earliest start of a chain over the bounds seen so far. The chain moves with the stage
/// input when any bound does; then the latest bound is one that moves (checked in
/// [`Scheduler::moves`]).
#[derive(Default)]
struct Start {
    t0: u64,
    moves: bool,
    /// The latest bound that does not move.
    still: u64,
}

impl Start {
    /// The member at offset `off` starts no earlier than `at`, which moves with the input when
    /// `dep`.
    fn bound(&mut self, at: u64, off: u64, dep: bool) {
        self.t0 = self.t0.max(at.saturating_sub(off));
        if dep {
            self.moves = true;
        } else {
            self.still = self.still.max(at);
        }
    }
}

/// Append the chain's instructions, at the chain's start plus their offsets, and their
/// dependences to `prog`; returns the index of the first.
fn emit(prog: &mut Program, s: &Scratch, members: &[Member], part: u16, what: &'static str) -> u32 {
    let base = prog.instrs.len() as u32;
    for (i, mb) in members.iter().enumerate() {
        let dep_start = prog.deps.len() as u32;
        for inp in &mb.inputs {
            prog.deps.push(Dep::Stream {
                from: base + inp.from as u32,
                first: inp.first,
                offset: inp.offset,
                count: inp.count,
            });
        }
        prog.deps.extend(mb.after.iter().map(|&r| Dep::After(r)));
        prog.deps.extend(mb.free.iter().map(|&r| Dep::Free(r)));
        let instr = Instr {
            unit: s.units[i],
            kind: mb.kind,
            issue: s.t0 + s.o[i],
            n_in: mb.n_in,
            ii: mb.ii,
            lat: mb.lat,
            n_out: mb.n_out,
            oi: mb.oi,
            occ: (mb.n_in * mb.ii).max(mb.n_out * mb.oi).max(1),
            stream: s.streams[i].map(|(d, idx)| Stream {
                dir: if d == 0 { Dir::East } else { Dir::West },
                index: idx as u8,
            }),
            dep_start,
            dep_len: (prog.deps.len() as u32 - dep_start) as u16,
            part,
            tile: mb.tile,
            what,
        };
        prog.instrs.push(instr);
    }
    base
}

/// Raise a reservation `at` (whether it moves: `dep`) to `to`, by an instruction that moves or
/// not.
fn reserve(at: &mut u64, dep: &mut bool, to: u64, moves: bool) {
    if to > *at {
        *at = to;
        *dep = moves;
    } else if to == *at {
        *dep |= moves;
    }
}

/// First address of a MEM access.
fn address(k: Kind) -> Option<u64> {
    match k {
        Kind::Read { addr } | Kind::Write { addr } => Some(u64::from(addr)),
        _ => None,
    }
}
