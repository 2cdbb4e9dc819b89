//! [`PackedMatrix`]: a weight matrix in one of the catalogue's formats, held as exactly the
//! bytes the simulator's memories store, with the checks that make it safe to build from user
//! weights or from raw bytes.

use super::coder::{self, Feedback};
use super::view::{BLOCK, View};
use super::{ErrorSums, Format, QuantError, float, group, int8, kquant, meta, q35};
use rayon::prelude::*;

/// Rows quantized together by [`PackedMatrix::quantize_rows`]: a multiple of 8, so every
/// format's codes of a block start on a byte boundary (7-bit pairs and 3-bit codes included).
const BLOCK_ROWS: usize = 64;

/// Rows of a block drawn and quantized together (a multiple of 8, as [`BLOCK_ROWS`]): eight
/// rows of a 405B `ffn_down` are 1.7 MB of f32, which stays in cache through every pass.
const SLICE_ROWS: usize = 8;

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
    /// Quantize and pack row-major `weights` (`rows * cols` finite values), each weight
    /// rounded to the nearest code of its grid.
    pub fn quantize(
        format: Format,
        rows: usize,
        cols: usize,
        weights: &[f32],
    ) -> Result<Self, QuantError> {
        Self::pack(format, rows, cols, weights, None)
    }

    /// Quantize and pack with error feedback from calibration data (GPTQ): the same format and
    /// bytes layout as [`Self::quantize`], but each row's codes are chosen column by column so
    /// that the layer's output on the calibration inputs moves least. Only the sub-8-bit
    /// integer formats have it ([`Format::is_calibrated`]).
    pub fn quantize_calibrated(
        format: Format,
        rows: usize,
        cols: usize,
        weights: &[f32],
        feedback: &Feedback,
    ) -> Result<Self, QuantError> {
        if !format.is_calibrated() {
            return Err(QuantError::NotCalibrated { format });
        }
        Self::pack(format, rows, cols, weights, Some(feedback))
    }

    fn pack(
        format: Format,
        rows: usize,
        cols: usize,
        weights: &[f32],
        feedback: Option<&Feedback>,
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
            Format::Int4G128 => coder::pack(&group::INT4, rows, cols, weights, feedback)?,
            Format::Int3G64 => coder::pack(&group::INT3, rows, cols, weights, feedback)?,
            Format::Q35 | Format::Q35Byte | Format::Q35Opt => {
                coder::pack(&q35::Pairs(format), rows, cols, weights, feedback)?
            }
            Format::Q3K256 => coder::pack(&kquant::KQuant, rows, cols, weights, feedback)?,
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

    /// Quantize and pack a matrix made block of rows by block of rows: `fill(r, row)` writes
    /// row `r` (`cols` finite values). Blocks run in parallel, so only a few blocks of f32
    /// rows exist at a time, never the whole matrix; the bytes are those of [`Self::quantize`]
    /// on the same rows, and the returned sums compare every stored weight with its f32 value.
    pub fn quantize_rows(
        format: Format,
        rows: usize,
        cols: usize,
        fill: impl Fn(usize, &mut [f32]) + Sync,
    ) -> Result<(Self, ErrorSums), QuantError> {
        let (m, sums, _) = Self::quantize_rows_visiting(format, rows, cols, fill, 0, |_, _| ())?;
        Ok((m, sums))
    }

    /// [`Self::quantize_rows`] that also hands each block of f32 rows, as drawn, to
    /// `visit(block, out)`, `out` holding `per_row` values for each of the block's rows: the
    /// f32 reference product of a matrix that is never stored is computed from the very rows
    /// being quantized. Returns the `rows * per_row` values, by row.
    pub fn quantize_rows_visiting(
        format: Format,
        rows: usize,
        cols: usize,
        fill: impl Fn(usize, &mut [f32]) + Sync,
        per_row: usize,
        visit: impl Fn(&[f32], &mut [f32]) + Sync,
    ) -> Result<(Self, ErrorSums, Vec<f32>), QuantError> {
        checked_len(rows, cols)?;
        let code_len = format.code_bytes(rows as u64, cols as u64) as usize;
        let block_code = format.code_bytes(BLOCK_ROWS as u64, cols as u64) as usize;
        let block_meta = format.metadata_bytes(BLOCK_ROWS as u64, cols as u64) as usize;
        let mut bytes = vec![0u8; format.packed_bytes(rows as u64, cols as u64) as usize];
        let (codes, metadata) = bytes.split_at_mut(code_len);
        let blocks = rows.div_ceil(BLOCK_ROWS);
        let mut metadata: Vec<&mut [u8]> = metadata.chunks_mut(block_meta.max(1)).collect();
        // The float formats store no metadata: their blocks get empty slices.
        metadata.resize_with(blocks, Default::default);
        let mut visited = vec![0.0; rows * per_row];
        let mut outs: Vec<&mut [f32]> = visited.chunks_mut((BLOCK_ROWS * per_row).max(1)).collect();
        outs.resize_with(blocks, Default::default);
        let sums = codes
            .par_chunks_mut(block_code)
            .zip(metadata)
            .zip(outs)
            .enumerate()
            .map_init(
                || (Vec::new(), vec![0.0; cols]),
                |(weights, stored), (b, ((codes, metadata), out))| {
                    let mut sums = ErrorSums::default();
                    // A block's rows go through in slices of SLICE_ROWS, whose f32 rows stay
                    // in cache between drawing, the visit, quantizing and the error sums; the
                    // bytes and the sums (row after row) are the whole block's.
                    let (mut codes, mut metadata, mut out) = (codes, metadata, out);
                    let end = rows.min((b + 1) * BLOCK_ROWS);
                    for row0 in (b * BLOCK_ROWS..end).step_by(SLICE_ROWS) {
                        let n = SLICE_ROWS.min(end - row0);
                        weights.resize(n * cols, 0.0);
                        for (i, row) in weights.chunks_exact_mut(cols).enumerate() {
                            fill(row0 + i, row);
                        }
                        let here;
                        (here, out) = std::mem::take(&mut out).split_at_mut(n * per_row);
                        visit(weights, here);
                        let slice = Self::quantize(format, n, cols, weights)
                            .map_err(|e| e.in_block_at(row0, cols))?;
                        let (c, m) = slice.bytes.split_at(slice.view().code_len);
                        let (c_here, m_here);
                        (c_here, codes) = std::mem::take(&mut codes).split_at_mut(c.len());
                        (m_here, metadata) = std::mem::take(&mut metadata).split_at_mut(m.len());
                        c_here.copy_from_slice(c);
                        m_here.copy_from_slice(m);
                        for (i, row) in weights.chunks_exact(cols).enumerate() {
                            slice.dequantize_row(i, stored);
                            sums.add(row, stored);
                        }
                    }
                    Ok(sums)
                },
            )
            .collect::<Result<Vec<_>, QuantError>>()?;
        let total = sums.iter().fold(ErrorSums::default(), |mut t, s| {
            t.merge(s);
            t
        });
        let m = Self {
            format,
            rows,
            cols,
            bytes,
        };
        Ok((m, total, visited))
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
        let bad = if format == Format::Q3K256 {
            kquant::first_bad_f16(meta, rows, cols)
        } else {
            (0..meta.len() / 2).find(|&i| !meta::read(meta, i).is_finite())
        };
        if let Some(index) = bad {
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
            Format::Q3K256 => kquant::decode(&v, row, col0, out),
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
