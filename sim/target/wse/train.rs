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

    /// The largest gap between two successive items [cycles].
    pub fn steepest(&self) -> u64 {
        self.pieces[..self.len]
            .iter()
            .map(|p| p.1)
            .max()
            .unwrap_or(0)
    }

    /// Time of the last item [cycles]; the first item's time for an empty train.
    pub fn last(&self) -> u64 {
        self.time(self.n.saturating_sub(1))
    }

    /// Every time `d` later.
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
