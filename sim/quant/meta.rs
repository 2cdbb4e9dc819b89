//! f16 metadata fields (scales, zero points, offsets): checked conversion on the way in,
//! little-endian reads on the way out.

use super::QuantError;
use half::f16;

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
