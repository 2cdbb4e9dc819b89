//! The int8-activation path: activations are quantized symmetrically per vector
//! (`sx = max|x| / 127`, `qx = round(x / sx)` in −127..=127), weight codes stay integers,
//! products accumulate exactly in integers per row, and the row's scales are applied once.
//! Integer sums do not depend on the order of the additions, so every implementation and
//! every thread count gives the same bits.
//!
//! Batches (`gemm_i8`) round each activation vector with its own scale.
//!
//! * `int8`: `y = sx · scale · Σ q · qx`.
//! * `int4-g128`, `int3-g64`: per group `g` of the row, with its scale `s_g`, zero `z_g`,
//!   exact `S_g = Σ u · qx` and `Q_g = Σ qx` (once per vector),
//!   `y = sx · Σ_g (s_g · S_g + z_g · Q_g)` in f64, groups in four lanes (`group_i8`).
//! * the 3.5-bit pair formats: with the row's grids `even = a4 + b4 · u4`,
//!   `odd = a3 + b3 · u3`, `y = sx · ((a4 · Σqe + b4 · Σ u4 qe) + (a3 · Σqo + b3 · Σ u3 qo))`
//!   in f64, where `qe` / `qo` are the activation codes of the even / odd columns and their
//!   sums `Σqe`, `Σqo` are computed once per vector.

use super::group_i8::Grouping;
use super::isa::Isa;
use super::kernel::by_rows;
use super::view::BLOCK;
use super::{Format, PackedMatrix, QuantError, int8, q35};
#[cfg(target_arch = "x86_64")]
use super::{pairs_avx2::RowCodes, pairs_i8_avx2};

/// One activation vector rounded to int8.
pub(super) struct Int8Activations {
    /// `sx`: the value of code 1.
    pub(super) scale: f32,
    /// One code per column.
    pub(super) codes: Vec<i8>,
    /// Codes of the even columns, one per pair.
    pub(super) even: Vec<i8>,
    /// Codes of the odd columns, one per pair (an odd `cols` pads with 0).
    pub(super) odd: Vec<i8>,
    /// `Σ even`, `Σ odd`.
    sums: (i64, i64),
    /// `Σ codes` over each group of the grouped formats' columns.
    pub(super) group_sums: Vec<i64>,
}

impl Int8Activations {
    /// `x` rounded, with the splits and sums the kernel of `format` reads.
    fn new(isa: Isa, x: &[f32], format: Format) -> Self {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        let codes = match isa {
            Isa::Portable => int8_codes(x, scale),
            // SAFETY: `Isa::Avx2` and `Isa::Avx512` only exist on CPUs that have AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 => unsafe { int8_codes_avx2(x, scale) },
        };
        let grouping = Grouping::of(format);
        let (mut even, mut odd) = (Vec::new(), Vec::new());
        if matches!(format, Format::Q35 | Format::Q35Byte | Format::Q35Opt)
            || grouping.is_some_and(|g| g.split)
        {
            even.extend(codes.iter().step_by(2));
            odd.extend(codes.iter().skip(1).step_by(2));
            odd.resize(even.len(), 0);
        }
        let sum = |v: &[i8]| v.iter().map(|&c| i64::from(c)).sum::<i64>();
        let sums = (sum(&even), sum(&odd));
        let group_sums =
            grouping.map_or_else(Vec::new, |g| codes.chunks(g.size).map(sum).collect());
        Self {
            scale,
            codes,
            even,
            odd,
            sums,
            group_sums,
        }
    }
}

impl PackedMatrix {
    /// True for the formats [`Self::gemv_i8`] and [`Self::gemm_i8`] accept.
    pub fn has_int8_kernel(&self) -> bool {
        self.format() == Format::Int8 || self.pair_format() || Grouping::of(self.format()).is_some()
    }

    /// `y = W x` with `x` rounded to int8 (scale `max|x| / 127`): for `int8`, the grouped
    /// formats (`int4-g128`, `int3-g64`) and the 3.5-bit pair formats (`q3.5`, `q3.5-byte`,
    /// `q3.5-opt`).
    ///
    /// # Panics
    /// If the slice lengths do not match the matrix (a caller bug).
    pub fn gemv_i8(&self, x: &[f32], y: &mut [f32]) -> Result<(), QuantError> {
        self.gemm_i8(x, 1, y)
    }

    /// [`Self::gemv_i8`] for a batch (each activation vector rounded with its own scale):
    /// `x` is `batch` x `cols` row-major, `y` is `batch` x `rows`. Row `b` of `y` is exactly
    /// `gemv_i8` of row `b` of `x`; a bitstream row is decoded once for the whole batch.
    ///
    /// # Panics
    /// If the slice lengths do not match the matrix and batch (a caller bug).
    pub fn gemm_i8(&self, x: &[f32], batch: usize, y: &mut [f32]) -> Result<(), QuantError> {
        self.gemm_i8_on(Isa::detect(), x, batch, y)
    }

    /// [`Self::gemm_i8`] on the kernels of `isa`.
    pub(crate) fn gemm_i8_on(
        &self,
        isa: Isa,
        x: &[f32],
        batch: usize,
        y: &mut [f32],
    ) -> Result<(), QuantError> {
        if !self.has_int8_kernel() {
            return Err(QuantError::NoInt8Kernel {
                format: self.format(),
            });
        }
        let (rows, cols) = (self.rows(), self.cols());
        assert_eq!(
            x.len(),
            batch * cols,
            "gemm_i8: x must hold batch x cols values"
        );
        assert_eq!(
            y.len(),
            batch * rows,
            "gemm_i8: y must hold batch x rows values"
        );
        let qx: Vec<Int8Activations> = x
            .chunks(cols)
            .map(|xb| Int8Activations::new(isa, xb, self.format()))
            .collect();
        let grouping = Grouping::of(self.format());
        type Scratch = (Vec<u8>, Vec<i32>, Vec<f32>);
        let row = |(buf, sums, grids): &mut Scratch, r: usize, out: &mut [f32]| {
            if self.pair_format() {
                self.row_pairs_i8(isa, r, &qx, buf, out);
            } else if let Some(g) = grouping {
                g.grids(&self.view(), r, grids);
                for (o, q) in out.iter_mut().zip(&qx) {
                    *o = self.row_grouped_i8(isa, g, r, q, grids, sums);
                }
            } else {
                for (o, q) in out.iter_mut().zip(&qx) {
                    *o = self.row_int8_i8(isa, r, q);
                }
            }
        };
        by_rows(rows, batch, y, row);
        Ok(())
    }

    /// One `int8` row.
    fn row_int8_i8(&self, isa: Isa, r: usize, qx: &Int8Activations) -> f32 {
        let (cols, v) = (self.cols(), self.view());
        let codes = &v.bytes[r * cols..(r + 1) * cols];
        let dot = match isa {
            Isa::Portable => int8_dot(codes, &qx.codes),
            // SAFETY: `Isa::Avx2` and `Isa::Avx512` only exist on CPUs that have AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 => unsafe { int8_dot_avx2(codes, &qx.codes) },
        };
        (f64::from(qx.scale) * f64::from(int8::scale(&v, r)) * dot as f64) as f32
    }

    /// One row of a pair format against every vector of `qxs` (`out[b]` gets vector `b`):
    /// exact `(Σ u4 qe, Σ u3 qo)`, then the row's grid. `buf` is scratch for the decoded row.
    fn row_pairs_i8(
        &self,
        isa: Isa,
        r: usize,
        qxs: &[Int8Activations],
        buf: &mut Vec<u8>,
        out: &mut [f32],
    ) {
        let (format, v) = (self.format(), self.view());
        // Where the AVX2 kernel reads the row: a batch decodes a bitstream row once into bytes.
        #[cfg(target_arch = "x86_64")]
        let codes = isa.has_avx2().then(|| {
            let pairs = self.cols().div_ceil(2);
            let first = r * pairs;
            if format == Format::Q35Byte {
                RowCodes::Bytes(&v.bytes[first..first + pairs])
            } else if out.len() > 1 {
                buf.clear();
                buf.resize(pairs, 0);
                // SAFETY: `has_avx2` is only true on CPUs that have AVX2.
                unsafe { pairs_i8_avx2::decode_row(RowCodes::Bits(v.bytes, 7 * first), buf) };
                RowCodes::Bytes(buf)
            } else {
                RowCodes::Bits(v.bytes, 7 * first)
            }
        });
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (isa, buf);
        let (a4, b4, a3, b3) = q35::grid(format, &v, r).affine_f64();
        for (o, qx) in out.iter_mut().zip(qxs) {
            #[cfg(target_arch = "x86_64")]
            let (s4, s3) = match codes {
                // SAFETY: `codes` is only set where `has_avx2`, true only on CPUs with AVX2.
                Some(codes) => unsafe { pairs_i8_avx2::row_sums(codes, &qx.even, &qx.odd) },
                None => self.pair_sums(r, qx),
            };
            #[cfg(not(target_arch = "x86_64"))]
            let (s4, s3) = self.pair_sums(r, qx);
            let (qe, qo) = qx.sums;
            let dot = (a4 * qe as f64 + b4 * s4 as f64) + (a3 * qo as f64 + b3 * s3 as f64);
            *o = (f64::from(qx.scale) * dot) as f32;
        }
    }

    /// The portable definition of a pair row's integer sums.
    fn pair_sums(&self, r: usize, qx: &Int8Activations) -> (i64, i64) {
        let (cols, format, v) = (self.cols(), self.format(), self.view());
        let mut buf = [0u8; BLOCK / 2];
        let (mut s4, mut s3) = (0i64, 0i64);
        for col0 in (0..cols).step_by(BLOCK) {
            let n = BLOCK.min(cols - col0).div_ceil(2);
            let pairs = q35::pairs(format, &v, r, col0, &mut buf[..n]);
            let k0 = col0 / 2;
            for ((&p, &e), &o) in pairs.iter().zip(&qx.even[k0..]).zip(&qx.odd[k0..]) {
                s4 += i64::from(p & 15) * i64::from(e);
                s3 += i64::from(p >> 4) * i64::from(o);
            }
        }
        (s4, s3)
    }
}

/// The int8 codes of `x` on the grid of step `scale`.
#[inline(always)]
fn int8_codes(x: &[f32], scale: f32) -> Vec<i8> {
    x.iter().map(|&v| int8::code(v, scale)).collect()
}

/// [`int8_codes`] compiled for AVX2 (vector rounding instead of a libm call per value; the
/// same exactly defined results).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn int8_codes_avx2(x: &[f32], scale: f32) -> Vec<i8> {
    int8_codes(x, scale)
}

/// `Σ w · x` of int8 codes, exact.
#[inline(always)]
fn int8_dot(w: &[u8], x: &[i8]) -> i64 {
    w.chunks(BLOCK)
        .zip(x.chunks(BLOCK))
        .map(|(w, x)| {
            // At most 64 * 127 * 127 per block: no i32 overflow.
            let s: i32 = w
                .iter()
                .zip(x)
                .map(|(&a, &b)| i32::from(a as i8) * i32::from(b))
                .sum();
            i64::from(s)
        })
        .sum()
}

/// [`int8_dot`] with AVX2: 32 products per step by `vpmaddubsw` on `|w|` and `x` carrying
/// `w`'s sign (codes are within ±127, so a pair of products, at most 2 · 127², fits 16 bits),
/// widened by `vpmaddwd`; an exact integer sum, so the same result. The 32-bit lanes take at
/// most 4 · 127² per step and are flushed into the 64-bit total every 4096 steps.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn int8_dot_avx2(w: &[u8], x: &[i8]) -> i64 {
    use std::arch::x86_64::*;
    let n = w.len().min(x.len());
    let whole = n / 32 * 32;
    let ones = _mm256_set1_epi16(1);
    let mut total = 0i64;
    for (w, x) in w[..whole]
        .chunks(32 * 4096)
        .zip(x[..whole].chunks(32 * 4096))
    {
        let mut acc = _mm256_setzero_si256();
        for (w, x) in w.chunks_exact(32).zip(x.chunks_exact(32)) {
            // SAFETY: both chunks hold 32 bytes; unaligned loads are allowed.
            let (w, x) = unsafe {
                (
                    _mm256_loadu_si256(w.as_ptr().cast()),
                    _mm256_loadu_si256(x.as_ptr().cast()),
                )
            };
            let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
        }
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` holds eight i32; unaligned stores are allowed.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
        total += lanes.iter().map(|&l| i64::from(l)).sum::<i64>();
    }
    total + int8_dot(&w[whole..n], &x[whole..n])
}
