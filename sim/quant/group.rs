//! `int4-g128` and `int3-g64`: asymmetric min/max codes in groups along K, each group with an
//! f16 scale and an f16 zero (the value of code 0): `w = zero + scale * u`, `u` in
//! `0..levels`. The two differ only in group size, code width and how codes are laid out.

use super::bitstream::{BitWriter, window};
use super::view::{BLOCK, View};
use super::{QuantError, meta};
use crate::quant::Format;

/// One of the two grouped formats.
#[derive(Clone, Copy)]
pub(crate) struct Grouped {
    /// Weights per group along K.
    pub group: usize,
    /// Bits per code.
    pub bits: usize,
}

/// `int4-g128`: nibbles, two per byte, rows byte-aligned.
pub(crate) const INT4: Grouped = Grouped {
    group: 128,
    bits: 4,
};
/// `int3-g64`: one 3-bit stream for the whole tensor.
pub(crate) const INT3: Grouped = Grouped { group: 64, bits: 3 };

impl Grouped {
    fn max_code(self) -> f32 {
        ((1 << self.bits) - 1) as f32
    }

    /// Codes section then metadata (scale, zero per group, groups in row-major order).
    pub(crate) fn pack(
        self,
        format: Format,
        rows: usize,
        cols: usize,
        w: &[f32],
    ) -> Result<Vec<u8>, QuantError> {
        let code_len = format.code_bytes(rows as u64, cols as u64) as usize;
        let mut stream = BitWriter::new(code_len);
        let mut metadata =
            Vec::with_capacity(format.metadata_bytes(rows as u64, cols as u64) as usize);
        let row_bits = if self.bits == 4 {
            8 * cols.div_ceil(2)
        } else {
            3 * cols
        };
        for (r, row) in w.chunks_exact(cols).enumerate() {
            for (g, group) in row.chunks(self.group).enumerate() {
                let (lo, hi) = group
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    });
                let scale = meta::to_f16((hi - lo) / self.max_code(), r, "scale")?;
                let zero = meta::to_f16(lo, r, "zero")?;
                meta::push(&mut metadata, scale);
                meta::push(&mut metadata, zero);
                let (s, z) = (scale.to_f32(), zero.to_f32());
                for (j, &v) in group.iter().enumerate() {
                    let c = g * self.group + j;
                    stream.put(r * row_bits + self.bits * c, self.bits, self.code(v, s, z));
                }
            }
        }
        let mut out = stream.into_bytes();
        out.extend_from_slice(&metadata);
        Ok(out)
    }

    /// The code of `v` on the grid `z + s * u`.
    #[inline]
    pub(crate) fn code(self, v: f32, s: f32, z: f32) -> u32 {
        if s == 0.0 {
            0
        } else {
            ((v - z) / s).round().clamp(0.0, self.max_code()) as u32
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
