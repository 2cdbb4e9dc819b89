//! The static scheduler: instructions are placed as they are emitted, a chain at a time. A
//! chain is a set of instructions locked to each other through streams (a MEM read feeding an
//! unpack feeding a weight install); they are placed together at the earliest cycle where
//! every unit, stream and MEM bank they need is free and every instruction they wait for is
//! done. Units and streams are reserved in emission order (no back-filling), so the schedule
//! is legal by construction; the simulators check it independently.

use super::machine::{Dir, Machine, Stream, Unit};
use super::program::{Chip, Dep, Instr, Kind, Program, Ref};

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
#[derive(Clone, Copy, Debug)]
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

impl Scheduler {
    pub fn new(m: &Machine) -> Self {
        Scheduler {
            m: m.clone(),
            unit_free: vec![0; 6 * 256 + m.slices.max(1) as usize],
            stream_free: [vec![0; m.streams as usize], vec![0; m.streams as usize]],
            bank_free: vec![vec![0; m.banks as usize]; m.slices as usize],
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

    /// Place `members` as one chain in `prog`; returns their instruction indices.
    pub fn chain(
        &mut self,
        prog: &mut Program,
        prev: Option<&Program>,
        members: &[Member],
        part: u16,
        what: &'static str,
    ) -> Vec<u32> {
        let m = &self.m;
        let mut pipes_taken = Vec::new();
        let units: Vec<Unit> = members
            .iter()
            .map(|mb| match mb.unit {
                Pick::Fixed(u) => u,
                Pick::AnyVxm => {
                    let u = (0..m.vxm_pipes as u8)
                        .map(Unit::Vxm)
                        .filter(|u| !pipes_taken.contains(u))
                        .min_by_key(|&u| (self.free(u), u))
                        .unwrap_or(Unit::Vxm(0));
                    pipes_taken.push(u);
                    u
                }
            })
            .collect();
        // Who reads each member's stream.
        // (producer, reader, input), in reader order.
        let readers: Vec<(usize, usize, Input)> = members
            .iter()
            .enumerate()
            .flat_map(|(c, mb)| mb.inputs.iter().map(move |&inp| (inp.from, c, inp)))
            .collect();
        let readers_of = |p: usize| {
            readers
                .iter()
                .filter(move |r| r.0 == p)
                .map(|&(_, c, inp)| (c, inp))
        };
        // Offsets from the chain's start: consumers as early as their inputs allow, then
        // producers without inputs of their own as late as their readers allow (just in time).
        let need = |o: &[u64], c: usize, inp: Input| -> i64 {
            let (mp, mc) = (&members[inp.from], &members[c]);
            let hops = m.hops(units[inp.from], units[c]) as i64;
            let n = i64::from(inp.count.max(1));
            [0, n - 1]
                .iter()
                .map(|&j| {
                    o[inp.from] as i64
                        + i64::from(mp.lat)
                        + (i64::from(inp.first) + j) * i64::from(mp.oi)
                        + hops
                        - (i64::from(inp.offset) + j) * i64::from(mc.ii)
                })
                .max()
                .unwrap_or(0)
        };
        // Consumers from member `from` on as early as their inputs allow; then producers without
        // inputs of their own from `from` on as late as their readers allow (just in time).
        // Offsets only grow.
        let settle = |o: &mut Vec<u64>, from: usize| {
            for c in from..members.len() {
                for &inp in &members[c].inputs {
                    o[c] = o[c].max(need(o, c, inp).max(0) as u64);
                }
            }
            for p in (from..members.len()).rev() {
                if members[p].inputs.is_empty() && readers_of(p).next().is_some() {
                    let slack = readers_of(p)
                        .map(|(c, inp)| o[c] as i64 - need(o, c, inp))
                        .min()
                        .unwrap_or(0);
                    o[p] += slack.max(0) as u64;
                }
            }
        };
        let mut o = vec![0u64; members.len()];
        settle(&mut o, 0);
        let min = o.iter().copied().min().unwrap_or(0);
        o.iter_mut().for_each(|x| *x -= min);

        let mut t0 = 0u64;
        let bound = |t0: &mut u64, at: u64, off: u64| *t0 = (*t0).max(at.saturating_sub(off));
        for (i, &unit) in units.iter().enumerate() {
            if !matches!(unit, Unit::Mem(_)) {
                bound(&mut t0, self.free(unit), o[i]);
            }
        }
        // Streams: producers of pure reads feeding the same reader in the same direction share
        // one (their vectors arrive one after another, on distinct diagonals); others get
        // their own.
        let mut streams: Vec<Option<(usize, usize)>> = vec![None; members.len()];
        let mut groups: Vec<((usize, usize, usize), usize)> = Vec::new();
        for (i, mb) in members.iter().enumerate() {
            if let Some((c, _)) = readers_of(i).next() {
                let d = dir_index(m.dir(units[i], units[c]));
                let key = (c, d, if mb.inputs.is_empty() { usize::MAX } else { i });
                let idx = match groups.iter().find(|g| g.0 == key) {
                    Some(g) => g.1,
                    None => {
                        // The first stream free earliest among those this chain has not taken.
                        let mut best: Option<(u64, usize)> = None;
                        for (k, &f) in self.stream_free[d].iter().enumerate() {
                            if best.is_none_or(|(b, _)| f < b)
                                && !groups.iter().any(|g| g.0.1 == d && g.1 == k)
                            {
                                best = Some((f, k));
                            }
                        }
                        let idx = best.map_or(0, |(_, k)| k);
                        groups.push((key, idx));
                        idx
                    }
                };
                streams[i] = Some((d, idx));
            }
        }
        for (i, mb) in members.iter().enumerate() {
            for &r in &mb.after {
                if let Some(p) = Self::resolve(prog, prev, r) {
                    let hops = if r.chip == Chip::Same {
                        m.hops(p.unit, units[i])
                    } else {
                        0
                    };
                    bound(&mut t0, p.done() + hops, o[i]);
                }
            }
            for &r in &mb.free {
                if let Some(p) = Self::resolve(prog, prev, r) {
                    bound(&mut t0, p.inputs_done(), o[i]);
                }
            }
            if let Some((d, idx)) = streams[i] {
                let dir = if d == 0 { Dir::East } else { Dir::West };
                let first = m.diagonal(dir, units[i], o[i] + u64::from(mb.lat));
                bound(&mut t0, self.stream_free[d][idx], first);
            }
        }
        // MEM banks: a run of consecutive addresses at one per cycle stays in one bank class
        // `(address - cycle) mod banks`. Each access waits for the first cycle its class is
        // free, delaying only itself and what it feeds.
        let banks = m.banks;
        let mut taken: Vec<(u16, usize, u64)> = Vec::new();
        for (i, mb) in members.iter().enumerate() {
            let (Unit::Mem(s), Some(addr)) = (units[i], address(mb.kind)) else {
                continue;
            };
            let class = |t: u64| ((addr + (banks - 1) * t) % banks) as usize;
            let free = |c: usize| {
                taken
                    .iter()
                    .filter(|&&(ts, tc, _)| ts == s && tc == c)
                    .map(|&(_, _, end)| end)
                    .fold(self.bank_free[usize::from(s)][c], u64::max)
            };
            let t = t0 + o[i];
            let u = (0..banks as usize)
                .map(|c| {
                    let u = t.max(free(c));
                    u + (class(u) + banks as usize - c) as u64 % banks
                })
                .min()
                .unwrap_or(t);
            if u > t {
                o[i] += u - t;
                settle(&mut o, i + 1);
            }
            let n = u64::from(mb.n_in.max(mb.n_out));
            taken.push((s, class(u), u + n));
        }

        let base = prog.instrs.len() as u32;
        let mut out = Vec::with_capacity(members.len());
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
                unit: units[i],
                kind: mb.kind,
                issue: t0 + o[i],
                n_in: mb.n_in,
                ii: mb.ii,
                lat: mb.lat,
                n_out: mb.n_out,
                oi: mb.oi,
                occ: (mb.n_in * mb.ii).max(mb.n_out * mb.oi).max(1),
                stream: streams[i].map(|(d, idx)| Stream {
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
            out.push(base + i as u32);
        }
        for (i, _) in members.iter().enumerate() {
            let instr = prog.instrs[(base as usize) + i];
            if !matches!(instr.unit, Unit::Mem(_)) {
                self.unit_free[slot(instr.unit)] = instr.issue + u64::from(instr.occ);
            }
            if let (Some((d, idx)), Some(dir)) = (streams[i], instr.stream.map(|s| s.dir)) {
                let end = m.diagonal(dir, instr.unit, instr.out_start()) + u64::from(instr.n_out);
                let f = &mut self.stream_free[d][idx];
                *f = (*f).max(end);
            }
            if let (Unit::Mem(s), Some((t, n, addr))) = (instr.unit, instr.mem_run()) {
                let class = ((addr + (banks - 1) * t) % banks) as usize;
                let f = &mut self.bank_free[usize::from(s)][class];
                *f = (*f).max(t + n);
            }
        }
        out
    }
}

/// First address of a MEM access.
fn address(k: Kind) -> Option<u64> {
    match k {
        Kind::Read { addr } | Kind::Write { addr } => Some(u64::from(addr)),
        _ => None,
    }
}
