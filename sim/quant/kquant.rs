//! `q3-k256`: 3-bit codes with two-level metadata, after llama.cpp's k-quants. Each row is cut
//! into super-blocks of 256 weights along K and those into sub-blocks of 32. A sub-block's
//! weights are `scale * u - min` (`u` in 0..=7); its scale and min are 6-bit multiples of the
//! super-block's f16 `d` and `dmin`: `scale = d * sc`, `min = dmin * m`. At 3.5 bits per weight
//! (on rows that are multiples of 256) every 32 weights get their own range, where the per-row
//! `q3.5-opt` stretches one range over a whole row and its outliers.

use super::bitstream::{BitWriter, window};
use super::coder::Coder;
use super::format::{KQ_SUB, KQ_SUPER, kquant_row_metadata_bytes};
use super::round::round;
use super::view::View;
use super::{QuantError, meta};
use crate::quant::Format;
use half::f16;

/// Weights per super-block and per sub-block.
const SUPER: usize = KQ_SUPER as usize;
pub(crate) const SUB: usize = KQ_SUB as usize;
/// Sub-blocks per super-block.
const SUBS: usize = SUPER / SUB;
/// Largest 3-bit code and largest 6-bit sub-block scale or min.
const MAX_CODE: f32 = 7.0;
const MAX_SUB: f32 = 63.0;
/// Bytes of a record's two f16 values, before its 6-bit fields.
const F16_PART: usize = 4;
/// Fractions of a sub-block's lower and upper extent tried for its range (clipping a few
/// extreme weights buys a finer step for the others).
const SHRINKS: [f32; 4] = [1.0, 0.9, 0.8, 0.7];

/// The grid of one super-block, as stored.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SuperGrid {
    d: f16,
    dmin: f16,
    /// 6-bit scale and min codes of each sub-block.
    sc: [u8; SUBS],
    m: [u8; SUBS],
}

impl SuperGrid {
    /// `(scale, min)` of sub-block `i`: exactly what the decoder computes.
    #[inline]
    fn sub(&self, i: usize) -> (f32, f32) {
        sub_grid(self.d.to_f32(), self.dmin.to_f32(), self.sc[i], self.m[i])
    }
}

/// `(scale, min)` of a sub-block from its super-block's `d`, `dmin` and its 6-bit codes.
#[inline(always)]
fn sub_grid(d: f32, dmin: f32, sc: u8, m: u8) -> (f32, f32) {
    (d * f32::from(sc), dmin * f32::from(m))
}

/// The code of `v` on the grid `scale * u - min`.
#[inline(always)]
fn code(v: f32, scale: f32, min: f32) -> u32 {
    if scale == 0.0 {
        0
    } else {
        round((v + min) / scale).clamp(0.0, MAX_CODE) as u32
    }
}

/// The best unquantized `(scale, min)` of one sub-block: the range `[lo, hi]` (with `lo <= 0`,
/// since `min` is stored unsigned) whose 8 levels reconstruct it with the least squared error
/// (weight `c`'s weighted by `importance[c]` if given), among the full range and ranges with
/// either end pulled in.
fn sub_range(w: &[f32], importance: Option<&[f32]>) -> (f32, f32) {
    let lo = w.iter().fold(0f32, |m, &v| m.min(v));
    let hi = w.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut best = ((hi - lo) / MAX_CODE, -lo);
    let mut best_err = f64::INFINITY;
    for fl in SHRINKS {
        for fh in SHRINKS {
            let (l, h) = (lo * fl, if hi > 0.0 { hi * fh } else { hi });
            let (scale, min) = ((h - l) / MAX_CODE, -l);
            let err: f64 = w
                .iter()
                .enumerate()
                .map(|(c, &v)| {
                    let e = v - (scale * code(v, scale, min) as f32 - min);
                    f64::from(e * e) * importance.map_or(1.0, |i| f64::from(i[c]))
                })
                .sum();
            if err < best_err {
                (best, best_err) = ((scale, min), err);
            }
        }
    }
    best
}

/// The 6-bit code of `x` as a multiple of `step`.
fn six_bits(x: f32, step: f32) -> u8 {
    if step == 0.0 {
        0
    } else {
        round(x / step).clamp(0.0, MAX_SUB) as u8
    }
}

/// `q3-k256` as a [`Coder`]: one grid per super-block.
pub(crate) struct KQuant;

impl Coder for KQuant {
    type Grid = SuperGrid;

    fn span(&self, _cols: usize) -> usize {
        SUPER
    }

    fn choose(
        &self,
        row: usize,
        w: &[f32],
        importance: Option<&[f32]>,
    ) -> Result<SuperGrid, QuantError> {
        let mut ranges = [(0f32, 0f32); SUBS];
        for (i, (r, sub)) in ranges.iter_mut().zip(w.chunks(SUB)).enumerate() {
            *r = sub_range(
                sub,
                importance.map(|imp| &imp[i * SUB..i * SUB + sub.len()]),
            );
        }
        let smax = ranges.iter().fold(0f32, |m, r| m.max(r.0));
        let mmax = ranges.iter().fold(0f32, |m, r| m.max(r.1));
        let d = meta::to_f16(smax / MAX_SUB, row, "super-block scale")?;
        let dmin = meta::to_f16(mmax / MAX_SUB, row, "super-block min")?;
        let mut grid = SuperGrid {
            d,
            dmin,
            sc: [0; SUBS],
            m: [0; SUBS],
        };
        for (i, &(scale, min)) in ranges.iter().enumerate() {
            grid.sc[i] = six_bits(scale, d.to_f32());
            grid.m[i] = six_bits(min, dmin.to_f32());
        }
        Ok(grid)
    }

    #[inline]
    fn code(&self, grid: &SuperGrid, c: usize, v: f32) -> u32 {
        let (scale, min) = grid.sub(c / SUB);
        code(v, scale, min)
    }

    #[inline]
    fn value(&self, grid: &SuperGrid, c: usize, code: u32) -> f32 {
        let (scale, min) = grid.sub(c / SUB);
        scale * code as f32 - min
    }

    fn write(&self, rows: usize, cols: usize, grids: &[SuperGrid], codes: &[u32]) -> Vec<u8> {
        let (r64, c64) = (rows as u64, cols as u64);
        let mut stream = BitWriter::new(Format::Q3K256.code_bytes(r64, c64) as usize);
        for (i, &u) in codes.iter().enumerate() {
            stream.put(3 * i, 3, u);
        }
        let mut meta = BitWriter::new(Format::Q3K256.metadata_bytes(r64, c64) as usize);
        let supers = cols.div_ceil(SUPER);
        for (g, grid) in grids.iter().enumerate() {
            let (r, s) = (g / supers, g % supers);
            let rec = record(cols, r, s * SUPER);
            meta.put(8 * rec, 16, u32::from(grid.d.to_bits()));
            meta.put(8 * rec + 16, 16, u32::from(grid.dmin.to_bits()));
            let subs = (cols - s * SUPER).min(SUPER).div_ceil(SUB);
            for i in 0..subs {
                let field = u32::from(grid.sc[i]) | u32::from(grid.m[i]) << 6;
                meta.put(8 * (rec + F16_PART) + 12 * i, 12, field);
            }
        }
        let mut out = stream.into_bytes();
        out.extend(meta.into_bytes());
        out
    }
}

/// Byte offset, in the metadata section, of the record of the super-block holding column `col`
/// of row `row`.
#[inline(always)]
fn record(cols: usize, row: usize, col: usize) -> usize {
    let full = kquant_row_metadata_bytes(KQ_SUPER) as usize;
    row * kquant_row_metadata_bytes(cols as u64) as usize + (col / SUPER) * full
}

/// The f16 at byte `at` of `bytes`.
#[inline(always)]
fn f16_at(bytes: &[u8], at: usize) -> f16 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// Index (in super-block order, `d` before `dmin`) of the first non-finite f16 of a packed
/// `rows` x `cols` metadata section, if any.
pub(crate) fn first_bad_f16(meta: &[u8], rows: usize, cols: usize) -> Option<usize> {
    let supers = cols.div_ceil(SUPER);
    (0..rows * supers * 2).find(|&i| {
        let rec = record(cols, i / 2 / supers, (i / 2 % supers) * SUPER);
        !f16_at(meta, rec + 2 * (i % 2)).is_finite()
    })
}

/// `(scale, min)` of the sub-block holding column `col` of `row`, as stored.
#[inline(always)]
pub(crate) fn sub_at(v: &View, row: usize, col: usize) -> (f32, f32) {
    let meta = v.meta();
    let rec = record(v.cols, row, col);
    let (d, dmin) = (f16_at(meta, rec).to_f32(), f16_at(meta, rec + 2).to_f32());
    let field = window(meta, 8 * (rec + F16_PART) + 12 * ((col % SUPER) / SUB));
    field_grid(d, dmin, field)
}

/// `(scale, min)` of the sub-block whose 12-bit field (6-bit scale, then 6-bit min) is in the
/// low bits of `field`.
#[inline(always)]
fn field_grid(d: f32, dmin: f32, field: u64) -> (f32, f32) {
    sub_grid(d, dmin, (field & 63) as u8, ((field >> 6) & 63) as u8)
}

/// Append `scale, -min` of every sub-block of `row` in order to `out`, each [`sub_at`] of it,
/// reading each super-block's record once: the grids of the int8-activation kernel.
pub(crate) fn sub_grids(v: &View, row: usize, out: &mut Vec<f32>) {
    let meta = v.meta();
    for b in 0..v.cols.div_ceil(SUPER) {
        let rec = record(v.cols, row, b * SUPER);
        let (d, dmin) = (f16_at(meta, rec).to_f32(), f16_at(meta, rec + 2).to_f32());
        let subs = (v.cols - b * SUPER).min(SUPER).div_ceil(SUB);
        // Eight 12-bit fields are 96 bits: two windows of 48 bits each.
        let fields = |i: usize| window(meta, 8 * (rec + F16_PART) + 48 * i);
        let (low, high) = (fields(0), if subs > 4 { fields(1) } else { 0 });
        for i in 0..subs {
            let field = if i < 4 {
                low >> (12 * i)
            } else {
                high >> (12 * (i - 4))
            };
            let (scale, min) = field_grid(d, dmin, field);
            out.extend([scale, -min]);
        }
    }
}

/// Decode columns `col0..col0 + out.len()` of `row`; `col0` is a multiple of the 64-column
/// block, so the block covers whole sub-blocks of one super-block.
#[inline(always)]
pub(crate) fn decode(v: &View, row: usize, col0: usize, out: &mut [f32]) {
    let mut at = 3 * (row * v.cols + col0);
    for (k, chunk) in out.chunks_mut(SUB).enumerate() {
        let (scale, min) = sub_at(v, row, col0 + k * SUB);
        for half in chunk.chunks_mut(SUB / 2) {
            let w = window(v.bytes, at);
            for (j, o) in half.iter_mut().enumerate() {
                *o = scale * ((w >> (3 * j)) & 7) as f32 - min;
            }
            at += 3 * SUB / 2;
        }
    }
}
