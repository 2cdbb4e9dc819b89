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
    /// chain of dependent additions per element. With AVX2 the four lanes are one vector.
    ///
    /// # Panics
    /// If the lengths differ (a caller bug).
    pub fn add(&mut self, reference: &[f32], approx: &[f32]) {
        assert_eq!(reference.len(), approx.len(), "metrics need equal lengths");
        let mut lanes = Lanes::new(self.max_abs);
        let whole = reference.len() / LANES * LANES;
        lanes.add_whole(&reference[..whole], &approx[..whole]);
        let tail = reference[whole..].iter().zip(&approx[whole..]);
        for (i, (&r, &a)) in tail.enumerate() {
            lanes.add(i, r, a);
        }
        lanes.finish(self);
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

/// Lanes of [`ErrorSums::add`].
const LANES: usize = 4;

/// The sums of [`ErrorSums::add`] lane by lane, before the lanes are added in order.
struct Lanes {
    signal: [f64; LANES],
    noise: [f64; LANES],
    cross: [f64; LANES],
    other: [f64; LANES],
    max_abs: [f64; LANES],
}

impl Lanes {
    fn new(max_abs: f64) -> Self {
        Self {
            signal: [0.0; LANES],
            noise: [0.0; LANES],
            cross: [0.0; LANES],
            other: [0.0; LANES],
            max_abs: [max_abs; LANES],
        }
    }

    /// One element into lane `i`: the definition of the sums.
    #[inline(always)]
    fn add(&mut self, i: usize, r: f32, a: f32) {
        let (r, a) = (f64::from(r), f64::from(a));
        let d = a - r;
        self.signal[i] += r * r;
        self.noise[i] += d * d;
        self.cross[i] += r * a;
        self.other[i] += a * a;
        self.max_abs[i] = self.max_abs[i].max(d.abs());
    }

    /// [`Self::add`] of every element of `reference` and `approx` (a multiple of four long),
    /// element `i` into lane `i % 4`; with AVX2 where the CPU has it.
    fn add_whole(&mut self, reference: &[f32], approx: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if super::isa::cpu_has_avx2() {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { self.add_avx2(reference, approx) };
            return;
        }
        for (r, a) in reference
            .chunks_exact(LANES)
            .zip(approx.chunks_exact(LANES))
        {
            for i in 0..LANES {
                self.add(i, r[i], a[i]);
            }
        }
    }

    /// Add the lanes, each in order, into `sums`.
    fn finish(self, sums: &mut ErrorSums) {
        let total = |lanes: [f64; LANES]| lanes.iter().sum::<f64>();
        sums.signal += total(self.signal);
        sums.noise += total(self.noise);
        sums.cross += total(self.cross);
        sums.other += total(self.other);
        sums.max_abs = self.max_abs.into_iter().fold(sums.max_abs, f64::max);
    }

    /// [`Self::add_whole`] with the four lanes as one vector: the same operations in the same
    /// order.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn add_avx2(&mut self, reference: &[f32], approx: &[f32]) {
        use std::arch::x86_64::*;
        // SAFETY (every load and store below): four f32 or four f64, unaligned allowed.
        let load = |v: &[f64; LANES]| unsafe { _mm256_loadu_pd(v.as_ptr()) };
        let store =
            |v: &mut [f64; LANES], x: __m256d| unsafe { _mm256_storeu_pd(v.as_mut_ptr(), x) };
        let four = |v: &[f32]| _mm256_cvtps_pd(unsafe { _mm_loadu_ps(v[..LANES].as_ptr()) });
        let (mut signal, mut noise) = (load(&self.signal), load(&self.noise));
        let (mut cross, mut other) = (load(&self.cross), load(&self.other));
        let mut max_abs = load(&self.max_abs);
        let magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
        for (r, a) in reference
            .chunks_exact(LANES)
            .zip(approx.chunks_exact(LANES))
        {
            let (r, a) = (four(r), four(a));
            let d = _mm256_sub_pd(a, r);
            signal = _mm256_add_pd(signal, _mm256_mul_pd(r, r));
            noise = _mm256_add_pd(noise, _mm256_mul_pd(d, d));
            cross = _mm256_add_pd(cross, _mm256_mul_pd(r, a));
            other = _mm256_add_pd(other, _mm256_mul_pd(a, a));
            // A NaN |d| keeps the maximum, as f64::max does (the maximum is never NaN: it
            // starts as a number and only ever takes numbers).
            max_abs = _mm256_max_pd(_mm256_and_pd(d, magnitude), max_abs);
        }
        store(&mut self.signal, signal);
        store(&mut self.noise, noise);
        store(&mut self.cross, cross);
        store(&mut self.other, other);
        store(&mut self.max_abs, max_abs);
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
    fn vector_lanes_sum_as_the_portable_ones() {
        let r: Vec<f32> = (0..1003)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect();
        let mut a: Vec<f32> = r
            .iter()
            .enumerate()
            .map(|(i, v)| v + (i % 7) as f32 * 1e-3)
            .collect();
        a[17] = f32::NAN;
        let mut fast = ErrorSums::default();
        fast.add(&r[..1000], &a[..1000]);
        fast.add(&r[1000..], &a[1000..]);
        let mut portable = Lanes::new(0.0);
        for (i, (&r, &a)) in r[..1000].iter().zip(&a).enumerate() {
            portable.add(i % LANES, r, a);
        }
        let mut sums = ErrorSums::default();
        portable.finish(&mut sums);
        let mut tail = ErrorSums::default();
        tail.add(&r[1000..], &a[1000..]);
        sums.merge(&tail);
        assert_eq!(fast.max_abs.to_bits(), sums.max_abs.to_bits());
        assert_eq!(fast.noise.to_bits(), sums.noise.to_bits());
        assert_eq!(fast.signal.to_bits(), sums.signal.to_bits());
        assert_eq!(fast.cross.to_bits(), sums.cross.to_bits());
    }

    #[test]
    fn exact_copy_is_infinite_sqnr() {
        let m = ErrorMetrics::between(&[1.0, -2.0], &[1.0, -2.0]);
        assert_eq!(m.rel_error, 0.0);
        assert_eq!(m.sqnr_db, f64::INFINITY);
        assert_relative_eq!(m.cosine, 1.0);
    }
}
