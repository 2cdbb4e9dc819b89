//! The int8-activation kernel of the grouped formats (`int4-g128`, `int3-g64`): per group of a
//! row the exact integer sum `S_g = Σ u · qx` of codes times activation codes, then
//! `y = sx · Σ_g (s_g · S_g + z_g · Q_g)` in f64, groups in order (`Q_g = Σ qx` over the
//! group, once per vector). Only the integer sums have faster implementations, so every
//! instruction set gives the same bits.

use super::group::{Grouped, INT3, INT4};
#[cfg(target_arch = "x86_64")]
use super::group_i8_simd;
use super::isa::Isa;
use super::kernel_i8::Int8Activations;
use super::{Format, PackedMatrix};

/// The largest group of any grouped format.
const MAX_GROUP: usize = 128;

/// How a grouped format's int8-activation kernel reads a row.
#[derive(Clone, Copy)]
pub(super) struct Grouping {
    /// The format's layout and grid.
    grouped: Grouped,
    /// Weights per group (the stride of `Int8Activations::group_sums`).
    pub(super) size: usize,
    /// The codes of two neighbouring columns share a byte (low nibble first), so the kernel
    /// reads the activations split into even and odd columns.
    pub(super) split: bool,
}

impl Grouping {
    /// The grouping of `format`, `None` for the formats without groups.
    pub(super) fn of(format: Format) -> Option<Self> {
        let grouped = match format {
            Format::Int4G128 => INT4,
            Format::Int3G64 => INT3,
            _ => return None,
        };
        Some(Self {
            grouped,
            size: grouped.group,
            split: grouped.bits == 4,
        })
    }
}

impl PackedMatrix {
    /// Row `r` of a grouped format against one int8 activation vector; `sums` is scratch for
    /// the row's group sums.
    pub(super) fn row_grouped_i8(
        &self,
        isa: Isa,
        g: Grouping,
        r: usize,
        qx: &Int8Activations,
        sums: &mut Vec<i32>,
    ) -> f32 {
        let (cols, v) = (self.cols(), self.view());
        sums.clear();
        sums.resize(cols.div_ceil(g.size), 0);
        // The groups a vector kernel took; the rest (a partial last group, or rows a vector
        // kernel cannot address) are summed by the portable code.
        let done = match isa {
            Isa::Portable => 0,
            // SAFETY: `Isa::Avx2` only exists on CPUs that have AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { group_i8_simd::sums_avx2(g.split, &v, r, qx, sums) },
            // SAFETY: `Isa::Avx512` only exists on CPUs that have AVX-512 F/BW/VBMI.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { group_i8_simd::sums_avx512(g.split, &v, r, qx, sums) },
        };
        let mut codes = [0u8; MAX_GROUP];
        for (k, s) in sums.iter_mut().enumerate().skip(done) {
            let col0 = k * g.size;
            let n = g.size.min(cols - col0);
            g.grouped.codes(&v, r, col0, &mut codes[..n]);
            *s = codes[..n]
                .iter()
                .zip(&qx.codes[col0..])
                .map(|(&u, &q)| i32::from(u) * i32::from(q))
                .sum();
        }
        let mut dot = 0f64;
        for (k, (&s, &q)) in sums.iter().zip(&qx.group_sums).enumerate() {
            let (scale, zero) = g.grouped.grid(&v, r, k * g.size);
            dot += f64::from(scale) * f64::from(s) + f64::from(zero) * q as f64;
        }
        (f64::from(qx.scale) * dot) as f32
    }
}
