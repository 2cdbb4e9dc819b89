//! Tight little-endian bitstreams (bit `j` is bit `j % 8` of byte `j / 8`), shared by the
//! formats whose codes cross byte boundaries (`int3-g64`, `q3.5`, `q3.5-opt`, `q3-k256`).
//! Packing writes each field into the few bytes it spans (`q3.5` packs its 7-bit pairs eight
//! to seven bytes itself); decoding reads a 64-bit window so the
//! hot loops never touch single bits.

/// A zero-filled stream of a fixed number of bytes, written field by field.
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
}

impl BitWriter {
    /// A stream of `bytes` zero bytes: padding bits stay zero.
    pub(crate) fn new(bytes: usize) -> Self {
        Self {
            bytes: vec![0; bytes],
        }
    }

    /// Store the low `width` (at most 32) bits of `value` at bit `at`, least significant bit
    /// first, replacing the bits there.
    #[inline]
    pub(crate) fn put(&mut self, at: usize, width: usize, value: u32) {
        debug_assert!(width <= 32);
        let shift = at % 8;
        let mask = ((1u64 << width) - 1) << shift;
        let bits = (u64::from(value) << shift) & mask;
        let span = &mut self.bytes[at / 8..(at + width).div_ceil(8)];
        for (i, byte) in span.iter_mut().enumerate() {
            let (m, v) = ((mask >> (8 * i)) as u8, (bits >> (8 * i)) as u8);
            *byte = (*byte & !m) | v;
        }
    }

    /// The stream's bytes.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
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
