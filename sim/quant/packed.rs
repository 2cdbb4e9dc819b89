//! [`PackedMatrix`]: a weight matrix in one of the catalogue's formats, held as exactly the
//! bytes the simulator's memories store, with the checks that make it safe to build from user
//! weights or from raw bytes.

use super::view::{BLOCK, View};
use super::{Format, QuantError, float, group, int8, meta, q35};
use rayon::prelude::*;

/// A `rows` x `cols` weight matrix (output channels x inputs, row-major) packed in `format`:
/// codes section then f16 metadata section, `format.packed_bytes(rows, cols)` bytes in all.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedMatrix {
    format: Format,
    rows: usize,
    cols: usize,
    bytes: Vec<u8>,
}

impl PackedMatrix {
    /// Quantize and pack row-major `weights` (`rows * cols` finite values).
    pub fn quantize(
        format: Format,
        rows: usize,
        cols: usize,
        weights: &[f32],
    ) -> Result<Self, QuantError> {
        let expected = checked_len(rows, cols)?;
        if weights.len() != expected {
            return Err(QuantError::ShapeMismatch {
                rows,
                cols,
                expected,
                got: weights.len(),
            });
        }
        if let Some(index) = weights.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite {
                index,
                row: index / cols,
                col: index % cols,
                value: weights[index],
            });
        }
        let bytes = match format {
            Format::F32 | Format::F16 | Format::Bf16 => float::pack(format, cols, weights)?,
            Format::Int8 => int8::pack(rows, cols, weights)?,
            Format::Int4G128 => group::INT4.pack(format, rows, cols, weights)?,
            Format::Int3G64 => group::INT3.pack(format, rows, cols, weights)?,
            Format::Q35 | Format::Q35Byte | Format::Q35Opt => {
                q35::pack(format, rows, cols, weights)?
            }
        };
        debug_assert_eq!(
            bytes.len() as u64,
            format.packed_bytes(rows as u64, cols as u64)
        );
        Ok(Self {
            format,
            rows,
            cols,
            bytes,
        })
    }

    /// Adopt packed bytes (e.g. read back from a simulated memory), checking their length
    /// against the catalogue and that every metadata value is finite.
    pub fn from_bytes(
        format: Format,
        rows: usize,
        cols: usize,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<Self, QuantError> {
        let bytes = bytes.into();
        checked_len(rows, cols)?;
        let expected = format.packed_bytes(rows as u64, cols as u64);
        if bytes.len() as u64 != expected {
            return Err(QuantError::ByteLength {
                format,
                rows,
                cols,
                expected,
                got: bytes.len(),
            });
        }
        let m = Self {
            format,
            rows,
            cols,
            bytes,
        };
        let meta = m.view().meta();
        if let Some(index) = (0..meta.len() / 2).find(|&i| !meta::read(meta, i).is_finite()) {
            return Err(QuantError::CorruptMetadata { format, index });
        }
        Ok(m)
    }

    /// The storage format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Output channels.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Inputs (the reduction dimension K).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The packed bytes; their length is `format().packed_bytes(rows, cols)`.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// All weights as the kernels see them, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        out.par_chunks_mut(self.cols)
            .enumerate()
            .for_each(|(r, row)| self.dequantize_row(r, row));
        out
    }

    /// Row `row` as the kernels see it; `out` holds `cols` values.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        for (b, block) in out.chunks_mut(BLOCK).enumerate() {
            self.decode_block(row, b * BLOCK, block);
        }
    }

    /// Decode columns `col0..col0 + out.len()` of `row`; `col0` is a multiple of [`BLOCK`] and
    /// `out` at most [`BLOCK`] long.
    #[inline(always)]
    pub(crate) fn decode_block(&self, row: usize, col0: usize, out: &mut [f32]) {
        let v = self.view();
        match self.format {
            Format::F32 | Format::F16 | Format::Bf16 => {
                float::decode(self.format, &v, row, col0, out)
            }
            Format::Int8 => int8::decode(&v, row, col0, out),
            Format::Int4G128 => group::INT4.decode(&v, row, col0, out),
            Format::Int3G64 => group::INT3.decode(&v, row, col0, out),
            Format::Q35 | Format::Q35Byte | Format::Q35Opt => {
                q35::decode(self.format, &v, row, col0, out)
            }
        }
    }

    /// The buffer split into codes and metadata.
    #[inline]
    pub(crate) fn view(&self) -> View<'_> {
        View {
            bytes: &self.bytes,
            code_len: self.format.code_bytes(self.rows as u64, self.cols as u64) as usize,
            cols: self.cols,
        }
    }
}

/// `rows * cols`, refusing empty and unaddressable shapes. The bound keeps every byte and bit
/// offset of every format (up to 32 bits per weight) within `usize`.
fn checked_len(rows: usize, cols: usize) -> Result<usize, QuantError> {
    if rows == 0 || cols == 0 {
        return Err(QuantError::Empty { rows, cols });
    }
    rows.checked_mul(cols)
        .filter(|&n| n <= isize::MAX as usize / 32)
        .ok_or(QuantError::TooLarge { rows, cols })
}
