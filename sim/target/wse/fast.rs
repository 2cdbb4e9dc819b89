//! The fast fidelity: the program is evaluated as the mapper emits it, one task, or one message
//! with the tasks consuming it, at a time. Each link and PE keeps only the cycle it is free from,
//! which is exact because both serve strictly in program order, and a message's wait for queue
//! slots only involves itself and its consumers, which are evaluated with it.
//!
//! A message of at most `queue` wavelets never waits for a slot (a slot is only needed for the
//! wavelet `queue` places behind one still queued), so it moves in max-plus closed form
//! ([`Train`], [`Chain`]). A longer one is evaluated wavelet by wavelet from the recurrence of
//! the rules in `program.rs`: its departure from each position of its route is the latest of
//! its arrival there, the previous wavelet's departure + 1, the outputs' free cycles, and for
//! wavelet `k` the departure of wavelet `k - queue` from the next router (and the start of its
//! consumption at every PE it is dropped at) + 1. Back-pressure makes the schedule of a message
//! depend on what is downstream of each position, so no max-plus train of its own times need
//! exist; the wavelet-level evaluation is exact and costs one pass over its wavelets and
//! positions.

use super::geometry::{Geometry, Pe, RAMP_IN, Route};
use super::program::{Sink, one_consumer_per_drop};
use super::train::Train;
use crate::engine::EngineError;

/// Item completion times of a task.
#[derive(Clone, Copy, Debug)]
pub enum Flow {
    /// In closed form.
    Train(Train),
    /// Evaluated wavelet by wavelet: `items` times the sink holds while this (its `seq`-th)
    /// task is the latest one.
    Times { seq: u64, items: u64 },
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
    /// Last completion of any task [cycles].
    pub end: u64,
    /// Tasks created so far.
    tasks: u64,
    /// Completion of every task, in program order.
    #[cfg(test)]
    pub task_end: Vec<u64>,
    /// Item completion times of the latest task, when it was evaluated wavelet by wavelet.
    latest: Vec<u64>,
    /// Evaluate every wavelet of every message that may wait for a slot, without the closed
    /// form or the steady-state shortcut (to check them against).
    #[cfg(test)]
    pub exhaustive: bool,
    /// Scratch of the wavelet-level evaluation: departures of the last `queue + 1` wavelets
    /// from every position, and starts of their consumption at every drop.
    dep: Vec<u64>,
    start: Vec<u64>,
}

impl Fast {
    /// An idle system of `g`'s shape with `parts` parts.
    pub fn new(g: Geometry, parts: usize) -> Fast {
        Fast {
            pe_free: vec![0; g.pes()],
            link_free: vec![0; g.links()],
            link_load: None,
            part: 0,
            io_base: g.io_base(),
            part_end: vec![0; parts],
            part_wavelets: vec![0; parts],
            pe_busy: vec![0; g.pes()],
            io_wavelets: 0,
            end: 0,
            tasks: 0,
            #[cfg(test)]
            task_end: Vec::new(),
            latest: Vec::new(),
            #[cfg(test)]
            exhaustive: false,
            dep: Vec::new(),
            start: Vec::new(),
            g,
        }
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

    /// The cycle every link is free from.
    #[cfg(test)]
    pub fn link_free_mut(&mut self) -> &mut [u64] {
        &mut self.link_free
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

    /// A task on `pe` taking the items of `arrivals` in order, `service` cycles each.
    fn consume(&mut self, pe: Pe, mut arrivals: Train, service: u64) -> Result<Flow, EngineError> {
        let free = self.pe_free[pe.0 as usize];
        arrivals.serve(free, service)?;
        self.finish(pe, arrivals.items(), service, arrivals.last());
        Ok(Flow::Train(arrivals))
    }

    /// Book a task of `items` on `pe` that ends at `end`.
    fn finish(&mut self, pe: Pe, items: u64, service: u64, end: u64) {
        self.tasks += 1;
        #[cfg(test)]
        self.task_end.push(end);
        self.pe_busy[pe.0 as usize] += items * service;
        self.pe_free[pe.0 as usize] = end;
        let part_end = &mut self.part_end[self.part];
        *part_end = (*part_end).max(end);
        self.end = self.end.max(end);
    }

    /// The cycle the outputs of position `p` of `route` are all free from: link `p` and the
    /// ramps into the PEs of `drops`.
    fn ready(&self, route: &Route, p: usize, drops: &[(u32, Pe)]) -> u64 {
        let link = route
            .links
            .get(p)
            .map_or(0, |l| self.link_free[self.slot(l.0)]);
        drops
            .iter()
            .map(|d| self.link_free[self.slot(self.g.link(d.1, RAMP_IN))])
            .fold(link, u64::max)
    }

    /// Account `items` wavelets over the outputs of position `p`, each free from `free` on.
    fn depart(&mut self, route: &Route, p: usize, drops: &[(u32, Pe)], items: u64, free: u64) {
        if let Some(&(link, _)) = route.links.get(p) {
            self.account(link, items, free);
        }
        for &(_, pe) in drops {
            self.account(self.g.link(pe, RAMP_IN), items, free);
        }
    }

    /// Whether no wavelet of a message sent as `src` along `route` waits for a queue slot, so
    /// that its unbounded times in closed form are exact. Wavelet `k` needs the slot of wavelet
    /// `k - queue` behind each credited output. Behind a link, whose times grow by at least
    /// one per wavelet, that wavelet left when it arrived (`latency + 1 <= queue`) or once the
    /// link was free, so the check is at `k = queue`: the first wavelet that needs a slot
    /// leaves after the next position's free cycle + 1. The same holds for a consumer taking
    /// at most one cycle per wavelet; a slower one is left to the wavelet-level evaluation.
    fn unhindered(
        &self,
        src: &Train,
        route: &Route,
        services: &[u64],
    ) -> Result<bool, EngineError> {
        let (links, hop, queue, n) = (&route.links, self.g.hop, self.g.queue, src.items());
        #[cfg(test)]
        if self.exhaustive && n > queue {
            return Ok(false);
        }
        if n <= queue {
            return Ok(true);
        }
        let mut t = *src;
        let mut d = 0;
        for p in 0..=links.len() {
            let drops = route.drops_at(d, p);
            let here = drops.len();
            t.serve(self.ready(route, p, drops), 1)?;
            // One cycle after wavelet `queue` leaves.
            let at = t.time(queue);
            for (i, &(_, pe)) in drops.iter().enumerate() {
                let fast = services[d + i] <= 1 && hop < queue;
                if !fast || at < self.pe_free[pe.0 as usize] + 2 {
                    return Ok(false);
                }
            }
            d += here;
            if let Some(&(link, latency)) = links.get(p) {
                if self.g.credited(link) {
                    let behind = self.ready(route, p + 1, route.drops_at(d, p + 1));
                    if latency >= queue || at < behind + 2 {
                        return Ok(false);
                    }
                }
                t.delay(latency - 1);
            }
        }
        Ok(true)
    }

    /// `message` in closed form, where no wavelet waits for a slot ([`Fast::unhindered`]).
    fn closed(
        &mut self,
        src: &Train,
        route: &Route,
        services: &[u64],
        consumers: &mut Vec<Flow>,
    ) -> Result<(), EngineError> {
        let (hop, n) = (self.g.hop, src.items());
        // Departures of each position, one cycle after the departure (as `Train::serve`).
        let mut t = *src;
        let mut d = 0;
        for p in 0..=route.links.len() {
            let drops = route.drops_at(d, p);
            let here = drops.len();
            t.serve(self.ready(route, p, drops), 1)?;
            self.depart(route, p, drops, n, t.last());
            for (i, &(_, pe)) in drops.iter().enumerate() {
                let mut arrivals = t;
                arrivals.delay(hop - 1);
                consumers.push(self.consume(pe, arrivals, services[d + i])?);
            }
            d += here;
            if let Some(&(_, latency)) = route.links.get(p) {
                t.delay(latency - 1);
            }
        }
        Ok(())
    }

    /// `message` of `n > queue` wavelets, wavelet by wavelet (module docs): `src(k)` the time
    /// wavelet `k` is sent, no more than `steep` after wavelet `k - 1`.
    ///
    /// Once `queue + 1` successive rows (a wavelet's departures from every position and its
    /// consumers' starts) each exceed the previous one by the same `λ >= steep`, every value
    /// coming from the previous rows rather than from a constant (a port's or PE's free cycle)
    /// or the source, every later row does too: each term of the recurrence then grows by
    /// exactly `λ` (or, for the source and the constants, by at most `λ`). The rest of the
    /// message follows without evaluating it.
    fn wavelets(
        &mut self,
        src: impl Fn(u64) -> u64,
        steep: u64,
        n: u64,
        route: &Route,
        services: &[u64],
        consumers: &mut Vec<Flow>,
    ) -> Result<(), EngineError> {
        let (links, hop, queue) = (&route.links, self.g.hop, self.g.queue);
        let (positions, drops) = (links.len() + 1, route.drops.len());
        let rows = usize::try_from(queue + 1).map_err(|_| EngineError::Overflow {
            what: "queue depth",
        })?;
        // Per position: the outputs' free cycle, the latency of link `p` (0 at the end),
        // whether it needs a credit, and its drops.
        let mut at = Vec::with_capacity(positions);
        let mut d = 0;
        for p in 0..positions {
            let here = route.drops_at(d, p).len();
            let ready = self.ready(route, p, route.drops_at(d, p));
            let latency = links.get(p).map_or(0, |l| l.1);
            let credited = links.get(p).is_some_and(|l| self.g.credited(l.0));
            at.push((ready, latency, credited, d..d + here));
            d += here;
        }
        let mut done: Vec<u64> = route
            .drops
            .iter()
            .map(|x| self.pe_free[x.1.0 as usize])
            .collect();
        let (dep, start) = (&mut self.dep, &mut self.start);
        dep.clear();
        dep.resize(rows * positions, 0);
        start.clear();
        start.resize(rows * drops, 0);
        let mut times = Vec::with_capacity(n as usize);
        let last_drop = drops.wrapping_sub(1);
        // Successive rows grown by `lambda` from the previous ones.
        let (mut steady, mut lambda) = (0, 0);
        #[cfg(test)]
        let shortcut = !self.exhaustive;
        #[cfg(not(test))]
        let shortcut = true;
        let (mut k, mut last) = (0, 0);
        while k < n {
            let row = (k % (queue + 1)) as usize;
            let (cur, prev) = (row * positions, ((row + rows - 1) % rows) * positions);
            // The row of wavelet `k - queue`, whose slot wavelet `k` needs.
            let back = (row + 1) % rows;
            let (needs, after) = (k >= queue, k > 0);
            // This row grew by one `step` from the previous one, every value from its terms
            // (`u64::MAX`: no step yet).
            let mut step = u64::MAX;
            let mut grown = after;
            let mut arrive = src(k);
            for (p, (ready, latency, credited, ds)) in at.iter().enumerate() {
                // The source and the free cycles are fixed; the rest comes from earlier rows.
                let (mut t, fixed) = if p == 0 {
                    (0, arrive.max(*ready))
                } else {
                    (arrive, *ready)
                };
                if after {
                    t = t.max(dep[prev + p] + 1);
                }
                if needs {
                    if *credited {
                        t = t.max(dep[back * positions + p + 1] + 1);
                    }
                    for i in ds.clone() {
                        t = t.max(start[back * drops + i] + 1);
                    }
                }
                let v = t.max(fixed);
                if after {
                    let old = dep[prev + p];
                    grown &= t >= fixed && v >= old && (step == u64::MAX || step == v - old);
                    step = step.min(v.wrapping_sub(old));
                }
                dep[cur + p] = v;
                for i in ds.clone() {
                    let s = (v + hop).max(done[i]);
                    start[row * drops + i] = s;
                    let end = s + services[i];
                    if after {
                        grown &= step == u64::MAX || step == end - done[i];
                    }
                    done[i] = end;
                    if i == last_drop {
                        times.push(end);
                    }
                }
                arrive = v + latency;
            }
            k += 1;
            last = row;
            if grown && step >= steep {
                if step == lambda {
                    steady += 1;
                } else {
                    (steady, lambda) = (1, step);
                }
            } else {
                steady = 0;
            }
            if shortcut && steady > queue && k < n {
                // Rows `k..n` are this one grown by `lambda` per wavelet.
                let rest = n - k;
                for t in &mut dep[cur..cur + positions] {
                    *t += rest * lambda;
                }
                if let Some(&end) = times.last() {
                    times.extend((1..=rest).map(|j| end + j * lambda));
                }
                for t in &mut done {
                    *t += rest * lambda;
                }
                break;
            }
        }
        for (p, (_, _, _, ds)) in at.iter().enumerate() {
            let free = self.dep[last * positions + p] + 1;
            self.depart(route, p, &route.drops[ds.clone()], n, free);
        }
        for (i, &(_, pe)) in route.drops.iter().enumerate() {
            self.finish(pe, n, services[i], done[i]);
            consumers.push(Flow::Times {
                seq: self.tasks,
                items: n,
            });
        }
        self.latest = times;
        Ok(())
    }
}

impl Sink for Fast {
    type Task = Flow;

    fn geometry(&self) -> &Geometry {
        &self.g
    }

    fn task(&mut self, pe: Pe, items: u64, service: u64) -> Result<Flow, EngineError> {
        let free = self.pe_free[pe.0 as usize];
        self.consume(pe, Train::at(free, items), service)
    }

    fn message(
        &mut self,
        src: Flow,
        route: &Route,
        services: &[u64],
        consumers: &mut Vec<Flow>,
    ) -> Result<(), EngineError> {
        consumers.clear();
        one_consumer_per_drop(route, services)?;
        match src {
            Flow::Train(t) if self.unhindered(&t, route, services)? => {
                self.closed(&t, route, services, consumers)
            }
            Flow::Train(t) => {
                let steep = t.steepest();
                self.wavelets(|k| t.time(k), steep, t.items(), route, services, consumers)
            }
            Flow::Times { seq, items } => {
                if seq != self.tasks || self.latest.len() as u64 != items {
                    return Err(EngineError::Model {
                        component: "wafer program".to_owned(),
                        reason: "a message sent from a task that is no longer the latest"
                            .to_owned(),
                    });
                }
                let times = std::mem::take(&mut self.latest);
                let steep = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
                self.wavelets(
                    |k| times[k as usize],
                    steep,
                    items,
                    route,
                    services,
                    consumers,
                )
            }
        }
    }

    fn route_nodes(&self) -> bool {
        false
    }

    fn part(&mut self, index: usize) {
        self.part = index;
    }
}
