//! Replaying a recorded part of the step on a translate of its PEs, for the fast fidelity.
//!
//! Decoder layers laid out as translates of each other run the same program on translated PEs
//! and links. The fast fidelity evaluates a part as max-plus operations on the cycles its PEs
//! and links are free from, so a part's times move by `delta` when every free cycle it reads
//! either (binding) is exactly the recorded one plus `delta`, or (slack) is no later than the
//! first item it serves, plus `delta`: a server that is free before its first item arrives
//! serves the items as if it had always been free. A recording keeps, per PE and link the part
//! touches, the free cycle it read first and that first item's time; a replay checks both
//! conditions on the translated resources and, if they hold, writes the recorded end state
//! moved by `delta` instead of evaluating the part. Where they fail nothing is written and the
//! part is evaluated as usual, so a replay never changes a cycle count.
//!
//! A part that used I/O lanes replays only whole wafers on ([`Moves::lanes`]): a message leaves
//! its wafer on the lane of its row, so only then do its lanes move along with it.

use bitvec::vec::BitVec;

/// A resource as a part first read it.
#[derive(Clone, Copy, Debug)]
struct Read {
    /// Its index (link or PE).
    slot: u32,
    /// The cycle it was free from.
    free: u64,
    /// `Some(first)`: slack, `free <= first`, the time of the first item it served; `None`:
    /// binding, the result depends on `free` itself.
    first: Option<u64>,
    /// Its counter (wavelets over a link, busy cycles of a PE) before the part.
    count: u64,
}

/// A resource in a finished record: what a replay checks and what it writes, kept small
/// because a replay streams through every one of a layer's resources.
#[derive(Clone, Copy, Debug)]
struct Touched {
    /// Its index (link or PE).
    slot: u32,
    /// Binding (the first read's free cycle is `at`) or slack (its first item came at `at`).
    binding: bool,
    at: u64,
    /// Its free cycle at the end of the part.
    end: u64,
    /// What its counter gained.
    gained: u64,
}

/// The resources of one kind a recording has seen.
#[derive(Default)]
struct Seen {
    seen: BitVec,
    reads: Vec<Read>,
}

impl Seen {
    #[inline]
    fn read(&mut self, slot: u32, free: u64, first: Option<u64>, count: impl FnOnce() -> u64) {
        let i = slot as usize;
        if !self.seen[i] {
            self.seen.set(i, true);
            self.reads.push(Read {
                slot,
                free,
                first: first.filter(|&f| free <= f),
                count: count(),
            });
        }
    }

    /// The resources, with the free cycle and counter of each at the end of the part, in
    /// index order (a replay then walks the state arrays forwards). Sorts `(slot, position)`
    /// keys rather than the reads themselves: a tenth of a sweep's time went to moving reads.
    fn finish(&mut self, free: &[u64], count: impl Fn(usize) -> u64) -> Vec<Touched> {
        let reads = std::mem::take(&mut self.reads);
        let mut order: Vec<u64> = (reads.iter().enumerate())
            .map(|(i, r)| (r.slot as u64) << 32 | i as u64)
            .collect();
        order.sort_unstable();
        order
            .into_iter()
            .map(|key| {
                let r = reads[key as u32 as usize];
                let i = r.slot as usize;
                self.seen.set(i, false);
                Touched {
                    slot: r.slot,
                    binding: r.first.is_none(),
                    at: r.first.unwrap_or(r.free),
                    end: free[i],
                    gained: count(i) - r.count,
                }
            })
            .collect()
    }
}

/// A part being recorded.
#[derive(Default)]
pub struct Recording {
    /// A part is being recorded.
    pub active: bool,
    links: Seen,
    pes: Seen,
}

impl Recording {
    /// Record from now on, on a system of `links` links and `pes` PEs.
    pub fn start(&mut self, links: usize, pes: usize) {
        self.active = true;
        self.links.seen.resize(links, false);
        self.pes.seen.resize(pes, false);
    }

    /// `link` free from `free` first serving an item at `first` (`None`: items wait for it).
    #[inline]
    pub fn link(&mut self, link: u32, free: u64, first: Option<u64>, load: impl FnOnce() -> u64) {
        self.links.read(link, free, first, load);
    }

    /// `pe` free from `free` first serving an item at `first` (`None`: items wait for it).
    #[inline]
    pub fn pe(&mut self, pe: u32, free: u64, first: Option<u64>, busy: u64) {
        self.pes.read(pe, free, first, || busy);
    }

    /// The finished record of the part, given the state at its end.
    pub fn finish(&mut self, end: &End) -> Record {
        self.active = false;
        let links = self
            .links
            .finish(end.link_free, |i| end.link_load.map_or(0, |l| l[i] as u64));
        let pes = self.pes.finish(end.pe_free, |i| end.pe_busy[i]);
        Record {
            io: links.iter().any(|t| t.slot >= end.io_base),
            links,
            pes,
            wavelets: end.wavelets,
            io_wavelets: end.io_wavelets,
            end: end.part_end,
        }
    }
}

/// The state a part leaves.
pub struct End<'a> {
    pub link_free: &'a [u64],
    pub link_load: Option<&'a [u32]>,
    pub pe_free: &'a [u64],
    pub pe_busy: &'a [u64],
    /// The first I/O lane's link.
    pub io_base: u32,
    /// Fabric wavelets of the part.
    pub wavelets: u64,
    /// Wavelets over I/O lanes in the part.
    pub io_wavelets: u64,
    /// Its last completion [cycles].
    pub part_end: u64,
}

/// The state of the system a replay reads and writes.
pub struct State<'a> {
    pub link_free: &'a mut [u64],
    pub link_load: Option<&'a mut [u32]>,
    pub pe_free: &'a mut [u64],
    pub pe_busy: &'a mut [u64],
}

/// How far a replayed part's resources lie from the recorded one's.
#[derive(Clone, Copy, Debug)]
pub struct Moves {
    /// PE indices.
    pub pes: i64,
    /// Router link indices.
    pub links: i64,
    /// I/O lane indices, when the part moves by whole wafers.
    pub lanes: Option<i64>,
    /// The first I/O lane's link.
    pub io_base: u32,
}

impl Moves {
    /// Where the replay finds recorded link `slot` (a lane only when lanes move along).
    fn link(&self, slot: u32) -> usize {
        let by = match self.lanes {
            Some(lanes) if slot >= self.io_base => lanes,
            _ => self.links,
        };
        (slot as i64 + by) as usize
    }

    fn pe(&self, slot: u32) -> usize {
        (slot as i64 + self.pes) as usize
    }
}

/// What a recorded part did: per resource its first read, its free cycle at the end and what
/// its counter gained.
pub struct Record {
    links: Vec<Touched>,
    pes: Vec<Touched>,
    /// It used I/O lanes.
    io: bool,
    wavelets: u64,
    io_wavelets: u64,
    end: u64,
}

/// What a replay adds to the part's totals.
pub struct Replayed {
    /// Fabric wavelets of the part.
    pub wavelets: u64,
    /// Wavelets over I/O lanes.
    pub io_wavelets: u64,
    /// Its last completion [cycles].
    pub end: u64,
}

impl Record {
    /// The shift of every time when the part runs on resources moved by `m`, or `None` when
    /// the state does not allow it.
    fn delta(&self, s: &State, m: &Moves) -> Option<i64> {
        let links = (self.links.iter()).map(|t| (t, s.link_free[m.link(t.slot)]));
        let pes = (self.pes.iter()).map(|t| (t, s.pe_free[m.pe(t.slot)]));
        // The binding reads' common shift, and how far the slack ones are past their first
        // items: they must be no further than that shift.
        let (mut delta, mut late) = (None, i64::MIN);
        for (t, now) in links.chain(pes) {
            let d = now as i64 - t.at as i64;
            if !t.binding {
                late = late.max(d);
            } else if *delta.get_or_insert(d) != d {
                return None;
            }
        }
        let delta = delta.unwrap_or(0);
        (late <= delta).then_some(delta)
    }

    /// Write the part's end state on resources moved by `m` into `s` if the state it starts
    /// from lets the times move exactly (see the module), leaving `s` untouched otherwise.
    pub fn replay(&self, s: State, m: &Moves) -> Option<Replayed> {
        if self.io && m.lanes.is_none() {
            return None;
        }
        let delta = self.delta(&s, m)?;
        let moved = |t: u64| (t as i64 + delta) as u64;
        let mut load = s.link_load;
        for t in &self.links {
            let i = m.link(t.slot);
            s.link_free[i] = moved(t.end);
            if let Some(l) = load.as_deref_mut() {
                l[i] = l[i].saturating_add(t.gained as u32);
            }
        }
        for t in &self.pes {
            let i = m.pe(t.slot);
            s.pe_free[i] = moved(t.end);
            s.pe_busy[i] += t.gained;
        }
        Some(Replayed {
            wavelets: self.wavelets,
            io_wavelets: self.io_wavelets,
            end: moved(self.end),
        })
    }
}
