//! Simulated time: cycles of a clock domain, and exact conversion between domains.

use super::error::EngineError;
use std::fmt;

/// An instant in simulated time [cycles of one clock domain since the start]. Durations are
/// plain `u64` [cycles].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cycle(pub u64);

impl Cycle {
    /// The start of the simulation.
    pub const ZERO: Cycle = Cycle(0);

    /// The raw count [cycles].
    pub fn get(self) -> u64 {
        self.0
    }

    /// `self + delta` [cycles], an error instead of wrapping when a user-sized delay overflows.
    pub fn checked_add(self, delta: u64) -> Result<Cycle, EngineError> {
        self.0
            .checked_add(delta)
            .map(Cycle)
            .ok_or(EngineError::Overflow { what: "cycle" })
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A clock domain [Hz]. Conversions into cycles round *up*: an instant maps to the first clock
/// edge at or after it, because hardware cannot act on a value before the edge that latches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Clock {
    hz: u64,
}

/// Slack [ulps] allowed when a seconds value is meant to land exactly on an edge: a division
/// and a multiplication each round once, so `seconds()` then `cycles_at()` is the identity.
const EDGE_SLACK_ULPS: f64 = 4.0;

impl Clock {
    /// A clock running at `hz` [Hz], e.g. 900 MHz for the TSP.
    pub fn new(hz: u64) -> Result<Self, EngineError> {
        if hz == 0 {
            return Err(EngineError::ZeroFrequency);
        }
        Ok(Self { hz })
    }

    /// The frequency [Hz].
    pub fn hz(self) -> u64 {
        self.hz
    }

    /// The instant `at` [s]; exact up to 2^53 cycles, for reports.
    pub fn seconds(self, at: Cycle) -> f64 {
        at.0 as f64 / self.hz as f64
    }

    /// A duration of `cycles` [µs], the unit of the Chrome trace format.
    pub fn micros(self, cycles: u64) -> f64 {
        cycles as f64 * 1e6 / self.hz as f64
    }

    /// The first edge at or after `seconds` [s]. Values within a few ulps of an edge snap to it,
    /// so that `cycles_at(seconds(c)) == c` despite binary rounding.
    pub fn cycles_at(self, seconds: f64) -> Result<Cycle, EngineError> {
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(EngineError::BadSeconds { seconds });
        }
        let edges = seconds * self.hz as f64;
        let nearest = edges.round();
        let snapped = if (edges - nearest).abs() <= nearest * EDGE_SLACK_ULPS * f64::EPSILON {
            nearest
        } else {
            edges.ceil()
        };
        // 2^64 is exactly representable; anything at or above it cannot be a u64.
        if snapped >= u64::MAX as f64 {
            return Err(EngineError::Overflow { what: "cycle" });
        }
        Ok(Cycle(snapped as u64))
    }

    /// The instant `at` of this domain as a cycle of domain `to`, computed exactly in integers
    /// and rounded up to the next edge of `to`: `ceil(at * to.hz / self.hz)`. Hence the result's
    /// instant is never earlier than `at` and less than one `to` period later; a round trip
    /// returns `at` exactly when the path's frequency ratio is an integer.
    pub fn convert(self, at: Cycle, to: Clock) -> Result<Cycle, EngineError> {
        let scaled = u128::from(at.0) * u128::from(to.hz);
        let cycles = scaled.div_ceil(u128::from(self.hz));
        u64::try_from(cycles)
            .map(Cycle)
            .map_err(|_| EngineError::Overflow { what: "cycle" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_frequency_is_rejected() {
        assert_eq!(Clock::new(0), Err(EngineError::ZeroFrequency));
    }

    #[test]
    fn add_overflow_is_an_error() {
        assert!(Cycle(u64::MAX).checked_add(1).is_err());
        assert_eq!(Cycle(1).checked_add(2), Ok(Cycle(3)));
    }

    #[test]
    fn tsp_clock_seconds() {
        let tsp = Clock::new(900_000_000).unwrap();
        assert_eq!(tsp.seconds(Cycle(900_000_000)), 1.0);
        assert_eq!(tsp.micros(900), 1.0);
        assert_eq!(tsp.cycles_at(1e-6), Ok(Cycle(900)));
        // A third of a cycle past an edge waits for the next one.
        assert_eq!(tsp.cycles_at(1.0 / 2.7e9), Ok(Cycle(1)));
    }

    #[test]
    fn bad_seconds_are_rejected() {
        let c = Clock::new(1_000).unwrap();
        for s in [-1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(c.cycles_at(s).is_err(), "{s}");
        }
    }

    #[test]
    fn convert_rounds_up_and_overflows_cleanly() {
        let slow = Clock::new(3).unwrap();
        let fast = Clock::new(5).unwrap();
        // 1/3 s is 1.67 fast cycles: the next fast edge is 2.
        assert_eq!(slow.convert(Cycle(1), fast), Ok(Cycle(2)));
        // 2/5 s is 1.2 slow cycles: the next slow edge is 2.
        assert_eq!(fast.convert(Cycle(2), slow), Ok(Cycle(2)));
        let huge = Clock::new(u64::MAX).unwrap();
        assert!(Clock::new(1).unwrap().convert(Cycle(2), huge).is_err());
    }

    proptest! {
        #[test]
        fn seconds_round_trip(hz in 1u64..5_000_000_000, c in 0u64..(1 << 40)) {
            let clock = Clock::new(hz).unwrap();
            prop_assert_eq!(clock.cycles_at(clock.seconds(Cycle(c))), Ok(Cycle(c)));
        }

        #[test]
        fn convert_lands_on_the_next_edge(a in 1u64..4_000_000_000, b in 1u64..4_000_000_000, c in 0u64..(1 << 40)) {
            let (from, to) = (Clock::new(a).unwrap(), Clock::new(b).unwrap());
            let d = from.convert(Cycle(c), to).unwrap().0;
            // d/b >= c/a and (d-1)/b < c/a, in exact integers.
            prop_assert!(u128::from(d) * u128::from(a) >= u128::from(c) * u128::from(b));
            if d > 0 {
                prop_assert!(u128::from(d - 1) * u128::from(a) < u128::from(c) * u128::from(b));
            }
            prop_assert!(to.convert(Cycle(d), from).unwrap().0 >= c);
        }

        #[test]
        fn convert_round_trips_through_a_multiple(a in 1u64..1_000_000_000, k in 1u64..16, c in 0u64..(1 << 40)) {
            let (base, fast) = (Clock::new(a).unwrap(), Clock::new(a * k).unwrap());
            let there = base.convert(Cycle(c), fast).unwrap();
            prop_assert_eq!(there, Cycle(c * k));
            prop_assert_eq!(fast.convert(there, base), Ok(Cycle(c)));
        }
    }
}
