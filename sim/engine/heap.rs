//! The priority structure under the event queue: unique `u128` keys, smallest first.

/// Children per heap node: four 16-byte keys fill one cache line, and the tree is half as deep
/// as a binary heap's, which is what matters once the queue outgrows the caches.
const ARITY: usize = 4;

/// A 4-ary min-heap kept as two parallel arrays, so that comparisons only touch keys and
/// payloads are only swapped along the sifting path.
pub(super) struct Heap<T> {
    keys: Vec<u128>,
    payloads: Vec<T>,
}

impl<T> Heap<T> {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self {
            keys: Vec::with_capacity(capacity),
            payloads: Vec::with_capacity(capacity),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(super) fn min_key(&self) -> Option<u128> {
        self.keys.first().copied()
    }

    pub(super) fn push(&mut self, key: u128, payload: T) {
        self.keys.push(key);
        self.payloads.push(payload);
        let mut i = self.keys.len() - 1;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.keys[parent] < key {
                break;
            }
            self.keys[i] = self.keys[parent];
            self.payloads.swap(i, parent);
            i = parent;
        }
        self.keys[i] = key;
    }

    pub(super) fn pop(&mut self) -> Option<(u128, T)> {
        let last = self.keys.len().checked_sub(1)?;
        self.keys.swap(0, last);
        self.payloads.swap(0, last);
        let popped = (self.keys.pop()?, self.payloads.pop()?);
        if !self.keys.is_empty() {
            self.sift_down();
        }
        Some(popped)
    }

    /// Move the root down to its place; keys are unique, so strict comparisons suffice.
    fn sift_down(&mut self) {
        let n = self.keys.len();
        let key = self.keys[0];
        let mut i = 0;
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                break;
            }
            let mut child = first;
            let mut child_key = self.keys[first];
            for c in first + 1..(first + ARITY).min(n) {
                if self.keys[c] < child_key {
                    child = c;
                    child_key = self.keys[c];
                }
            }
            if key < child_key {
                break;
            }
            self.keys[i] = child_key;
            self.payloads.swap(i, child);
            i = child;
        }
        self.keys[i] = key;
    }
}
