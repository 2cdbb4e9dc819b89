//! f32-activation kernels straight on packed weights: each output row is decoded block by
//! block into a stack buffer (never a dequantized copy of the matrix) and reduced in a fixed
//! order, so results are bit-identical whatever the number of threads. Rows run in parallel.
//! The portable code below defines the arithmetic; [`Isa`] picks a faster implementation of
//! exactly the same operations where the CPU has one.

use super::isa::Isa;
use super::view::BLOCK;
use super::{Format, PackedMatrix, q35};
#[cfg(target_arch = "x86_64")]
use super::{dense_avx2, pairs_avx2};
use rayon::prelude::*;

/// Independent partial sums per row; column `c` always lands in lane `c % LANES`.
pub(super) const LANES: usize = 8;

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
        self.gemm_on(Isa::detect(), x, batch, y);
    }

    /// [`Self::gemm`] on the kernels of `isa`.
    pub(crate) fn gemm_on(&self, isa: Isa, x: &[f32], batch: usize, y: &mut [f32]) {
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
        let split = self.pair_format().then(|| SplitActivations::new(x, cols));
        let dot = |acc: &mut Vec<[f32; LANES]>, r: usize, out: &mut [f32]| match &split {
            Some(split) => self.row_dot_pairs(isa, r, split, acc, out),
            None => match isa {
                Isa::Portable => self.row_dot(r, x, acc, out),
                // SAFETY: `Isa::Avx2` and `Isa::Avx512` only exist on CPUs that have AVX2 and
                // F16C, and the format is checked to be one `dense_avx2` decodes.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx512 if dense_avx2::decodes(self.format(), cols) => unsafe {
                    dense_avx2::row_dot(self, r, x, acc, out)
                },
                // SAFETY: `Isa::Avx2` and `Isa::Avx512` only exist on CPUs that have AVX2.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx512 => unsafe { self.row_dot_avx2(r, x, acc, out) },
            },
        };
        by_rows(rows, batch, y, dot);
    }

    /// [`Self::row_dot`] compiled for AVX2: the same code, so the same results, with the
    /// decoders and the lane loop vectorized 8 wide.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn row_dot_avx2(&self, r: usize, x: &[f32], acc: &mut Vec<[f32; LANES]>, out: &mut [f32]) {
        self.row_dot(r, x, acc, out);
    }

    /// Row `r` against every activation vector of `x`; `out[b]` gets batch element `b`.
    #[inline(always)]
    fn row_dot(&self, r: usize, x: &[f32], acc: &mut Vec<[f32; LANES]>, out: &mut [f32]) {
        acc.clear();
        acc.resize(out.len(), [0.0; LANES]);
        for col0 in (0..self.cols()).step_by(BLOCK) {
            self.accumulate_block(r, col0, x, acc);
        }
        for (o, lanes) in out.iter_mut().zip(acc.iter()) {
            *o = reduce(lanes);
        }
    }

    /// Decode the block of row `r` at column `col0` and add its products with every
    /// activation vector of `x` into that vector's lanes in `acc`.
    #[inline(always)]
    pub(super) fn accumulate_block(
        &self,
        r: usize,
        col0: usize,
        x: &[f32],
        acc: &mut [[f32; LANES]],
    ) {
        let cols = self.cols();
        let mut w = [0.0f32; BLOCK];
        let w = &mut w[..BLOCK.min(cols - col0)];
        self.decode_block(r, col0, w);
        for (b, lanes) in acc.iter_mut().enumerate() {
            accumulate(w, &x[b * cols + col0..][..w.len()], lanes);
        }
    }

    /// True for the 3.5-bit pair formats, whose kernel works on raw codes.
    pub(super) fn pair_format(&self) -> bool {
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
        isa: Isa,
        r: usize,
        x: &SplitActivations,
        acc: &mut Vec<[f32; LANES]>,
        out: &mut [f32],
    ) {
        let (cols, format, v) = (self.cols(), self.format(), self.view());
        let (a4, b4, a3, b3) = q35::grid(format, &v, r).affine();
        acc.clear();
        acc.resize(2 * out.len(), [0.0; LANES]);
        match isa {
            Isa::Portable => {
                let mut buf = [0u8; BLOCK / 2];
                for col0 in (0..cols).step_by(BLOCK) {
                    let n = BLOCK.min(cols - col0).div_ceil(2);
                    let pairs = q35::pairs(format, &v, r, col0, &mut buf[..n]);
                    for (b, lanes) in acc.chunks_exact_mut(2).enumerate() {
                        let (xe, xo) = x.block(b, col0 / 2, n);
                        let (even, odd) = lanes.split_at_mut(1);
                        accumulate_pairs(pairs, xe, xo, &mut even[0], &mut odd[0]);
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 => {
                let first = r * x.pairs;
                let codes = if format == Format::Q35Byte {
                    pairs_avx2::RowCodes::Bytes(&v.bytes[first..first + x.pairs])
                } else {
                    pairs_avx2::RowCodes::Bits(v.bytes, 7 * first)
                };
                // SAFETY: `Isa::Avx2` only exists on CPUs that have AVX2.
                unsafe { pairs_avx2::accumulate(codes, x, acc) };
            }
        }
        for (b, (o, lanes)) in out.iter_mut().zip(acc.chunks_exact(2)).enumerate() {
            let [se, so] = x.sums[b];
            *o = (a4 * se + b4 * reduce(&lanes[0])) + (a3 * so + b3 * reduce(&lanes[1]));
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

/// Run `row(scratch, r, out)` for every output row `r` in parallel (`out[b]` gets batch element
/// `b`, `scratch` is per-thread) and place the results in `y` (`batch` x `rows`).
pub(super) fn by_rows<T: Default + Send>(
    rows: usize,
    batch: usize,
    y: &mut [f32],
    row: impl Fn(&mut T, usize, &mut [f32]) + Sync + Send,
) {
    if batch == 1 {
        y.par_iter_mut()
            .enumerate()
            .for_each_init(T::default, |s, (r, out)| {
                row(s, r, std::slice::from_mut(out))
            });
        return;
    }
    let mut by_row = vec![0.0; rows * batch];
    by_row
        .par_chunks_mut(batch.max(1))
        .enumerate()
        .for_each_init(T::default, |s, (r, out)| row(s, r, out));
    for (r, outs) in by_row.chunks(batch.max(1)).enumerate() {
        for (b, &v) in outs.iter().enumerate() {
            y[b * rows + r] = v;
        }
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

/// Add `xe[k] * u4[k]` into `even[k % LANES]` and `xo[k] * u3[k]` into `odd[k % LANES]`.
#[inline(always)]
pub(super) fn accumulate_pairs(
    pairs: &[u8],
    xe: &[f32],
    xo: &[f32],
    even: &mut [f32; LANES],
    odd: &mut [f32; LANES],
) {
    let (mut pc, mut ec, mut oc) = (
        pairs.chunks_exact(LANES),
        xe.chunks_exact(LANES),
        xo.chunks_exact(LANES),
    );
    for ((p, e), o) in (&mut pc).zip(&mut ec).zip(&mut oc) {
        for ((((se, so), &p), &e), &o) in even.iter_mut().zip(odd.iter_mut()).zip(p).zip(e).zip(o) {
            *se += e * f32::from(p & 15);
            *so += o * f32::from(p >> 4);
        }
    }
    let tail = pc
        .remainder()
        .iter()
        .zip(ec.remainder())
        .zip(oc.remainder());
    for (l, ((&p, &e), &o)) in tail.enumerate() {
        even[l] += e * f32::from(p & 15);
        odd[l] += o * f32::from(p >> 4);
    }
}

/// Activations split into even and odd columns, contiguous, so the pair kernels read them
/// without strides. Per batch element: `pairs` even values then `pairs` odd values (an odd
/// `cols` pads the odd half with 0, matching the padding code), and their lane-ordered sums.
pub(super) struct SplitActivations {
    pub(super) pairs: usize,
    split: Vec<f32>,
    sums: Vec<[f32; 2]>,
}

impl SplitActivations {
    fn new(x: &[f32], cols: usize) -> Self {
        let pairs = cols.div_ceil(2);
        let mut split = Vec::with_capacity(2 * pairs * x.len() / cols.max(1));
        let mut sums = Vec::new();
        for xb in x.chunks(cols.max(1)) {
            split.extend(xb.iter().step_by(2));
            split.extend(xb.iter().skip(1).step_by(2));
            if cols % 2 == 1 {
                split.push(0.0);
            }
            let both = &split[split.len() - 2 * pairs..];
            sums.push([lane_sum(&both[..pairs]), lane_sum(&both[pairs..])]);
        }
        Self { pairs, split, sums }
    }

    /// Even and odd activations of pairs `first..first + n` of batch element `b`.
    #[inline]
    pub(super) fn block(&self, b: usize, first: usize, n: usize) -> (&[f32], &[f32]) {
        let base = 2 * self.pairs * b;
        (
            &self.split[base + first..][..n],
            &self.split[base + self.pairs + first..][..n],
        )
    }
}

/// Sum with element `k` in lane `k % LANES`, lanes reduced as a fixed tree.
fn lane_sum(v: &[f32]) -> f32 {
    let mut lanes = [0.0; LANES];
    for (k, &x) in v.iter().enumerate() {
        lanes[k % LANES] += x;
    }
    reduce(&lanes)
}

/// Sum the lanes as a fixed pairwise tree.
#[inline]
pub(super) fn reduce(l: &[f32; LANES]) -> f32 {
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}
