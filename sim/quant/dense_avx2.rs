//! AVX2 f32-activation kernels of the formats whose weights decode one by one to f32 (f32,
//! f16, bf16, int8, int4-g128, and int3-g64 whose rows start on a byte): eight columns are decoded into one vector with the portable
//! decoders' operations (the conversions are exact; `zero + scale * code` is a multiply rounded
//! before its add), multiplied by the activations and added into the row's eight lanes, column
//! `c` in lane `c % 8`, in column order. The results are the portable kernel's, bit for bit.

use super::kernel::{LANES, reduce};
use super::view::{BLOCK, View};
use super::{Format, PackedMatrix, group, int8};
use std::arch::x86_64::*;

/// Vectors of eight weights in one block.
const VECTORS: usize = BLOCK / LANES;

/// True for the formats [`row_dot`] decodes at `cols` columns (`int3-g64` when its rows start
/// on a byte).
pub(super) fn decodes(format: Format, cols: usize) -> bool {
    match format {
        Format::F32 | Format::F16 | Format::Bf16 | Format::Int8 | Format::Int4G128 => true,
        Format::Int3G64 => cols.is_multiple_of(8),
        _ => false,
    }
}

/// Row `r` of `m` against every activation vector of `x`; `out[b]` gets batch element `b`.
/// Whole blocks run here; a last partial block runs the portable code.
///
/// # Safety
/// The CPU must have AVX2 and F16C, and [`decodes`] must accept `m.format()` and `m.cols()`.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn row_dot(
    m: &PackedMatrix,
    r: usize,
    x: &[f32],
    acc: &mut Vec<[f32; LANES]>,
    out: &mut [f32],
) {
    let cols = m.cols();
    let whole = cols - cols % BLOCK;
    let v = m.view();
    acc.clear();
    acc.resize(out.len(), [0.0; LANES]);
    let mut w = [_mm256_setzero_ps(); VECTORS];
    for col0 in (0..whole).step_by(BLOCK) {
        // SAFETY: the caller guarantees the CPU features and the format; the block is whole.
        unsafe { decode(m.format(), &v, r, col0, &mut w) };
        for (b, lanes) in acc.iter_mut().enumerate() {
            let xs = &x[b * cols + col0..][..BLOCK];
            // SAFETY: `lanes` holds 8 values and `xs` 64; AVX2 is present.
            unsafe {
                let mut l = _mm256_loadu_ps(lanes.as_ptr());
                for (k, wk) in w.iter().enumerate() {
                    let xk = _mm256_loadu_ps(xs.as_ptr().add(LANES * k));
                    l = _mm256_add_ps(l, _mm256_mul_ps(*wk, xk));
                }
                _mm256_storeu_ps(lanes.as_mut_ptr(), l);
            }
        }
    }
    if whole < cols {
        m.accumulate_block(r, whole, x, acc);
    }
    for (o, lanes) in out.iter_mut().zip(acc.iter()) {
        *o = reduce(lanes);
    }
}

/// The 64 weights of row `r` from column `col0` (a whole block) as eight vectors.
///
/// # Safety
/// As [`row_dot`]; the block must lie inside the row.
#[target_feature(enable = "avx2,f16c")]
unsafe fn decode(format: Format, v: &View, r: usize, col0: usize, w: &mut [__m256; VECTORS]) {
    let start = r * v.cols + col0;
    // Each arm takes the block's bytes as a checked slice, then loads inside it.
    // SAFETY (all arms): every load reads bytes of `b`, whose length is the block's.
    unsafe {
        match format {
            Format::F32 => {
                let b = &v.bytes[4 * start..4 * (start + BLOCK)];
                for (k, wk) in w.iter_mut().enumerate() {
                    *wk = _mm256_loadu_ps(b.as_ptr().add(32 * k).cast());
                }
            }
            Format::F16 => {
                let b = &v.bytes[2 * start..2 * (start + BLOCK)];
                for (k, wk) in w.iter_mut().enumerate() {
                    *wk = _mm256_cvtph_ps(_mm_loadu_si128(b.as_ptr().add(16 * k).cast()));
                }
            }
            Format::Bf16 => {
                let b = &v.bytes[2 * start..2 * (start + BLOCK)];
                for (k, wk) in w.iter_mut().enumerate() {
                    let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(b.as_ptr().add(16 * k).cast()));
                    *wk = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(h));
                }
            }
            Format::Int8 => {
                let s = _mm256_set1_ps(int8::scale(v, r));
                let b = &v.bytes[start..start + BLOCK];
                for (k, wk) in w.iter_mut().enumerate() {
                    let q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(b.as_ptr().add(8 * k).cast()));
                    *wk = _mm256_mul_ps(s, _mm256_cvtepi32_ps(q));
                }
            }
            Format::Int3G64 => {
                let (s, z) = group::INT3.grid(v, r, col0);
                let (s, z) = (_mm256_set1_ps(s), _mm256_set1_ps(z));
                // Eight codes are 24 bits: three bytes, broadcast, each lane shifted to its code.
                let shifts = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21);
                let low3 = _mm256_set1_epi32(7);
                let b = &v.bytes[3 * start / 8..][..3 * BLOCK / 8];
                for (wk, three) in w.iter_mut().zip(b.chunks_exact(3)) {
                    let word = u32::from_le_bytes([three[0], three[1], three[2], 0]);
                    let codes = _mm256_and_si256(
                        _mm256_srlv_epi32(_mm256_set1_epi32(word as i32), shifts),
                        low3,
                    );
                    *wk = _mm256_add_ps(z, _mm256_mul_ps(s, _mm256_cvtepi32_ps(codes)));
                }
            }
            _ => {
                let (s, z) = group::INT4.grid(v, r, col0);
                let (s, z) = (_mm256_set1_ps(s), _mm256_set1_ps(z));
                let first = r * v.cols.div_ceil(2) + col0 / 2;
                let b = &v.bytes[first..first + BLOCK / 2];
                let nibble = _mm_set1_epi8(15);
                for (k, pair) in w.chunks_exact_mut(2).enumerate() {
                    // Eight bytes, sixteen columns: low nibble first, so interleaving the low
                    // and high nibbles puts the columns in order.
                    let bytes = _mm_loadl_epi64(b.as_ptr().add(8 * k).cast());
                    let lo = _mm_and_si128(bytes, nibble);
                    let hi = _mm_and_si128(_mm_srli_epi16::<4>(bytes), nibble);
                    let codes = _mm_unpacklo_epi8(lo, hi);
                    for (half, wk) in [codes, _mm_srli_si128::<8>(codes)].iter().zip(pair) {
                        let u = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(*half));
                        *wk = _mm256_add_ps(z, _mm256_mul_ps(s, u));
                    }
                }
            }
        }
    }
}
