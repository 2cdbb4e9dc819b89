//! The 3.5-bit pair formats. Consecutive weights along K form pairs: the even weight gets a
//! 4-bit code `u4`, the odd one a 3-bit code `u3`, 7 bits per pair (`u4` in the low 4 bits).
//! Each row stores an f16 scale `s` and an f16 offset `o`.
//!
//! * `q3.5` (as described by the source documents): one grid for both widths, `w = o + s * q`
//!   with `q = u4 - 8` in -8..=7 and `q = u3 - 4` in -4..=3, so 3-bit codes only reach the middle
//!   half of the row's range.
//! * `q3.5-byte`: the same codes, one pair per byte.
//! * `q3.5-opt`: the 4-bit grid of `q3.5`; 3-bit codes get their own 8 levels over the whole
//!   range, `w = (o - 8s) + (15s/7) * u3`; the range is searched to minimize squared error.

use super::bitstream::window;
use super::coder::Coder;
use super::round::round;
use super::view::{BLOCK, View};
use super::{QuantError, meta, q35_search};
use crate::quant::Format;
use half::f16;

/// How one row's weights map to codes and back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PairGrid {
    /// 4-bit grid: `o + s * (u4 - 8)`.
    s: f32,
    o: f32,
    /// 3-bit grid: `o3 + s3 * (u3 - b3)`.
    s3: f32,
    o3: f32,
    b3: f32,
}

impl PairGrid {
    /// The grids of a row with stored scale `s` and offset `o`.
    pub(crate) fn new(format: Format, s: f32, o: f32) -> Self {
        if format == Format::Q35Opt {
            let s3 = s * 15.0 / 7.0;
            Self {
                s,
                o,
                s3,
                o3: o - 8.0 * s,
                b3: 0.0,
            }
        } else {
            Self {
                s,
                o,
                s3: s,
                o3: o,
                b3: 4.0,
            }
        }
    }

    /// The stored (scale, offset) for the range `[lo, hi]` and the grid they produce.
    pub(crate) fn for_range(
        format: Format,
        lo: f32,
        hi: f32,
        row: usize,
    ) -> Result<(f16, f16, Self), QuantError> {
        let s = meta::to_f16((hi - lo) / 15.0, row, "scale")?;
        let o = meta::to_f16(lo + 8.0 * s.to_f32(), row, "offset")?;
        Ok((s, o, Self::new(format, s.to_f32(), o.to_f32())))
    }

    /// The 4-bit code of an even weight.
    #[inline]
    pub(crate) fn even_code(&self, w: f32) -> u32 {
        code(w, self.o, self.s, 8.0, 15.0)
    }

    /// The 3-bit code of an odd weight.
    #[inline]
    pub(crate) fn odd_code(&self, w: f32) -> u32 {
        code(w, self.o3, self.s3, self.b3, 7.0)
    }

    /// The value of 4-bit code `u4`.
    #[inline]
    pub(crate) fn even_value(&self, u4: u32) -> f32 {
        self.o + self.s * (u4 as f32 - 8.0)
    }

    /// The value of 3-bit code `u3`.
    #[inline]
    pub(crate) fn odd_value(&self, u3: u32) -> f32 {
        self.o3 + self.s3 * (u3 as f32 - self.b3)
    }

    /// `(a4, b4, a3, b3)` with even value `a4 + b4 * u4` and odd value `a3 + b3 * u3`: lets a
    /// dot product run on raw codes and apply the grid once per row.
    #[inline]
    pub(crate) fn affine(&self) -> (f32, f32, f32, f32) {
        (
            self.o - 8.0 * self.s,
            self.s,
            self.o3 - self.s3 * self.b3,
            self.s3,
        )
    }

    /// [`Self::affine`] in f64 from the stored grid (`a4 = o − 8s` exact): the row constants
    /// of the int8-activation kernel, which applies them to exact integer sums.
    #[inline]
    pub(crate) fn affine_f64(&self) -> (f64, f64, f64, f64) {
        let (s, o) = (f64::from(self.s), f64::from(self.o));
        let (s3, o3) = (f64::from(self.s3), f64::from(self.o3));
        (o - 8.0 * s, s, o3 - f64::from(self.b3) * s3, s3)
    }

    /// The codes of the leading weights of `w` (whole groups of eight, so pairs stay
    /// aligned) into `codes` with AVX2 where the CPU has it, the same codes as
    /// [`Self::even_code`] and [`Self::odd_code`]; returns how many were coded (0 elsewhere,
    /// and for a zero step, which codes everything as its bias).
    #[inline]
    fn codes_avx2(&self, w: &[f32], codes: &mut [u32]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.s != 0.0 && self.s3 != 0.0 && super::isa::cpu_has_avx2() {
            let pair = |even: f32, odd: f32| [even, odd, even, odd, even, odd, even, odd];
            let lanes = super::round_avx2::Lanes {
                offset: pair(self.o, self.o3),
                step: pair(self.s, self.s3),
                bias: pair(8.0, self.b3),
                max: pair(15.0, 7.0),
            };
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { super::round_avx2::codes(&lanes, w, codes) };
        }
        let _ = (w, codes);
        0
    }

    /// Step between neighbouring 4-bit and 3-bit levels.
    #[cfg(test)]
    pub(crate) fn steps(&self) -> (f32, f32) {
        (self.s, self.s3)
    }
}

/// `clamp(round((w - o) / s) + bias, 0, max)`; a zero step maps everything to `bias`.
#[inline]
fn code(w: f32, o: f32, s: f32, bias: f32, max: f32) -> u32 {
    if s == 0.0 {
        bias as u32
    } else {
        (round((w - o) / s) + bias).clamp(0.0, max) as u32
    }
}

/// The grid of `row` as stored.
#[inline]
pub(crate) fn grid(format: Format, v: &View, row: usize) -> PairGrid {
    PairGrid::new(
        format,
        meta::read(v.meta(), 2 * row),
        meta::read(v.meta(), 2 * row + 1),
    )
}

/// A pair format as a [`Coder`]: one grid per row, even columns on the 4-bit grid, odd ones
/// on the 3-bit grid; codes section then per-row (scale, offset).
pub(crate) struct Pairs(pub Format);

impl Coder for Pairs {
    type Grid = (f16, f16, PairGrid);

    fn span(&self, cols: usize) -> usize {
        cols
    }

    fn choose(
        &self,
        row: usize,
        w: &[f32],
        importance: Option<&[f32]>,
    ) -> Result<Self::Grid, QuantError> {
        if self.0 == Format::Q35Opt {
            q35_search::best_grid(w, row, importance)
        } else {
            let (lo, hi) = min_max(w);
            PairGrid::for_range(self.0, lo, hi, row)
        }
    }

    #[inline]
    fn code(&self, grid: &Self::Grid, c: usize, v: f32) -> u32 {
        if c.is_multiple_of(2) {
            grid.2.even_code(v)
        } else {
            grid.2.odd_code(v)
        }
    }

    /// Pair by pair: no test of the column's parity per weight.
    #[inline]
    fn codes(&self, grid: &Self::Grid, w: &[f32], codes: &mut [u32]) {
        let g = &grid.2;
        let done = g.codes_avx2(w, codes);
        let (w, codes) = (&w[done..], &mut codes[done..]);
        let (pairs, weights) = (codes.chunks_exact_mut(2), w.chunks_exact(2));
        if let (Some(code), Some(&v)) = (
            pairs.into_remainder().first_mut(),
            weights.remainder().first(),
        ) {
            *code = g.even_code(v);
        }
        for (code, w) in codes.chunks_exact_mut(2).zip(w.chunks_exact(2)) {
            code[0] = g.even_code(w[0]);
            code[1] = g.odd_code(w[1]);
        }
    }

    #[inline]
    fn value(&self, grid: &Self::Grid, c: usize, code: u32) -> f32 {
        if c.is_multiple_of(2) {
            grid.2.even_value(code)
        } else {
            grid.2.odd_value(code)
        }
    }

    fn write(&self, rows: usize, cols: usize, grids: &[Self::Grid], codes: &[u32]) -> Vec<u8> {
        // An odd row's last pair has no odd weight: its 3-bit code is zero padding.
        let mut pairs = Vec::with_capacity(rows * cols.div_ceil(2));
        for row in codes.chunks_exact(cols) {
            let whole = row.chunks_exact(2);
            let last = whole.remainder().first().map(|&u4| u4 as u8);
            pairs.extend(whole.map(|p| (p[0] | p[1] << 4) as u8).chain(last));
        }
        let mut out = if self.0 == Format::Q35Byte {
            pairs
        } else {
            seven_bit_stream(&pairs)
        };
        out.reserve(4 * rows);
        for &(s, o, _) in grids {
            meta::push(&mut out, s);
            meta::push(&mut out, o);
        }
        out
    }
}

/// `pairs` (7-bit values) as one little-endian bit stream: eight pairs fill seven bytes, the
/// last group is padded to its final byte.
fn seven_bit_stream(pairs: &[u8]) -> Vec<u8> {
    let len = (7 * pairs.len()).div_ceil(8);
    // One spare byte: each whole group writes eight bytes, its last one the next group's first.
    let mut stream = vec![0u8; len + 1];
    let groups = pairs.chunks_exact(8);
    let tail = groups.remainder();
    for (g, eight) in groups.enumerate() {
        let word = u64::from_le_bytes(eight.try_into().expect("eight pairs"));
        // Pair k's 7 bits move from bit 8k to bit 7k.
        let mut packed = 0u64;
        for k in 0..8 {
            packed |= ((word >> (8 * k)) & 0x7F) << (7 * k);
        }
        stream[7 * g..7 * g + 8].copy_from_slice(&packed.to_le_bytes());
    }
    if !tail.is_empty() {
        let word = tail.iter().rev().fold(0u64, |w, &p| w << 7 | u64::from(p));
        let at = 7 * (pairs.len() / 8);
        stream[at..len].copy_from_slice(&word.to_le_bytes()[..len - at]);
    }
    stream.truncate(len);
    stream
}

/// Smallest and largest value of a non-empty row.
pub(crate) fn min_max(row: &[f32]) -> (f32, f32) {
    row.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// The 7-bit pairs covering columns `col0..col0 + 2 * buf.len()` of `row` (`col0` a multiple
/// of [`BLOCK`], `buf` at most `BLOCK / 2` long): borrowed from the buffer for `q3.5-byte`,
/// unpacked eight per 64-bit window into `buf` for the bitstream formats.
#[inline]
pub(crate) fn pairs<'a>(
    format: Format,
    v: &View<'a>,
    row: usize,
    col0: usize,
    buf: &'a mut [u8],
) -> &'a [u8] {
    let first = row * v.cols.div_ceil(2) + col0 / 2;
    if format == Format::Q35Byte {
        return &v.bytes[first..first + buf.len()];
    }
    let at = 7 * first;
    match <&mut [u8; BLOCK / 2]>::try_from(&mut *buf) {
        // Whole blocks: fixed trip counts, fully unrolled.
        Ok(whole) => {
            for (c, chunk) in whole.chunks_exact_mut(8).enumerate() {
                unpack8(window(v.bytes, at + 56 * c), chunk);
            }
        }
        Err(_) => {
            for (c, chunk) in buf.chunks_mut(8).enumerate() {
                let mut eight = [0u8; 8];
                unpack8(window(v.bytes, at + 56 * c), &mut eight);
                chunk.copy_from_slice(&eight[..chunk.len()]);
            }
        }
    }
    buf
}

/// The eight 7-bit fields in the low 56 bits of `w`.
#[inline(always)]
fn unpack8(w: u64, out: &mut [u8]) {
    for (k, p) in out.iter_mut().take(8).enumerate() {
        *p = ((w >> (7 * k)) & 127) as u8;
    }
}

/// Decode columns `col0..col0 + out.len()` of `row`; `col0` is a multiple of [`BLOCK`].
#[inline(always)]
pub(crate) fn decode(format: Format, v: &View, row: usize, col0: usize, out: &mut [f32]) {
    let grid = grid(format, v, row);
    let mut buf = [0u8; BLOCK / 2];
    let pairs = pairs(format, v, row, col0, &mut buf[..out.len().div_ceil(2)]);
    let mut values = out.chunks_exact_mut(2);
    for (o, &p) in (&mut values).zip(pairs) {
        o[0] = grid.even_value(u32::from(p & 15));
        o[1] = grid.odd_value(u32::from(p >> 4));
    }
    if let ([last], Some(&p)) = (values.into_remainder(), pairs.last()) {
        *last = grid.even_value(u32::from(p & 15));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_codes_equal_the_codes_of_each_weight() {
        for format in [Format::Q35, Format::Q35Opt] {
            for (lo, hi) in [
                (-0.07, 0.05),
                (-1.0, 3.0),
                (1e-3, 1e-3 + 1e-6),
                (-5e-5, 4e-5),
            ] {
                let (_, _, g) = PairGrid::for_range(format, lo, hi, 0).unwrap();
                let w = super::super::round::probes(&[(g.o, g.s), (g.o3, g.s3)]);
                let mut fast = vec![0u32; w.len()];
                let done = g.codes_avx2(&w, &mut fast);
                assert!(done + 8 > w.len() || !crate::quant::isa::cpu_has_avx2());
                for (c, (&v, &code)) in w.iter().zip(&fast).take(done).enumerate() {
                    let want = if c % 2 == 0 {
                        g.even_code(v)
                    } else {
                        g.odd_code(v)
                    };
                    assert_eq!(code, want, "{format:?} [{lo}, {hi}] column {c}: {v}");
                }
            }
        }
    }
}
