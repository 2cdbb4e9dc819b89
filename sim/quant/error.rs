//! Why a matrix cannot be quantized, packed or read back: each case names the offending
//! index or size so the caller can fix its input.

use super::Format;

/// A weight matrix or packed buffer that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    /// A matrix without weights has no scales and no meaning.
    #[error("empty matrix: {rows} x {cols} has no weights")]
    Empty { rows: usize, cols: usize },
    /// The weight slice does not hold `rows * cols` values.
    #[error("shape {rows} x {cols} needs {expected} weights, got {got}")]
    ShapeMismatch {
        rows: usize,
        cols: usize,
        expected: usize,
        got: usize,
    },
    /// The shape's weight count does not fit in memory addresses.
    #[error("shape {rows} x {cols} is too large to address")]
    TooLarge { rows: usize, cols: usize },
    /// NaN or infinity cannot be placed on any grid.
    #[error("weight {index} (row {row}, column {col}) is {value}: weights must be finite")]
    NonFinite {
        index: usize,
        row: usize,
        col: usize,
        value: f32,
    },
    /// A value, scale, zero point or offset is beyond the f16 range (±65504) of its field.
    #[error("row {row}: {what} {value} does not fit in f16 (largest finite value 65504)")]
    F16Overflow {
        row: usize,
        what: &'static str,
        value: f32,
    },
    /// A packed buffer whose length is not the catalogue size of its format and shape.
    #[error("{format} matrix of {rows} x {cols} takes {expected} bytes, got {got}")]
    ByteLength {
        format: Format,
        rows: usize,
        cols: usize,
        expected: u64,
        got: usize,
    },
    /// A packed buffer whose metadata holds NaN or infinity.
    #[error("{format} metadata value {index} is not finite: the buffer is corrupt")]
    CorruptMetadata { format: Format, index: usize },
    /// The integer-activation kernel needs integer codes on one per-row grid.
    #[error(
        "format {format} has no int8-activation kernel (only int8, q3.5, q3.5-byte and q3.5-opt have)"
    )]
    NoInt8Kernel { format: Format },
    /// A calibration Hessian that cannot steer the rounding of a matrix.
    #[error("calibration Hessian for {cols} inputs {reason}")]
    Hessian { cols: usize, reason: String },
    /// Calibrated rounding applies to the integer formats below 8 bits only.
    #[error(
        "format {format} has no calibrated quantizer (only the sub-8-bit integer formats have)"
    )]
    NotCalibrated { format: Format },
}

impl QuantError {
    /// The error of a block of rows starting at `row0` of a matrix `cols` wide, renamed to
    /// the matrix's own row and weight indices.
    pub(crate) fn in_block_at(self, row0: usize, cols: usize) -> Self {
        match self {
            QuantError::NonFinite {
                index,
                row,
                col,
                value,
            } => QuantError::NonFinite {
                index: index + row0 * cols,
                row: row + row0,
                col,
                value,
            },
            QuantError::F16Overflow { row, what, value } => QuantError::F16Overflow {
                row: row + row0,
                what,
                value,
            },
            other => other,
        }
    }
}
