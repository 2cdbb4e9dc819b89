//! Rounding to the nearest integer, halves away from zero: `f32::round` exactly, inlined. The
//! baseline x86-64 target has no rounding instruction, so `f32::round` is a call into libm
//! once per weight quantized (7% of the time of drawing and quantizing a synthetic q3.5 layer).

/// `x.round()`, bit for bit (signed zeros, infinities and NaN included).
#[inline(always)]
pub(crate) fn round(x: f32) -> f32 {
    // From 2^23 on every f32 is an integer (and NaN stays NaN).
    if x.abs() >= 8_388_608.0 || x.is_nan() {
        return x;
    }
    // Truncation and the fraction it drops are both exact below 2^23.
    let t = x as i32 as f32;
    let r = if (x - t).abs() >= 0.5 {
        t + x.signum()
    } else {
        t
    };
    r.copysign(x)
}

/// Weights on and around every level and half-level of the grids `(offset, step)` (the values
/// rounding must get right), and the values no row holds: NaN, infinities, signed zeros, huge.
#[cfg(test)]
pub(super) fn probes(grids: &[(f32, f32)]) -> Vec<f32> {
    let mut w = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        3e9,
        -3e9,
    ];
    for k in -40..40 {
        for &(o, s) in grids {
            let at = o + s * (k as f32 * 0.5);
            w.extend([at, at.next_up(), at.next_down(), at + 0.25 * s]);
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::round;

    #[test]
    fn rounds_as_the_standard_library() {
        let edges = [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.499_999_97,
            -0.499_999_97,
            1e-30,
            -1e-30,
            8_388_607.5,
            -8_388_607.5,
            8_388_608.0,
            1e30,
            -1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN_POSITIVE,
        ];
        let spread = (0..200_000).map(|i| (i as f32 - 100_000.0) * 0.013_7);
        for x in edges.into_iter().chain(spread) {
            assert_eq!(round(x).to_bits(), x.round().to_bits(), "{x}");
        }
        assert!(round(f32::NAN).is_nan());
    }
}
