//! f32-activation kernels straight on packed weights: each output row is decoded block by
//! block into a stack buffer (never a dequantized copy of the matrix) and reduced in a fixed
//! order, so results are bit-identical whatever the number of threads. Rows run in parallel.

use super::view::BLOCK;
use super::{Format, PackedMatrix, q35};
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
        let pair_sums = self.pair_format().then(|| pair_sums(x, cols));
        let dot = |acc: &mut Vec<[f32; LANES]>, r: usize, out: &mut [f32]| match &pair_sums {
            Some(sums) => self.row_dot_pairs(r, x, sums, acc, out),
            None => self.row_dot(r, x, acc, out),
        };
        if batch == 1 {
            y.par_iter_mut()
                .enumerate()
                .for_each_init(Vec::new, |acc, (r, out)| {
                    dot(acc, r, std::slice::from_mut(out))
                });
            return;
        }
        let mut by_row = vec![0.0; rows * batch];
        by_row
            .par_chunks_mut(batch.max(1))
            .enumerate()
            .for_each_init(Vec::new, |acc, (r, out)| dot(acc, r, out));
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

    /// True for the 3.5-bit pair formats, whose kernel works on raw codes.
    fn pair_format(&self) -> bool {
        matches!(
            self.format(),
            Format::Q35 | Format::Q35Byte | Format::Q35Opt
        )
    }

    /// [`Self::row_dot`] for the pair formats: sums `x * u4` over even and `x * u3` over odd
    /// columns straight from the codes, then applies the row's grid once:
    /// `a4 * Σx_even + b4 * Σ x u4 + a3 * Σx_odd + b3 * Σ x u3`.
    fn row_dot_pairs(
        &self,
        r: usize,
        x: &[f32],
        sums: &[[f32; 2]],
        acc: &mut Vec<[f32; LANES]>,
        out: &mut [f32],
    ) {
        let (cols, format, v) = (self.cols(), self.format(), self.view());
        let (a4, b4, a3, b3) = q35::grid(format, &v, r).affine();
        acc.clear();
        acc.resize(2 * out.len(), [0.0; LANES]);
        let mut buf = [0u8; BLOCK / 2];
        for col0 in (0..cols).step_by(BLOCK) {
            let n = BLOCK.min(cols - col0);
            let pairs = q35::pairs(format, &v, r, col0, &mut buf[..n.div_ceil(2)]);
            for (b, lanes) in acc.chunks_exact_mut(2).enumerate() {
                let xs = &x[b * cols + col0..][..n];
                let (even, odd) = lanes.split_at_mut(1);
                accumulate_pairs(pairs, xs, &mut even[0], &mut odd[0]);
            }
        }
        for ((o, lanes), s) in out.iter_mut().zip(acc.chunks_exact(2)).zip(sums) {
            *o = (a4 * s[0] + b4 * reduce(&lanes[0])) + (a3 * s[1] + b3 * reduce(&lanes[1]));
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
        for ((l, a), b) in lanes.iter_mut().zip(a).zip(b) {
            *l += a * b;
        }
    }
    for ((l, a), b) in lanes.iter_mut().zip(wc.remainder()).zip(xc.remainder()) {
        *l += a * b;
    }
}

/// Add `x[2k] * u4[k]` into `even[k % LANES]` and `x[2k+1] * u3[k]` into `odd[k % LANES]`.
#[inline(always)]
fn accumulate_pairs(pairs: &[u8], x: &[f32], even: &mut [f32; LANES], odd: &mut [f32; LANES]) {
    // Whole groups of LANES pairs have 2 * LANES activations; a shorter tail (end of an odd
    // row) may lack the last odd activation.
    let full = x.len() / (2 * LANES);
    let (head, tail) = pairs.split_at(full * LANES);
    for (p, xs) in head.chunks_exact(LANES).zip(x.chunks_exact(2 * LANES)) {
        for (((e, o), &p), xp) in even
            .iter_mut()
            .zip(odd.iter_mut())
            .zip(p)
            .zip(xs.chunks_exact(2))
        {
            *e += xp[0] * f32::from(p & 15);
            *o += xp[1] * f32::from(p >> 4);
        }
    }
    let xt = &x[full * 2 * LANES..];
    for (l, (&p, xs)) in tail.iter().zip(xt.chunks(2)).enumerate() {
        even[l] += xs[0] * f32::from(p & 15);
        if let Some(&xo) = xs.get(1) {
            odd[l] += xo * f32::from(p >> 4);
        }
    }
}

/// Per batch element, the sums of the activations at even and at odd columns, in lane order.
fn pair_sums(x: &[f32], cols: usize) -> Vec<[f32; 2]> {
    x.chunks(cols.max(1))
        .map(|xb| {
            let (mut even, mut odd) = ([0.0; LANES], [0.0; LANES]);
            for (k, p) in xb.chunks(2).enumerate() {
                even[k % LANES] += p[0];
                odd[k % LANES] += p.get(1).copied().unwrap_or(0.0);
            }
            [reduce(&even), reduce(&odd)]
        })
        .collect()
}

/// Sum the lanes as a fixed pairwise tree.
#[inline]
fn reduce(l: &[f32; LANES]) -> f32 {
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}
