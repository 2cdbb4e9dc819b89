//! Messages held up by back-pressure, for the fast fidelity.
//!
//! Where a credit binds (a queue fills because the next link, the ramp or the receiving task is
//! not ready), a message's times are no longer a max-plus train. They follow the recurrences
//! of `program.rs` item by item ([`wavelets`]): on every output `o` (a link, or a drop's ramp)
//! of the router at position `p`, `start_o(k) = max(arrival_p(k), start_o(k-1) + 1, ready_o,
//! credit)`, where a link's credit is `leave_(p+1)(k - queue) + 1` (the wavelet `queue` before
//! it has left the queue at the far end), a ramp's into an input queue is `done(k - queue) + 1`,
//! and `leave_p(k)` is the latest start of wavelet `k` over the router's outputs.
//!
//! They have a closed form ([`closed_form`]). Past the first link, wavelets arrive at least a
//! cycle apart, so an output whose ready times and credits are `floor(k) + k`, `floor` a
//! nondecreasing step function of `k` ([`Steps`]), starts wavelet `k` at
//! `max(arrival(k), floor(k) + k)`. A queue's leave times are then its arrivals or its outputs'
//! floors; its arrivals come back as credits too late to bind (a wavelet arrives a link's
//! latency after it was sent, and the queue holds more), so the credit into a link is its far
//! queue's floor moved `queue` wavelets on and `queue - 1` cycles back. The floors therefore
//! follow from the route's end backwards without any times, and the times from the start
//! forwards as the first link's times moved and floored: O(positions x steps) rather than
//! O(positions x wavelets). A ramp into an input queue has such a floor when its task takes at
//! most a cycle a wavelet and the queue covers the ramp and the task; otherwise, and for
//! queues no deeper than a link's latency, the recurrences are evaluated.
//!
//! The closed form pays in allocations what it saves in wavelets: short messages over few
//! positions, most of the held ones (a reduction's hop), are cheaper wavelet by wavelet
//! ([`evaluate`] picks). Both refill buffers kept across messages ([`Scratch`], [`Held`]).

use smallvec::{SmallVec, smallvec};
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

/// A nondecreasing step function of the wavelet index: `c` from wavelet `t` on, for each
/// `(t, c)`, both increasing; none before the first. Mostly one or two steps, kept inline.
#[derive(Clone, Debug, Default, PartialEq)]
struct Steps(SmallVec<[(u64, i64); 4]>);

impl Steps {
    /// `c` from wavelet 0 on.
    fn from(c: i64) -> Steps {
        Steps(smallvec![(0, c)])
    }

    fn at(&self, k: u64) -> Option<i64> {
        let i = self.0.partition_point(|s| s.0 <= k);
        i.checked_sub(1).map(|i| self.0[i].1)
    }

    /// The larger of both at every wavelet below `n`.
    fn max(&self, o: &Steps, n: u64) -> Steps {
        let below = |f: &Steps| match f.0.last() {
            Some(l) if l.0 >= n => Steps(f.0.iter().copied().filter(|s| s.0 < n).collect()),
            _ => f.clone(),
        };
        if o.0.is_empty() {
            return below(self);
        }
        if self.0.is_empty() {
            return below(o);
        }
        // Merge by wavelet, keeping each step that raises the running maximum.
        let (a, b) = (&self.0, &o.0);
        let (mut i, mut j) = (0, 0);
        let (mut ca, mut cb): (Option<i64>, Option<i64>) = (None, None);
        let mut out: SmallVec<[(u64, i64); 4]> = SmallVec::new();
        while i < a.len() || j < b.len() {
            let t = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => x.0.min(y.0),
                (Some(x), None) => x.0,
                (None, Some(y)) => y.0,
                (None, None) => break,
            };
            if t >= n {
                break;
            }
            if a.get(i).is_some_and(|x| x.0 == t) {
                ca = Some(a[i].1);
                i += 1;
            }
            if b.get(j).is_some_and(|y| y.0 == t) {
                cb = Some(b[j].1);
                j += 1;
            }
            let c = ca.max(cb);
            if let Some(c) = c.filter(|&c| out.last().is_none_or(|l| c > l.1)) {
                out.push((t, c));
            }
        }
        Steps(out)
    }

    /// The credits a queue with these floors sends back: `queue` wavelets on, `queue - 1`
    /// cycles earlier in the floor (a cycle later in time), below wavelet `n`.
    fn credit(&self, queue: u64, n: u64) -> Steps {
        let shifted = self
            .0
            .iter()
            .map(|&(t, c)| (t + queue, c - queue as i64 + 1));
        Steps(shifted.filter(|s| s.0 < n).collect())
    }

    fn later(&mut self, d: u64) {
        for s in &mut self.0 {
            s.1 += d as i64;
        }
    }
}

/// Wavelet times `max(base[k] + shift, floor(k) + k)`.
#[derive(Clone, Debug)]
struct Seq {
    base: Rc<[u64]>,
    shift: u64,
    floor: Steps,
}

impl Seq {
    fn at(&self, k: u64) -> u64 {
        let t = self.base[k as usize] + self.shift;
        self.floor.at(k).map_or(t, |f| t.max((f + k as i64) as u64))
    }

    fn last(&self) -> u64 {
        self.at(self.base.len() as u64 - 1)
    }

    /// Every wavelet's time, in one pass over the base and the floor's steps, into `out`.
    fn times(&self, out: &mut Vec<u64>) {
        out.clear();
        out.extend(self.base.iter().map(|&b| b + self.shift));
        let steps = &self.floor.0;
        for (i, &(t, c)) in steps.iter().enumerate() {
            let end = steps.get(i + 1).map_or(out.len(), |x| x.0 as usize);
            for (k, o) in out.iter_mut().enumerate().take(end).skip(t as usize) {
                *o = (*o).max((c + k as i64) as u64);
            }
        }
    }

    /// Served by an output with floors `floor`.
    fn served(&self, floor: &Steps) -> Seq {
        if floor.0.is_empty() {
            return self.clone();
        }
        let n = self.base.len() as u64;
        Seq {
            floor: self.floor.max(floor, n),
            ..self.clone()
        }
    }
}

/// A task taking items that arrive as a [`Seq`] `delay` cycles later, free from `ready`,
/// `service` cycles each: its last item's time is known at once, each item's only when asked
/// for. The drops of a multicast share one arrival sequence.
#[derive(Clone, Debug)]
pub struct Served {
    arrivals: Rc<Seq>,
    delay: u64,
    ready: u64,
    service: u64,
    last: u64,
}

impl Served {
    /// A task free from `ready` taking `arrivals` `delay` later at `service` cycles each;
    /// `top` is `max_k (base[k] + (n - k) service)` of the arrivals' base.
    fn new(arrivals: Rc<Seq>, delay: u64, (ready, service): (u64, u64), top: u64) -> Served {
        // done(n-1) = max(ready + n s, max_k (arrival(k) + (n - k) s)); on each floor step the
        // term is linear in k, so its ends bound it.
        let n = arrivals.base.len() as u64;
        let s = service as i64;
        let steps = &arrivals.floor.0;
        let floors = steps.iter().enumerate().flat_map(|(i, &(t, c))| {
            let end = steps.get(i + 1).map_or(n, |x| x.0) - 1;
            [t, end].map(|k| c + delay as i64 + k as i64 + (n - k) as i64 * s)
        });
        let base = top + arrivals.shift + delay;
        let last = floors.fold((ready + n * service).max(base) as i64, i64::max) as u64;
        Served {
            arrivals,
            delay,
            ready,
            service,
            last,
        }
    }

    /// Completion of the last item [cycles].
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Items taken.
    pub fn items(&self) -> u64 {
        self.arrivals.base.len() as u64
    }

    /// Completion of each item [cycles], into `times`.
    pub fn each(&self, times: &mut Vec<u64>) {
        let mut done = self.ready;
        self.arrivals.times(times);
        for t in times.iter_mut() {
            done = (*t + self.delay).max(done) + self.service;
            *t = done;
        }
    }
}

/// What a drop's task did.
#[derive(Debug)]
pub enum Done {
    Each(Rc<[u64]>),
    Served(Served),
}

/// What a held message did. Its vectors are refilled message after message (a step holds up
/// millions of short ones).
#[derive(Debug, Default)]
pub struct Held {
    /// Per link: the time its first wavelet reached it and the start of its last one.
    pub links: Vec<(u64, u64)>,
    /// Per drop: the same for its ramp.
    pub ramps: Vec<(u64, u64)>,
    /// Per drop: the receiving task's items.
    pub done: Vec<Done>,
}

impl Held {
    /// Zeroed times for `links` links and `drops` drops, no tasks.
    fn reset(&mut self, links: usize, drops: usize) {
        self.links.clear();
        self.links.resize(links, (0, 0));
        self.ramps.clear();
        self.ramps.resize(drops, (0, 0));
        self.done.clear();
    }
}

/// Working arrays of an evaluation, reused from message to message.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Per position: its drop, if any.
    at: Vec<Option<usize>>,
    /// Per position and queue slot: when the wavelet left the router.
    leave: Vec<u64>,
    /// Per drop and queue slot: when its task was done with the wavelet.
    done_ring: Vec<u64>,
    /// Per drop: its task's last completion.
    last: Vec<u64>,
    /// Per drop: its task's completions, `n` each.
    each: Vec<u64>,
}

/// Fill `at` with each position's drop, if any.
fn drop_at(drops: &[Drop], positions: usize, at: &mut Vec<Option<usize>>) {
    at.clear();
    at.resize(positions, None);
    for (i, d) in drops.iter().enumerate() {
        at[d.pos] = Some(i);
    }
}

/// Zeros in `v`, `n` of them.
fn zeros(v: &mut Vec<u64>, n: usize) {
    v.clear();
    v.resize(n, 0);
}

/// An output (the time its first wavelet arrived, its last start) sends wavelet `k`, arrived
/// at `arrival`: the first no earlier than `ready`, each a cycle after the one before, and none
/// before its `credit`; when.
fn send(out: &mut (u64, u64), k: usize, arrival: u64, ready: u64, credit: u64) -> u64 {
    let start = match k {
        0 => {
            out.0 = arrival;
            arrival.max(ready)
        }
        _ => arrival.max(out.1 + 1),
    };
    out.1 = start.max(credit);
    out.1
}

/// The recurrences themselves, wavelet by wavelet over every position, for a message of
/// wavelets ready at `src` along `links` with `drops` (in position order), every queue
/// `queue >= 1` wavelets deep; into `h`.
pub fn wavelets(
    src: &[u64],
    links: &[Link],
    drops: &[Drop],
    queue: u64,
    s: &mut Scratch,
    h: &mut Held,
) {
    let (q, positions, n) = (queue as usize, links.len() + 1, src.len());
    drop_at(drops, positions, &mut s.at);
    zeros(&mut s.leave, positions * q);
    zeros(&mut s.done_ring, drops.len() * q);
    zeros(&mut s.each, drops.len() * n);
    s.last.clear();
    s.last.extend(drops.iter().map(|d| d.pe_free));
    h.reset(links.len(), drops.len());
    let mut slot = 0;
    for (k, &a) in src.iter().enumerate() {
        let earlier = k >= q;
        let mut arrival = a;
        for p in 0..positions {
            let mut left = 0;
            if let Some(d) = s.at[p] {
                let dr = &drops[d];
                let credit = match dr.queue && earlier {
                    true => s.done_ring[d * q + slot] + 1,
                    false => 0,
                };
                let start = send(&mut h.ramps[d], k, arrival, dr.ready, credit);
                left = start;
                let last = (start + dr.latency).max(s.last[d]) + dr.service;
                s.last[d] = last;
                s.done_ring[d * q + slot] = last;
                s.each[d * n + k] = last;
            }
            if let Some(l) = links.get(p) {
                let credit = match l.credited && earlier {
                    true => s.leave[(p + 1) * q + slot] + 1,
                    false => 0,
                };
                let start = send(&mut h.links[p], k, arrival, l.free, credit);
                left = left.max(start);
                arrival = start + l.latency;
            }
            s.leave[p * q + slot] = left;
        }
        slot = if slot + 1 == q { 0 } else { slot + 1 };
    }
    let each = s.each.chunks_exact(n.max(1)).take(drops.len());
    h.done.extend(each.map(|e| Done::Each(e.into())));
}

/// [`wavelets`] for a message with one drop, at the end of its `M` links (most held messages:
/// a reduction's hop). Each output's next start and the task's last completion stay in
/// registers, and each position keeps every wavelet's leave time rather than a ring: the
/// chain of dependencies from wavelet to wavelet is then a few instructions long.
fn unicast<const M: usize>(
    src: &[u64],
    links: &[Link; M],
    d: &Drop,
    queue: u64,
    s: &mut Scratch,
    h: &mut Held,
) {
    let (q, n) = (queue as usize, src.len());
    // Per position, per wavelet: when it left the router (position `M`: the ramp). Every entry
    // read was written first, so old contents may stay.
    let leave = &mut s.leave;
    if leave.len() < (M + 1) * n {
        leave.resize((M + 1) * n, 0);
    }
    let each = &mut s.each;
    each.clear();
    // The earliest start of each output's next wavelet: the first no earlier than its ready
    // cycle, each a cycle after the one before.
    let mut next = links.map(|l| l.free);
    let (mut ramp_next, mut last) = (d.ready, d.pe_free);
    for (k, &a) in src.iter().enumerate() {
        let mut arrival = a;
        for (p, l) in links.iter().enumerate() {
            let mut start = arrival.max(next[p]);
            if k >= q && l.credited {
                start = start.max(leave[(p + 1) * n + k - q] + 1);
            }
            next[p] = start + 1;
            leave[p * n + k] = start;
            arrival = start + l.latency;
        }
        let mut start = arrival.max(ramp_next);
        if k >= q && d.queue {
            start = start.max(each[k - q] + 1);
        }
        ramp_next = start + 1;
        leave[M * n + k] = start;
        last = (start + d.latency).max(last) + d.service;
        each.push(last);
    }
    // Wavelet 0 reaches position p + 1 a link's latency after it left position p.
    let first = |p: usize| match p {
        0 => src[0],
        _ => leave[(p - 1) * n] + links[p - 1].latency,
    };
    h.reset(M, 1);
    for (p, out) in h.links.iter_mut().enumerate() {
        *out = (first(p), next[p] - 1);
    }
    h.ramps[0] = (first(M), ramp_next - 1);
    h.done.push(Done::Each(each.as_slice().into()));
}

/// The earliest a ramp into an input queue may start wavelet `queue` by its task's credits,
/// when only the task's start holds the ramp back: the task takes at most a cycle a wavelet
/// and the queue covers the ramp and the task (`ready + (k - queue + 1) s + 1` for wavelet `k`
/// from `queue` on); `None` when the task holds it back further.
pub fn input_queue_start(service: u64, latency: u64, ready: u64, queue: u64) -> Option<u64> {
    (service <= 1 && queue > latency + service).then_some(ready + service + 1)
}

/// The floor [`input_queue_start`] puts on the ramp into drop `d`.
fn input_queue_floor(d: &Drop, queue: u64) -> Option<Steps> {
    let start = input_queue_start(d.service, d.latency, d.pe_free, queue)?;
    Some(Steps(smallvec![(queue, start as i64 - queue as i64)]))
}

/// Messages of at most this many wavelets times positions are evaluated wavelet by wavelet:
/// the recurrences cost a few cycles per wavelet and position, the closed form a dozen small
/// allocations per message, and most held messages are a reduction's hop (a dozen wavelets
/// over three positions).
const ITEMWISE: usize = 256;

/// Evaluate a message of `n >= 1` wavelets ready at `src(k)` along `links` with `drops` (in
/// position order), every queue `queue >= 1` wavelets deep; into `h`.
pub fn evaluate(
    src: &[u64],
    links: &[Link],
    drops: &[Drop],
    queue: u64,
    s: &mut Scratch,
    h: &mut Held,
) {
    if src.len() * (links.len() + 1) <= ITEMWISE {
        // One drop at the end of at most three links: a reduction's hop, a gather's.
        match (drops, links) {
            ([d], &[a]) if d.pos == 1 => unicast(src, &[a], d, queue, s, h),
            ([d], &[a, b]) if d.pos == 2 => unicast(src, &[a, b], d, queue, s, h),
            ([d], &[a, b, c]) if d.pos == 3 => unicast(src, &[a, b, c], d, queue, s, h),
            _ => wavelets(src, links, drops, queue, s, h),
        }
    } else {
        closed_form(src, links, drops, queue, s, h);
    }
}

/// [`evaluate`] in closed form where the floors apply, else by the recurrences.
fn closed_form(
    src: &[u64],
    links: &[Link],
    drops: &[Drop],
    queue: u64,
    s: &mut Scratch,
    h: &mut Held,
) {
    // Queues no deeper than a link's latency see its wavelets arrive in time to bind, and a
    // task slower than a cycle a wavelet puts a steeper floor on its ramp: no floors then.
    let steep = |d: &Drop| d.queue && input_queue_floor(d, queue).is_none();
    if links.iter().any(|l| l.credited && l.latency >= queue) || drops.iter().any(steep) {
        return wavelets(src, links, drops, queue, s, h);
    }
    drop_at(drops, links.len() + 1, &mut s.at);
    let floors = Floors::new(src, links, drops, &s.at, queue);
    floors.times(src, links, drops, &s.at, h);
}

/// The floors of every output that has one: what the ramp and the link at each position wait
/// for, each queue's floor credited to the link before it.
struct Floors {
    /// Per drop: its ramp's floor.
    ramps: Vec<Steps>,
    /// The links that have a floor, by position, last first.
    links: Vec<(usize, Steps)>,
    /// Wavelets of the message.
    n: u64,
}

impl Floors {
    /// The floors from the route's end back.
    fn new(src: &[u64], links: &[Link], drops: &[Drop], at: &[Option<usize>], queue: u64) -> Self {
        let (n, positions) = (src.len() as u64, links.len() + 1);
        let reach = reach(src, links);
        let binding = |mut f: Steps, p: usize| -> Steps {
            f.0.retain(|s| s.1 > reach[p]);
            f
        };
        let mut floors = Floors {
            ramps: vec![Steps::default(); drops.len()],
            links: Vec::new(),
            n,
        };
        let mut leave = Steps::default();
        for p in (0..positions).rev() {
            // Most positions have nothing to wait for and nothing to credit back: skip them.
            let late = |t: u64| t as i64 > reach[p];
            let drop_late = at[p].is_some_and(|i| {
                let d = &drops[i];
                let floor = || input_queue_floor(d, queue).is_some_and(|f| f.0[0].1 > reach[p]);
                late(d.ready) || (d.queue && floor())
            });
            if leave.0.is_empty() && !links.get(p).is_some_and(|l| late(l.free)) && !drop_late {
                continue;
            }
            let mut left = Steps::default();
            if let Some(l) = links.get(p) {
                let mut f = binding(Steps::from(l.free as i64), p);
                if l.credited && !leave.0.is_empty() {
                    f = f.max(&binding(leave.credit(queue, n), p), n);
                }
                if !f.0.is_empty() {
                    left = f.clone();
                    floors.links.push((p, f));
                }
            }
            if let Some(i) = at[p] {
                let d = &drops[i];
                let mut f = binding(Steps::from(d.ready as i64), p);
                if d.queue
                    && let Some(q) = input_queue_floor(d, queue)
                {
                    f = f.max(&binding(q, p), n);
                }
                left = left.max(&f, n);
                floors.ramps[i] = f;
            }
            leave = left;
        }
        floors
    }

    /// The times from the route's start forwards: the first link's times moved and floored.
    fn times(
        mut self,
        src: &[u64],
        links: &[Link],
        drops: &[Drop],
        at: &[Option<usize>],
        held: &mut Held,
    ) {
        let n = self.n;
        held.reset(links.len(), drops.len());
        let mut tops = Tops::default();
        // The wavelets' times arriving at the position walked (none yet at position 0).
        let mut arrival: Option<Seq> = None;
        // The last wavelet's arrival (kept along: a floor changes it only where a link has one).
        let mut last = 0;
        // `arrival` as it was when its floor last changed, and its shift then, for the drops.
        let mut shared: Option<(Rc<Seq>, u64)> = None;
        for (p, drop) in at.iter().enumerate() {
            let first = arrival.as_ref().map_or(src[0], |a| a.at(0));
            if let &Some(i) = drop {
                let d = &drops[i];
                let ramp_floor = &self.ramps[i];
                let (ramp, delay, ramp_last) = match (&arrival, &shared) {
                    (Some(a), Some((seq, shift))) if ramp_floor.0.is_empty() => {
                        (Rc::clone(seq), a.shift - shift, last)
                    }
                    (Some(a), _) => {
                        let ramp = a.served(ramp_floor);
                        let l = ramp.last();
                        (Rc::new(ramp), 0, l)
                    }
                    (None, _) => {
                        let ramp = Seq {
                            base: serve(src, ramp_floor),
                            shift: 0,
                            floor: Steps::default(),
                        };
                        let l = ramp.last();
                        (Rc::new(ramp), 0, l)
                    }
                };
                held.ramps[i] = (first, ramp_last);
                let t = tops.get(&ramp.base, d.service);
                let served = Served::new(ramp, delay + d.latency, (d.pe_free, d.service), t);
                held.done.push(Done::Served(served));
            }
            let Some(l) = links.get(p) else {
                continue;
            };
            let floor = match self.links.last() {
                Some((q, _)) if *q == p => self.links.pop().map(|f| f.1),
                _ => None,
            };
            let a = match arrival.as_mut() {
                Some(a) => a,
                None => arrival.insert(Seq {
                    base: serve(src, floor.as_ref().unwrap_or(&Steps::default())),
                    shift: 0,
                    floor: Steps::default(),
                }),
            };
            if p > 0 {
                if let Some(f) = floor {
                    a.floor = a.floor.max(&f, n);
                    last = a.last();
                    shared = None;
                }
            } else {
                last = a.last();
            }
            held.links[p] = (first, last);
            a.shift += l.latency;
            a.floor.later(l.latency);
            last += l.latency;
            if shared.is_none() {
                shared = Some((Rc::new(a.clone()), a.shift));
            }
        }
    }
}

/// Per position: wavelet k reaches it no earlier than `reach[p] + k` (the source's first item
/// or a link's free cycle before it, plus the links' latency); floors below that never bind,
/// and dropping them keeps most floors empty.
fn reach(src: &[u64], links: &[Link]) -> Vec<i64> {
    let positions = links.len() + 1;
    let mut reach = Vec::with_capacity(positions);
    let mut t = src.iter().copied().min().unwrap_or(0);
    for p in 0..positions {
        reach.push(if p == 0 { i64::MIN } else { t as i64 });
        if let Some(l) = links.get(p) {
            t = t.max(l.free) + l.latency;
        }
    }
    reach
}

/// At position 0 the source's items `src` may come together: serve them one by one, none
/// before `floor`.
fn serve(src: &[u64], floor: &Steps) -> Rc<[u64]> {
    let mut next = 0;
    (src.iter().enumerate())
        .map(|(k, &a)| {
            let f = floor
                .at(k as u64)
                .map_or(0, |c| (c + k as i64).max(0) as u64);
            next = a.max(next).max(f);
            let t = next;
            next += 1;
            t
        })
        .collect()
}

/// `max_k (base[k] + (n - k) service)`, remembered per base (by address) and service.
#[derive(Default)]
struct Tops(Vec<(*const u64, u64, u64)>);

impl Tops {
    fn get(&mut self, base: &Rc<[u64]>, s: u64) -> u64 {
        let key = base.as_ptr();
        match self.0.iter().find(|t| t.0 == key && t.1 == s) {
            Some(t) => t.2,
            None => {
                let n = base.len() as u64;
                let m = (base.iter().enumerate())
                    .map(|(k, &b)| b + (n - k as u64) * s)
                    .max()
                    .unwrap_or(0);
                self.0.push((key, s, m));
                m
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn times(d: &Done) -> Vec<u64> {
        match d {
            Done::Each(e) => e.to_vec(),
            Done::Served(s) => {
                let mut each = Vec::new();
                s.each(&mut each);
                each
            }
        }
    }

    /// [`closed_form`] with fresh buffers.
    fn closed(src: &[u64], links: &[Link], drops: &[Drop], queue: u64) -> Held {
        let mut h = Held::default();
        closed_form(src, links, drops, queue, &mut Scratch::default(), &mut h);
        h
    }

    /// Source times from `gaps` between wavelets, and links from `(free, latency, io)`.
    fn route(gaps: &[u64], frees: &[(u64, u64, bool)]) -> (Vec<u64>, Vec<Link>) {
        let mut t = 0;
        let src = gaps
            .iter()
            .map(|g| {
                t += g;
                t
            })
            .collect();
        let links = (frees.iter())
            .map(|&(free, latency, io)| Link {
                latency,
                free,
                credited: !io || free % 2 == 0,
            })
            .collect();
        (src, links)
    }

    /// Two evaluations of one message agree on every output and every task's items.
    fn same(got: &Held, want: &Held) -> Result<(), TestCaseError> {
        prop_assert_eq!(&got.links, &want.links);
        prop_assert_eq!(&got.ramps, &want.ramps);
        prop_assert_eq!(got.done.len(), want.done.len());
        for (g, w) in got.done.iter().zip(&want.done) {
            prop_assert_eq!(times(g), times(w));
            let last = match g {
                Done::Each(e) => *e.last().unwrap(),
                Done::Served(s) => s.last(),
            };
            prop_assert_eq!(last, *times(w).last().unwrap());
        }
        Ok(())
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
        let h = closed(&(0..10).collect::<Vec<_>>(), &links, &[], 2);
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
        let src: Vec<u64> = (0..8).collect();
        let h = closed(&src, &[link(0)], &[drop], 2);
        assert_eq!(times(&h.done[0]), [51, 52, 54, 55, 57, 58, 60, 61]);
        // Wavelet 0 reached the ramp at 1; wavelet 7 left a cycle after item 5 was done.
        assert_eq!(h.ramps[0], (1, 58 + 1));
        // With 3 wavelets of queue the task runs a cycle per item.
        let h = closed(&src, &[link(0)], &[drop], 3);
        assert_eq!(times(&h.done[0]), (51..59).collect::<Vec<_>>());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// The closed form gives the times of the recurrences, and buffers reused from another
        /// message leave no trace.
        #[test]
        fn floors_match_the_recurrences(
            gaps in prop::collection::vec(0u64..3, 1..40),
            frees in prop::collection::vec((0u64..80, 1u64..3, any::<bool>()), 1..24),
            drops in prop::collection::vec((0u64..80, any::<bool>(), 0u64..3, 0u64..120), 24),
            chosen in prop::collection::vec(any::<bool>(), 25),
            queue in 1u64..6,
        ) {
            let (src, links) = route(&gaps, &frees);
            let drops: Vec<Drop> = (0..=links.len())
                .filter(|&p| chosen[p])
                .map(|p| {
                    let (ready, queue, service, pe_free) = drops[p];
                    Drop { pos: p, ready, latency: 1, queue, service, pe_free }
                })
                .collect();
            // One set of buffers for both, as messages share them.
            let (mut s, mut got, mut want) = (Scratch::default(), Held::default(), Held::default());
            closed_form(&src, &links, &drops, queue, &mut s, &mut got);
            wavelets(&src, &links, &drops, queue, &mut s, &mut want);
            same(&got, &want)?;
        }

        /// Evaluating picks a way that gives the times of the recurrences, for unicasts (their
        /// own loop) and for every size.
        #[test]
        fn evaluations_match_the_recurrences(
            gaps in prop::collection::vec(0u64..3, 1..120),
            frees in prop::collection::vec((0u64..80, 1u64..3, any::<bool>()), 1..6),
            drop in (0u64..80, any::<bool>(), 0u64..3, 0u64..120),
            more in any::<bool>(),
            queue in 1u64..6,
        ) {
            let (src, links) = route(&gaps, &frees);
            let (ready, queued, service, pe_free) = drop;
            let end = Drop { pos: links.len(), ready, latency: 1, queue: queued, service, pe_free };
            // A second drop halfway makes it no unicast.
            let drops = match more {
                true => vec![Drop { pos: links.len() / 2, ..end }, end],
                false => vec![end],
            };
            let (mut s, mut got, mut want) = (Scratch::default(), Held::default(), Held::default());
            evaluate(&src, &links, &drops, queue, &mut s, &mut got);
            wavelets(&src, &links, &drops, queue, &mut s, &mut want);
            same(&got, &want)?;
        }
    }
}
