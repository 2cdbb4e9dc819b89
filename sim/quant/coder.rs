//! Quantizing a matrix span by span: each sub-8-bit format says how it chooses the grid of a
//! span of a row (a group along K, a super-block, or the whole row), how a weight maps to a
//! code on that grid and back, and how codes and grids become its bytes. One driver then codes
//! every row, either rounding each weight to nearest or with error feedback from a calibration
//! Hessian ([`Feedback`], GPTQ): the bytes are the format's either way, only the codes differ.

use super::QuantError;
use rayon::prelude::*;

/// How one format quantizes and stores a matrix.
pub(crate) trait Coder: Sync {
    /// The grid (the format's metadata values, as stored) of one span.
    type Grid: Send;

    /// Columns that share one grid: the last span of a row may be shorter.
    fn span(&self, cols: usize) -> usize;

    /// The grid for the weights `w` of one span of row `row` (for error messages); with
    /// `importance` (one value per weight, calibration), weight `c`'s squared error counts
    /// `importance[c]` times.
    fn choose(
        &self,
        row: usize,
        w: &[f32],
        importance: Option<&[f32]>,
    ) -> Result<Self::Grid, QuantError>;

    /// The code of `v` at column `c` of its span.
    fn code(&self, grid: &Self::Grid, c: usize, v: f32) -> u32;

    /// The codes of the weights `w` of one span, rounded to nearest: [`Self::code`] of each,
    /// which a format may compute in a tighter loop.
    #[inline]
    fn codes(&self, grid: &Self::Grid, w: &[f32], codes: &mut [u32]) {
        for (c, (code, &v)) in codes.iter_mut().zip(w).enumerate() {
            *code = self.code(grid, c, v);
        }
    }

    /// The value code `code` stands for at column `c` of its span.
    fn value(&self, grid: &Self::Grid, c: usize, code: u32) -> f32;

    /// The packed bytes from every span's grid (row-major) and every weight's code.
    fn write(&self, rows: usize, cols: usize, grids: &[Self::Grid], codes: &[u32]) -> Vec<u8>;
}

/// Error feedback of calibrated quantization (GPTQ, Frantar et al. 2022): the upper Cholesky
/// factor `U` of the inverse of a layer's input Hessian `H = Σ x xᵀ` (dampened). After column
/// `j` of a row is rounded, its error divided by `U[j][j]`, times `U[j][k]`, is taken off every
/// later column `k`, which minimizes the increase of the output error `Σ (Δw · x)²` over the
/// calibration inputs rather than the weight error.
#[derive(Clone, Debug, PartialEq)]
pub struct Feedback {
    cols: usize,
    /// Columns in the order they are rounded: descending Hessian diagonal ("act order"), so
    /// the inputs that matter most are rounded first and the others absorb their error.
    order: Vec<usize>,
    /// `U` of the Hessian permuted into that order, row-major, `cols` x `cols`.
    factor: Vec<f32>,
    /// The Hessian's diagonal, by column: how much each input's weight error costs.
    importance: Vec<f32>,
}

impl Feedback {
    /// The feedback for inputs whose Hessian is `hessian` (`cols` x `cols`, row-major,
    /// symmetric). `damp` (e.g. 0.01) times the mean diagonal is added to the diagonal, and
    /// inputs that never fired get a unit diagonal, so the factorization always succeeds.
    pub fn from_hessian(cols: usize, hessian: &[f64], damp: f64) -> Result<Self, QuantError> {
        if hessian.len() != cols * cols || cols == 0 {
            return Err(QuantError::Hessian {
                cols,
                reason: format!("has {} values, expected {}", hessian.len(), cols * cols),
            });
        }
        if let Some(i) = hessian.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::Hessian {
                cols,
                reason: format!("value {i} is {}", hessian[i]),
            });
        }
        let diag: Vec<f64> = (0..cols).map(|i| hessian[i * cols + i]).collect();
        let mut order: Vec<usize> = (0..cols).collect();
        order.sort_by(|&a, &b| diag[b].total_cmp(&diag[a]).then(a.cmp(&b)));
        let mut h: Vec<f64> = order
            .iter()
            .flat_map(|&a| order.iter().map(move |&b| hessian[a * cols + b]))
            .collect();
        let mean = diag.iter().sum::<f64>() / cols as f64;
        let add = damp * if mean > 0.0 { mean } else { 1.0 };
        for i in 0..cols {
            if h[i * cols + i] <= 0.0 {
                h[i * cols + i] = 1.0;
            }
            h[i * cols + i] += add;
        }
        let lower = cholesky(cols, &h).ok_or_else(|| QuantError::Hessian {
            cols,
            reason: "is not positive definite even after dampening".into(),
        })?;
        let inverse = inverse_from_cholesky(cols, &lower);
        let lower = cholesky(cols, &inverse).ok_or_else(|| QuantError::Hessian {
            cols,
            reason: "has an inverse that is not positive definite".into(),
        })?;
        // U = Lᵀ of the inverse's factor: row j holds column j of L.
        let mut factor = vec![0.0; cols * cols];
        for j in 0..cols {
            for k in j..cols {
                factor[j * cols + k] = lower[k * cols + j] as f32;
            }
        }
        let importance = diag.iter().map(|&d| d.max(0.0) as f32).collect();
        Ok(Self {
            cols,
            order,
            factor,
            importance,
        })
    }

    /// Inputs (columns) of the matrices it applies to.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The `p`-th column rounded was rounded with error `err` (weight minus stored value):
    /// compensate in the columns rounded after it (`work` holds the row in rounding order).
    #[inline]
    fn spread(&self, p: usize, err: f32, work: &mut [f32]) {
        let u = &self.factor[p * self.cols..(p + 1) * self.cols];
        let e = err / u[p];
        for (w, &f) in work[p + 1..].iter_mut().zip(&u[p + 1..]) {
            *w -= e * f;
        }
    }
}

/// Lower Cholesky factor of the symmetric positive definite `a` (n x n), or `None`.
fn cholesky(n: usize, a: &[f64]) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// `A⁻¹` from the lower Cholesky factor `L` of `A`: `A⁻¹ = L⁻ᵀ L⁻¹`.
fn inverse_from_cholesky(n: usize, l: &[f64]) -> Vec<f64> {
    // Columns of L⁻¹ by forward substitution.
    let mut li = vec![0.0; n * n];
    for c in 0..n {
        for i in c..n {
            let s: f64 = (c..i).map(|k| l[i * n + k] * li[k * n + c]).sum();
            let rhs = if i == c { 1.0 } else { 0.0 };
            li[i * n + c] = (rhs - s) / l[i * n + i];
        }
    }
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (i..n).map(|k| li[k * n + i] * li[k * n + j]).sum();
            inv[i * n + j] = s;
            inv[j * n + i] = s;
        }
    }
    inv
}

/// Quantize `rows` x `cols` weights with `coder`, rounding to nearest (`feedback` `None`) or
/// with error feedback. Rows are coded in parallel, each on its own in a fixed column order,
/// so the bytes do not depend on the thread count.
pub(crate) fn pack<C: Coder>(
    coder: &C,
    rows: usize,
    cols: usize,
    w: &[f32],
    feedback: Option<&Feedback>,
) -> Result<Vec<u8>, QuantError> {
    if let Some(f) = feedback.filter(|f| f.cols != cols) {
        return Err(QuantError::Hessian {
            cols: f.cols,
            reason: format!("does not fit a matrix of {cols} inputs"),
        });
    }
    let span = coder.span(cols).max(1);
    let mut codes = vec![0u32; rows * cols];
    let grids = codes
        .par_chunks_mut(cols)
        .zip(w.par_chunks_exact(cols))
        .enumerate()
        .map_init(Vec::new, |work, (r, (codes, row))| {
            let grids = (0..cols)
                .step_by(span)
                .map(|s0| {
                    let end = (s0 + span).min(cols);
                    let importance = feedback.map(|f| &f.importance[s0..end]);
                    coder.choose(r, &row[s0..end], importance)
                })
                .collect::<Result<Vec<_>, QuantError>>()?;
            let round = |j: usize, v: f32| {
                let grid = &grids[j / span];
                let code = coder.code(grid, j % span, v);
                (code, coder.value(grid, j % span, code))
            };
            match feedback {
                None => {
                    // Span by span, so the hot loop looks up no grid and divides no index.
                    let spans = codes.chunks_mut(span).zip(row.chunks(span)).zip(&grids);
                    for ((codes, row), grid) in spans {
                        coder.codes(grid, row, codes);
                    }
                }
                Some(f) => {
                    work.clear();
                    work.extend(f.order.iter().map(|&j| row[j]));
                    for (p, &j) in f.order.iter().enumerate() {
                        let (code, value) = round(j, work[p]);
                        codes[j] = code;
                        f.spread(p, work[p] - value, work);
                    }
                }
            }
            Ok(grids)
        })
        .collect::<Result<Vec<_>, QuantError>>()?;
    let grids: Vec<C::Grid> = grids.into_iter().flatten().collect();
    Ok(coder.write(rows, cols, &grids, &codes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_factor_reproduces_the_inverse() {
        let h = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let f = Feedback::from_hessian(3, &h, 0.0).unwrap();
        // Act order: by descending diagonal.
        assert_eq!(f.order, [1, 0, 2]);
        let hp = |a: usize, b: usize| h[f.order[a] * 3 + f.order[b]];
        // Uᵀ U = H⁻¹ (in that order), so H Uᵀ U = I.
        let u = |i: usize, j: usize| f64::from(f.factor[i * 3 + j]);
        let mut prod = [[0.0; 3]; 3];
        for (i, p) in prod.iter_mut().enumerate() {
            for (j, v) in p.iter_mut().enumerate() {
                *v = (0..3)
                    .map(|m| hp(i, m) * (0..3).map(|k| u(k, m) * u(k, j)).sum::<f64>())
                    .sum();
            }
        }
        for (i, p) in prod.iter().enumerate() {
            for (j, v) in p.iter().enumerate() {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-5, "{i},{j}: {v}");
            }
        }
    }

    #[test]
    fn bad_hessians_are_refused() {
        assert!(Feedback::from_hessian(2, &[1.0; 3], 0.01).is_err());
        assert!(Feedback::from_hessian(1, &[f64::NAN], 0.01).is_err());
        // A dead input (zero row and column) is given a unit diagonal, not refused.
        assert!(Feedback::from_hessian(2, &[1.0, 0.0, 0.0, 0.0], 0.01).is_ok());
    }
}
