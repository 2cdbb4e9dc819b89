//! The int8-activation path for `int8` weights: activations are quantized symmetrically per
//! vector, products accumulate exactly in integers, and one multiply by both scales per output
//! gives the result. Integer sums make it exact and thread-independent by construction.

use super::view::BLOCK;
use super::{Format, PackedMatrix, QuantError, int8};
use rayon::prelude::*;

impl PackedMatrix {
    /// `y = W x` with `x` rounded to int8 (scale `max|x| / 127`). Only `int8` weights have it.
    ///
    /// # Panics
    /// If the slice lengths do not match the matrix (a caller bug).
    pub fn gemv_i8(&self, x: &[f32], y: &mut [f32]) -> Result<(), QuantError> {
        if self.format() != Format::Int8 {
            return Err(QuantError::NoInt8Kernel {
                format: self.format(),
            });
        }
        let (rows, cols) = (self.rows(), self.cols());
        assert_eq!(x.len(), cols, "gemv_i8: x must hold cols values");
        assert_eq!(y.len(), rows, "gemv_i8: y must hold rows values");
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let sx = amax / 127.0;
        let qx: Vec<i8> = x.iter().map(|&v| int8::code(v, sx)).collect();
        let v = self.view();
        y.par_iter_mut().enumerate().for_each(|(r, out)| {
            let codes = &v.bytes[r * cols..(r + 1) * cols];
            let dot: i64 = codes
                .chunks(BLOCK)
                .zip(qx.chunks(BLOCK))
                .map(|(w, x)| {
                    // At most 64 * 127 * 127 per block: no i32 overflow.
                    let s: i32 = w
                        .iter()
                        .zip(x)
                        .map(|(&a, &b)| i32::from(a as i8) * i32::from(b))
                        .sum();
                    i64::from(s)
                })
                .sum();
            *out = (f64::from(sx) * f64::from(int8::scale(&v, r)) * dot as f64) as f32;
        });
        Ok(())
    }
}
