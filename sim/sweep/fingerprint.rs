//! A stable 64-bit FNV-1a hash: what a journal records of the spec and of the binary that wrote
//! it, so that a resume or a merge can refuse rows computed from something else. Not
//! cryptographic: it guards against mistakes, not against forgery. Written out here rather than
//! taken from `std::hash`, whose hashers may change between Rust releases.

use std::fmt;

/// FNV-1a over everything written to it, bytes or formatted text.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Hash more bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash as 16 hex digits.
    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Formatting into the hasher hashes the text without building it, so a large `Debug` value
/// costs no allocation.
impl fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    #[test]
    fn matches_the_published_fnv1a_values_and_text_equals_bytes() {
        assert_eq!(Fnv::default().hex(), "cbf29ce484222325");
        let mut h = Fnv::default();
        h.bytes(b"a");
        assert_eq!(h.hex(), "af63dc4c8601ec8c");
        let mut t = Fnv::default();
        t.write_str("a").unwrap();
        assert_eq!(t.hex(), h.hex());
    }
}
