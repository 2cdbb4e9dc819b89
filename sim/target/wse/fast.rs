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
use super::program::Sink;
use super::train::{Chain, Train};
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
    times: Vec<u64>,
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
            times: Vec::new(),
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
        let link = route.links.get(p).map_or(0, |l| self.link_free[self.slot(l.0)]);
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

    /// `message` in closed form (no wavelet waits for a queue slot).
    fn closed(
        &mut self,
        src: &Train,
        route: &Route,
        services: &[u64],
        consumers: &mut Vec<Flow>,
    ) -> Result<(), EngineError> {
        let (links, hop, n) = (&route.links, self.g.hop, src.items());
        let mut chain: Option<Chain> = None;
        let (mut p, mut d) = (0, 0);
        loop {
            let here = route.drops[d..].iter().take_while(|x| x.0 as usize == p).count();
            if here == 0 && p < links.len() {
                if let Some(c) = chain.as_mut() {
                    // Positions without a drop up to the next one, in one pass.
                    let next = route.drops.get(d).map_or(links.len(), |x| x.0 as usize);
                    let run = &links[p..next.min(links.len())];
                    c.along(run, &mut self.link_free);
                    if let Some(load) = self.link_load.as_mut() {
                        for &(l, _) in run {
                            load[l as usize] = load[l as usize].saturating_add(n as u32);
                        }
                    }
                    let io = run.iter().filter(|l| l.0 >= self.io_base).count() as u64;
                    self.io_wavelets += io * n;
                    self.part_wavelets[self.part] += (run.len() as u64 - io) * n;
                    p += run.len();
                    continue;
                }
            }
            let drops = &route.drops[d..d + here];
            if here == 0 && p == links.len() {
                break;
            }
            // One departure over every output at once.
            let ready = self.ready(route, p, drops);
            let c = match chain.as_mut() {
                Some(c) => {
                    c.serve(ready);
                    c
                }
                None => chain.insert(Chain::serve_from(src, ready)),
            };
            let (c, last) = (*c, c.last());
            self.depart(route, p, drops, n, last);
            for (i, &(_, pe)) in drops.iter().enumerate() {
                let mut delivered = c;
                delivered.delay(hop - 1);
                let task = self.consume(pe, delivered.to_train()?, services[d + i])?;
                consumers.push(task);
            }
            d += here;
            match links.get(p) {
                Some(&(_, latency)) => {
                    if let Some(c) = chain.as_mut() {
                        c.delay(latency - 1);
                    }
                    p += 1;
                }
                None => break,
            }
        }
        Ok(())
    }

    /// `message` of `n > queue` wavelets, wavelet by wavelet (module docs), `src(k)` the time
    /// wavelet `k` is sent.
    fn wavelets(
        &mut self,
        src: impl Fn(u64) -> u64,
        n: u64,
        route: &Route,
        services: &[u64],
        consumers: &mut Vec<Flow>,
    ) -> Result<(), EngineError> {
        let (links, hop, queue) = (&route.links, self.g.hop, self.g.queue);
        let (positions, drops) = (links.len() + 1, route.drops.len());
        let rows = usize::try_from(queue + 1)
            .map_err(|_| EngineError::Overflow { what: "queue depth" })?;
        // Per position: the outputs' free cycle, whether link `p` needs a credit, and its drops.
        let mut at = Vec::with_capacity(positions);
        let mut d = 0;
        for p in 0..positions {
            let here = route.drops[d..].iter().take_while(|x| x.0 as usize == p).count();
            let ready = self.ready(route, p, &route.drops[d..d + here]);
            let credited = links.get(p).is_some_and(|l| self.g.credited(l.0));
            at.push((ready, credited, d..d + here));
            d += here;
        }
        let mut done: Vec<u64> = route.drops.iter().map(|x| self.pe_free[x.1.0 as usize]).collect();
        let (dep, start) = (&mut self.dep, &mut self.start);
        dep.clear();
        dep.resize(rows * positions, 0);
        start.clear();
        start.resize(rows * drops, 0);
        let mut times = Vec::with_capacity(n as usize);
        let last_drop = drops.checked_sub(1);
        for k in 0..n {
            let row = (k % (queue + 1)) as usize;
            let prev = (row + rows - 1) % rows;
            // The row of wavelet `k - queue`, whose slot wavelet `k` needs.
            let back = (k >= queue).then(|| (row + 1) % rows);
            let mut arrive = src(k);
            for (p, (ready, credited, ds)) in at.iter().enumerate() {
                let mut t = arrive.max(*ready);
                if k > 0 {
                    t = t.max(dep[prev * positions + p] + 1);
                }
                if let Some(b) = back {
                    if *credited {
                        t = t.max(dep[b * positions + p + 1] + 1);
                    }
                    for i in ds.clone() {
                        t = t.max(start[b * drops + i] + 1);
                    }
                }
                dep[row * positions + p] = t;
                for i in ds.clone() {
                    let s = (t + hop).max(done[i]);
                    start[row * drops + i] = s;
                    done[i] = s + services[i];
                    if Some(i) == last_drop {
                        times.push(done[i]);
                    }
                }
                if let Some(&(_, latency)) = links.get(p) {
                    arrive = t + latency;
                }
            }
        }
        // `n > queue >= 1`: the last wavelet's row is filled.
        let last = ((n - 1) % (queue + 1)) as usize;
        for (p, (_, _, ds)) in at.iter().enumerate() {
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
        self.times = times;
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
        if services.len() != route.drops.len() {
            return Err(EngineError::Model {
                component: "wafer program".to_owned(),
                reason: format!("{} consumers for {} drops", services.len(), route.drops.len()),
            });
        }
        match src {
            Flow::Train(t) if t.items() <= self.g.queue => {
                self.closed(&t, route, services, consumers)
            }
            Flow::Train(t) => self.wavelets(|k| t.time(k), t.items(), route, services, consumers),
            Flow::Times { seq, items } => {
                if seq != self.tasks || self.times.len() as u64 != items {
                    return Err(EngineError::Model {
                        component: "wafer program".to_owned(),
                        reason: "a message sent from a task that is no longer the latest".to_owned(),
                    });
                }
                let times = std::mem::take(&mut self.times);
                self.wavelets(|k| times[k as usize], items, route, services, consumers)
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
