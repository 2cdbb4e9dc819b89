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
        assert_eq!(reference.len(), approx.len(), "metrics need equal lengths");
        let (mut signal, mut noise, mut cross, mut other, mut max_abs) =
            (0.0, 0.0, 0.0, 0.0, 0.0f64);
        for (&r, &a) in reference.iter().zip(approx) {
            let (r, a) = (f64::from(r), f64::from(a));
            let d = a - r;
            signal += r * r;
            noise += d * d;
            cross += r * a;
            other += a * a;
            max_abs = max_abs.max(d.abs());
        }
        Self {
            rel_error: (noise / signal).sqrt(),
            max_abs_error: max_abs,
            cosine: cross / (signal.sqrt() * other.sqrt()),
            sqnr_db: 10.0 * (signal / noise).log10(),
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
    fn exact_copy_is_infinite_sqnr() {
        let m = ErrorMetrics::between(&[1.0, -2.0], &[1.0, -2.0]);
        assert_eq!(m.rel_error, 0.0);
        assert_eq!(m.sqnr_db, f64::INFINITY);
        assert_relative_eq!(m.cosine, 1.0);
    }
}
