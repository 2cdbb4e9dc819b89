//! The fast fidelity: the program is evaluated as the mapper emits it, one message or task at a
//! time, in max-plus closed form ([`Train`]). Each link and PE keeps only the cycle it is free
//! from, which is exact because both serve strictly in program order. A part that is a
//! translate of a recorded one is replayed from the recording where that is exact
//! ([`super::replay`]).

use super::geometry::{Geometry, PORTS, Pe, RAMP_IN, Route, Shift};
use super::program::Sink;
use super::replay::{End, Moves, Record, Recording, State};
use super::train::{Chain, Train};
use crate::engine::EngineError;
use std::cell::RefCell;

/// What the evaluation measured.
pub struct Fast {
    g: Geometry,
    pe_free: Vec<u64>,
    /// The cycle each link is free from, by [`Fast::slot`].
    link_free: Vec<u64>,
    /// Wavelets over each link in the step, by [`Fast::slot`] (kept only when asked for).
    link_load: Option<Vec<u32>>,
    part: usize,
    /// The first I/O lane's link.
    io_base: u32,
    /// Last completion of each part's tasks [cycles].
    pub part_end: Vec<u64>,
    /// Wavelets over the fabric (router ports and ramps) per part.
    pub part_wavelets: Vec<u64>,
    /// Busy cycles of each PE.
    pub pe_busy: Vec<u64>,
    /// Wavelets sent over I/O lanes.
    pub io_wavelets: u64,
    /// `io_wavelets` when the part began.
    io_before: u64,
    /// Last completion of any task [cycles].
    pub end: u64,
    recording: Recording,
    /// The slot the part being recorded goes to.
    recording_slot: usize,
    /// The last part recorded in each slot.
    records: Vec<Option<Record>>,
    /// Parts replayed rather than evaluated.
    pub replayed: usize,
    /// Replays are refused (tests compare them with evaluation).
    #[cfg(test)]
    replay_off: bool,
}

/// Note in `rec` that `link` was free from `free` when an item first wanted it at `first`.
#[inline]
fn observe(rec: &mut Recording, load: &Option<Vec<u32>>, link: u32, free: u64, first: u64) {
    let load = || load.as_ref().map_or(0, |l| l[link as usize] as u64);
    rec.link(link, free, Some(first), load);
}

thread_local! {
    /// State arrays of fast evaluations that ended on this thread, to be zeroed and reused: a
    /// sweep evaluates many points per thread, and zeroing pages it holds costs a fraction of
    /// the page faults of fresh ones (about as much as evaluating a replayed step).
    static SPARE: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
}

/// Arrays kept for reuse per thread (a fast evaluation has three).
const SPARES: usize = 3;

/// `n` zeros, in a spare array when there is one.
fn zeroed(n: usize) -> Vec<u64> {
    let spare = SPARE.with_borrow_mut(|spare| {
        // The smallest that holds `n`, else the largest.
        let fits = (0..spare.len())
            .filter(|&i| spare[i].capacity() >= n)
            .min_by_key(|&i| spare[i].capacity());
        let largest = (0..spare.len()).max_by_key(|&i| spare[i].capacity());
        fits.or(largest).map(|i| spare.swap_remove(i))
    });
    match spare {
        Some(mut v) => {
            v.clear();
            v.resize(n, 0);
            v
        }
        None => vec![0; n],
    }
}

impl Drop for Fast {
    fn drop(&mut self) {
        let arrays = [&mut self.link_free, &mut self.pe_free, &mut self.pe_busy];
        SPARE.with_borrow_mut(|spare| {
            for a in arrays {
                if spare.len() < SPARES {
                    spare.push(std::mem::take(a));
                }
            }
        });
    }
}

impl Fast {
    /// An idle system of `g`'s shape with `parts` parts.
    pub fn new(g: Geometry, parts: usize) -> Fast {
        Fast {
            pe_free: zeroed(g.pes()),
            link_free: zeroed(g.links()),
            link_load: None,
            part: 0,
            io_base: g.io_base(),
            part_end: vec![0; parts],
            part_wavelets: vec![0; parts],
            pe_busy: zeroed(g.pes()),
            io_wavelets: 0,
            io_before: 0,
            end: 0,
            recording: Recording::default(),
            recording_slot: 0,
            records: Vec::new(),
            replayed: 0,
            #[cfg(test)]
            replay_off: false,
            g,
        }
    }

    /// Evaluate every part, even those a recording could replay (to check replays).
    #[cfg(test)]
    pub fn without_replay(mut self) -> Fast {
        self.recording.active = false;
        self.replay_off = true;
        self
    }

    /// Also count the wavelets over each link ([`Fast::link_load`]).
    pub fn with_link_load(mut self) -> Fast {
        self.link_load = Some(vec![0; self.g.links()]);
        self
    }

    /// Where `link`'s state is stored (its index: a run along a row touches neighbouring
    /// entries; storing ports port by port measured slower).
    #[inline(always)]
    fn slot(&self, link: u32) -> usize {
        link as usize
    }

    /// Wavelets over `link` in the step (0 unless made [`Fast::with_link_load`]).
    pub fn link_load(&self, link: u32) -> u32 {
        let i = self.slot(link);
        self.link_load.as_ref().map_or(0, |l| l[i])
    }

    /// The cycle `pe` is free from.
    #[cfg(test)]
    pub fn pe_free(&self, pe: Pe) -> u64 {
        self.pe_free[pe.0 as usize]
    }

    /// Account `items` wavelets over `link`, free from `free` on.
    #[inline(always)]
    fn account(&mut self, link: u32, items: u64, free: u64) {
        let i = self.slot(link);
        self.link_free[i] = free;
        if let Some(load) = self.link_load.as_mut() {
            load[i] = load[i].saturating_add(items as u32);
        }
        if link >= self.io_base {
            self.io_wavelets += items;
        } else {
            self.part_wavelets[self.part] += items;
        }
    }

    /// Pass `chain` (times at the link's router) over `link`; it becomes the times at the far
    /// end.
    #[inline(always)]
    fn traverse(&mut self, link: u32, latency: u64, chain: &mut Chain) {
        let free = self.link_free[self.slot(link)];
        if self.recording.active {
            let (rec, load) = (&mut self.recording, &self.link_load);
            observe(rec, load, link, free, chain.front());
        }
        chain.serve(free);
        self.account(link, chain.items(), chain.last());
        chain.delay(latency - 1);
    }

    /// Pass `train` over `link` as its first link.
    fn first(&mut self, link: u32, latency: u64, train: &Train) -> Chain {
        let free = self.link_free[self.slot(link)];
        if self.recording.active {
            let (rec, load) = (&mut self.recording, &self.link_load);
            observe(rec, load, link, free, train.time(0));
        }
        let mut chain = Chain::serve_from(train, free);
        self.account(link, chain.items(), chain.last());
        chain.delay(latency - 1);
        chain
    }

    /// Deliver `chain` (times at `pe`'s router, or the message's own train before its first
    /// link) over its ramp into the PE.
    fn deliver(
        &mut self,
        pe: Pe,
        chain: Option<&Chain>,
        src: &Train,
    ) -> Result<Train, EngineError> {
        let (link, hop) = (self.g.link(pe, RAMP_IN), self.g.hop);
        let c = match chain {
            Some(&c) => {
                let mut c = c;
                self.traverse(link, hop, &mut c);
                c
            }
            None => self.first(link, hop, src),
        };
        c.to_train()
    }
}

impl Sink for Fast {
    type Task = Train;
    type Delivery = Train;

    fn geometry(&self) -> &Geometry {
        &self.g
    }

    fn task(
        &mut self,
        pe: Pe,
        input: Option<Train>,
        items: u64,
        service: u64,
    ) -> Result<Train, EngineError> {
        let free = &mut self.pe_free[pe.0 as usize];
        if self.recording.active {
            let first = input.map(|t| t.time(0));
            (self.recording).pe(pe.0, *free, first, self.pe_busy[pe.0 as usize]);
        }
        let mut done = input.unwrap_or_else(|| Train::at(*free, items));
        self.pe_busy[pe.0 as usize] += done.items() * service;
        done.serve(*free, service)?;
        *free = done.last();
        let end = &mut self.part_end[self.part];
        *end = (*end).max(*free);
        self.end = self.end.max(*free);
        Ok(done)
    }

    fn message(
        &mut self,
        src: Train,
        route: &Route,
        deliveries: &mut Vec<Train>,
    ) -> Result<(), EngineError> {
        deliveries.clear();
        let links = &route.links;
        let mut drops = route.drops.iter().peekable();
        // Drops before the first link get the source's own times.
        while let Some(&(_, pe)) = drops.next_if(|d| d.0 == 0) {
            deliveries.push(self.deliver(pe, None, &src)?);
        }
        let Some(&(link, latency)) = links.first() else {
            return Ok(());
        };
        let mut chain = self.first(link, latency, &src);
        // Then the links up to each drop's position in one pass each.
        let mut p = 1;
        loop {
            let next = drops
                .peek()
                .map_or(links.len(), |d| (d.0 as usize).min(links.len()));
            if next > p {
                let run = &links[p..next];
                if self.recording.active {
                    let (rec, load) = (&mut self.recording, &self.link_load);
                    chain.along(run, &mut self.link_free, |l, free, first| {
                        observe(rec, load, l, free, first)
                    });
                } else {
                    chain.along(run, &mut self.link_free, |_, _, _| {});
                }
                let items = chain.items();
                if let Some(load) = self.link_load.as_mut() {
                    for &(l, _) in run {
                        load[l as usize] = load[l as usize].saturating_add(items as u32);
                    }
                }
                let io = run.iter().filter(|l| l.0 >= self.io_base).count() as u64;
                self.io_wavelets += io * items;
                self.part_wavelets[self.part] += (run.len() as u64 - io) * items;
                p = next;
            }
            match drops.next() {
                Some(&(_, pe)) => deliveries.push(self.deliver(pe, Some(&chain), &src)?),
                None => break,
            }
        }
        Ok(())
    }

    fn route_nodes(&self) -> bool {
        false
    }

    fn part(&mut self, index: usize) {
        if self.recording.active {
            let record = self.recording.finish(&End {
                link_free: &self.link_free,
                link_load: self.link_load.as_deref(),
                pe_free: &self.pe_free,
                pe_busy: &self.pe_busy,
                io_base: self.io_base,
                wavelets: self.part_wavelets[self.part],
                io_wavelets: self.io_wavelets - self.io_before,
                part_end: self.part_end[self.part],
            });
            let slot = self.recording_slot;
            if self.records.len() <= slot {
                self.records.resize_with(slot + 1, || None);
            }
            self.records[slot] = Some(record);
        }
        self.part = index;
        self.io_before = self.io_wavelets;
    }

    fn record(&mut self, slot: usize) {
        self.recording_slot = slot;
        (self.recording).start(self.link_free.len(), self.pe_free.len());
    }

    fn replay(&mut self, slot: usize, offset: i64, shift: Shift) -> bool {
        #[cfg(test)]
        if self.replay_off {
            return false;
        }
        let Some(Some(rec)) = self.records.get(slot) else {
            return false;
        };
        let state = State {
            link_free: &mut self.link_free,
            link_load: self.link_load.as_deref_mut(),
            pe_free: &mut self.pe_free,
            pe_busy: &mut self.pe_busy,
        };
        let moves = Moves {
            pes: offset,
            links: offset * PORTS as i64,
            lanes: (shift.rows == 0 && shift.cols == 0)
                .then_some(shift.wafers * self.g.io_lanes as i64),
            io_base: self.io_base,
        };
        let Some(r) = rec.replay(state, &moves) else {
            return false;
        };
        self.part_wavelets[self.part] += r.wavelets;
        self.io_wavelets += r.io_wavelets;
        let end = &mut self.part_end[self.part];
        *end = (*end).max(r.end);
        self.end = self.end.max(r.end);
        self.replayed += 1;
        true
    }
}
