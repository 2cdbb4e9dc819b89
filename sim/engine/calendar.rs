//! The near future of the event queue: one FIFO per (cycle, phase) for the next [`WINDOW`]
//! cycles, in a ring indexed by the cycle's low bits, with an occupancy bitmap to find the next
//! non-empty FIFO. Scheduling and popping are O(1) apart from the bitmap scan, and the FIFOs
//! keep insertion order, so no sequence number is compared.

use super::queue::Phase;
use super::time::Cycle;
use std::collections::VecDeque;

/// Cycles covered by the ring [cycles]: beyond most on-chip latencies, so nearly every event
/// lands here rather than in the far-future heap; a power of two.
pub(super) const WINDOW: u64 = 1024;
/// FIFOs in the ring: one per phase of every cycle of the window.
const FIFOS: usize = WINDOW as usize * Phase::ALL.len();
/// Bitmap words.
const WORDS: usize = FIFOS / 64;

/// Events at cycles `base .. base + WINDOW` for a caller-kept `base` (the queue's clock): cycle
/// `c`, phase `p` lives in FIFO `4 * (c mod WINDOW) + p`, so ring order from `base`'s FIFO on is
/// time order.
pub(super) struct Calendar<T> {
    fifos: Vec<VecDeque<T>>,
    /// Bit `i` is set when FIFO `i` holds an event.
    occupied: Box<[u64; WORDS]>,
    len: usize,
}

/// The FIFO of (cycle, phase).
#[inline]
fn index(at: Cycle, phase: Phase) -> usize {
    ((at.0 & (WINDOW - 1)) as usize) << 2 | phase as usize
}

impl<T> Calendar<T> {
    pub(super) fn new() -> Self {
        Self {
            fifos: (0..FIFOS).map(|_| VecDeque::new()).collect(),
            occupied: Box::new([0; WORDS]),
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Append `payload` to the FIFO of (`at`, `phase`); `at` must lie in the window.
    #[inline]
    pub(super) fn push(&mut self, at: Cycle, phase: Phase, payload: T) {
        let i = index(at, phase);
        self.fifos[i].push_back(payload);
        self.occupied[i / 64] |= 1 << (i % 64);
        self.len += 1;
    }

    /// Take the oldest event of (`at`, `phase`), and whether that FIFO is now empty.
    #[inline]
    pub(super) fn pop(&mut self, at: Cycle, phase: Phase) -> Option<(T, bool)> {
        let i = index(at, phase);
        let fifo = &mut self.fifos[i];
        let payload = fifo.pop_front()?;
        self.len -= 1;
        let emptied = fifo.is_empty();
        if emptied {
            self.occupied[i / 64] &= !(1 << (i % 64));
        }
        Some((payload, emptied))
    }

    /// The earliest non-empty (cycle, phase) at or after (`base`, `phase`), where every event
    /// lies in `base .. base + WINDOW`: the first set bit in ring order from that FIFO.
    pub(super) fn first_from(&self, base: Cycle, phase: Phase) -> Option<(Cycle, Phase)> {
        if self.len == 0 {
            return None;
        }
        let start = index(base, phase);
        let (word0, bit0) = (start / 64, start % 64);
        // Word `word0` twice: its bits from `bit0` first, those before `bit0` after wrapping.
        let found = (0..=WORDS).find_map(|k| {
            let w = (word0 + k) % WORDS;
            let bits = match k {
                0 => self.occupied[w] & (!0 << bit0),
                WORDS => self.occupied[w] & !(!0 << bit0),
                _ => self.occupied[w],
            };
            (bits != 0).then(|| 64 * w + bits.trailing_zeros() as usize)
        })?;
        let ahead = (found / 4).wrapping_sub(start / 4) as u64 & (WINDOW - 1);
        Some((Cycle(base.0 + ahead), Phase::ALL[found % 4]))
    }
}
