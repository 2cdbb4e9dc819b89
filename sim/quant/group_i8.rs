//! The int8-activation kernel of the grouped formats (`int4-g128`, `int3-g64`, and `q3-k256`,
//! whose 32-weight sub-blocks are groups with a computed grid): per group of a row the exact
//! integer sum `S_g = Σ u · qx` of codes times activation codes, then
//! `y = sx · Σ_g (s_g · S_g + z_g · Q_g)` in f64, group `g` added into lane `g mod 4` and the
//! four lanes added in order (`Q_g = Σ qx` over the group, once per vector; `q3-k256` has
//! `s_g = d · sc`, `z_g = −dmin · m`). Only the integer
//! sums have faster implementations, so every instruction set gives the same bits.

use super::group::{Grouped, INT3, INT4};
#[cfg(target_arch = "x86_64")]
use super::group_i8_simd;
use super::isa::Isa;
use super::kernel_i8::Int8Activations;
use super::view::View;
use super::{Format, PackedMatrix, kquant, meta};

/// The largest group of any grouped format.
const MAX_GROUP: usize = 128;

/// How a grouped format's int8-activation kernel reads a row.
#[derive(Clone, Copy)]
pub(super) struct Grouping {
    /// The layout of the codes (`q3-k256` stores its codes as `int3-g64` does).
    codes: Grouped,
    /// Where each group's grid comes from.
    grids: Grids,
    /// Weights per group (the stride of `Int8Activations::group_sums`).
    pub(super) size: usize,
    /// The codes of two neighbouring columns share a byte (low nibble first), so the kernel
    /// reads the activations split into even and odd columns.
    pub(super) split: bool,
}

/// Where a group's `(s_g, z_g)` come from.
#[derive(Clone, Copy)]
enum Grids {
    /// Stored per group as f16 (scale, zero).
    Stored,
    /// `q3-k256`: computed from the super-block's f16 `d`, `dmin` and the sub-block's 6-bit
    /// fields, `(d · sc, −dmin · m)`.
    SuperBlocks,
}

impl Grouping {
    /// The grouping of `format`, `None` for the formats without groups.
    pub(super) fn of(format: Format) -> Option<Self> {
        let (codes, grids, size) = match format {
            Format::Int4G128 => (INT4, Grids::Stored, INT4.group),
            Format::Int3G64 => (INT3, Grids::Stored, INT3.group),
            Format::Q3K256 => (INT3, Grids::SuperBlocks, kquant::SUB),
            _ => return None,
        };
        Some(Self {
            codes,
            grids,
            size,
            split: codes.bits == 4,
        })
    }

    /// `s_0, z_0, s_1, z_1, ...` of every group of `row`, in order, into `out`.
    pub(super) fn grids(self, v: &View, row: usize, out: &mut Vec<f32>) {
        out.clear();
        match self.grids {
            Grids::Stored => {
                let groups = v.cols.div_ceil(self.size);
                meta::read_many(v.meta(), 2 * row * groups, 2 * groups, out);
            }
            Grids::SuperBlocks => {
                kquant::sub_grids(v, row, out);
            }
        }
    }
}

impl PackedMatrix {
    /// Row `r` of a grouped format against one int8 activation vector; `grids` holds the
    /// row's [`Grouping::grids`], `sums` is scratch for the row's group sums.
    pub(super) fn row_grouped_i8(
        &self,
        isa: Isa,
        g: Grouping,
        r: usize,
        qx: &Int8Activations,
        grids: &[f32],
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
            Isa::Avx2 => unsafe { group_i8_simd::sums_avx2(g.split, g.size, &v, r, qx, sums) },
            // SAFETY: `Isa::Avx512` only exists on CPUs that have AVX-512 F/BW/VBMI.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { group_i8_simd::sums_avx512(g.split, g.size, &v, r, qx, sums) },
        };
        let mut codes = [0u8; MAX_GROUP];
        for (k, s) in sums.iter_mut().enumerate().skip(done) {
            let col0 = k * g.size;
            let n = g.size.min(cols - col0);
            g.codes.codes(&v, r, col0, &mut codes[..n]);
            *s = codes[..n]
                .iter()
                .zip(&qx.codes[col0..])
                .map(|(&u, &q)| i32::from(u) * i32::from(q))
                .sum();
        }
        // Group g in lane g mod 4, the lanes added in order: four chains of f64 additions
        // instead of one.
        let mut lanes = [0f64; 4];
        let terms = sums.iter().zip(&qx.group_sums).zip(grids.chunks_exact(2));
        for (k, ((&s, &q), grid)) in terms.enumerate() {
            lanes[k % 4] += f64::from(grid[0]) * f64::from(s) + f64::from(grid[1]) * q as f64;
        }
        let dot = ((lanes[0] + lanes[1]) + lanes[2]) + lanes[3];
        (f64::from(qx.scale) * dot) as f32
    }
}
