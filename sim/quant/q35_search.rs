//! The `q3.5-opt` range search: instead of the row's full [min, max], store the range whose
//! grids (as rounded to f16) give the least squared reconstruction error. Clipping a few
//! extreme weights buys finer steps for all the others, which pays off on bell-shaped rows.

use super::QuantError;
use super::q35::{PairGrid, min_max};
use crate::quant::Format;
use half::f16;

/// Fractions of the full range tried first, centred on the row's midrange.
const SHRINKS: [f32; 11] = [1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5];
/// Shifts of the best shrunk range's centre, in units of its half-width.
const SHIFTS: [f32; 6] = [-0.15, -0.1, -0.05, 0.05, 0.1, 0.15];
/// Final fine adjustments of the half-width, relative.
const REFINES: [f32; 2] = [-0.025, 0.025];

/// The stored (scale, offset) and grid of the best range found for `row`, the squared error
/// of column `c` weighted by `importance[c]` when given (calibration), else unweighted.
pub(crate) fn best_grid(
    row: &[f32],
    r: usize,
    importance: Option<&[f32]>,
) -> Result<(f16, f16, PairGrid), QuantError> {
    let (lo, hi) = min_max(row);
    let full = PairGrid::for_range(Format::Q35Opt, lo, hi, r)?;
    if hi == lo {
        return Ok(full);
    }
    let mut best = Best {
        error: squared_error(row, importance, &full.2),
        found: full,
        centre: 0.5 * (lo + hi),
        half: 0.5 * (hi - lo),
    };
    let (mid, half) = (best.centre, best.half);
    for f in SHRINKS {
        best.try_range(row, r, importance, mid, half * f);
    }
    let half = best.half;
    for d in SHIFTS {
        best.try_range(row, r, importance, mid + d * half, half);
    }
    let (centre, half) = (best.centre, best.half);
    for d in REFINES {
        best.try_range(row, r, importance, centre, half * (1.0 + d));
    }
    Ok(best.found)
}

/// The best candidate so far.
struct Best {
    found: (f16, f16, PairGrid),
    error: f64,
    centre: f32,
    half: f32,
}

impl Best {
    /// Keep the range `centre ± half` if it reconstructs `row` strictly better.
    fn try_range(
        &mut self,
        row: &[f32],
        r: usize,
        importance: Option<&[f32]>,
        centre: f32,
        half: f32,
    ) {
        if let Ok(found) = PairGrid::for_range(Format::Q35Opt, centre - half, centre + half, r) {
            let error = squared_error(row, importance, &found.2);
            if error < self.error {
                *self = Best {
                    found,
                    error,
                    centre,
                    half,
                };
            }
        }
    }
}

/// Sum of squared differences between `row` and its reconstruction on `grid`, column `c`'s
/// weighted by `importance[c]` if given.
fn squared_error(row: &[f32], importance: Option<&[f32]>, grid: &PairGrid) -> f64 {
    row.iter()
        .enumerate()
        .map(|(c, &w)| {
            let e = if c % 2 == 0 {
                w - grid.even_value(grid.even_code(w))
            } else {
                w - grid.odd_value(grid.odd_code(w))
            };
            f64::from(e * e) * importance.map_or(1.0, |i| f64::from(i[c]))
        })
        .sum()
}
