//! Messages held up by back-pressure, wavelet by wavelet, for the fast fidelity.
//!
//! Where a credit binds (a queue fills because the next link, the ramp or the receiving task is
//! not ready), a message's times are no longer a max-plus train. They follow the recurrences
//! of `program.rs` item by item instead: on every output `o` (a link, or a drop's ramp) of the
//! router at position `p`, `start_o(k) = max(arrival_p(k), start_o(k-1) + 1, ready_o, credit)`,
//! where a link's credit is `leave_(p+1)(k - queue) + 1` (the wavelet `queue` before it has left
//! the queue at the far end), a ramp's into an input queue is `done(k - queue) + 1`, and
//! `leave_p(k)` is the latest start of wavelet `k` over the router's outputs. Every term is of
//! this wavelet at an earlier position or of an earlier wavelet, so one pass in `k`, then `p`,
//! is exact.
//!
//! Most of a long route does not hold: a queue that fills holds back only the `(n - 1) / queue`
//! positions before it (position `p - j` from item `j x queue` on), and which queues may fill
//! shows in the first `queue + 1` wavelets without credits, which bound the rest. So the pass
//! in `k` runs only over clusters of positions within that reach of a hold. Between clusters
//! the wavelets arrive at least a cycle apart, so an output ready from `r` sends wavelet `k` at
//! `max(arrival(k), r + k)`: the times there are the last cluster's, moved by the links'
//! latency and floored by the latest such `r + k` ([`Seq`]), each position costs O(1), and the
//! tasks receiving there get their last item's time in closed form ([`Served`]).

use std::cell::OnceCell;
use std::rc::Rc;

/// A link of the route as the state has it.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub latency: u64,
    /// The cycle it is free from.
    pub free: u64,
    /// Whether its far end's queue limits it (fabric links; not I/O lanes).
    pub credited: bool,
}

/// A drop of the route and the task receiving it.
#[derive(Clone, Copy, Debug)]
pub struct Drop {
    /// Position of its router on the route.
    pub pos: usize,
    /// The cycle its ramp may start from (free, and its buffer released).
    pub ready: u64,
    /// The ramp's latency [cycles].
    pub latency: u64,
    /// The task takes the wavelets from its input queue (else from a buffer in memory).
    pub queue: bool,
    /// The receiving task's cycles per wavelet.
    pub service: u64,
    /// The cycle the receiving PE is free from.
    pub pe_free: u64,
}

/// Wavelet times `max(base[k] + shift, floor + k)`.
#[derive(Clone, Debug)]
struct Seq {
    base: Rc<[u64]>,
    shift: u64,
    floor: Option<u64>,
}

impl Seq {
    fn at(&self, k: usize) -> u64 {
        let t = self.base[k] + self.shift;
        self.floor.map_or(t, |f| t.max(f + k as u64))
    }

    fn last(&self) -> u64 {
        self.at(self.base.len() - 1)
    }

    /// The same times, no earlier than `ready + k`.
    fn from(&self, ready: u64) -> Seq {
        Seq {
            floor: Some(self.floor.map_or(ready, |f| f.max(ready))),
            ..self.clone()
        }
    }

    /// The same times `d` later.
    fn later(&self, d: u64) -> Seq {
        Seq {
            base: Rc::clone(&self.base),
            shift: self.shift + d,
            floor: self.floor.map(|f| f + d),
        }
    }
}

/// A task taking items that arrive as a [`Seq`], free from `ready`, `service` cycles each: its
/// last item's time is known at once, each item's only when asked for.
#[derive(Debug)]
pub struct Served {
    arrivals: Seq,
    ready: u64,
    service: u64,
    last: u64,
    each: OnceCell<Rc<[u64]>>,
}

impl Served {
    /// Completion of the last item [cycles].
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Items taken.
    pub fn items(&self) -> u64 {
        self.arrivals.base.len() as u64
    }

    /// Completion of each item [cycles].
    pub fn each(&self) -> &Rc<[u64]> {
        self.each.get_or_init(|| {
            let mut done = self.ready;
            (0..self.arrivals.base.len())
                .map(|k| {
                    done = self.arrivals.at(k).max(done) + self.service;
                    done
                })
                .collect()
        })
    }
}

/// What a drop's task did.
#[derive(Debug)]
pub enum Done {
    Each(Vec<u64>),
    Served(Served),
}

/// What a held message did.
#[derive(Debug, Default)]
pub struct Held {
    /// Per link: the time its first wavelet reached it and the start of its last one.
    pub links: Vec<(u64, u64)>,
    /// Per drop: the same for its ramp.
    pub ramps: Vec<(u64, u64)>,
    /// Per drop: the receiving task's items.
    pub done: Vec<Done>,
}

/// Per position: its drop, if any.
fn drop_at(drops: &[Drop], positions: usize) -> Vec<Option<usize>> {
    let mut at = vec![None; positions];
    for (i, d) in drops.iter().enumerate() {
        at[d.pos] = Some(i);
    }
    at
}

/// Per position: whether its queue may fill, from the first `queue + 1` wavelets without
/// credits (credits only delay wavelets, so a queue found not to fill does not).
fn holds(
    src: &impl Fn(u64) -> u64,
    n: u64,
    links: &[Link],
    (drops, at): (&[Drop], &[Option<usize>]),
    queue: u64,
) -> Vec<bool> {
    let positions = links.len() + 1;
    let mut hold = vec![false; positions];
    let m = (queue + 1).min(n) as usize;
    if m <= queue as usize {
        return hold;
    }
    let q = queue as usize;
    let mut arrival: Vec<u64> = (0..m as u64).map(src).collect();
    let mut starts = vec![0u64; m];
    // Serve `arrival` from `ready` on, one per cycle, into `starts`.
    let serve = |arrival: &[u64], ready: u64, starts: &mut [u64]| {
        let mut next = ready;
        for (s, &a) in starts.iter_mut().zip(arrival) {
            *s = a.max(next);
            next = *s + 1;
        }
    };
    for p in 0..positions {
        // The link into this position, if its queue limits it, and when it sent item `queue`.
        let into = (p > 0 && links[p - 1].credited).then(|| (links[p - 1], starts[q]));
        let mut ready = 0;
        if let Some(d) = at[p].map(|i| drops[i]) {
            ready = d.ready;
            if d.queue {
                serve(&arrival, d.ready, &mut starts);
                let s = d.service;
                let keeps_up = s <= 1 && queue > d.latency + s && starts[q] > d.pe_free + s;
                hold[p] |= !keeps_up;
            }
        }
        if let Some(l) = links.get(p) {
            ready = ready.max(l.free);
        }
        if let Some((l, sent)) = into {
            hold[p] |= l.latency >= queue || sent <= ready;
        }
        if let Some(l) = links.get(p) {
            serve(&arrival, l.free, &mut starts);
            for (a, &s) in arrival.iter_mut().zip(&starts) {
                *a = s + l.latency;
            }
        }
    }
    hold
}

/// The route as [`evaluate`] walks it.
struct Walk<'a> {
    n: usize,
    links: &'a [Link],
    drops: &'a [Drop],
    at: Vec<Option<usize>>,
    queue: u64,
    held: Held,
    done: Vec<Option<Done>>,
}

impl Walk<'_> {
    /// Positions `first..=last` wavelet by wavelet, wavelets arriving at `first` at
    /// `arrivals`; the starts on the last one's link (empty at the route's end).
    fn cluster(&mut self, arrivals: &[u64], first: usize, last: usize) -> Vec<u64> {
        let (q, n, len) = (self.queue as usize, self.n, last + 1 - first);
        // The cluster's positions, flat: its drop (local index), its link.
        let none = usize::MAX;
        let mut drop_of = vec![none; len];
        let mut local = Vec::new();
        for (j, p) in (first..=last).enumerate() {
            if let Some(d) = self.at[p] {
                drop_of[j] = local.len();
                local.push(d);
            }
        }
        let link_of: Vec<Link> = (first..=last)
            .map(|p| match self.links.get(p) {
                Some(&l) => Link {
                    credited: l.credited && p < last,
                    ..l
                },
                None => Link {
                    latency: 0,
                    free: 0,
                    credited: false,
                },
            })
            .collect();
        let has_link = |j: usize| first + j < self.links.len();
        let dr: Vec<Drop> = local.iter().map(|&d| self.drops[d]).collect();
        let mut leave = vec![0u64; len * q];
        let mut done_ring = vec![0u64; dr.len() * q];
        let mut done = vec![0u64; dr.len() * n];
        let mut ramp = vec![(0u64, 0u64); dr.len()];
        let mut link = vec![(0u64, 0u64); len];
        let mut last_done: Vec<u64> = dr.iter().map(|d| d.pe_free).collect();
        let mut out = Vec::with_capacity(n);
        let end_link = has_link(len - 1);
        for (k, &a) in arrivals.iter().enumerate() {
            let slot = k % q;
            let earlier = k >= q;
            let mut arrival = a;
            for j in 0..len {
                let mut left = 0;
                let i = drop_of[j];
                if i != none {
                    let d = &dr[i];
                    let r = &mut ramp[i];
                    let mut start = if k == 0 {
                        r.0 = arrival;
                        arrival.max(d.ready)
                    } else {
                        arrival.max(r.1 + 1)
                    };
                    if d.queue && earlier {
                        start = start.max(done_ring[i * q + slot] + 1);
                    }
                    r.1 = start;
                    left = start;
                    let t = (start + d.latency).max(last_done[i]) + d.service;
                    last_done[i] = t;
                    done_ring[i * q + slot] = t;
                    done[i * n + k] = t;
                }
                if j + 1 < len || end_link {
                    let l = &link_of[j];
                    let s = &mut link[j];
                    let mut start = if k == 0 {
                        s.0 = arrival;
                        arrival.max(l.free)
                    } else {
                        arrival.max(s.1 + 1)
                    };
                    if l.credited && earlier {
                        start = start.max(leave[(j + 1) * q + slot] + 1);
                    }
                    s.1 = start;
                    left = left.max(start);
                    arrival = start + l.latency;
                }
                leave[j * q + slot] = left;
            }
            if end_link {
                out.push(link[len - 1].1);
            }
        }
        for (j, &l) in link.iter().enumerate() {
            if has_link(j) {
                self.held.links[first + j] = l;
            }
        }
        for (i, &d) in local.iter().enumerate() {
            self.held.ramps[d] = ramp[i];
            self.done[d] = Some(Done::Each(done[i * n..(i + 1) * n].to_vec()));
        }
        out
    }

    /// Position `p`, where no queue fills, its wavelets arriving at `seq`; the times at the
    /// next position.
    fn pass(&mut self, p: usize, seq: Seq, tops: &mut Vec<(u64, u64)>) -> Seq {
        let (first, n) = (seq.at(0), self.n as u64);
        if let Some(d) = self.at[p] {
            let dr = self.drops[d];
            let ramp = seq.from(dr.ready);
            self.held.ramps[d] = (first, ramp.last());
            let arrivals = ramp.later(dr.latency);
            // max_k (arrival(k) + (n - k) service): over `base`, and over `floor + k`, linear.
            let s = dr.service;
            let top = match tops.iter().find(|t| t.0 == s) {
                Some(&(_, top)) => top,
                None => {
                    let top = (arrivals.base.iter().enumerate())
                        .map(|(k, &t)| t + (n - k as u64) * s)
                        .max()
                        .unwrap_or(0);
                    tops.push((s, top));
                    top
                }
            };
            let floor = arrivals.floor.map_or(0, |f| f + (n * s).max(n - 1 + s));
            let last = (dr.pe_free + n * s).max(top + arrivals.shift).max(floor);
            self.done[d] = Some(Done::Served(Served {
                arrivals,
                ready: dr.pe_free,
                service: s,
                last,
                each: OnceCell::new(),
            }));
        }
        match self.links.get(p) {
            Some(l) => {
                let sent = seq.from(l.free);
                self.held.links[p] = (first, sent.last());
                sent.later(l.latency)
            }
            None => seq,
        }
    }
}

/// Evaluate a message of `n >= 1` wavelets ready at `src(k)` along `links` with `drops` (in
/// position order), every queue `queue >= 1` wavelets deep.
pub fn evaluate(
    src: impl Fn(u64) -> u64,
    n: u64,
    links: &[Link],
    drops: &[Drop],
    queue: u64,
) -> Held {
    let positions = links.len() + 1;
    let at = drop_at(drops, positions);
    let hold = holds(&src, n, links, (drops, &at), queue);
    let reach = ((n - 1) / queue) as usize;
    let mut clustered = vec![false; positions];
    clustered[0] = true;
    for p in (0..positions).filter(|&p| hold[p]) {
        for c in &mut clustered[p.saturating_sub(reach)..=p] {
            *c = true;
        }
    }
    let mut walk = Walk {
        n: n as usize,
        links,
        drops,
        at,
        queue,
        held: Held {
            links: vec![(0, 0); links.len()],
            ramps: vec![(0, 0); drops.len()],
            done: Vec::new(),
        },
        done: (0..drops.len()).map(|_| None).collect(),
    };
    let mut arrivals: Vec<u64> = (0..n).map(src).collect();
    let mut seq: Option<Seq> = None;
    // Per base of `seq`: max_k (base[k] + (n - k) service) by service.
    let mut tops = Vec::new();
    let mut p = 0;
    while p < positions {
        if clustered[p] {
            let mut last = p;
            while last + 1 < positions && clustered[last + 1] {
                last += 1;
            }
            if let Some(s) = seq.take() {
                arrivals = (0..n as usize).map(|k| s.at(k)).collect();
            }
            let out = walk.cluster(&arrivals, p, last);
            if let Some(l) = links.get(last) {
                seq = Some(Seq {
                    base: out.into(),
                    shift: l.latency,
                    floor: None,
                });
                tops.clear();
            }
            p = last + 1;
            continue;
        }
        if let Some(s) = seq.take() {
            seq = Some(walk.pass(p, s, &mut tops));
        }
        p += 1;
    }
    let mut held = walk.held;
    held.done = (walk.done.into_iter())
        .map(|d| d.unwrap_or(Done::Each(Vec::new())))
        .collect();
    held
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The recurrences of the module docs over every position and wavelet.
    fn reference(src: &[u64], links: &[Link], drops: &[Drop], queue: u64) -> Held {
        let (q, positions) = (queue as usize, links.len() + 1);
        let at = drop_at(drops, positions);
        let mut leave = vec![0u64; positions * q];
        let mut done_ring = vec![0u64; drops.len() * q];
        let mut h = Held {
            links: vec![(0, 0); links.len()],
            ramps: vec![(0, 0); drops.len()],
            done: Vec::new(),
        };
        let mut each = vec![Vec::new(); drops.len()];
        let mut last: Vec<u64> = drops.iter().map(|d| d.pe_free).collect();
        for (k, &a) in src.iter().enumerate() {
            let (slot, earlier) = (k % q, k >= q);
            let mut arrival = a;
            for p in 0..positions {
                let mut left = 0;
                if let Some(d) = at[p] {
                    let (dr, r) = (&drops[d], &mut h.ramps[d]);
                    let mut start = match k {
                        0 => arrival.max(dr.ready),
                        _ => arrival.max(r.1 + 1),
                    };
                    if k == 0 {
                        r.0 = arrival;
                    }
                    if dr.queue && earlier {
                        start = start.max(done_ring[d * q + slot] + 1);
                    }
                    r.1 = start;
                    left = start;
                    last[d] = (start + dr.latency).max(last[d]) + dr.service;
                    done_ring[d * q + slot] = last[d];
                    each[d].push(last[d]);
                }
                if let Some(l) = links.get(p) {
                    let s = &mut h.links[p];
                    let mut start = match k {
                        0 => arrival.max(l.free),
                        _ => arrival.max(s.1 + 1),
                    };
                    if k == 0 {
                        s.0 = arrival;
                    }
                    if l.credited && earlier {
                        start = start.max(leave[(p + 1) * q + slot] + 1);
                    }
                    s.1 = start;
                    left = left.max(start);
                    arrival = start + l.latency;
                }
                leave[p * q + slot] = left;
            }
        }
        h.done = each.into_iter().map(Done::Each).collect();
        h
    }

    fn times(d: &Done) -> Vec<u64> {
        match d {
            Done::Each(e) => e.clone(),
            Done::Served(s) => s.each().to_vec(),
        }
    }

    fn link(free: u64) -> Link {
        Link {
            latency: 1,
            free,
            credited: true,
        }
    }

    #[test]
    fn a_busy_link_holds_the_links_before_it_once_its_queue_is_full() {
        // 10 wavelets ready at 0..10 over three links; the last is busy until 100. Unbounded,
        // links 0 and 1 would pass them at 0..10 and 1..11; with 2-deep queues link p sends
        // wavelet k >= 2 only a cycle after wavelet k - 2 left on link p + 1.
        let links = [link(0), link(0), link(100)];
        let h = evaluate(|k| k, 10, &links, &[], 2);
        // Wavelet 0 reaches link 2 at 2 (one cycle per hop); link 2 sends wavelet k at 100 + k.
        assert_eq!(h.links[2], (2, 109));
        // Link 1 sends wavelet 9 a cycle after link 2 sent wavelet 7 (107).
        assert_eq!(h.links[1], (1, 108));
        // Link 0 sends wavelet 9 a cycle after link 1 sent wavelet 7 (99 + 7).
        assert_eq!(h.links[0], (0, 107));
    }

    #[test]
    fn a_task_late_to_its_input_queue_holds_its_ramp() {
        // 8 wavelets over one link into a PE busy until 50 that takes one per cycle from a
        // 2-deep input queue: wavelets 0 and 1 wait in it and are done at 51 and 52. The ramp
        // sends wavelet k >= 2 a cycle after item k - 2 is done, and it arrives a cycle later:
        // wavelet 2 leaves at 52, arrives at 53 and is done at 54. Two items per three cycles:
        // a queue this shallow does not cover the credit's round trip.
        let drop = Drop {
            pos: 1,
            ready: 0,
            latency: 1,
            queue: true,
            service: 1,
            pe_free: 50,
        };
        let h = evaluate(|k| k, 8, &[link(0)], &[drop], 2);
        assert_eq!(times(&h.done[0]), [51, 52, 54, 55, 57, 58, 60, 61]);
        // Wavelet 0 reached the ramp at 1; wavelet 7 left a cycle after item 5 was done.
        assert_eq!(h.ramps[0], (1, 58 + 1));
        // With 3 wavelets of queue the task runs a cycle per item.
        let h = evaluate(|k| k, 8, &[link(0)], &[drop], 3);
        assert_eq!(times(&h.done[0]), (51..59).collect::<Vec<_>>());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Skipping the positions where no queue fills changes no time.
        #[test]
        fn clusters_and_passes_match_the_recurrences(
            gaps in prop::collection::vec(0u64..3, 1..40),
            frees in prop::collection::vec((0u64..80, 1u64..3, any::<bool>()), 1..24),
            drops in prop::collection::vec((0u64..80, any::<bool>(), 0u64..3, 0u64..120), 24),
            chosen in prop::collection::vec(any::<bool>(), 25),
            queue in 1u64..6,
        ) {
            let mut t = 0;
            let src: Vec<u64> = gaps.iter().map(|g| { t += g; t }).collect();
            let links: Vec<Link> = frees
                .iter()
                .map(|&(free, latency, io)| Link { latency, free, credited: !io || free % 2 == 0 })
                .collect();
            let drops: Vec<Drop> = (0..=links.len())
                .filter(|&p| chosen[p])
                .map(|p| {
                    let (ready, queue, service, pe_free) = drops[p];
                    Drop { pos: p, ready, latency: 1, queue, service, pe_free }
                })
                .collect();
            let n = src.len() as u64;
            let got = evaluate(|k| src[k as usize], n, &links, &drops, queue);
            let want = reference(&src, &links, &drops, queue);
            prop_assert_eq!(&got.links, &want.links);
            prop_assert_eq!(&got.ramps, &want.ramps);
            for (g, w) in got.done.iter().zip(&want.done) {
                prop_assert_eq!(times(g), times(w));
                let last = match g { Done::Each(e) => *e.last().unwrap(), Done::Served(s) => s.last() };
                prop_assert_eq!(last, *times(w).last().unwrap());
            }
        }
    }
}
