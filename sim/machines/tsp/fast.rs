//! The fast fidelity: each instruction is one group of vectors, checked in closed form. A group
//! consumes and produces at constant intervals, so a stream dependency is met for every vector
//! when it is met at the first violating one, which is found by solving one linear inequality;
//! units, streams and MEM banks are busy over intervals (a run of consecutive addresses at one
//! per cycle stays in one bank class `(address - cycle) mod banks`), so conflicts are interval
//! overlaps found by sorting (unstable sorts: every key ends with the instruction's index).

use super::machine::{Dir, KINDS, Machine, Stream, Unit};
use super::program::{Chip, Dep, Handoff, Instr, Program};
use crate::engine::EngineError;
use std::collections::BTreeMap;

/// What one rank of a stage did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageRun {
    /// First cycle after its last instruction finished.
    pub done: u64,
    /// Per report part: first issue and first cycle after the last instruction of the part.
    pub parts: Vec<(String, u64, u64)>,
    /// Busy cycles by kind of unit (`mem` counts vectors moved).
    pub busy: BTreeMap<&'static str, u64>,
    /// Bytes sent over C2C links.
    pub c2c_bytes: u64,
    /// Instructions executed.
    pub instrs: u64,
}

/// Diagonals `first .. end` an instruction's outputs occupy on a stream, and the instruction.
type Span = (u64, u64, usize);

/// A verification failure on `chip` at `unit`.
pub fn error(chip: u64, unit: Unit, cycle: u64, idx: usize, i: &Instr, why: String) -> EngineError {
    EngineError::Model {
        component: format!("tsp{chip}/{unit}"),
        reason: format!("cycle {cycle}: instruction #{idx} {}: {why}", i.label()),
    }
}

/// Which of a producer's outputs a consumer reads: `count` of them from `first`, as its inputs
/// from `offset`.
#[derive(Clone, Copy, Debug)]
pub struct Feed {
    pub first: u64,
    pub offset: u64,
    pub count: u64,
}

/// The first vector `j` of `fed` that `c` reads before it arrives from `p`, `hops` cycles after
/// leaving it: `(j, read cycle, arrival cycle)`.
pub fn early_read(p: &Instr, c: &Instr, fed: Feed, hops: u64) -> Option<(u64, u64, u64)> {
    if fed.count == 0 {
        return None;
    }
    let read = |j: u64| c.consume_at(fed.offset + j);
    let arrive = |j: u64| p.emit_at(fed.first + j) + hops;
    // slack(j) = read(j) - arrive(j) = base + j (ii - oi), linear in j.
    let base = read(0) as i128 - arrive(0) as i128;
    let step = i128::from(c.ii) - i128::from(p.oi);
    let j = if base < 0 {
        0
    } else if step < 0 {
        let j = base / -step + 1;
        if j >= fed.count as i128 {
            return None;
        }
        j as u64
    } else {
        return None;
    };
    Some((j, read(j), arrive(j)))
}

/// Instructions grouped by a key (a unit, a stream) in program order: `order[first[k] ..
/// first[k + 1]]` for key `k`.
struct Groups {
    first: Vec<usize>,
    order: Vec<usize>,
}

impl Groups {
    /// The instructions of `instrs` with a key below `keys`, by `key`.
    fn new(keys: usize, instrs: &[Instr], key: impl Fn(&Instr) -> Option<usize>) -> Self {
        let mut first = vec![0; keys + 1];
        for c in instrs {
            if let Some(k) = key(c) {
                first[k + 1] += 1;
            }
        }
        for k in 0..keys {
            first[k + 1] += first[k];
        }
        let mut next = first.clone();
        let mut order = vec![0; first[keys]];
        for (idx, c) in instrs.iter().enumerate() {
            if let Some(k) = key(c) {
                order[next[k]] = idx;
                next[k] += 1;
            }
        }
        Groups { first, order }
    }

    /// The non-empty groups, by key.
    fn iter(&self) -> impl Iterator<Item = &[usize]> {
        self.first
            .windows(2)
            .map(|w| &self.order[w[0]..w[1]])
            .filter(|g| !g.is_empty())
    }
}

/// Check the program of one stage as run by its first rank and measure it.
pub fn run(m: &Machine, prog: &Program, prev: Option<&Handoff>) -> Result<StageRun, EngineError> {
    let users = Users::new(prog);
    let mut tally = Tally::new(prog);
    for (idx, c) in prog.instrs.iter().enumerate() {
        for dep in prog.deps_of(c) {
            check_dep(m, prog, prev, idx, dep)?;
        }
        tally.add(m, c);
    }
    check_units(prog, &users.units)?;
    check_streams(m, prog, &users.streams)?;
    check_banks(m, prog, &users.banks)?;
    Ok(tally.finish(prog))
}

/// What each unit, MEM slice (by number) and stream (eastward first, each by index) does,
/// grouped by it in program order: one array each and where each group starts, instead of a
/// growing list per unit.
struct Users {
    units: Groups,
    banks: Groups,
    streams: Groups,
}

impl Users {
    fn new(prog: &Program) -> Self {
        // Per unit, in the order of `Unit` (MEM slices first, each kind by number).
        let mem_units = prog
            .instrs
            .iter()
            .filter_map(|i| match i.unit {
                Unit::Mem(s) => Some(usize::from(s) + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let slot = |u: Unit| match u {
            Unit::Mem(s) => usize::from(s),
            Unit::Install(p) => mem_units + usize::from(p),
            Unit::Compute(p) => mem_units + 256 + usize::from(p),
            Unit::Vxm(v) => mem_units + 2 * 256 + usize::from(v),
            Unit::Sxm(h) => mem_units + 3 * 256 + usize::from(h),
            Unit::Tx(l) => mem_units + 4 * 256 + usize::from(l),
            Unit::Rx(l) => mem_units + 5 * 256 + usize::from(l),
        };
        let mem = |c: &Instr| match (c.unit, c.mem_run()) {
            (Unit::Mem(s), Some(_)) => Some(usize::from(s)),
            _ => None,
        };
        let stream_slot = |s: Stream| usize::from(s.dir == Dir::West) * 256 + usize::from(s.index);
        Users {
            units: Groups::new(mem_units + 6 * 256, &prog.instrs, |c| {
                mem(c).is_none().then(|| slot(c.unit))
            }),
            banks: Groups::new(mem_units, &prog.instrs, mem),
            streams: Groups::new(2 * 256, &prog.instrs, |c| c.stream.map(stream_slot)),
        }
    }
}

/// The measures of a stage taken instruction by instruction.
struct Tally {
    run: StageRun,
    /// Per kind of unit, in the order of `KINDS`: busy cycles, if any instruction ran on one.
    busy: [Option<u64>; KINDS.len()],
    /// Per report part: first issue and first cycle after its last instruction.
    parts: Vec<(u64, u64)>,
}

impl Tally {
    fn new(prog: &Program) -> Self {
        Tally {
            run: StageRun {
                instrs: prog.instrs.len() as u64,
                ..StageRun::default()
            },
            busy: [None; KINDS.len()],
            parts: vec![(u64::MAX, 0); prog.parts.len()],
        }
    }

    fn add(&mut self, m: &Machine, c: &Instr) {
        let n = match (c.unit, c.mem_run()) {
            (Unit::Mem(_), Some((_, n, _))) => n,
            _ => u64::from(c.occ),
        };
        *self.busy[c.unit.kind_index()].get_or_insert(0) += n;
        if matches!(c.unit, Unit::Tx(_)) {
            self.run.c2c_bytes += u64::from(c.n_in) * m.vector_bytes;
        }
        let part = &mut self.parts[usize::from(c.part)];
        part.0 = part.0.min(c.issue);
        part.1 = part.1.max(c.done());
        self.run.done = self.run.done.max(c.done());
    }

    fn finish(self, prog: &Program) -> StageRun {
        let mut run = self.run;
        run.busy = KINDS
            .iter()
            .zip(self.busy)
            .filter_map(|(&k, b)| Some((k, b?)))
            .collect();
        run.parts = prog
            .parts
            .iter()
            .zip(self.parts)
            .filter(|(_, (first, _))| *first != u64::MAX)
            .map(|(name, (first, last))| (name.clone(), first, last))
            .collect();
        run
    }
}

/// Check that instruction `idx` meets its dependence `dep`: a stream it reads carries every
/// vector to it in time; what it waits for is done (or done reading) when it issues.
fn check_dep(
    m: &Machine,
    prog: &Program,
    prev: Option<&Handoff>,
    idx: usize,
    dep: &Dep,
) -> Result<(), EngineError> {
    let chip = prog.first_chip;
    let c = &prog.instrs[idx];
    match *dep {
        Dep::Stream {
            from,
            first,
            offset,
            count,
        } => {
            let p = &prog.instrs[from as usize];
            let hops = m.hops(p.unit, c.unit);
            let passes = p
                .stream
                .is_some_and(|s| m.downstream(s.dir, p.unit, c.unit));
            if !passes
                || first + count > p.n_out
                || u64::from(offset) + u64::from(count) > u64::from(c.n_in)
            {
                return Err(error(
                    chip,
                    c.unit,
                    c.issue,
                    idx,
                    c,
                    format!("reads a stream #{from} does not carry to it"),
                ));
            }
            let fed = Feed {
                first: u64::from(first),
                offset: u64::from(offset),
                count: u64::from(count),
            };
            if let Some((j, read, arrive)) = early_read(p, c, fed, hops) {
                return Err(error(
                    chip,
                    c.unit,
                    read,
                    idx,
                    c,
                    format!(
                        "reads vector {j} of #{from} {} before it arrives at cycle {arrive}",
                        p.label()
                    ),
                ));
            }
        }
        Dep::After(r) | Dep::Free(r) => {
            let Some(p) = prog.resolve(prev, r) else {
                return Err(error(
                    chip,
                    c.unit,
                    c.issue,
                    idx,
                    c,
                    format!("waits for a missing instruction #{}", r.idx),
                ));
            };
            let hops = if r.chip == Chip::Same {
                m.hops(p.unit, c.unit)
            } else {
                0
            };
            let (ready, what) = match dep {
                Dep::After(_) => (p.done() + hops, "before its producer finishes"),
                _ => (p.inputs_done(), "overwrites a buffer still being read"),
            };
            if c.issue < ready {
                return Err(error(
                    chip,
                    c.unit,
                    c.issue,
                    idx,
                    c,
                    format!(
                        "starts {what}: #{} {} ({:?}) until cycle {ready}",
                        r.idx,
                        p.label(),
                        r.chip
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// No unit starts an instruction while it is still busy with another.
fn check_units(prog: &Program, units: &Groups) -> Result<(), EngineError> {
    let mut list = Vec::new();
    for group in units.iter() {
        list.clear();
        list.extend_from_slice(group);
        list.sort_unstable_by_key(|&i| (prog.instrs[i].issue, i));
        let u = &prog.instrs[list[0]].unit;
        for w in list.windows(2) {
            let (a, b) = (&prog.instrs[w[0]], &prog.instrs[w[1]]);
            if b.issue < a.issue + u64::from(a.occ) {
                return Err(error(
                    prog.first_chip,
                    *u,
                    b.issue,
                    w[1],
                    b,
                    format!(
                        "unit conflict: {u} is busy with #{} {} until cycle {}",
                        w[0],
                        a.label(),
                        a.issue + u64::from(a.occ)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// No two instructions' outputs meet on a stream.
fn check_streams(m: &Machine, prog: &Program, streams: &Groups) -> Result<(), EngineError> {
    let mut spans: Vec<Span> = Vec::new();
    for group in streams.iter() {
        let Some(s) = prog.instrs[group[0]].stream else {
            continue;
        };
        spans.clear();
        spans.extend(group.iter().map(|&idx| {
            let c = &prog.instrs[idx];
            let first = m.diagonal(s.dir, c.unit, c.out_start());
            (first, first + u64::from(c.n_out), idx)
        }));
        spans.sort_unstable();
        for w in spans.windows(2) {
            let ((_, end_a, a), (start_b, _, b)) = (w[0], w[1]);
            if start_b < end_a {
                let i = &prog.instrs[b];
                return Err(error(
                    prog.first_chip,
                    i.unit,
                    i.out_start(),
                    b,
                    i,
                    format!(
                        "stream conflict: its first vector on {s} meets vector {} of #{a} {}",
                        start_b - (end_a - u64::from(prog.instrs[a].n_out)),
                        prog.instrs[a].label()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// No two MEM accesses use one bank of a slice at once.
fn check_banks(m: &Machine, prog: &Program, banks: &Groups) -> Result<(), EngineError> {
    let mut accesses = Vec::new();
    for group in banks.iter() {
        let Unit::Mem(s) = prog.instrs[group[0]].unit else {
            continue;
        };
        accesses.clear();
        accesses.extend(group.iter().filter_map(|&idx| {
            let (t, n, addr) = prog.instrs[idx].mem_run()?;
            Some((t, n, addr, idx))
        }));
        accesses.sort_unstable();
        let mut last: Vec<Option<(u64, usize)>> = vec![None; m.banks as usize];
        for &(t, n, addr, idx) in &accesses {
            let class = ((addr + (m.banks - 1) * t) % m.banks) as usize;
            if let Some((end, other)) = last[class].filter(|&(end, _)| t < end) {
                let i = &prog.instrs[idx];
                let bank = addr % m.banks;
                return Err(error(
                    prog.first_chip,
                    Unit::Mem(s),
                    t,
                    idx,
                    i,
                    format!(
                        "bank conflict: bank {bank} of mem{s} is accessed by #{other} {} until cycle {end}",
                        prog.instrs[other].label()
                    ),
                ));
            }
            let end = last[class].map_or(0, |(e, _)| e).max(t + n);
            last[class] = Some((end, idx));
        }
    }
    Ok(())
}
