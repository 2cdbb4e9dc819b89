//! How far quantized weights (or outputs) are from the originals, in the measures quantization
//! papers quote. Everything accumulates in f64 so the metric is not the error source.

use serde::Serialize;

/// Error of an approximation against a reference of the same length.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ErrorMetrics {
    /// ‖approx − reference‖₂ / ‖reference‖₂ (Frobenius norm for matrices).
    pub rel_error: f64,
    /// Largest |approx − reference| over all elements.
    pub max_abs_error: f64,
    /// Cosine of the angle between the two as flat vectors (1 = same direction).
    pub cosine: f64,
    /// Signal-to-quantization-noise ratio, 10·log10(‖reference‖² / ‖approx − reference‖²);
    /// infinite when exact.
    pub sqnr_db: f64,
}

impl ErrorMetrics {
    /// Compare `approx` to `reference`.
    ///
    /// # Panics
    /// If the lengths differ (a caller bug).
    pub fn between(reference: &[f32], approx: &[f32]) -> Self {
        let mut sums = ErrorSums::default();
        sums.add(reference, approx);
        sums.metrics()
    }
}

/// The running sums behind [`ErrorMetrics`], so a matrix compared block by block (never held
/// whole in f32) gets the same measures; blocks merged in a fixed order give fixed results.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorSums {
    signal: f64,
    noise: f64,
    cross: f64,
    other: f64,
    max_abs: f64,
}

impl ErrorSums {
    /// Add the elements of one block. The sums run in four lanes, element `i` in lane `i % 4`,
    /// which are then added in order: the same block always gives the same sums, without one
    /// chain of dependent additions per element.
    ///
    /// # Panics
    /// If the lengths differ (a caller bug).
    pub fn add(&mut self, reference: &[f32], approx: &[f32]) {
        assert_eq!(reference.len(), approx.len(), "metrics need equal lengths");
        const LANES: usize = 4;
        let (mut signal, mut noise, mut cross, mut other) =
            ([0.0f64; LANES], [0.0; LANES], [0.0; LANES], [0.0; LANES]);
        let mut max_abs = [self.max_abs; LANES];
        let mut lane = |i: usize, r: f32, a: f32| {
            let (r, a) = (f64::from(r), f64::from(a));
            let d = a - r;
            signal[i] += r * r;
            noise[i] += d * d;
            cross[i] += r * a;
            other[i] += a * a;
            max_abs[i] = max_abs[i].max(d.abs());
        };
        let (r4, a4) = (reference.chunks_exact(LANES), approx.chunks_exact(LANES));
        let tail = r4.remainder().iter().zip(a4.remainder()).enumerate();
        for (r, a) in r4.zip(a4) {
            for i in 0..LANES {
                lane(i, r[i], a[i]);
            }
        }
        for (i, (&r, &a)) in tail {
            lane(i, r, a);
        }
        let total = |lanes: [f64; LANES]| lanes.iter().sum::<f64>();
        self.signal += total(signal);
        self.noise += total(noise);
        self.cross += total(cross);
        self.other += total(other);
        self.max_abs = max_abs.into_iter().fold(self.max_abs, f64::max);
    }

    /// Add the sums of another block.
    pub fn merge(&mut self, o: &Self) {
        self.signal += o.signal;
        self.noise += o.noise;
        self.cross += o.cross;
        self.other += o.other;
        self.max_abs = self.max_abs.max(o.max_abs);
    }

    /// The measures of everything added so far.
    pub fn metrics(&self) -> ErrorMetrics {
        ErrorMetrics {
            rel_error: (self.noise / self.signal).sqrt(),
            max_abs_error: self.max_abs,
            cosine: self.cross / (self.signal.sqrt() * self.other.sqrt()),
            sqnr_db: 10.0 * (self.signal / self.noise).log10(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn known_values() {
        let m = ErrorMetrics::between(&[3.0, 4.0], &[3.0, 4.5]);
        assert_relative_eq!(m.rel_error, 0.1);
        assert_relative_eq!(m.max_abs_error, 0.5);
        assert_relative_eq!(m.sqnr_db, 20.0);
        assert_relative_eq!(m.cosine, 27.0 / (5.0 * 29.25f64.sqrt()));
    }

    #[test]
    fn sums_over_blocks_equal_the_whole() {
        let (r, a) = ([3.0, 4.0, -1.0, 2.0], [3.0, 4.5, -1.5, 2.0]);
        let mut sums = ErrorSums::default();
        sums.add(&r[..3], &a[..3]);
        let mut tail = ErrorSums::default();
        tail.add(&r[3..], &a[3..]);
        sums.merge(&tail);
        assert_eq!(sums.metrics(), ErrorMetrics::between(&r, &a));
    }

    #[test]
    fn exact_copy_is_infinite_sqnr() {
        let m = ErrorMetrics::between(&[1.0, -2.0], &[1.0, -2.0]);
        assert_eq!(m.rel_error, 0.0);
        assert_eq!(m.sqnr_db, f64::INFINITY);
        assert_relative_eq!(m.cosine, 1.0);
    }
}
