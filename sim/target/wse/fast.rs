//! The fast fidelity: the program is evaluated as the mapper emits it, one message or task at a
//! time, in max-plus closed form ([`Train`]). Each link and PE keeps only the cycle it is free
//! from, which is exact because both serve strictly in program order.

use super::geometry::{Geometry, Pe, RAMP_IN, Route};
use super::program::Sink;
use super::train::{Chain, Train};
use crate::engine::EngineError;

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

    /// Pass `chain` (times at the link's router) over `link`; it becomes the times at the far
    /// end.
    #[inline(always)]
    fn traverse(&mut self, link: u32, latency: u64, chain: &mut Chain) {
        chain.serve(self.link_free[self.slot(link)]);
        self.account(link, chain.items(), chain.last());
        chain.delay(latency - 1);
    }

    /// Pass `train` over `link` as its first link.
    fn first(&mut self, link: u32, latency: u64, train: &Train) -> Chain {
        let mut chain = Chain::serve_from(train, self.link_free[self.slot(link)]);
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
                chain.along(run, &mut self.link_free);
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
        self.part = index;
    }
}
