//! Per-component activity counters, reported in a fixed order so that reports are byte-identical
//! run to run.

use super::error::EngineError;
use std::collections::BTreeMap;

/// What one component did: events handled and busy cycles are kept by the engine's contract;
/// anything else (bytes moved, MACs, ...) is a named counter, listed in name order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    events: u64,
    busy: u64,
    named: BTreeMap<&'static str, u64>,
}

fn add(total: &mut u64, n: u64, what: &'static str) -> Result<(), EngineError> {
    *total = total.checked_add(n).ok_or(EngineError::Overflow { what })?;
    Ok(())
}

impl Counters {
    /// Events delivered to the component.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Cycles the component declared itself busy [cycles].
    pub fn busy(&self) -> u64 {
        self.busy
    }

    /// The named counter `name`, 0 if never touched.
    pub fn get(&self, name: &str) -> u64 {
        self.named.get(name).copied().unwrap_or(0)
    }

    /// Named counters in name order.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.named.iter().map(|(&k, &v)| (k, v))
    }

    /// Count one delivered event. Cannot overflow: a component's events never exceed the
    /// simulator's handled count, which stays below its `u64` event budget.
    #[inline]
    pub(super) fn add_event(&mut self) {
        self.events += 1;
    }

    /// Add `cycles` [cycles] of busy time.
    pub fn add_busy(&mut self, cycles: u64) -> Result<(), EngineError> {
        add(&mut self.busy, cycles, "busy counter")
    }

    /// Add `n` to the named counter `name` (e.g. `"bytes"`).
    pub fn add(&mut self, name: &'static str, n: u64) -> Result<(), EngineError> {
        add(self.named.entry(name).or_insert(0), n, name)
    }

    /// Busy cycles over `elapsed` [cycles]; `None` before any time has passed. Above 1 only if
    /// a model declares overlapping busy periods.
    pub fn utilization(&self, elapsed: u64) -> Option<f64> {
        (elapsed > 0).then(|| self.busy as f64 / elapsed as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_counters_are_in_name_order_and_checked() {
        let mut c = Counters::default();
        c.add("zeta", 1).unwrap();
        c.add("bytes", 64).unwrap();
        c.add("bytes", 64).unwrap();
        assert_eq!(c.named().collect::<Vec<_>>(), [("bytes", 128), ("zeta", 1)]);
        assert_eq!(c.get("absent"), 0);
        assert_eq!(
            c.add("bytes", u64::MAX),
            Err(EngineError::Overflow { what: "bytes" })
        );
    }

    #[test]
    fn utilization_is_busy_over_elapsed() {
        let mut c = Counters::default();
        c.add_busy(25).unwrap();
        assert_eq!(c.utilization(100), Some(0.25));
        assert_eq!(c.utilization(0), None);
    }
}
