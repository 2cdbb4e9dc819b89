//! The weight-format catalogue: each format's exact storage size follows from its bit layout,
//! so memory-fit figures and the packed buffers of the kernels are the same numbers.
//!
//! Conventions for every format: a weight matrix has `rows` output channels and `cols` inputs
//! (the reduction dimension K), stored row-major as (out, in). Per-row metadata belongs to one
//! output channel; groups run along K inside one row. Layouts, bit by bit, are in the README.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A way of storing weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Format {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    Bf16,
    /// 8-bit symmetric codes, one f16 scale per output row.
    Int8,
    /// 4-bit asymmetric codes in groups of 128 along K, f16 scale and f16 zero per group.
    Int4G128,
    /// 3-bit asymmetric codes in groups of 64 along K, f16 scale and f16 zero per group:
    /// exactly 3.5 bits per weight with its metadata.
    Int3G64,
    /// The source documents' format as described: consecutive weights along K form pairs of one
    /// 4-bit code and one 3-bit code, 7 bits per pair, tightly packed; f16 scale and offset per row.
    Q35,
    /// The source documents' converter: the same 7-bit pairs, each stored in a whole byte.
    Q35Byte,
    /// accsim's 3.5-bit format: the `q3.5` bitstream and metadata, but each code width gets its
    /// own grid over the row's range and the range is chosen to minimize squared error.
    Q35Opt,
    /// accsim's k-quant-style 3.5-bit format: 3-bit codes; super-blocks of 256 weights along K
    /// with an f16 scale and an f16 min, each 32-weight sub-block with a 6-bit scale and a
    /// 6-bit min on them. Small groups contain outliers; quantized group metadata pays for them.
    Q3K256,
}

/// Bytes of one f16 value (scales, zero points, offsets).
const F16_BYTES: u64 = 2;

impl Format {
    /// Every format, in the order tables list them.
    pub const ALL: [Format; 10] = [
        Format::F32,
        Format::F16,
        Format::Bf16,
        Format::Int8,
        Format::Int4G128,
        Format::Int3G64,
        Format::Q35,
        Format::Q35Byte,
        Format::Q35Opt,
        Format::Q3K256,
    ];

    /// The name used in files, flags and reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::F32 => "f32",
            Format::F16 => "f16",
            Format::Bf16 => "bf16",
            Format::Int8 => "int8",
            Format::Int4G128 => "int4-g128",
            Format::Int3G64 => "int3-g64",
            Format::Q35 => "q3.5",
            Format::Q35Byte => "q3.5-byte",
            Format::Q35Opt => "q3.5-opt",
            Format::Q3K256 => "q3-k256",
        }
    }

    /// Bytes of the weight codes of a `rows` x `cols` matrix, padding included.
    pub fn code_bytes(self, rows: u64, cols: u64) -> u64 {
        let n = rows * cols;
        let pairs_per_row = cols.div_ceil(2);
        match self {
            Format::F32 => 4 * n,
            Format::F16 | Format::Bf16 => 2 * n,
            Format::Int8 => n,
            // Two codes per byte, low nibble first; an odd row ends with a padding nibble.
            Format::Int4G128 => rows * pairs_per_row,
            // One bitstream for the whole tensor, padded only to the final byte.
            Format::Int3G64 | Format::Q3K256 => (3 * n).div_ceil(8),
            // One bitstream of 7-bit pairs; an odd row's last pair has a padding 3-bit code.
            Format::Q35 | Format::Q35Opt => (7 * rows * pairs_per_row).div_ceil(8),
            Format::Q35Byte => rows * pairs_per_row,
        }
    }

    /// Bytes of scales, zero points and offsets of a `rows` x `cols` matrix.
    pub fn metadata_bytes(self, rows: u64, cols: u64) -> u64 {
        match self {
            Format::F32 | Format::F16 | Format::Bf16 => 0,
            Format::Int8 => rows * F16_BYTES,
            Format::Int4G128 => rows * cols.div_ceil(128) * 2 * F16_BYTES,
            Format::Int3G64 => rows * cols.div_ceil(64) * 2 * F16_BYTES,
            Format::Q35 | Format::Q35Byte | Format::Q35Opt => rows * 2 * F16_BYTES,
            Format::Q3K256 => rows * kquant_row_metadata_bytes(cols),
        }
    }

    /// Total bytes of a packed `rows` x `cols` matrix: exactly the length of the packed buffer.
    pub fn packed_bytes(self, rows: u64, cols: u64) -> u64 {
        self.code_bytes(rows, cols) + self.metadata_bytes(rows, cols)
    }

    /// Exact bits per weight of a `rows` x `cols` matrix, metadata and padding included.
    pub fn bits_per_weight(self, rows: u64, cols: u64) -> f64 {
        8.0 * self.packed_bytes(rows, cols) as f64 / (rows * cols) as f64
    }

    /// Bits per weight of the codes alone, as formats are usually quoted (3.5 for `q3.5`).
    pub fn code_bits(self) -> f64 {
        match self {
            Format::F32 => 32.0,
            Format::F16 | Format::Bf16 => 16.0,
            Format::Int8 => 8.0,
            Format::Int4G128 | Format::Q35Byte => 4.0,
            Format::Int3G64 | Format::Q3K256 => 3.0,
            Format::Q35 | Format::Q35Opt => 3.5,
        }
    }

    /// True for the formats whose codes can be chosen with calibration data
    /// ([`crate::quant::PackedMatrix::quantize_calibrated`]): the integer formats below 8 bits.
    pub fn is_calibrated(self) -> bool {
        self.is_integer() && self != Format::Int8
    }

    /// True for formats that store integer codes with scales (as opposed to floating point).
    pub fn is_integer(self) -> bool {
        !matches!(self, Format::F32 | Format::F16 | Format::Bf16)
    }
}

/// Weights of one `q3-k256` super-block and of one of its sub-blocks.
pub(crate) const KQ_SUPER: u64 = 256;
pub(crate) const KQ_SUB: u64 = 32;

/// Metadata bytes of one row of `q3-k256`: per super-block an f16 scale and an f16 min, then
/// 12 bits (6-bit scale, 6-bit min) per sub-block, the record padded to a whole byte (only a
/// row's last, shorter super-block can need padding).
pub(crate) fn kquant_row_metadata_bytes(cols: u64) -> u64 {
    let record = |len: u64| 2 * F16_BYTES + (12 * len.div_ceil(KQ_SUB)).div_ceil(8);
    let (full, rest) = (cols / KQ_SUPER, cols % KQ_SUPER);
    full * record(KQ_SUPER) + if rest > 0 { record(rest) } else { 0 }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{given}`; known formats: {}", Format::ALL.map(Format::name).join(", "))]
pub struct UnknownFormat {
    /// What was asked for.
    pub given: String,
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormat {
                given: s.to_owned(),
            })
    }
}

impl TryFrom<String> for Format {
    type Error = UnknownFormat;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Format> for String {
    fn from(f: Format) -> String {
        f.name().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!(
            "q3.6"
                .parse::<Format>()
                .unwrap_err()
                .to_string()
                .contains("q3.5-byte")
        );
    }

    #[test]
    fn group_formats_hit_their_quoted_rates_on_aligned_shapes() {
        assert_eq!(Format::Int3G64.bits_per_weight(8192, 8192), 3.5);
        assert_eq!(Format::Int4G128.bits_per_weight(8192, 8192), 4.25);
        assert_eq!(Format::Q35Byte.code_bytes(1, 8192), 4096);
        assert_eq!(Format::Q35.code_bytes(1, 8192), 3584);
        assert_eq!(Format::Q35.bits_per_weight(1, 8192), 3.5 + 32.0 / 8192.0);
        assert_eq!(Format::Q3K256.bits_per_weight(8192, 8192), 3.5);
        // 64 columns: 2 sub-blocks, 4 + 3 bytes of metadata.
        assert_eq!(Format::Q3K256.metadata_bytes(2, 64), 14);
    }

    #[test]
    fn odd_rows_are_padded_and_counted() {
        // 3 inputs make 2 pairs: 14 bits per row, 2 rows = 28 bits = 4 bytes.
        assert_eq!(Format::Q35.code_bytes(2, 3), 4);
        assert_eq!(Format::Int4G128.code_bytes(2, 3), 4);
        assert_eq!(Format::Int3G64.code_bytes(1, 3), 2);
    }
}
