//! The deterministic event queue: a min-heap on one packed `u128` key (cycle, phase,
//! sequence), so that every comparison is a single integer compare and equal keys cannot occur.

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
    heap: Heap<T>,
    now: Cycle,
    phase: Phase,
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

    /// An empty queue with room for `capacity` pending events, so the hot path never reallocates.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            heap: Heap::with_capacity(capacity),
            now: Cycle::ZERO,
            phase: Phase::Issue,
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
        self.heap.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.len() == 0
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
        let key = pack(at, phase, self.next_seq);
        self.next_seq += 1;
        self.heap.push(key, payload);
        Ok(())
    }

    /// Add `payload` to fire `delay` [cycles] after the current cycle, in `phase`.
    pub fn schedule_in(&mut self, delay: u64, phase: Phase, payload: T) -> Result<(), EngineError> {
        self.schedule(self.now.checked_add(delay)?, phase, payload)
    }

    /// Take the earliest event and advance the queue's clock to it.
    pub fn pop(&mut self) -> Option<Event<T>> {
        let (key, payload) = self.heap.pop()?;
        let (at, phase) = unpack(key);
        self.now = at;
        self.phase = phase;
        Some(Event { at, phase, payload })
    }

    /// When the earliest event fires, without taking it.
    pub fn peek_time(&self) -> Option<(Cycle, Phase)> {
        self.heap.min_key().map(unpack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..40, 0u8..4).prop_map(|(c, p)| Op::At(c, p)),
            (0u64..8, 0u8..4).prop_map(|(d, p)| Op::In(d, p)),
            Just(Op::Pop),
        ]
    }

    proptest! {
        /// The queue agrees with a sorted map keyed by (cycle, phase, insertion index).
        #[test]
        fn matches_a_sorted_reference(ops in prop::collection::vec(op(), 0..400)) {
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
                prop_assert_eq!(q.peek_time(), reference.keys().next().map(|&(c, p, _)| (c, p)));
                prop_assert_eq!((q.now(), q.phase()), now);
            }
        }
    }
}
