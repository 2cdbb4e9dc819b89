//! `int8`: symmetric 8-bit codes, one f16 scale per row (`w = scale * q`, `q` in -127..=127,
//! so the grid is symmetric and -128 is never used).

use super::round::round;
use super::view::View;
use super::{QuantError, meta};

/// The largest code magnitude.
const QMAX: f32 = 127.0;

/// Codes (one i8 per weight, row-major), then the row scales.
pub(crate) fn pack(rows: usize, cols: usize, w: &[f32]) -> Result<Vec<u8>, QuantError> {
    let mut codes = Vec::with_capacity(rows * cols + 2 * rows);
    let mut scales = Vec::with_capacity(rows);
    for (r, row) in w.chunks_exact(cols).enumerate() {
        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = meta::to_f16(amax / QMAX, r, "scale")?;
        let s = scale.to_f32();
        codes.extend(row.iter().map(|&v| code(v, s) as u8));
        scales.push(scale);
    }
    for s in scales {
        meta::push(&mut codes, s);
    }
    Ok(codes)
}

/// The code of `v` on a grid of step `s` (0 for a zero row).
#[inline]
pub(crate) fn code(v: f32, s: f32) -> i8 {
    if s == 0.0 {
        0
    } else {
        round(v / s).clamp(-QMAX, QMAX) as i8
    }
}

/// The scale of `row`.
#[inline(always)]
pub(crate) fn scale(v: &View, row: usize) -> f32 {
    meta::read(v.meta(), row)
}

/// Decode columns `col0..col0 + out.len()` of `row`.
#[inline(always)]
pub(crate) fn decode(v: &View, row: usize, col0: usize, out: &mut [f32]) {
    let s = scale(v, row);
    let start = row * v.cols + col0;
    let codes = &v.bytes[start..start + out.len()];
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = s * f32::from(c as i8);
    }
}
