//! Vector implementations of the grouped formats' exact group sums `S_g = Σ u · qx`
//! (`group_i8`): integer sums, so they equal the portable definition bit for bit.
//!
//! * `int4-g128` (AVX2 and AVX-512): a group is 64 bytes, byte `j` holding columns `2j` (low
//!   nibble) and `2j + 1` (high nibble). `u_lo = b & 15`, `u_hi = (b >> 4) & 15`, then
//!   `vpmaddubsw` against the even / odd activation codes (≤ 2·15·127 per 16-bit lane, two of
//!   them added: no saturation), `vpmaddwd` by ones into 32-bit lanes, and a horizontal sum.
//! * `int3-g64` (AVX-512 VBMI): a group is 24 bytes (64 codes of 3 bits) when the row starts
//!   on a byte (`cols` a multiple of 8). One masked load, `vpermb` gives 64-bit lane `q` the
//!   three bytes of codes `8q..8q + 8`, `vpmultishiftqb` moves code `8q + k` (bits `3k..3k + 3`
//!   of the lane) to byte `k`, `& 7`; then `vpmaddubsw` / `vpmaddwd` / horizontal sum as
//!   above.
//! * 3-bit codes on AVX2 (`int3-g64`, and the 32-weight sub-blocks of `q3-k256`, which store
//!   their codes alike), when the row starts on a byte: sixteen codes (six bytes) per step.
//!   One 64-bit window broadcast to both 128-bit halves, `vpshufb` gives 16-bit lane `c` of
//!   half `h` bytes `3h + 3c / 8` and the next, `vpmullw` by `2^(13 − 3c mod 8)` lifts the
//!   code's bits to bits 13–15 and `vpsrlw` by 13 brings them down; `vpmaddwd` against the
//!   sign-extended activation codes (≤ 2·7·127 per 32-bit lane) and a horizontal sum.

use super::bitstream::window;
use super::kernel_i8::Int8Activations;
use super::view::View;
use std::arch::x86_64::*;

/// Bytes of an `int4-g128` group.
const INT4_GROUP_BYTES: usize = 64;
/// Bytes of an `int3-g64` group.
const INT3_GROUP_BYTES: usize = 24;

/// Sums of row `r`'s whole groups of `size` codes into `sums` (AVX2: 4-bit codes split in
/// nibbles when `split`, else 3-bit codes on rows that start on a byte); returns how many
/// groups it summed, from the first.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn sums_avx2(
    split: bool,
    size: usize,
    v: &View,
    r: usize,
    qx: &Int8Activations,
    sums: &mut [i32],
) -> usize {
    if !split {
        return three_bit_sums(size, v, r, qx, sums);
    }
    let whole = v.cols / 128;
    let start = r * v.cols.div_ceil(2);
    let (low4, ones) = (_mm256_set1_epi8(15), _mm256_set1_epi16(1));
    for (k, s) in sums.iter_mut().take(whole).enumerate() {
        let (b, e, o) = int4_group(v, start, qx, k);
        let mut acc = _mm256_setzero_si256();
        for h in 0..2 {
            // SAFETY: every load reads 32 bytes of a 64-byte slice checked above.
            let (bytes, xe, xo) = unsafe {
                (
                    _mm256_loadu_si256(b.as_ptr().add(32 * h).cast()),
                    _mm256_loadu_si256(e.as_ptr().add(32 * h).cast()),
                    _mm256_loadu_si256(o.as_ptr().add(32 * h).cast()),
                )
            };
            let lo = _mm256_and_si256(bytes, low4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(bytes), low4);
            let s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xe), _mm256_maddubs_epi16(hi, xo));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s16, ones));
        }
        *s = hsum256(acc);
    }
    whole
}

/// Sums of row `r`'s whole groups into `sums` (AVX-512: both formats); returns how many
/// groups it summed, from the first.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VBMI.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(super) unsafe fn sums_avx512(
    split: bool,
    size: usize,
    v: &View,
    r: usize,
    qx: &Int8Activations,
    sums: &mut [i32],
) -> usize {
    let (low4, ones) = (_mm512_set1_epi8(15), _mm512_set1_epi16(1));
    if split {
        let whole = v.cols / 128;
        let start = r * v.cols.div_ceil(2);
        for (k, s) in sums.iter_mut().take(whole).enumerate() {
            let (b, e, o) = int4_group(v, start, qx, k);
            // SAFETY: each load reads one 64-byte slice checked above.
            let (bytes, xe, xo) = unsafe {
                (
                    _mm512_loadu_si512(b.as_ptr().cast()),
                    _mm512_loadu_si512(e.as_ptr().cast()),
                    _mm512_loadu_si512(o.as_ptr().cast()),
                )
            };
            let lo = _mm512_and_si512(bytes, low4);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(bytes), low4);
            let s16 = _mm512_add_epi16(_mm512_maddubs_epi16(lo, xe), _mm512_maddubs_epi16(hi, xo));
            *s = _mm512_reduce_add_epi32(_mm512_madd_epi16(s16, ones));
        }
        return whole;
    }
    if size != 64 {
        return three_bit_sums(size, v, r, qx, sums);
    }
    if !v.cols.is_multiple_of(8) {
        return 0;
    }
    let whole = v.cols / 64;
    let start = 3 * r * v.cols / 8;
    // Byte 8q + k of the permuted lane: source byte 3q + k (only k < 3 matters).
    let spread = _mm512_set_epi64(
        0x1c1b_1a19_1817_1615,
        0x1918_1716_1514_1312,
        0x1615_1413_1211_100f,
        0x1312_1110_0f0e_0d0c,
        0x100f_0e0d_0c0b_0a09,
        0x0d0c_0b0a_0908_0706,
        0x0a09_0807_0605_0403,
        0x0706_0504_0302_0100,
    );
    // Byte k of each lane takes bits 3k.. of the lane.
    let shifts = _mm512_set1_epi64(0x1512_0f0c_0906_0300);
    let low3 = _mm512_set1_epi8(7);
    for (k, s) in sums.iter_mut().take(whole).enumerate() {
        let b = &v.bytes[start + INT3_GROUP_BYTES * k..][..INT3_GROUP_BYTES];
        let q = &qx.codes[64 * k..][..64];
        // SAFETY: the masked load reads only the 24 bytes of `b`; `q` holds 64 bytes.
        let (bytes, xq) = unsafe {
            (
                _mm512_maskz_loadu_epi8((1 << INT3_GROUP_BYTES) - 1, b.as_ptr().cast()),
                _mm512_loadu_si512(q.as_ptr().cast()),
            )
        };
        let lanes = _mm512_permutexvar_epi8(spread, bytes);
        let u = _mm512_and_si512(_mm512_multishift_epi64_epi8(shifts, lanes), low3);
        *s = _mm512_reduce_add_epi32(_mm512_madd_epi16(_mm512_maddubs_epi16(u, xq), ones));
    }
    whole
}

/// Sums of row `r`'s whole groups of `size` 3-bit codes (a multiple of 16) into `sums`, when
/// the row starts on a byte (`cols` a multiple of 8); returns how many groups it summed.
#[target_feature(enable = "avx2")]
fn three_bit_sums(
    size: usize,
    v: &View,
    r: usize,
    qx: &Int8Activations,
    sums: &mut [i32],
) -> usize {
    if !v.cols.is_multiple_of(8) || !size.is_multiple_of(16) {
        return 0;
    }
    let whole = v.cols / size;
    let start = 3 * r * v.cols / 8;
    // 16-bit lane c of half h: bytes 3h + 3c / 8 and the next of the six-byte step.
    #[rustfmt::skip]
    let spread = _mm256_setr_epi8(
        0, 1, 0, 1, 0, 1, 1, 2, 1, 2, 1, 2, 2, 3, 2, 3,
        3, 4, 3, 4, 3, 4, 4, 5, 4, 5, 4, 5, 5, 6, 5, 6,
    );
    // 2^(13 − 3c mod 8): code c's lowest bit to bit 13.
    let lift = _mm256_setr_epi16(
        8192, 1024, 128, 4096, 512, 64, 2048, 256, 8192, 1024, 128, 4096, 512, 64, 2048, 256,
    );
    let group = |k: usize| {
        let mut acc = _mm256_setzero_si256();
        for j in 0..size / 16 {
            let first = size * k + 16 * j;
            let w = window(v.bytes, 8 * (start + 3 * first / 8));
            let words = _mm256_shuffle_epi8(_mm256_set1_epi64x(w as i64), spread);
            let u = _mm256_srli_epi16::<13>(_mm256_mullo_epi16(words, lift));
            let q = &qx.codes[first..first + 16];
            // SAFETY: `q` holds 16 bytes; unaligned loads are allowed.
            let xq = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(q.as_ptr().cast()) });
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(u, xq));
        }
        acc
    };
    // Four groups' horizontal sums at once: three `vphaddd` and one add of the halves.
    let mut fours = sums[..whole].chunks_exact_mut(4);
    for (f, out) in (&mut fours).enumerate() {
        let k = 4 * f;
        let low = _mm256_hadd_epi32(group(k), group(k + 1));
        let high = _mm256_hadd_epi32(group(k + 2), group(k + 3));
        let both = _mm256_hadd_epi32(low, high);
        let four = _mm_add_epi32(
            _mm256_castsi256_si128(both),
            _mm256_extracti128_si256::<1>(both),
        );
        // SAFETY: `out` holds four i32; unaligned stores are allowed.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), four) };
    }
    let done = whole - fours.into_remainder().len();
    for (k, s) in sums.iter_mut().enumerate().take(whole).skip(done) {
        *s = hsum256(group(k));
    }
    whole
}

/// The 64 bytes of `int4-g128` group `k` of the row whose codes start at byte `start`, and the
/// group's 64 even and 64 odd activation codes.
#[inline(always)]
fn int4_group<'a>(
    v: &View<'a>,
    start: usize,
    qx: &'a Int8Activations,
    k: usize,
) -> (&'a [u8], &'a [i8], &'a [i8]) {
    (
        &v.bytes[start + INT4_GROUP_BYTES * k..][..INT4_GROUP_BYTES],
        &qx.even[64 * k..][..64],
        &qx.odd[64 * k..][..64],
    )
}

/// The sum of eight i32 lanes (exact: the group sums are far below 2^31).
#[inline]
#[target_feature(enable = "avx2")]
fn hsum256(v: __m256i) -> i32 {
    let four = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let two = _mm_add_epi32(four, _mm_shuffle_epi32::<0b01_00_11_10>(four));
    let one = _mm_add_epi32(two, _mm_shuffle_epi32::<0b10_11_00_01>(two));
    _mm_cvtsi128_si32(one)
}
