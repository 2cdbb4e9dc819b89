//! The fast fidelity: the program is evaluated as the mapper emits it, one message or task at a
//! time, in max-plus closed form ([`Train`]). Each link and PE keeps only the cycle it is free
//! from, which is exact because both serve strictly in program order. A part that is a
//! translate of a recorded one is replayed from the recording where that is exact
//! ([`super::replay`]).
//!
//! Back-pressure: a message whose credits never bind has the times it would have with
//! unbounded queues, and [`Fast::flows`] decides that in one pass over the route; a message
//! held up somewhere is evaluated by [`super::held`] instead, and the tasks receiving it get
//! their items' times as [`Times::Each`] or [`Times::Served`].

use super::geometry::{Geometry, PORTS, Pe, RAMP_IN, Route, Shift};
use super::held;
use super::program::{Buffer, Receive, Sink, one_per_drop};
use super::replay::{End, Moves, Record, Recording, State};
use super::train::{Chain, Train};
use crate::engine::EngineError;
use std::rc::Rc;
use std::sync::Mutex;

/// The times of a task's items: a max-plus train, or, where back-pressure held up the message
/// it took them from, each item's own time (or the way to them).
#[derive(Clone, Debug)]
pub enum Times {
    Train(Train),
    Each(Rc<[u64]>),
    Served(held::Served),
}

impl Times {
    /// Items of the task.
    pub fn items(&self) -> u64 {
        match self {
            Times::Train(t) => t.items(),
            Times::Each(e) => e.len() as u64,
            Times::Served(s) => s.items(),
        }
    }

    /// Completion of the task [cycles].
    pub fn last(&self) -> u64 {
        match self {
            Times::Train(t) => t.last(),
            Times::Each(e) => e.last().copied().unwrap_or(0),
            Times::Served(s) => s.last(),
        }
    }
}

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
    held_buffers: HeldBuffers,
    cutoff: Option<Cutoff>,
    /// The step was abandoned at the start of this part, taking at least this many cycles.
    abandoned: Option<(usize, u64)>,
}

/// When to abandon a step part way (the mapping search's branch and bound): `rest(i)` is a
/// lower bound on the cycles parts `i..` take after part `i - 1` has ended, `loses(cycles)`
/// whether a step that long cannot beat the best one found.
pub struct Cutoff {
    pub rest: Box<dyn Fn(usize) -> u64>,
    pub loses: Box<dyn Fn(u64) -> bool>,
}

/// What [`Fast::held`] refills message after message: a step holds up millions of messages,
/// and allocating these for each took more time than evaluating them.
#[derive(Default)]
struct HeldBuffers {
    links: Vec<held::Link>,
    drops: Vec<held::Drop>,
    /// The source's items' times.
    src: Vec<u64>,
    scratch: held::Scratch,
    out: held::Held,
}

/// Note in `rec` that `link` was free from `free` when an item first wanted it at `first`.
#[inline]
fn observe(rec: &mut Recording, load: &Option<Vec<u32>>, link: u32, free: u64, first: u64) {
    let load = || load.as_ref().map_or(0, |l| l[link as usize] as u64);
    rec.link(link, free, Some(first), load);
}

/// State arrays of fast evaluations that ended, to be zeroed and reused by the next one on
/// any thread: zeroing pages the process holds is many times cheaper than faulting in fresh
/// ones (measured on this project's VM: 40 GB/s against 0.3-7 GB/s), and a search, a prefill's
/// windows and a validation's variant runs evaluate one geometry again and again, on threads
/// of pools that come and go.
static SPARE: Mutex<Vec<Vec<u64>>> = Mutex::new(Vec::new());

/// Arrays kept for reuse: the three of a fast evaluation, for two evaluating side by side.
const SPARES: usize = 6;

/// `n` zeros, in the smallest spare array that holds them when there is one.
fn zeroed(n: usize) -> Vec<u64> {
    let spare = {
        let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        let fits = (0..spare.len())
            .filter(|&i| spare[i].capacity() >= n)
            .min_by_key(|&i| spare[i].capacity());
        fits.map(|i| spare.swap_remove(i))
    };
    match spare {
        Some(mut v) => {
            v.clear();
            v.resize(n, 0);
            v
        }
        None => crate::host::zeroed_huge(n),
    }
}

impl Drop for Fast {
    fn drop(&mut self) {
        let arrays = [&mut self.link_free, &mut self.pe_free, &mut self.pe_busy];
        let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        for a in arrays {
            // Full: the array replaces the smallest spare if it is larger.
            let smallest = (0..spare.len()).min_by_key(|&i| spare[i].capacity());
            match smallest {
                _ if spare.len() < SPARES => spare.push(std::mem::take(a)),
                Some(i) if spare[i].capacity() < a.capacity() => spare[i] = std::mem::take(a),
                _ => {}
            }
        }
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
            held_buffers: HeldBuffers::default(),
            cutoff: None,
            abandoned: None,
            g,
        }
    }

    /// Abandon the step at the first part where it cannot beat `cutoff`: every task from
    /// there on fails with [`EngineError::Abandoned`].
    pub fn with_cutoff(mut self, cutoff: Cutoff) -> Fast {
        self.cutoff = Some(cutoff);
        self
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

    /// Pass `chain` (times at the link's router) over `link`, not before `gate`; it becomes
    /// the times at the far end.
    #[inline(always)]
    fn traverse(&mut self, link: u32, latency: u64, chain: &mut Chain, gate: u64) {
        let free = self.link_free[self.slot(link)];
        if self.recording.active {
            let (rec, load) = (&mut self.recording, &self.link_load);
            observe(rec, load, link, free, chain.front());
        }
        chain.serve(free.max(gate));
        self.account(link, chain.items(), chain.last());
        chain.delay(latency - 1);
    }

    /// Pass `train` over `link` as its first link, not before `gate`.
    fn first(&mut self, link: u32, latency: u64, train: &Train, gate: u64) -> Chain {
        let free = self.link_free[self.slot(link)];
        if self.recording.active {
            let (rec, load) = (&mut self.recording, &self.link_load);
            observe(rec, load, link, free, train.time(0));
        }
        let mut chain = Chain::serve_from(train, free.max(gate));
        self.account(link, chain.items(), chain.last());
        chain.delay(latency - 1);
        chain
    }

    /// Deliver `chain` (times at `pe`'s router, or the message's own train before its first
    /// link) over its ramp into the task `receive` on the PE.
    fn deliver(
        &mut self,
        pe: Pe,
        chain: Option<&Chain>,
        src: &Train,
        receive: &Receive<Times>,
    ) -> Result<Times, EngineError> {
        let (link, hop) = (self.g.link(pe, RAMP_IN), self.g.hop);
        let gate = released(receive);
        let c = match chain {
            Some(&c) => {
                let mut c = c;
                self.traverse(link, hop, &mut c, gate);
                c
            }
            None => self.first(link, hop, src, gate),
        };
        let input = c.to_train()?;
        if self.recording.active {
            let (free, busy) = (self.pe_free[pe.0 as usize], self.pe_busy[pe.0 as usize]);
            (self.recording).pe(pe.0, free, Some(input.time(0)), busy);
        }
        self.serve(pe, input, receive.service).map(Times::Train)
    }

    /// The task on `pe` taking `input` at `service` cycles per item.
    fn serve(&mut self, pe: Pe, mut input: Train, service: u64) -> Result<Train, EngineError> {
        let free = &mut self.pe_free[pe.0 as usize];
        self.pe_busy[pe.0 as usize] += input.items() * service;
        input.serve(*free, service)?;
        *free = input.last();
        let done = *free;
        self.finish(done);
        Ok(input)
    }

    /// A task of the current part completed at `done`.
    fn finish(&mut self, done: u64) {
        let end = &mut self.part_end[self.part];
        *end = (*end).max(done);
        self.end = self.end.max(done);
    }

    /// The cycle the ramp into `pe` may start a delivery to `receive` from.
    fn ramp_ready(&self, pe: Pe, receive: &Receive<Times>) -> u64 {
        self.link_free[self.slot(self.g.link(pe, RAMP_IN))].max(released(receive))
    }

    /// Whether a task taking `ramp` (times past the ramp into `pe`) from its input queue as
    /// `receive` says keeps up with it: every ramp credit is back in time for item `queue`,
    /// which is enough where [`held::input_queue_start`] applies.
    fn keeps_up(&self, ramp: &Chain, pe: Pe, receive: &Receive<Times>) -> bool {
        let (q, free) = (self.g.queue, self.pe_free[pe.0 as usize]);
        !matches!(receive.buffer, Buffer::Queue)
            || held::input_queue_start(receive.service, self.g.hop, free, q)
                .is_some_and(|start| ramp.time(q) > start)
    }

    /// Whether no credit binds for `src` along `route` (more than `queue` wavelets), so that
    /// the times of unbounded queues are exact. A link delivering into a queue sends a wavelet
    /// per cycle at most, so its item `queue` bounds all later ones: when it is due no earlier
    /// than a cycle after every output of the queue is ready (a link, or a ramp and its
    /// buffer), and the link's latency is shorter than the queue, every credit is back before
    /// it is needed.
    fn flows(&self, src: &Train, route: &Route, receives: &[Receive<Times>]) -> bool {
        let q = self.g.queue;
        let drops = &route.drops;
        let mut d = 0;
        // Drops before the first link take the source's own times.
        while let Some(&(0, pe)) = drops.get(d) {
            let ramp = Chain::serve_from(src, self.ramp_ready(pe, &receives[d]));
            if !self.keeps_up(&ramp, pe, &receives[d]) {
                return false;
            }
            d += 1;
        }
        let Some(&(l0, lat0)) = route.links.first() else {
            return true;
        };
        let mut chain = Chain::serve_from(src, self.link_free[self.slot(l0)]);
        chain.delay(lat0 - 1);
        for p in 1..=route.links.len() {
            // `chain`: the times at position p, sent there over link p - 1.
            let (sender, lat) = route.links[p - 1];
            let credited = sender < self.io_base;
            if credited && lat >= q {
                return false;
            }
            let due = chain.time(q) - lat;
            let ready = |at: u64| !credited || due > at;
            if let Some(&(_, pe)) = drops.get(d).filter(|x| x.0 as usize == p) {
                let r = self.ramp_ready(pe, &receives[d]);
                let mut ramp = chain;
                ramp.serve(r);
                if !ready(r) || !self.keeps_up(&ramp, pe, &receives[d]) {
                    return false;
                }
                d += 1;
            }
            if let Some(&(link, latency)) = route.links.get(p) {
                let free = self.link_free[self.slot(link)];
                if !ready(free) {
                    return false;
                }
                chain.serve(free);
                chain.delay(latency - 1);
            }
        }
        true
    }

    /// `src` along `route`, a message held up by back-pressure somewhere ([`held::evaluate`]).
    fn held(
        &mut self,
        src: &Times,
        route: &Route,
        receives: &[Receive<Times>],
        tasks: &mut Vec<Times>,
    ) {
        let mut b = std::mem::take(&mut self.held_buffers);
        b.links.clear();
        b.links
            .extend(route.links.iter().map(|&(l, latency)| held::Link {
                latency,
                free: self.link_free[self.slot(l)],
                credited: l < self.io_base,
            }));
        b.drops.clear();
        let drops = route.drops.iter().zip(receives);
        b.drops.extend(drops.map(|(&(pos, pe), r)| held::Drop {
            pos: pos as usize,
            ready: self.ramp_ready(pe, r),
            latency: self.g.hop,
            queue: matches!(r.buffer, Buffer::Queue),
            service: r.service,
            pe_free: self.pe_free[pe.0 as usize],
        }));
        let n = src.items();
        let times: &[u64] = match src {
            Times::Train(t) => {
                b.src.clear();
                b.src.extend((0..n).map(|k| t.time(k)));
                &b.src
            }
            Times::Each(e) => e,
            Times::Served(s) => {
                s.each(&mut b.src);
                &b.src
            }
        };
        let (scratch, h) = (&mut b.scratch, &mut b.out);
        held::evaluate(times, &b.links, &b.drops, self.g.queue, scratch, h);
        for (&(link, _), &(first, last)) in route.links.iter().zip(&h.links) {
            self.held_link(link, first, n, last);
        }
        let ramps = route.drops.iter().zip(receives).zip(&h.ramps);
        for (((&(_, pe), r), &(first, last)), done) in ramps.zip(h.done.drain(..)) {
            self.held_link(self.g.link(pe, RAMP_IN), first, n, last);
            let i = pe.0 as usize;
            if self.recording.active {
                let (free, busy) = (self.pe_free[i], self.pe_busy[i]);
                (self.recording).pe(pe.0, free, Some(first + self.g.hop), busy);
            }
            self.pe_busy[i] += n * r.service;
            let task = match done {
                held::Done::Each(e) => Times::Each(e),
                held::Done::Served(s) => Times::Served(s),
            };
            let end = task.last();
            self.pe_free[i] = end;
            self.finish(end);
            tasks.push(task);
        }
        self.held_buffers = b;
    }

    /// Account a held message's `n` wavelets over `link`, the first reaching it at `first`,
    /// the last sent at `last`.
    fn held_link(&mut self, link: u32, first: u64, n: u64, last: u64) {
        if self.recording.active {
            let free = self.link_free[self.slot(link)];
            let (rec, load) = (&mut self.recording, &self.link_load);
            observe(rec, load, link, free, first);
        }
        self.account(link, n, last + 1);
    }
}

/// The cycle the buffer `receive` lands in is released.
fn released(receive: &Receive<Times>) -> u64 {
    match &receive.buffer {
        Buffer::Memory { after: Some(t) } => t.last(),
        _ => 0,
    }
}

impl Sink for Fast {
    type Task = Times;

    fn geometry(&self) -> &Geometry {
        &self.g
    }

    fn task(&mut self, pe: Pe, items: u64, service: u64) -> Result<Times, EngineError> {
        if let Some((part, at_least)) = self.abandoned {
            return Err(EngineError::Abandoned { part, at_least });
        }
        let free = self.pe_free[pe.0 as usize];
        if self.recording.active {
            (self.recording).pe(pe.0, free, None, self.pe_busy[pe.0 as usize]);
        }
        self.serve(pe, Train::at(free, items), service)
            .map(Times::Train)
    }

    fn message(
        &mut self,
        src: &Times,
        route: &Route,
        receives: &[Receive<Times>],
        tasks: &mut Vec<Times>,
    ) -> Result<(), EngineError> {
        tasks.clear();
        one_per_drop(route, receives)?;
        let src = match src {
            Times::Train(t) if t.items() <= self.g.queue || self.flows(t, route, receives) => t,
            _ => {
                self.held(src, route, receives, tasks);
                return Ok(());
            }
        };
        let links = &route.links;
        let mut drops = route.drops.iter().zip(receives).peekable();
        // Drops before the first link get the source's own times.
        while let Some((&(_, pe), r)) = drops.next_if(|d| d.0.0 == 0) {
            tasks.push(self.deliver(pe, None, src, r)?);
        }
        let Some(&(link, latency)) = links.first() else {
            return Ok(());
        };
        let mut chain = self.first(link, latency, src, 0);
        // Then the links up to each drop's position in one pass each.
        let mut p = 1;
        loop {
            let next = drops
                .peek()
                .map_or(links.len(), |d| (d.0.0 as usize).min(links.len()));
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
                Some((&(_, pe), r)) => tasks.push(self.deliver(pe, Some(&chain), src, r)?),
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
        if let (Some(c), Some(before)) = (&self.cutoff, index.checked_sub(1)) {
            // A part's last task is its output, which the next part waits for.
            let at_least = self.part_end[before] + (c.rest)(index);
            if (c.loses)(at_least) {
                self.abandoned = Some((index, at_least));
            }
        }
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
        // Written out, the part meets the abandoned step's first task.
        if self.abandoned.is_some() {
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
