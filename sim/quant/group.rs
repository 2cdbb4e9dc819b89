//! `int4-g128` and `int3-g64`: asymmetric min/max codes in groups along K, each group with an
//! f16 scale and an f16 zero (the value of code 0): `w = zero + scale * u`, `u` in
//! `0..levels`. The two differ only in group size, code width and how codes are laid out.

use super::bitstream::{BitWriter, window};
use super::coder::Coder;
use super::round::round;
use super::view::{BLOCK, View};
use super::{QuantError, meta};
use crate::quant::Format;
use half::f16;

/// One of the two grouped formats.
#[derive(Clone, Copy)]
pub(crate) struct Grouped {
    /// The format it is.
    pub format: Format,
    /// Weights per group along K.
    pub group: usize,
    /// Bits per code.
    pub bits: usize,
}

/// `int4-g128`: nibbles, two per byte, rows byte-aligned.
pub(crate) const INT4: Grouped = Grouped {
    format: Format::Int4G128,
    group: 128,
    bits: 4,
};
/// `int3-g64`: one 3-bit stream for the whole tensor.
pub(crate) const INT3: Grouped = Grouped {
    format: Format::Int3G64,
    group: 64,
    bits: 3,
};

impl Grouped {
    fn max_code(self) -> f32 {
        ((1 << self.bits) - 1) as f32
    }

    /// Bits from the start of one row's codes to the next.
    fn row_bits(self, cols: usize) -> usize {
        if self.bits == 4 {
            8 * cols.div_ceil(2)
        } else {
            3 * cols
        }
    }

    /// The code of `v` on the grid `z + s * u`.
    #[inline]
    pub(crate) fn code(self, v: f32, s: f32, z: f32) -> u32 {
        if s == 0.0 {
            0
        } else {
            round((v - z) / s).clamp(0.0, self.max_code()) as u32
        }
    }

    /// The (scale, zero) of the group holding column `col` of `row`.
    #[inline(always)]
    pub(crate) fn grid(self, v: &View, row: usize, col: usize) -> (f32, f32) {
        let g = row * v.cols.div_ceil(self.group) + col / self.group;
        (meta::read(v.meta(), 2 * g), meta::read(v.meta(), 2 * g + 1))
    }

    /// Decode columns `col0..col0 + out.len()` of `row`; `col0` is a multiple of the block size,
    /// so the block lies in one group.
    #[inline(always)]
    pub(crate) fn decode(self, v: &View, row: usize, col0: usize, out: &mut [f32]) {
        let (s, z) = self.grid(v, row, col0);
        let mut u = [0u8; BLOCK];
        let u = &mut u[..out.len()];
        self.codes(v, row, col0, u);
        for (o, &u) in out.iter_mut().zip(u.iter()) {
            *o = z + s * f32::from(u);
        }
    }

    /// The codes of columns `col0..col0 + out.len()` of `row` (`col0` a multiple of 16), one
    /// per byte.
    #[inline(always)]
    pub(crate) fn codes(self, v: &View, row: usize, col0: usize, out: &mut [u8]) {
        if self.bits == 4 {
            let start = row * v.cols.div_ceil(2) + col0 / 2;
            let bytes = &v.bytes[start..start + out.len().div_ceil(2)];
            // Whole pairs first, with fixed-size bodies that vectorize; then an odd last column.
            let mut pairs = out.chunks_exact_mut(2);
            for (pair, &b) in (&mut pairs).zip(bytes) {
                pair[0] = b & 15;
                pair[1] = b >> 4;
            }
            if let ([last], Some(&b)) = (pairs.into_remainder(), bytes.last()) {
                *last = b & 15;
            }
        } else {
            let mut at = 3 * (row * v.cols + col0);
            for chunk in out.chunks_mut(16) {
                let w = window(v.bytes, at);
                for (j, o) in chunk.iter_mut().enumerate() {
                    *o = ((w >> (3 * j)) & 7) as u8;
                }
                at += 48;
            }
        }
    }
}

/// Min/max grids, one per group: codes section then (scale, zero) per group in row-major order.
impl Coder for Grouped {
    type Grid = (f16, f16);

    fn span(&self, _cols: usize) -> usize {
        self.group
    }

    fn choose(
        &self,
        row: usize,
        w: &[f32],
        _importance: Option<&[f32]>,
    ) -> Result<Self::Grid, QuantError> {
        let (lo, hi) = w
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let scale = meta::to_f16((hi - lo) / self.max_code(), row, "scale")?;
        Ok((scale, meta::to_f16(lo, row, "zero")?))
    }

    #[inline]
    fn code(&self, grid: &Self::Grid, _c: usize, v: f32) -> u32 {
        Grouped::code(*self, v, grid.0.to_f32(), grid.1.to_f32())
    }

    /// Eight weights at a time with AVX2 where the CPU has it (the same codes: a zero bias
    /// changes no code), the rest one at a time.
    #[inline]
    fn codes(&self, grid: &Self::Grid, w: &[f32], codes: &mut [u32]) {
        let (s, z) = (grid.0.to_f32(), grid.1.to_f32());
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if s != 0.0 && super::isa::cpu_has_avx2() {
            let lanes = super::round_avx2::Lanes {
                offset: [z; 8],
                step: [s; 8],
                bias: [0.0; 8],
                max: [self.max_code(); 8],
            };
            // SAFETY: the CPU has AVX2 (checked just above).
            done = unsafe { super::round_avx2::codes(&lanes, w, codes) };
        }
        for (code, &v) in codes[done..].iter_mut().zip(&w[done..]) {
            *code = Grouped::code(*self, v, s, z);
        }
    }

    #[inline]
    fn value(&self, grid: &Self::Grid, _c: usize, code: u32) -> f32 {
        grid.1.to_f32() + grid.0.to_f32() * code as f32
    }

    fn write(&self, rows: usize, cols: usize, grids: &[Self::Grid], codes: &[u32]) -> Vec<u8> {
        let (r64, c64) = (rows as u64, cols as u64);
        let mut stream = BitWriter::new(self.format.code_bytes(r64, c64) as usize);
        let row_bits = self.row_bits(cols);
        for (r, row) in codes.chunks_exact(cols).enumerate() {
            for (c, &code) in row.iter().enumerate() {
                stream.put(r * row_bits + self.bits * c, self.bits, code);
            }
        }
        let mut out = stream.into_bytes();
        out.reserve(self.format.metadata_bytes(r64, c64) as usize);
        for &(scale, zero) in grids {
            meta::push(&mut out, scale);
            meta::push(&mut out, zero);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_codes_equal_the_codes_of_each_weight() {
        for g in [INT4, INT3] {
            for (lo, hi) in [
                (-0.07f32, 0.05f32),
                (-1.0, 3.0),
                (1e-3, 1e-3 + 1e-6),
                (0.5, 0.5),
            ] {
                let grid = (f16::from_f32((hi - lo) / g.max_code()), f16::from_f32(lo));
                let (s, z) = (grid.0.to_f32(), grid.1.to_f32());
                let w = super::super::round::probes(&[(z, s)]);
                let mut fast = vec![0u32; w.len()];
                Coder::codes(&g, &grid, &w, &mut fast);
                for (c, (&v, &code)) in w.iter().zip(&fast).enumerate() {
                    assert_eq!(
                        code,
                        Grouped::code(g, v, s, z),
                        "{:?} [{lo}, {hi}] column {c}: {v}",
                        g.format
                    );
                }
            }
        }
    }
}
