//! `f32`, `f16` and `bf16`: weights stored as little-endian floats, no metadata.

use super::QuantError;
use super::view::{BLOCK, View};
use crate::quant::Format;
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// Encode `w` (already checked finite) as little-endian floats of `format`.
pub(crate) fn pack(format: Format, cols: usize, w: &[f32]) -> Result<Vec<u8>, QuantError> {
    let mut out = Vec::with_capacity(w.len() * if format == Format::F32 { 4 } else { 2 });
    for (i, &v) in w.iter().enumerate() {
        match format {
            Format::F32 => out.extend_from_slice(&v.to_le_bytes()),
            Format::F16 => {
                let h = f16::from_f32(v);
                if !h.is_finite() {
                    return Err(QuantError::F16Overflow {
                        row: i / cols,
                        what: "weight",
                        value: v,
                    });
                }
                out.extend_from_slice(&h.to_le_bytes());
            }
            _ => out.extend_from_slice(&bf16::from_f32(v).to_le_bytes()),
        }
    }
    Ok(out)
}

/// Decode columns `col0..col0 + out.len()` of `row`.
#[inline(always)]
pub(crate) fn decode(format: Format, v: &View, row: usize, col0: usize, out: &mut [f32]) {
    let start = row * v.cols + col0;
    match format {
        Format::F32 => {
            let b = &v.bytes[4 * start..4 * (start + out.len())];
            for (o, c) in out.iter_mut().zip(b.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Format::F16 => {
            let b = &v.bytes[2 * start..2 * (start + out.len())];
            let mut h = [f16::ZERO; BLOCK];
            for (o, c) in h.iter_mut().zip(b.chunks_exact(2)) {
                *o = f16::from_le_bytes([c[0], c[1]]);
            }
            // The slice conversion uses the CPU's f16 instructions where it has them.
            h[..out.len()].convert_to_f32_slice(out);
        }
        _ => {
            let b = &v.bytes[2 * start..2 * (start + out.len())];
            for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
                // bf16 is the top half of an f32.
                *o = f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16);
            }
        }
    }
}
