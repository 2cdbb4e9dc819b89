//! f16 metadata fields (scales, zero points, offsets): checked conversion on the way in,
//! little-endian reads on the way out.

use super::QuantError;
use half::f16;
use half::slice::HalfFloatSliceExt;

/// Round `value` to the f16 that will be stored, refusing values beyond the f16 range so a
/// too-wide row is reported instead of silently turning into infinity.
pub(crate) fn to_f16(value: f32, row: usize, what: &'static str) -> Result<f16, QuantError> {
    let h = f16::from_f32(value);
    if h.is_finite() {
        Ok(h)
    } else {
        Err(QuantError::F16Overflow { row, what, value })
    }
}

/// Append `h` little-endian.
pub(crate) fn push(out: &mut Vec<u8>, h: f16) {
    out.extend_from_slice(&h.to_le_bytes());
}

/// The `index`-th f16 of a metadata section, as f32.
#[inline(always)]
pub(crate) fn read(meta: &[u8], index: usize) -> f32 {
    f16::from_le_bytes([meta[2 * index], meta[2 * index + 1]]).to_f32()
}

/// Append the `n` f16 of a metadata section from the `first`-th on, as f32: each is
/// [`read`] of it, converted by the vector instruction where the CPU has one (F16C), which
/// matters where a kernel reads two per 32-128 weights.
pub(crate) fn read_many(meta: &[u8], first: usize, n: usize, out: &mut Vec<f32>) {
    const STEP: usize = 64;
    let bytes = &meta[2 * first..2 * (first + n)];
    let start = out.len();
    out.resize(start + n, 0.0);
    for (chunk, dst) in bytes.chunks(2 * STEP).zip(out[start..].chunks_mut(STEP)) {
        let mut halves = [f16::ZERO; STEP];
        for (h, b) in halves.iter_mut().zip(chunk.chunks_exact(2)) {
            *h = f16::from_le_bytes([b[0], b[1]]);
        }
        halves[..dst.len()].convert_to_f32_slice(dst);
    }
}
