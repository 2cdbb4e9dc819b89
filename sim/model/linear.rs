//! Matrix-vector products behind one interface, so the same decoder runs f32 weights or any
//! packed weight format.

use crate::quant::{ErrorSums, Feedback, Format, PackedMatrix};
use rayon::prelude::*;

/// Work (multiply-adds) above which a product is split over rows with rayon.
const PARALLEL_MACS: usize = 1 << 20;

/// A linear layer y = W x with W of shape (rows = out, cols = in).
pub trait Linear: Send + Sync {
    /// `batch` products: x is batch × cols, y is batch × rows, both row-major.
    fn forward(&self, x: &[f32], batch: usize, y: &mut [f32]);

    /// How far the stored weights are from the f32 weights they were made from; `None` for
    /// weights stored exactly (the f32 reference).
    fn weight_error(&self) -> Option<ErrorSums> {
        None
    }
}

/// Packed weights with the error their quantization made, measured while they were packed.
pub struct Quantized {
    matrix: PackedMatrix,
    error: ErrorSums,
}

impl Quantized {
    /// Quantize a matrix whose rows `fill(r, row)` writes, block of rows by block of rows.
    pub fn by_rows(
        format: Format,
        rows: usize,
        cols: usize,
        fill: impl Fn(usize, &mut [f32]) + Sync,
    ) -> Result<Self, String> {
        let (matrix, error) =
            PackedMatrix::quantize_rows(format, rows, cols, fill).map_err(|e| e.to_string())?;
        Ok(Self { matrix, error })
    }

    /// [`Self::by_rows`], each block of f32 rows also handed to `visit` as it is drawn
    /// ([`PackedMatrix::quantize_rows_visiting`]); returns the `per_row` values of every row.
    pub fn by_rows_visiting(
        format: Format,
        rows: usize,
        cols: usize,
        fill: impl Fn(usize, &mut [f32]) + Sync,
        per_row: usize,
        visit: impl Fn(&[f32], &mut [f32]) + Sync,
    ) -> Result<(Self, Vec<f32>), String> {
        let (matrix, error, visited) =
            PackedMatrix::quantize_rows_visiting(format, rows, cols, fill, per_row, visit)
                .map_err(|e| e.to_string())?;
        Ok((Self { matrix, error }, visited))
    }
}

impl Quantized {
    /// Quantize `w` (row-major `rows` x `cols`) with calibrated error feedback.
    pub fn calibrated(
        format: Format,
        rows: usize,
        cols: usize,
        w: &[f32],
        feedback: &Feedback,
    ) -> Result<Self, String> {
        let matrix = PackedMatrix::quantize_calibrated(format, rows, cols, w, feedback)
            .map_err(|e| e.to_string())?;
        let mut error = ErrorSums::default();
        let mut stored = vec![0.0; cols];
        for (r, row) in w.chunks_exact(cols).enumerate() {
            matrix.dequantize_row(r, &mut stored);
            error.add(row, &stored);
        }
        Ok(Self { matrix, error })
    }
}

impl Linear for Quantized {
    fn forward(&self, x: &[f32], batch: usize, y: &mut [f32]) {
        self.matrix.gemm(x, batch, y);
    }

    fn weight_error(&self) -> Option<ErrorSums> {
        Some(self.error)
    }
}

/// Plain f32 weights: the reference every format is compared with.
pub struct Dense {
    rows: usize,
    cols: usize,
    w: Vec<f32>,
}

impl Dense {
    /// Wrap row-major (out, in) weights; `w.len()` must be `rows * cols`.
    pub fn new(rows: usize, cols: usize, w: Vec<f32>) -> Self {
        assert_eq!(w.len(), rows * cols, "weight length must match the shape");
        Self { rows, cols, w }
    }
}

impl Linear for Dense {
    fn forward(&self, x: &[f32], batch: usize, y: &mut [f32]) {
        let (rows, cols) = (self.rows, self.cols);
        let one = |b: usize, yb: &mut [f32]| {
            let xb = &x[b * cols..(b + 1) * cols];
            for (out, w) in yb.iter_mut().zip(self.w.chunks_exact(cols)) {
                *out = dot(w, xb);
            }
        };
        if rows * cols < PARALLEL_MACS {
            for (b, yb) in y.chunks_exact_mut(rows).take(batch).enumerate() {
                one(b, yb);
            }
        } else {
            // Split each product over blocks of rows; every output is one fixed-order dot.
            let block = (PARALLEL_MACS / cols).max(1);
            for b in 0..batch {
                let xb = &x[b * cols..(b + 1) * cols];
                y[b * rows..(b + 1) * rows]
                    .par_chunks_mut(block)
                    .zip(self.w.par_chunks(block * cols))
                    .for_each(|(yc, wc)| {
                        for (out, w) in yc.iter_mut().zip(wc.chunks_exact(cols)) {
                            *out = dot(w, xb);
                        }
                    });
            }
        }
    }
}

/// Dot product with eight interleaved partial sums (fixed order, so results are reproducible).
/// On a CPU with AVX2 the eight sums are one 256-bit vector: the same operations in the same
/// order, so the same bits, about twice as fast (the f32 reference of a synthetic layer is
/// mostly dot products).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { dot_avx2(a, b) };
    }
    dot_lanes(a, b)
}

/// [`dot_lanes`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

/// The definition of [`dot`]: column `c` goes to partial sum `c % 8`.
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let pairs = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (pairs[0] + pairs[2]) + (pairs[1] + pairs[3]) + tail
}

/// Store `w` (row-major rows × cols) in `format`: f32 stays dense, every other format runs the
/// packed kernels.
pub fn build(
    format: Format,
    rows: usize,
    cols: usize,
    w: Vec<f32>,
) -> Result<Box<dyn Linear>, String> {
    match format {
        Format::F32 => Ok(Box::new(Dense::new(rows, cols, w))),
        _ => Quantized::by_rows(format, rows, cols, |r, row| {
            row.copy_from_slice(&w[r * cols..][..cols])
        })
        .map(|q| Box::new(q) as Box<dyn Linear>),
    }
}

/// The values `format` would store for `w`, for tensors that are looked up or scaled
/// elementwise (embedding rows, norm gains) rather than multiplied.
pub fn round_trip(
    format: Format,
    rows: usize,
    cols: usize,
    w: Vec<f32>,
) -> Result<Vec<f32>, String> {
    match format {
        Format::F32 => Ok(w),
        _ => PackedMatrix::quantize(format, rows, cols, &w)
            .map(|p| p.dequantize())
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dot_path_gives_the_same_bits() {
        let x: Vec<f32> = (0..1003).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        let y: Vec<f32> = (0..1003).map(|i| (i as f32 * 1.91).cos() / 7.0).collect();
        for n in [0, 1, 7, 8, 9, 64, 1003] {
            let want = dot_lanes(&x[..n], &y[..n]);
            assert_eq!(dot(&x[..n], &y[..n]).to_bits(), want.to_bits(), "{n}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                let avx2 = unsafe { dot_avx2(&x[..n], &y[..n]) };
                assert_eq!(avx2.to_bits(), want.to_bits(), "{n}");
            }
        }
    }
}
