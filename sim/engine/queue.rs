//! The deterministic event queue, in total order (cycle, phase, insertion). Events within
//! [`WINDOW`] cycles of the clock go to a calendar of per-(cycle, phase) FIFOs; later ones wait
//! in a min-heap on one packed `u128` key (cycle, phase, sequence) and move into the calendar,
//! in key order, as soon as the clock brings them within the window, before anything else can
//! be scheduled for their cycle, so each FIFO stays in insertion order.

use super::calendar::{Calendar, WINDOW};
use super::error::EngineError;
use super::heap::Heap;
use super::time::Cycle;

/// Named steps within one cycle, run in declaration order (gem5-style priorities): everything
/// issued in a cycle is visible to transfers of that cycle, transfers to compute, compute to
/// commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Phase {
    /// Instructions and requests leave their issuing unit.
    Issue = 0,
    /// Data moves over streams, links and mesh hops.
    Transfer = 1,
    /// Functional units operate on data that arrived.
    Compute = 2,
    /// Results are written back and made visible to the next cycle.
    Commit = 3,
}

impl Phase {
    /// Every phase, in execution order.
    pub const ALL: [Phase; 4] = [Phase::Issue, Phase::Transfer, Phase::Compute, Phase::Commit];

    fn from_bits(bits: u8) -> Phase {
        Phase::ALL[usize::from(bits & 3)]
    }
}

/// Bits of the key given to the insertion counter; the phase sits just above them.
const SEQ_BITS: u32 = 56;
/// First sequence number that no longer fits in the key.
const SEQ_LIMIT: u64 = 1 << SEQ_BITS;

fn pack(at: Cycle, phase: Phase, seq: u64) -> u128 {
    (u128::from(at.0) << 64) | (u128::from(phase as u8) << SEQ_BITS) | u128::from(seq)
}

fn unpack(key: u128) -> (Cycle, Phase) {
    (
        Cycle((key >> 64) as u64),
        Phase::from_bits((key >> SEQ_BITS) as u8),
    )
}

/// An event taken off the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<T> {
    /// When it fires [cycles].
    pub at: Cycle,
    /// Its step within that cycle.
    pub phase: Phase,
    /// What happens.
    pub payload: T,
}

/// Pending events in total order: by cycle, then phase, then insertion (FIFO among equals).
/// The queue's clock is the (cycle, phase) of the last popped event; scheduling before it is an
/// error, which keeps the order causal and the results independent of how events were created.
pub struct EventQueue<T> {
    /// Events at cycles `now .. now + WINDOW`.
    near: Calendar<T>,
    /// Events at cycles `now + WINDOW ..`.
    far: Heap<T>,
    now: Cycle,
    phase: Phase,
    /// The earliest pending (cycle, phase), kept up to date so peeking costs nothing.
    next: Option<(Cycle, Phase)>,
    next_seq: u64,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> EventQueue<T> {
    /// An empty queue at cycle 0, phase `Issue`.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty queue with room for `capacity` far-future events, so that path never
    /// reallocates (the calendar's FIFOs grow to their working size once and keep it).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            near: Calendar::new(),
            far: Heap::with_capacity(capacity),
            now: Cycle::ZERO,
            phase: Phase::Issue,
            next: None,
            next_seq: 0,
        }
    }

    /// The cycle of the last popped event (0 before the first).
    pub fn now(&self) -> Cycle {
        self.now
    }

    /// The phase of the last popped event (`Issue` before the first).
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.near.len() + self.far.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.next.is_none()
    }

    /// Add `payload` to fire at cycle `at` in `phase`, after everything already scheduled for the
    /// same (cycle, phase).
    pub fn schedule(&mut self, at: Cycle, phase: Phase, payload: T) -> Result<(), EngineError> {
        if (at, phase) < (self.now, self.phase) {
            return Err(EngineError::Past {
                at,
                phase,
                now: self.now,
                now_phase: self.phase,
            });
        }
        if self.next_seq == SEQ_LIMIT {
            return Err(EngineError::SequenceExhausted);
        }
        if at.0 - self.now.0 < WINDOW {
            self.near.push(at, phase, payload);
        } else {
            self.far.push(pack(at, phase, self.next_seq), payload);
        }
        self.next_seq += 1;
        if self.next.is_none_or(|next| (at, phase) < next) {
            self.next = Some((at, phase));
        }
        Ok(())
    }

    /// Add `payload` to fire `delay` [cycles] after the current cycle, in `phase`.
    pub fn schedule_in(&mut self, delay: u64, phase: Phase, payload: T) -> Result<(), EngineError> {
        self.schedule(self.now.checked_add(delay)?, phase, payload)
    }

    /// Take the earliest event and advance the queue's clock to it.
    #[inline]
    pub fn pop(&mut self) -> Option<Event<T>> {
        let (at, phase) = self.next?;
        if at > self.now {
            self.now = at;
            self.pull_into_window();
        }
        self.phase = phase;
        let (payload, emptied) = self.near.pop(at, phase)?;
        if emptied {
            self.next = self
                .near
                .first_from(at, phase)
                .or_else(|| self.far.min_key().map(unpack));
        }
        Some(Event { at, phase, payload })
    }

    /// Move far events that the clock's advance brought within the window into the calendar,
    /// in key order. The FIFOs of their cycles are empty: those cycles' ring slots last held
    /// cycles already passed.
    fn pull_into_window(&mut self) {
        let end = u128::from(self.now.0) + u128::from(WINDOW);
        while self.far.min_key().is_some_and(|key| key >> 64 < end) {
            if let Some((key, payload)) = self.far.pop() {
                let (at, phase) = unpack(key);
                self.near.push(at, phase, payload);
            }
        }
    }

    /// When the earliest event fires, without taking it.
    #[inline]
    pub fn peek_time(&self) -> Option<(Cycle, Phase)> {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;
    use std::collections::BTreeMap;

    #[test]
    fn fifo_among_equal_cycle_and_phase() {
        let mut q = EventQueue::new();
        for i in 0..100 {
            q.schedule(Cycle(7), Phase::Compute, i).unwrap();
        }
        let order: Vec<i32> = std::iter::from_fn(|| q.pop()).map(|e| e.payload).collect();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn phases_run_in_order_within_a_cycle() {
        let mut q = EventQueue::new();
        for phase in Phase::ALL.into_iter().rev() {
            q.schedule(Cycle(3), phase, phase).unwrap();
        }
        q.schedule(Cycle(2), Phase::Commit, Phase::Commit).unwrap();
        let got: Vec<(Cycle, Phase)> = std::iter::from_fn(|| q.pop())
            .map(|e| (e.at, e.payload))
            .collect();
        let mut want = vec![(Cycle(2), Phase::Commit)];
        want.extend(Phase::ALL.map(|p| (Cycle(3), p)));
        assert_eq!(got, want);
    }

    #[test]
    fn scheduling_into_the_past_is_an_error() {
        let mut q = EventQueue::new();
        q.schedule(Cycle(5), Phase::Compute, ()).unwrap();
        q.pop().unwrap();
        assert!(matches!(
            q.schedule(Cycle(4), Phase::Commit, ()),
            Err(EngineError::Past { .. })
        ));
        assert!(matches!(
            q.schedule_in(0, Phase::Transfer, ()),
            Err(EngineError::Past { .. })
        ));
        assert_eq!(q.schedule_in(0, Phase::Compute, ()), Ok(()));
        assert_eq!(q.schedule_in(0, Phase::Commit, ()), Ok(()));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn relative_overflow_is_an_error() {
        let mut q = EventQueue::new();
        q.schedule(Cycle(u64::MAX), Phase::Issue, ()).unwrap();
        q.pop().unwrap();
        assert_eq!(
            q.schedule_in(1, Phase::Issue, ()),
            Err(EngineError::Overflow { what: "cycle" })
        );
    }

    #[derive(Clone, Debug)]
    enum Op {
        At(u64, u8),
        In(u64, u8),
        Pop,
    }

    /// Absolute cycles below `span`, delays below `reach`.
    fn op(span: u64, reach: u64) -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..span, 0u8..4).prop_map(|(c, p)| Op::At(c, p)),
            (0..reach, 0u8..4).prop_map(|(d, p)| Op::In(d, p)),
            Just(Op::Pop),
        ]
    }

    /// Runs `ops` on a queue and on a sorted map keyed by (cycle, phase, insertion index),
    /// checking that they agree after every step.
    fn agrees_with_sorted_reference(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut q = EventQueue::new();
        let mut reference: BTreeMap<(Cycle, Phase, usize), usize> = BTreeMap::new();
        let mut now = (Cycle::ZERO, Phase::Issue);
        for (i, op) in ops.into_iter().enumerate() {
            let scheduled = match op {
                Op::At(c, p) => {
                    let phase = Phase::from_bits(p);
                    Some((Cycle(c), phase, q.schedule(Cycle(c), phase, i)))
                }
                Op::In(d, p) => {
                    let phase = Phase::from_bits(p);
                    Some((Cycle(now.0.0 + d), phase, q.schedule_in(d, phase, i)))
                }
                Op::Pop => None,
            };
            match scheduled {
                Some((at, phase, got)) => {
                    if (at, phase) < now {
                        let is_past = matches!(got, Err(EngineError::Past { .. }));
                        prop_assert!(is_past);
                    } else {
                        prop_assert_eq!(got, Ok(()));
                        reference.insert((at, phase, i), i);
                    }
                }
                None => {
                    let want = reference.pop_first();
                    let got = q.pop();
                    prop_assert_eq!(
                        got.map(|e| (e.at, e.phase, e.payload)),
                        want.map(|((c, p, _), v)| (c, p, v))
                    );
                    if let Some(((c, p, _), _)) = want {
                        now = (c, p);
                    }
                }
            }
            prop_assert_eq!(q.len(), reference.len());
            prop_assert_eq!(
                q.peek_time(),
                reference.keys().next().map(|&(c, p, _)| (c, p))
            );
            prop_assert_eq!((q.now(), q.phase()), now);
        }
        Ok(())
    }

    proptest! {
        /// Dense schedules: everything within the calendar's window.
        #[test]
        fn matches_a_sorted_reference(ops in prop::collection::vec(op(40, 8), 0..400)) {
            agrees_with_sorted_reference(ops)?;
        }

        /// Sparse schedules spanning many windows: events wait in the far heap and move into
        /// the calendar as the clock advances, interleaved with direct schedules.
        #[test]
        fn matches_a_sorted_reference_across_windows(
            ops in prop::collection::vec(op(20 * WINDOW, 3 * WINDOW), 0..400),
        ) {
            agrees_with_sorted_reference(ops)?;
        }

        /// A random batch of events, then a hold phase (pop one, schedule one), then draining:
        /// pops come out exactly as sorting by (cycle, phase, insertion) says.
        #[test]
        fn pops_in_sorted_key_order(
            batch in prop::collection::vec((0u64..5 * WINDOW, 0u8..4), 1..300),
            holds in prop::collection::vec((0u64..2 * WINDOW, 0u8..4), 0..300),
            high in any::<bool>(),
        ) {
            // Optionally near the top of the cycle range, to check the window never wraps.
            let base = if high { u64::MAX - 1000 * WINDOW } else { 0 };
            let mut q = EventQueue::new();
            let mut keys = Vec::new();
            for (i, &(c, p)) in batch.iter().enumerate() {
                let key = (Cycle(base + c), Phase::from_bits(p), i);
                q.schedule(key.0, key.1, i).unwrap();
                keys.push(key);
            }
            let mut popped = Vec::new();
            for (j, &(d, p)) in holds.iter().enumerate() {
                let e = q.pop().unwrap();
                popped.push((e.at, e.phase, e.payload));
                let phase = Phase::from_bits(p).max(e.phase);
                let i = batch.len() + j;
                q.schedule_in(d, phase, i).unwrap();
                keys.push((Cycle(e.at.0 + d), phase, i));
            }
            popped.extend(std::iter::from_fn(|| q.pop()).map(|e| (e.at, e.phase, e.payload)));
            keys.sort();
            prop_assert_eq!(popped, keys);
        }
    }
}
