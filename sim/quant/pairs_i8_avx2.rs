//! The AVX2 int8-activation kernel of the 3.5-bit pair formats: exact integer sums
//! `Σ u4[k] · qe[k]` and `Σ u3[k] · qo[k]` over one row, 32 pairs (64 weights) per step.
//! Integer sums do not depend on the order of the additions, so the results equal the portable
//! definition (`kernel_i8`) bit for bit by construction.
//!
//! Decoding 32 tightly packed 7-bit pairs (28 bytes): the 128-bit halves of one register get
//! bytes 0..16 and 14..30 of the step (pairs 0..16 and 16..32). Two `vpshufb` give each 16-bit
//! lane the two bytes its pair spans (even pairs in one register, odd pairs in the other). AVX2
//! has no per-lane 16-bit variable shift, so `vpmullw` by a power of two stands in for it: by
//! `2^(9 − shift)` for even pairs (field at bits 9..15, then `vpsrlw 9` brings it to bits 0..6),
//! by `2^(8 − shift)` for odd pairs (field at bits 8..14, masked). One `vpor` joins them: byte
//! `j` of the 32 holds pair `j`. Then `u4 = p & 15`, `u3 = (p >> 4) & 15` and two
//! `vpmaddubsw` (unsigned codes x signed activations, at most 2·15·127 = 3810 per 16-bit lane,
//! so eight steps add up in 16 bits without saturating) followed by one `vpmaddwd` by ones per
//! eight steps into 32-bit lanes. `q3.5-byte` loads its 32 bytes directly.
//!
//! A row starts at any bit of the stream: its bit offset mod 8 selects one of eight
//! shuffle/multiplier tables, constant along the row since a step is exactly 28 bytes.

use super::bitstream::window;
use super::pairs_avx2::RowCodes;
use std::arch::x86_64::*;

/// Pairs per step.
const STEP: usize = 32;
/// Bytes of a bitstream step.
const STEP_BYTES: usize = 28;
/// Bytes a bitstream step reads: 16 from its start and 16 from its start + 14.
const STEP_READ: usize = 30;
/// Steps whose 16-bit partial sums add up before widening (8 · 3810 < 32768).
const WIDEN_EVERY: usize = 8;
/// Steps whose 32-bit partial sums add up before going to i64 (far below 2^31).
const FLUSH_EVERY: usize = 4096;

/// For each bit offset `o` of a step's start within its first byte: the `vpshufb` controls of
/// the two registers (16-bit lane `i` gets the bytes of pair `2i` resp. `2i + 1` of its half)
/// and their `vpmullw` multipliers (`2^(9 − shift)` resp. `2^(8 − shift)`).
struct Tables {
    shuffle: [[[i8; 32]; 2]; 8],
    multiply: [[[i16; 16]; 2]; 8],
}

const TABLES: Tables = tables();

const fn tables() -> Tables {
    let mut t = Tables {
        shuffle: [[[0; 32]; 2]; 8],
        multiply: [[[0; 16]; 2]; 8],
    };
    let mut o = 0;
    while o < 8 {
        let mut reg = 0;
        while reg < 2 {
            let mut i = 0;
            while i < 8 {
                // Pair j of the 128-bit half: bits o + 7j .. o + 7j + 6 of the half's bytes.
                let bit = o + 7 * (2 * i + reg);
                let byte = bit / 8;
                let mut half = 0;
                while half < 2 {
                    let at = 16 * half + 2 * i;
                    t.shuffle[o][reg][at] = byte as i8;
                    // The second byte when it exists in the 16 loaded; otherwise the field
                    // fits in the first (its bits are shifted out anyway).
                    t.shuffle[o][reg][at + 1] = if byte + 1 < 16 { byte as i8 + 1 } else { -1 };
                    t.multiply[o][reg][8 * half + i] = 1 << (9 - reg - bit % 8);
                    half += 1;
                }
                i += 1;
            }
            reg += 1;
        }
        o += 1;
    }
    t
}

/// How many whole 32-pair steps of a row of `pairs` pairs the vector code reads: every read
/// must stay inside the buffer (the metadata follows the codes).
fn vector_steps(codes: RowCodes, pairs: usize) -> usize {
    let steps = pairs / STEP;
    match codes {
        RowCodes::Bytes(bytes) => steps.min(bytes.len() / STEP),
        RowCodes::Bits(bytes, first) => match bytes.len().checked_sub(first / 8 + STEP_READ) {
            Some(room) => steps.min(room / STEP_BYTES + 1),
            None => 0,
        },
    }
}

/// Pair `k` of the row, one byte (the scalar path for the row's tail).
fn scalar_pair(codes: RowCodes, k: usize) -> u8 {
    match codes {
        RowCodes::Bytes(bytes) => bytes[k],
        RowCodes::Bits(bytes, first) => (window(bytes, first + 7 * k) & 127) as u8,
    }
}

/// `(Σ u4[k] · even[k], Σ u3[k] · odd[k])` over the row's pairs, `even` and `odd` holding one
/// activation code per pair.
#[target_feature(enable = "avx2")]
pub(super) fn row_sums(codes: RowCodes, even: &[i8], odd: &[i8]) -> (i64, i64) {
    let pairs = even.len().min(odd.len());
    let steps = vector_steps(codes, pairs);
    let (mut s4, mut s3) = (0i64, 0i64);
    let mut g = 0;
    while g < steps {
        let end = steps.min(g + FLUSH_EVERY);
        // SAFETY: steps `g..end` lie inside the row's codes and activations (checked above).
        let (a, b) = unsafe { sums(codes, even, odd, g, end) };
        s4 += a;
        s3 += b;
        g = end;
    }
    for k in STEP * steps..pairs {
        let p = scalar_pair(codes, k);
        s4 += i64::from(p & 15) * i64::from(even[k]);
        s3 += i64::from(p >> 4) * i64::from(odd[k]);
    }
    (s4, s3)
}

/// The row's pairs one per byte into `out` (`out.len()` pairs; `u4` in bits 0–3, `u3` in
/// bits 4–6): decoded once, they serve every activation vector of a batch through the byte
/// path of [`row_sums`], with the same sums.
#[target_feature(enable = "avx2")]
pub(super) fn decode_row(codes: RowCodes, out: &mut [u8]) {
    let steps = vector_steps(codes, out.len());
    // SAFETY: `vector_steps` keeps every read inside `codes`.
    let decoder = unsafe { Decoder::new(codes) };
    for (g, chunk) in out.chunks_exact_mut(STEP).take(steps).enumerate() {
        // SAFETY: step `g` is whole and inside the codes; `chunk` holds 32 bytes.
        unsafe { _mm256_storeu_si256(chunk.as_mut_ptr().cast(), decoder.step(g)) };
    }
    for (k, p) in out.iter_mut().enumerate().skip(STEP * steps) {
        *p = scalar_pair(codes, k);
    }
}

/// Decodes 32-pair steps of one row into 32 bytes, byte `j` holding pair `j`.
struct Decoder {
    bytes: *const u8,
    /// Byte of the row's first pair.
    first: usize,
    /// Bitstream: `vpshufb` controls and `vpmullw` multipliers of even / odd pairs.
    tables: Option<[__m256i; 4]>,
    high7: __m256i,
}

impl Decoder {
    /// # Safety
    /// [`Self::step`] reads the codes without bounds checks: callers keep to `vector_steps`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn new(codes: RowCodes) -> Self {
        let load = |v: *const u8| unsafe { _mm256_loadu_si256(v.cast()) };
        let (bytes, first, tables) = match codes {
            RowCodes::Bytes(bytes) => (bytes, 0, None),
            RowCodes::Bits(bytes, first) => {
                let o = first % 8;
                // Each table row is 32 bytes; unaligned loads are allowed.
                let t = [
                    load(TABLES.shuffle[o][0].as_ptr().cast()),
                    load(TABLES.shuffle[o][1].as_ptr().cast()),
                    load(TABLES.multiply[o][0].as_ptr().cast()),
                    load(TABLES.multiply[o][1].as_ptr().cast()),
                ];
                (bytes, first / 8, Some(t))
            }
        };
        Self {
            bytes: bytes.as_ptr(),
            first,
            tables,
            high7: _mm256_set1_epi16(0x7f00),
        }
    }

    /// The 32 pairs of step `g`.
    ///
    /// # Safety
    /// Step `g` must be below the row's `vector_steps`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn step(&self, g: usize) -> __m256i {
        let pb = self.bytes;
        match self.tables {
            None => unsafe { _mm256_loadu_si256(pb.add(STEP * g).cast()) },
            Some([sa, sb, ma, mb]) => {
                let at = self.first + STEP_BYTES * g;
                let (lo, hi) = unsafe {
                    (
                        _mm_loadu_si128(pb.add(at).cast()),
                        _mm_loadu_si128(pb.add(at + 14).cast()),
                    )
                };
                let v = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi);
                let even = _mm256_mullo_epi16(_mm256_shuffle_epi8(v, sa), ma);
                let odd = _mm256_mullo_epi16(_mm256_shuffle_epi8(v, sb), mb);
                _mm256_or_si256(
                    _mm256_srli_epi16::<9>(even),
                    _mm256_and_si256(odd, self.high7),
                )
            }
        }
    }
}

/// The sums of steps `g0..g1` (at most [`FLUSH_EVERY`] of them).
///
/// # Safety
/// Steps `g0..g1` must be whole: `32 · g1 <= even.len(), odd.len()`, and below the row's
/// `vector_steps`.
#[target_feature(enable = "avx2")]
unsafe fn sums(codes: RowCodes, even: &[i8], odd: &[i8], g0: usize, g1: usize) -> (i64, i64) {
    let low4 = _mm256_set1_epi8(15);
    let ones = _mm256_set1_epi16(1);
    // SAFETY: the caller keeps to the row's vector steps.
    let decoder = unsafe { Decoder::new(codes) };
    let (pe, po) = (even.as_ptr(), odd.as_ptr());
    let (mut t4, mut t3) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut g = g0;
    while g < g1 {
        let end = g1.min(g + WIDEN_EVERY);
        let (mut w4, mut w3) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        while g < end {
            // SAFETY (all loads): in bounds by the caller's contract.
            let p = unsafe { decoder.step(g) };
            let u4 = _mm256_and_si256(p, low4);
            let u3 = _mm256_and_si256(_mm256_srli_epi16::<4>(p), low4);
            let (xe, xo) = unsafe {
                (
                    _mm256_loadu_si256(pe.add(STEP * g).cast()),
                    _mm256_loadu_si256(po.add(STEP * g).cast()),
                )
            };
            w4 = _mm256_add_epi16(w4, _mm256_maddubs_epi16(u4, xe));
            w3 = _mm256_add_epi16(w3, _mm256_maddubs_epi16(u3, xo));
            g += 1;
        }
        t4 = _mm256_add_epi32(t4, _mm256_madd_epi16(w4, ones));
        t3 = _mm256_add_epi32(t3, _mm256_madd_epi16(w3, ones));
    }
    (hsum(t4), hsum(t3))
}

/// The sum of eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i64 {
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` has room for 32 bytes; unaligned stores are allowed.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
    lanes.iter().map(|&l| i64::from(l)).sum()
}
