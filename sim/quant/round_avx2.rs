//! Rounding weights to grid codes eight at a time with AVX, bit for bit what the portable
//! `clamp(round((w - o) / s) + bias, 0, max) as u32` of each lane gives: the subtraction and
//! the division are the same IEEE operations, and rounding halves away from zero is done on
//! the exact truncation and the exact fraction it drops. Quantizing a synthetic 405B layer
//! spent a fifth of its time rounding one weight at a time, half of it in mispredicted
//! branches on the fraction.

use std::arch::x86_64::*;

/// The grid of each of eight lanes: lane `k` of a group of eight weights is coded as
/// `clamp(round((w - offset[k]) / step[k]) + bias[k], 0, max[k])`. Every step must be
/// non-zero (a zero step codes everything as its bias, which the caller does on its own).
#[derive(Clone, Copy)]
pub(super) struct Lanes {
    pub offset: [f32; 8],
    pub step: [f32; 8],
    pub bias: [f32; 8],
    pub max: [f32; 8],
}

/// The codes of the first `8 * (w.len() / 8)` weights of `w` (at most `codes.len()`), into
/// `codes`; returns how many were coded.
#[target_feature(enable = "avx2")]
pub(super) fn codes(lanes: &Lanes, w: &[f32], codes: &mut [u32]) -> usize {
    let load8 = |v: &[f32; 8]| {
        // SAFETY: eight f32; unaligned loads are allowed.
        unsafe { _mm256_loadu_ps(v.as_ptr()) }
    };
    let (offset, step) = (load8(&lanes.offset), load8(&lanes.step));
    let (bias, max) = (load8(&lanes.bias), load8(&lanes.max));
    // |x| >= 2^22 codes as 0 or max whatever its rounding, so x is clamped into the range
    // where truncation to i32 is exact; NaN becomes the low end, which codes as 0 as a NaN
    // does in `f32::clamp(..) as u32`.
    let (lo, hi) = (_mm256_set1_ps(-4_194_304.0), _mm256_set1_ps(4_194_304.0));
    let (half, one) = (_mm256_set1_ps(0.5), _mm256_set1_ps(1.0));
    let (sign, zero) = (_mm256_set1_ps(-0.0), _mm256_setzero_ps());
    let n = (w.len() / 8).min(codes.len() / 8);
    for (w, out) in w.chunks_exact(8).zip(codes.chunks_exact_mut(8)).take(n) {
        // SAFETY: eight f32; unaligned loads are allowed.
        let v = unsafe { _mm256_loadu_ps(w.as_ptr()) };
        let x = _mm256_div_ps(_mm256_sub_ps(v, offset), step);
        let x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
        let t = _mm256_cvtepi32_ps(_mm256_cvttps_epi32(x));
        let fraction = _mm256_andnot_ps(sign, _mm256_sub_ps(x, t));
        let away = _mm256_cmp_ps::<_CMP_GE_OQ>(fraction, half);
        let unit = _mm256_or_ps(_mm256_and_ps(x, sign), one);
        let r = _mm256_add_ps(t, _mm256_and_ps(away, unit));
        let c = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, bias), zero), max);
        // SAFETY: `out` holds eight u32; unaligned stores are allowed.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), _mm256_cvttps_epi32(c)) };
    }
    8 * n
}
