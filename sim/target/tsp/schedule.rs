//! The static scheduler: instructions are placed as they are emitted, a chain at a time. A
//! chain is a set of instructions locked to each other through streams (a MEM read feeding an
//! unpack feeding a weight install); they are placed together at the earliest cycle where
//! every unit, stream and MEM bank they need is free and every instruction they wait for is
//! done. Units and streams are reserved in emission order (no back-filling), so the schedule
//! is legal by construction; the simulators check it independently.

use super::machine::{Dir, Machine, Stream, Unit};
use super::program::{Chip, Dep, Instr, Kind, Program, Ref};
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
    pub after: Vec<Ref>,
    pub free: Vec<Ref>,
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
            after: Vec::new(),
            free: Vec::new(),
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
    scratch: Scratch,
}

/// Working memory of [`Scheduler::chain`], kept from one chain to the next: a stage places
/// up to hundreds of thousands of chains, and allocating it per chain cost as much as placing.
#[derive(Default)]
struct Scratch {
    units: Vec<Unit>,
    /// VXM pipelines picked by `Pick::AnyVxm` members.
    pipes_taken: Vec<Unit>,
    /// Offset of each member from the chain's start.
    o: Vec<u64>,
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
    /// Per MEM slice and bank class: the end of this chain's accesses so far (0 if none), and
    /// the entries set.
    taken: Vec<u64>,
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
                self.o[c] = self.o[c].max(self.need(m, members, c, inp).max(0) as u64);
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
            let slack = self
                .readers_of(p)
                .iter()
                .map(|&(c, inp)| self.o[c] as i64 - self.need(m, members, c, inp))
                .min()
                .unwrap_or(0);
            self.o[p] += slack.max(0) as u64;
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
            scratch: Scratch {
                taken: vec![0; (m.slices * m.banks) as usize],
                ..Scratch::default()
            },
        }
    }

    fn free(&self, u: Unit) -> u64 {
        self.unit_free.get(slot(u)).copied().unwrap_or(0)
    }

    /// The instruction `r` refers to, resolving peers by symmetry (every rank runs the same
    /// program at the same cycles) and the previous stage by its program.
    fn resolve<'a>(prog: &'a Program, prev: Option<&'a Program>, r: Ref) -> Option<&'a Instr> {
        match r.chip {
            Chip::Same | Chip::Peer(_) => prog.instrs.get(r.idx as usize),
            Chip::PrevStage => prev?.instrs.get(r.idx as usize),
        }
    }

    /// Place `members` as one chain in `prog`; returns their instruction indices. A member
    /// reads only the streams of members before it.
    pub fn chain(
        &mut self,
        prog: &mut Program,
        prev: Option<&Program>,
        members: &[Member],
        part: u16,
        what: &'static str,
    ) -> Range<u32> {
        let n = members.len();
        let mut s = std::mem::take(&mut self.scratch);
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
        // Readers grouped by producer, in reader order (a counting sort).
        s.first_reader.clear();
        s.first_reader.resize(n + 1, 0);
        for (c, mb) in members.iter().enumerate() {
            for inp in &mb.inputs {
                assert!(inp.from < c, "{what}: chain member {c} reads a later one");
                s.first_reader[inp.from + 1] += 1;
            }
        }
        for p in 0..n {
            s.first_reader[p + 1] += s.first_reader[p];
        }
        s.readers.clear();
        s.readers.resize(s.first_reader[n], (0, Input::default()));
        s.cursor.clear();
        s.cursor.extend_from_slice(&s.first_reader[..n]);
        for (c, mb) in members.iter().enumerate() {
            for &inp in &mb.inputs {
                let k = &mut s.cursor[inp.from];
                s.readers[*k] = (c, inp);
                *k += 1;
            }
        }
        // Offsets from the chain's start: consumers as early as their inputs allow, then
        // producers without inputs of their own as late as their readers allow (just in time).
        s.o.clear();
        s.o.resize(n, 0);
        s.queued.clear();
        s.queued.resize(n, false);
        s.jit.clear();
        for (i, mb) in members.iter().enumerate() {
            if mb.inputs.is_empty() {
                if !s.readers_of(i).is_empty() {
                    s.jit.push(i);
                }
            } else {
                s.queued[i] = true;
                s.queue.push(Reverse(i));
            }
        }
        s.settle(&self.m, members, 0);
        let min = s.o.iter().copied().min().unwrap_or(0);
        s.o.iter_mut().for_each(|x| *x -= min);

        let m = &self.m;
        let mut t0 = 0u64;
        let bound = |t0: &mut u64, at: u64, off: u64| *t0 = (*t0).max(at.saturating_sub(off));
        for (i, &unit) in s.units.iter().enumerate() {
            if !matches!(unit, Unit::Mem(_)) {
                bound(&mut t0, self.free(unit), s.o[i]);
            }
        }
        // Streams: producers of pure reads feeding the same reader in the same direction share
        // one (their vectors arrive one after another, on distinct diagonals); others get
        // their own.
        s.streams.clear();
        s.streams.resize(n, None);
        s.groups.clear();
        for (i, mb) in members.iter().enumerate() {
            if let Some(&(c, _)) = s.readers_of(i).first() {
                let d = dir_index(m.dir(s.units[i], s.units[c]));
                let key = (c, d, if mb.inputs.is_empty() { usize::MAX } else { i });
                let idx = match s.groups.iter().find(|g| g.0 == key) {
                    Some(g) => g.1,
                    None => {
                        // The first stream free earliest among those this chain has not taken.
                        let mut best: Option<(u64, usize)> = None;
                        for (k, &f) in self.stream_free[d].iter().enumerate() {
                            if best.is_none_or(|(b, _)| f < b)
                                && !s.groups.iter().any(|g| g.0.1 == d && g.1 == k)
                            {
                                best = Some((f, k));
                            }
                        }
                        let idx = best.map_or(0, |(_, k)| k);
                        s.groups.push((key, idx));
                        idx
                    }
                };
                s.streams[i] = Some((d, idx));
            }
        }
        for (i, mb) in members.iter().enumerate() {
            for &r in &mb.after {
                if let Some(p) = Self::resolve(prog, prev, r) {
                    let hops = if r.chip == Chip::Same {
                        m.hops(p.unit, s.units[i])
                    } else {
                        0
                    };
                    bound(&mut t0, p.done() + hops, s.o[i]);
                }
            }
            for &r in &mb.free {
                if let Some(p) = Self::resolve(prog, prev, r) {
                    bound(&mut t0, p.inputs_done(), s.o[i]);
                }
            }
            if let Some((d, idx)) = s.streams[i] {
                let dir = if d == 0 { Dir::East } else { Dir::West };
                let first = m.diagonal(dir, s.units[i], s.o[i] + u64::from(mb.lat));
                bound(&mut t0, self.stream_free[d][idx], first);
            }
        }
        // MEM banks: a run of consecutive addresses at one per cycle stays in one bank class
        // `(address - cycle) mod banks`. Each access waits for the first cycle its class is
        // free, delaying only itself and what it feeds.
        let banks = m.banks;
        for (i, mb) in members.iter().enumerate() {
            let (Unit::Mem(sl), Some(addr)) = (s.units[i], address(mb.kind)) else {
                continue;
            };
            let class = |t: u64| ((addr + (banks - 1) * t) % banks) as usize;
            let row = usize::from(sl) * banks as usize;
            let free = |c: usize| s.taken[row + c].max(self.bank_free[usize::from(sl)][c]);
            let t = t0 + s.o[i];
            let u = (0..banks as usize)
                .map(|c| {
                    let u = t.max(free(c));
                    u + (class(u) + banks as usize - c) as u64 % banks
                })
                .min()
                .unwrap_or(t);
            if u > t {
                s.o[i] += u - t;
                s.queue_readers(i);
                s.settle(m, members, i + 1);
            }
            let k = row + class(u);
            if s.taken[k] == 0 {
                s.touched.push(k);
            }
            s.taken[k] = s.taken[k].max(u + u64::from(mb.n_in.max(mb.n_out)));
        }
        for k in s.touched.drain(..) {
            s.taken[k] = 0;
        }

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
                issue: t0 + s.o[i],
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
        for (i, instr) in prog.instrs[base as usize..].iter().enumerate() {
            if !matches!(instr.unit, Unit::Mem(_)) {
                self.unit_free[slot(instr.unit)] = instr.issue + u64::from(instr.occ);
            }
            if let (Some((d, idx)), Some(dir)) = (s.streams[i], instr.stream.map(|s| s.dir)) {
                let end = m.diagonal(dir, instr.unit, instr.out_start()) + u64::from(instr.n_out);
                let f = &mut self.stream_free[d][idx];
                *f = (*f).max(end);
            }
            if let (Unit::Mem(sl), Some((t, n, addr))) = (instr.unit, instr.mem_run()) {
                let class = ((addr + (banks - 1) * t) % banks) as usize;
                let f = &mut self.bank_free[usize::from(sl)][class];
                *f = (*f).max(t + n);
            }
        }
        self.scratch = s;
        base..prog.instrs.len() as u32
    }
}

/// First address of a MEM access.
fn address(k: Kind) -> Option<u64> {
    match k {
        Kind::Read { addr } | Kind::Write { addr } => Some(u64::from(addr)),
        _ => None,
    }
}
