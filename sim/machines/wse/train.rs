//! Trains of wavelets in max-plus form: the times of the `n` items of a stream are
//! `t(k) = max_i (a_i + k b_i)` for `k < n`. A first-come, in-order server with a fixed service
//! time maps such a train to another of the same form exactly, so the fast fidelity moves whole
//! messages through links and PE tasks with the cycle counts the wavelet-level model produces.

use crate::engine::EngineError;

/// Most affine pieces a train keeps. Pieces are unique per slope, and slopes come from the
/// service times along one path (1 for links, a few task costs), so this is never reached by the
/// mapper's programs; exceeding it is an error, not a wrong answer.
const PIECES: usize = 4;

/// `n` items whose times are `max_i (a_i + k b_i)` [cycles].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Train {
    n: u64,
    len: usize,
    pieces: [(u64, u64); PIECES],
}

impl Train {
    /// `n` items all available at cycle `at`.
    pub fn at(at: u64, n: u64) -> Train {
        let mut pieces = [(0, 0); PIECES];
        pieces[0] = (at, 0);
        Train { n, len: 1, pieces }
    }

    /// Items in the train.
    pub fn items(&self) -> u64 {
        self.n
    }

    /// Time of item `k` [cycles].
    pub fn time(&self, k: u64) -> u64 {
        self.pieces[..self.len]
            .iter()
            .map(|&(a, b)| a + k * b)
            .max()
            .unwrap_or(0)
    }

    /// Time of the last item [cycles]; the first item's time for an empty train.
    pub fn last(&self) -> u64 {
        self.time(self.n.saturating_sub(1))
    }

    /// Every time `d` later.
    #[cfg(test)]
    pub fn delay(&mut self, d: u64) {
        for p in &mut self.pieces[..self.len] {
            p.0 += d;
        }
    }

    /// Replace the times by the completion times of a server that starts no earlier than
    /// `ready`, takes the items in order and spends `service` cycles on each:
    /// `f(k) = max(a(k), f(k-1)) + service` with `f(-1) = ready`, which unrolls to
    /// `f(k) = max(ready + (k+1) s, max_i (a_i + s + k max(b_i, s)))`.
    pub fn serve(&mut self, ready: u64, service: u64) -> Result<(), EngineError> {
        let mut slower = false;
        for p in &mut self.pieces[..self.len] {
            p.0 += service;
            if p.1 < service {
                p.1 = service;
                slower = true;
            }
        }
        if slower {
            // Pieces that took the service's slope may now be dominated; rebuild them.
            let (len, pieces) = (self.len, self.pieces);
            self.len = 0;
            for &(a, b) in &pieces[..len] {
                self.push(a, b)?;
            }
        }
        self.push(ready + service, service)
    }

    /// Add a piece, keeping one per slope and dropping pieces below another at both ends.
    fn push(&mut self, a: u64, b: u64) -> Result<(), EngineError> {
        let last = self.n.saturating_sub(1);
        let dominated = |(a1, b1): (u64, u64), (a2, b2): (u64, u64)| {
            a1 <= a2 && a1 + last * b1 <= a2 + last * b2
        };
        if self.pieces[..self.len]
            .iter()
            .any(|&p| dominated((a, b), p))
        {
            return Ok(());
        }
        let mut kept = 0;
        for i in 0..self.len {
            if !dominated(self.pieces[i], (a, b)) {
                self.pieces[kept] = self.pieces[i];
                kept += 1;
            }
        }
        if kept == PIECES {
            return Err(EngineError::Model {
                component: "wavelet train".to_owned(),
                reason: format!("more than {PIECES} distinct rates along one route"),
            });
        }
        self.pieces[kept] = (a, b);
        self.len = kept + 1;
        Ok(())
    }
}

/// A train on its way along links, each serving one item per cycle: after the first link every
/// slope is at least 1, so the pieces of slope 1 (and the links' own `ready + k + 1` pieces)
/// merge into one whose intercept is a running maximum, and the steeper pieces only move by the
/// cycles that pass. A link then costs O(1) whatever the number of pieces, and the times are
/// exactly those of [`Train::serve`] and [`Train::delay`] applied link by link.
#[derive(Clone, Copy, Debug)]
pub struct Chain {
    n: u64,
    /// Intercept of the slope-1 piece.
    unit: u64,
    /// Cycles every steep piece has moved since the chain was made.
    off: u64,
    /// Time of the last item by the steep pieces alone, before `off` (`None`: no steep piece).
    steep_last: Option<u64>,
    len: usize,
    /// Pieces of slope > 1, intercepts before `off`.
    steep: [(u64, u64); PIECES],
}

impl Chain {
    /// `train` served by a link free from `ready` (`Train::serve(ready, 1)`).
    pub fn serve_from(train: &Train, ready: u64) -> Chain {
        let last = train.n.saturating_sub(1);
        let mut c = Chain {
            n: train.n,
            unit: ready + 1,
            off: 0,
            steep_last: None,
            len: 0,
            steep: [(0, 0); PIECES],
        };
        for &(a, b) in &train.pieces[..train.len] {
            if b <= 1 {
                c.unit = c.unit.max(a + 1);
            } else {
                c.steep[c.len] = (a + 1, b);
                c.len += 1;
                let t = a + 1 + last * b;
                c.steep_last = Some(c.steep_last.map_or(t, |s| s.max(t)));
            }
        }
        c
    }

    /// Served by one more link free from `ready` (`Train::serve(ready, 1)`).
    #[inline]
    pub fn serve(&mut self, ready: u64) {
        self.unit = (self.unit + 1).max(ready + 1);
        self.off += 1;
    }

    /// Every time `d` later.
    #[inline]
    pub fn delay(&mut self, d: u64) {
        self.unit += d;
        self.off += d;
    }

    /// A lower bound of the first item's time (the slope-1 piece at item 0): a server free by
    /// then serves the chain as if it had always been free.
    #[inline]
    pub fn front(&self) -> u64 {
        self.unit
    }

    /// Pass over `links` in turn, each `(link, latency)` served from `free[link]` on, which
    /// becomes the time of the train's last item there (as [`Chain::serve`], [`Chain::last`]
    /// and [`Chain::delay`] by `latency - 1` link by link); `seen(link, free, front)` before
    /// each.
    #[inline]
    pub fn along(
        &mut self,
        links: &[(u32, u64)],
        free: &mut [u64],
        mut seen: impl FnMut(u32, u64, u64),
    ) {
        let (mut unit, mut off) = (self.unit, self.off);
        let last = self.n.saturating_sub(1);
        match self.steep_last {
            None => {
                for &(link, latency) in links {
                    let f = &mut free[link as usize];
                    seen(link, *f, unit);
                    unit = (unit + 1).max(*f + 1);
                    *f = unit + last;
                    unit += latency - 1;
                }
                off += links.iter().map(|l| l.1).sum::<u64>();
            }
            Some(steep) => {
                for &(link, latency) in links {
                    let f = &mut free[link as usize];
                    seen(link, *f, unit);
                    unit = (unit + 1).max(*f + 1);
                    off += 1;
                    *f = (unit + last).max(steep + off);
                    unit += latency - 1;
                    off += latency - 1;
                }
            }
        }
        self.unit = unit;
        self.off = off;
    }

    /// Items in the train.
    #[inline]
    pub fn items(&self) -> u64 {
        self.n
    }

    /// Time of item `k` [cycles] (as [`Train::time`]).
    pub fn time(&self, k: u64) -> u64 {
        let steep = self.steep[..self.len]
            .iter()
            .map(|&(a, b)| a + self.off + k * b);
        steep.fold(self.unit + k, u64::max)
    }

    /// Time of the last item [cycles] (as [`Train::last`]).
    #[inline]
    pub fn last(&self) -> u64 {
        let unit = self.unit + self.n.saturating_sub(1);
        match self.steep_last {
            Some(s) => unit.max(s + self.off),
            None => unit,
        }
    }

    /// The same times as a [`Train`].
    pub fn to_train(self) -> Result<Train, EngineError> {
        let mut t = Train {
            n: self.n,
            len: 0,
            pieces: [(0, 0); PIECES],
        };
        t.push(self.unit, 1)?;
        for &(a, b) in &self.steep[..self.len] {
            t.push(a + self.off, b)?;
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The server recurrence item by item.
    fn reference(arrivals: &[u64], ready: u64, service: u64) -> Vec<u64> {
        let mut done = ready;
        arrivals
            .iter()
            .map(|&a| {
                done = a.max(done) + service;
                done
            })
            .collect()
    }

    proptest! {
        #[test]
        fn chains_match_trains_link_by_link(
            n in 0u64..60,
            pieces in proptest::collection::vec((0u64..100, 0u64..5), 1..4),
            links in proptest::collection::vec((0u64..300, 1u64..5), 1..8),
        ) {
            let mut train = Train::at(pieces[0].0, n);
            for &(a, b) in &pieces[1..] {
                train.push(a, b).unwrap();
            }
            let mut chain: Option<Chain> = None;
            for (ready, latency) in links {
                let c = match chain.as_mut() {
                    Some(c) => {
                        c.serve(ready);
                        c
                    }
                    None => chain.insert(Chain::serve_from(&train, ready)),
                };
                train.serve(ready, 1).unwrap();
                prop_assert_eq!(c.last(), train.last());
                let t = c.to_train().unwrap();
                for k in 0..n {
                    prop_assert_eq!(t.time(k), train.time(k));
                }
                c.delay(latency - 1);
                train.delay(latency - 1);
            }
        }

        #[test]
        fn chains_of_servers_match_the_recurrence(
            n in 1u64..60,
            start in 0u64..50,
            stages in proptest::collection::vec((0u64..200, 0u64..6, 0u64..4), 1..6),
        ) {
            let mut train = Train::at(start, n);
            let mut times: Vec<u64> = vec![start; n as usize];
            for (ready, service, delay) in stages {
                train.serve(ready, service).unwrap();
                train.delay(delay);
                times = reference(&times, ready, service).into_iter().map(|t| t + delay).collect();
                for (k, &t) in times.iter().enumerate() {
                    prop_assert_eq!(train.time(k as u64), t);
                }
            }
        }
    }
}
