//! Tight little-endian bitstreams (bit `j` is bit `j % 8` of byte `j / 8`), shared by the
//! formats whose codes cross byte boundaries (`int3-g64`, `q3.5`, `q3.5-opt`). Packing goes
//! through bitvec; decoding reads a 64-bit window so the hot loops never touch single bits.

use bitvec::prelude::*;

/// A zero-filled stream of a fixed number of bytes, written field by field.
pub(crate) struct BitWriter {
    bits: BitVec<u8, Lsb0>,
}

impl BitWriter {
    /// A stream of `bytes` zero bytes: padding bits stay zero.
    pub(crate) fn new(bytes: usize) -> Self {
        Self {
            bits: BitVec::repeat(false, 8 * bytes),
        }
    }

    /// Store the low `width` bits of `value` at bit `at`, least significant bit first.
    pub(crate) fn put(&mut self, at: usize, width: usize, value: u32) {
        self.bits[at..at + width].store_le(value);
    }

    /// The stream's bytes.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bits.into_vec()
    }
}

/// At least 56 valid bits of `bytes` starting at bit `at`, in the low bits; bits past the end
/// of `bytes` read as zero.
#[inline(always)]
pub(crate) fn window(bytes: &[u8], at: usize) -> u64 {
    let byte = at / 8;
    let word = match bytes.get(byte..byte + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        None => {
            let mut b = [0u8; 8];
            let tail = bytes.get(byte..).unwrap_or(&[]);
            b[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(b)
        }
    };
    word >> (at % 8)
}
