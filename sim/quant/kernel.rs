//! f32-activation kernels straight on packed weights: each output row is decoded block by
//! block into a stack buffer (never a dequantized copy of the matrix) and reduced in a fixed
//! order, so results are bit-identical whatever the number of threads. Rows run in parallel.

use super::PackedMatrix;
use super::view::BLOCK;
use rayon::prelude::*;

/// Independent partial sums per row; column `c` always lands in lane `c % LANES`.
const LANES: usize = 8;

impl PackedMatrix {
    /// `y = W x`: `x` has `cols` values, `y` gets `rows`.
    ///
    /// # Panics
    /// If the slice lengths do not match the matrix (a caller bug, not a data problem).
    pub fn gemv(&self, x: &[f32], y: &mut [f32]) {
        self.gemm(x, 1, y);
    }

    /// `Y = X Wᵀ` for a batch: `x` is `batch` x `cols` row-major, `y` is `batch` x `rows`.
    ///
    /// # Panics
    /// If the slice lengths do not match the matrix and batch (a caller bug).
    pub fn gemm(&self, x: &[f32], batch: usize, y: &mut [f32]) {
        let (rows, cols) = (self.rows(), self.cols());
        assert_eq!(
            x.len(),
            batch * cols,
            "gemm: x must hold batch x cols values"
        );
        assert_eq!(
            y.len(),
            batch * rows,
            "gemm: y must hold batch x rows values"
        );
        if batch == 1 {
            y.par_iter_mut()
                .enumerate()
                .for_each_init(Vec::new, |acc, (r, out)| {
                    self.row_dot(r, x, acc, std::slice::from_mut(out))
                });
            return;
        }
        let mut by_row = vec![0.0; rows * batch];
        by_row
            .par_chunks_mut(batch.max(1))
            .enumerate()
            .for_each_init(Vec::new, |acc, (r, out)| self.row_dot(r, x, acc, out));
        for (r, outs) in by_row.chunks(batch.max(1)).enumerate() {
            for (b, &v) in outs.iter().enumerate() {
                y[b * rows + r] = v;
            }
        }
    }

    /// Row `r` against every activation vector of `x`; `out[b]` gets batch element `b`.
    fn row_dot(&self, r: usize, x: &[f32], acc: &mut Vec<[f32; LANES]>, out: &mut [f32]) {
        let cols = self.cols();
        acc.clear();
        acc.resize(out.len(), [0.0; LANES]);
        let mut w = [0.0f32; BLOCK];
        for col0 in (0..cols).step_by(BLOCK) {
            let w = &mut w[..BLOCK.min(cols - col0)];
            self.decode_block(r, col0, w);
            for (b, lanes) in acc.iter_mut().enumerate() {
                let xs = &x[b * cols + col0..][..w.len()];
                accumulate(w, xs, lanes);
            }
        }
        for (o, lanes) in out.iter_mut().zip(acc.iter()) {
            *o = reduce(lanes);
        }
    }

    /// `y = W x` in f64 on the dequantized weights, one row at a time in plain order: the
    /// reference the fast kernels are checked against.
    pub fn gemm_reference(&self, x: &[f32], batch: usize) -> Vec<f64> {
        let (rows, cols) = (self.rows(), self.cols());
        let mut row = vec![0.0; cols];
        let mut y = vec![0.0; batch * rows];
        for r in 0..rows {
            self.dequantize_row(r, &mut row);
            for b in 0..batch {
                y[b * rows + r] = row
                    .iter()
                    .zip(&x[b * cols..(b + 1) * cols])
                    .map(|(&w, &v)| f64::from(w) * f64::from(v))
                    .sum();
            }
        }
        y
    }
}

/// Add `w[i] * x[i]` into lane `i % LANES`.
#[inline(always)]
fn accumulate(w: &[f32], x: &[f32], lanes: &mut [f32; LANES]) {
    let mut wc = w.chunks_exact(LANES);
    let mut xc = x.chunks_exact(LANES);
    for (a, b) in (&mut wc).zip(&mut xc) {
        for l in 0..LANES {
            lanes[l] += a[l] * b[l];
        }
    }
    for (l, (a, b)) in wc.remainder().iter().zip(xc.remainder()).enumerate() {
        lanes[l] += a * b;
    }
}

/// Sum the lanes as a fixed pairwise tree.
#[inline]
fn reduce(l: &[f32; LANES]) -> f32 {
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}
