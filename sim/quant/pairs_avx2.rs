//! The AVX2 kernel of the 3.5-bit pair formats: eight pairs per step, decoded in registers and
//! accumulated exactly as the portable kernel does (pair `k` in lane `k % 8`, pairs in order,
//! the product rounded before the add), so both give bit-identical results.
//!
//! Decoding eight 7-bit pairs (56 bits): one 64-bit window broadcast to both 128-bit halves,
//! `vpshufb` gives 32-bit lane `k` the two bytes its field spans (bytes `7k / 8` and the next),
//! `vpsrlvd` shifts it down by `7k mod 8`; `q3.5-byte` zero-extends eight bytes instead.

use super::bitstream::window;
use super::kernel::{LANES, SplitActivations, accumulate_pairs};
use std::arch::x86_64::*;

/// Where one row's pairs are.
#[derive(Clone, Copy)]
pub(super) enum RowCodes<'a> {
    /// One pair per byte (`q3.5-byte`): the row's bytes.
    Bytes(&'a [u8]),
    /// A 7-bit stream: the whole buffer and the bit where the row's first pair starts.
    Bits(&'a [u8], usize),
}

impl RowCodes<'_> {
    /// Pairs `8g .. 8g + 8` as a 32-bit lane each, unmasked: `u4` in bits 0–3, `u3` in bits 4–6
    /// (bit 7 and up may hold the next pairs' bits for the stream).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn group(self, g: usize) -> __m256i {
        match self {
            RowCodes::Bytes(bytes) => {
                let eight = window(bytes, 64 * g);
                _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(eight as i64))
            }
            RowCodes::Bits(bytes, first) => {
                // Lane k wants bits 7k .. 7k + 6: bytes 7k / 8 and 7k / 8 + 1, shifted by 7k mod 8.
                #[rustfmt::skip]
                let spans = _mm256_setr_epi8(
                    0, 1, -1, -1, 0, 1, -1, -1, 1, 2, -1, -1, 2, 3, -1, -1,
                    3, 4, -1, -1, 4, 5, -1, -1, 5, 6, -1, -1, 6, 7, -1, -1,
                );
                let shifts = _mm256_setr_epi32(0, 7, 6, 5, 4, 3, 2, 1);
                let w = _mm256_set1_epi64x(window(bytes, first + 56 * g) as i64);
                _mm256_srlv_epi32(_mm256_shuffle_epi8(w, spans), shifts)
            }
        }
    }

    /// The `n < 8` pairs of group `g` (the row's tail), one per byte.
    fn tail(self, g: usize, n: usize) -> [u8; LANES] {
        let mut out = [0u8; LANES];
        for (k, p) in out.iter_mut().take(n).enumerate() {
            *p = match self {
                RowCodes::Bytes(bytes) => bytes[8 * g + k],
                RowCodes::Bits(bytes, first) => {
                    (window(bytes, first + 56 * g) >> (7 * k)) as u8 & 127
                }
            };
        }
        out
    }
}

/// Add `xe[k] * u4[k]` into `acc[2b][k % 8]` and `xo[k] * u3[k]` into `acc[2b + 1][k % 8]`
/// for every pair `k` of the row and every batch element `b` of `x`.
#[target_feature(enable = "avx2")]
pub(super) fn accumulate(codes: RowCodes, x: &SplitActivations, acc: &mut [[f32; LANES]]) {
    let pairs = x.pairs;
    let groups = pairs / LANES;
    let u3_mask = _mm256_set1_epi32(match codes {
        RowCodes::Bytes(_) => 15,
        RowCodes::Bits(..) => 7,
    });
    let low4 = _mm256_set1_epi32(15);
    let codes_f32 = |g: usize| {
        let v = codes.group(g);
        let u4 = _mm256_cvtepi32_ps(_mm256_and_si256(v, low4));
        let u3 = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32::<4>(v), u3_mask));
        (u4, u3)
    };
    if let [even, odd] = acc {
        // One activation vector: the accumulators stay in registers.
        let (xe, xo) = x.block(0, 0, pairs);
        let (mut e, mut o) = (load(even), load(odd));
        for (g, (xe, xo)) in xe
            .chunks_exact(LANES)
            .zip(xo.chunks_exact(LANES))
            .enumerate()
        {
            let (u4, u3) = codes_f32(g);
            e = _mm256_add_ps(e, _mm256_mul_ps(load(xe), u4));
            o = _mm256_add_ps(o, _mm256_mul_ps(load(xo), u3));
        }
        store(even, e);
        store(odd, o);
    } else {
        for g in 0..groups {
            let (u4, u3) = codes_f32(g);
            for (b, lanes) in acc.chunks_exact_mut(2).enumerate() {
                let (xe, xo) = x.block(b, LANES * g, LANES);
                let [even, odd] = lanes else { continue };
                store(even, _mm256_add_ps(load(even), _mm256_mul_ps(load(xe), u4)));
                store(odd, _mm256_add_ps(load(odd), _mm256_mul_ps(load(xo), u3)));
            }
        }
    }
    let n = pairs % LANES;
    if n > 0 {
        let tail = codes.tail(groups, n);
        for (b, lanes) in acc.chunks_exact_mut(2).enumerate() {
            let (xe, xo) = x.block(b, LANES * groups, n);
            let [even, odd] = lanes else { continue };
            accumulate_pairs(&tail[..n], xe, xo, even, odd);
        }
    }
}

/// Eight f32 from the start of `v`.
#[inline]
#[target_feature(enable = "avx2")]
fn load(v: &[f32]) -> __m256 {
    let v = &v[..LANES];
    // SAFETY: `v` holds eight f32 (checked just above); unaligned loads are allowed.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// Store eight lanes into `out`.
#[inline]
#[target_feature(enable = "avx2")]
fn store(out: &mut [f32; LANES], v: __m256) {
    // SAFETY: `out` has room for exactly eight f32; unaligned stores are allowed.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) }
}
