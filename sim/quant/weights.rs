//! Seeded synthetic weight matrices. Each row draws from its own ChaCha stream (`seed`, row),
//! so a matrix is the same bits whatever the thread count and its rows can be made in parallel.
//!
//! * [`gaussian`]: N(0, 0.02²), the textbook case every format handles well.
//! * [`llama_like`]: what trained LLaMA weights look like to a quantizer: a Student-t body
//!   (ν = 4: finite variance, kurtosis far above the Gaussian's) with standard deviation 0.02,
//!   and a few input channels (0.5% of the columns, at least one) scaled up 8x. Those are the
//!   "outlier features" of trained transformers (Dettmers et al., LLM.int8()): they stretch
//!   every row's range, which is what per-row formats like q3.5 are most sensitive to.

use rand::seq::index::sample;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};
use rayon::prelude::*;

/// Standard deviation of both generators, typical of a 4k-8k wide projection.
pub const WEIGHT_STD: f32 = 0.02;
/// Degrees of freedom of the heavy-tailed body.
const STUDENT_NU: f32 = 4.0;
/// Fraction of input channels that are outliers.
const OUTLIER_FRACTION: f64 = 0.005;
/// How much larger the outlier channels are.
const OUTLIER_GAIN: f32 = 8.0;

/// `rows` x `cols` weights from N(0, [`WEIGHT_STD`]²).
pub fn gaussian(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    by_rows(rows, cols, seed, gaussian_row)
}

/// Fill `row` from N(0, [`WEIGHT_STD`]²).
fn gaussian_row(rng: &mut ChaCha8Rng, row: &mut [f32]) {
    let normal = Normal::new(0.0, WEIGHT_STD).unwrap_or_else(|_| unreachable!("fixed valid std"));
    row.iter_mut().for_each(|w| *w = normal.sample(rng));
}

/// A synthetic weight distribution, by name (`--dist` of `accsim quant` and `accsim run`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dist {
    /// [`gaussian`].
    Gaussian,
    /// [`llama_like`].
    #[default]
    Llama,
}

impl Dist {
    /// Every distribution.
    pub const ALL: [Dist; 2] = [Dist::Gaussian, Dist::Llama];

    /// The name on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            Dist::Gaussian => "gaussian",
            Dist::Llama => "llama",
        }
    }

    /// The distribution called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The distribution of one matrix with `cols` input channels drawn from `seed`: row `r`
    /// of it is row `r` of [`gaussian`] / [`llama_like`] with that seed.
    pub fn matrix(self, cols: usize, seed: u64) -> MatrixDist {
        match self {
            Dist::Gaussian => MatrixDist::Gaussian { seed },
            Dist::Llama => MatrixDist::Llama(LlamaLike::new(cols, seed)),
        }
    }
}

/// One matrix's distribution, drawn row by row.
pub enum MatrixDist {
    /// N(0, [`WEIGHT_STD`]²).
    Gaussian {
        /// The matrix's seed.
        seed: u64,
    },
    /// Student-t body with outlier input channels.
    Llama(LlamaLike),
}

impl MatrixDist {
    /// Row `r` (its own stream, so rows are independent of the order they are made in).
    pub fn fill_row(&self, r: usize, row: &mut [f32]) {
        match self {
            MatrixDist::Gaussian { seed } => gaussian_row(&mut row_rng(*seed, r), row),
            MatrixDist::Llama(l) => l.fill_row(r, row),
        }
    }
}

/// `rows` x `cols` LLaMA-like weights: Student-t body with outlier input channels.
pub fn llama_like(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let g = LlamaLike::new(cols, seed);
    let mut w = vec![0.0; rows * cols];
    w.par_chunks_mut(cols.max(1))
        .enumerate()
        .for_each(|(r, row)| g.fill_row(r, row));
    w
}

/// The LLaMA-like distribution of one matrix, drawn row by row, so a row can be made where it
/// is used (a reference product over a 400B-class layer) instead of storing the matrix.
pub struct LlamaLike {
    seed: u64,
    gain: Vec<f32>,
    body: f32,
}

impl LlamaLike {
    /// The distribution of a matrix with `cols` input channels; its outlier channels are
    /// drawn from `seed`.
    pub fn new(cols: usize, seed: u64) -> Self {
        // Var(t_ν) = ν / (ν - 2): rescale to the target standard deviation.
        let body = WEIGHT_STD / (STUDENT_NU / (STUDENT_NU - 2.0)).sqrt();
        let mut gain = vec![1.0f32; cols];
        let outliers = ((cols as f64 * OUTLIER_FRACTION).ceil() as usize).min(cols);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::MAX);
        for c in sample(&mut rng, cols, outliers) {
            gain[c] = OUTLIER_GAIN;
        }
        Self { seed, gain, body }
    }

    /// Row `r` (its own stream, so rows are independent of the order they are made in).
    pub fn fill_row(&self, r: usize, row: &mut [f32]) {
        let mut rng = row_rng(self.seed, r);
        for (w, g) in row.iter_mut().zip(&self.gain) {
            *w = self.body * g * student_t4(&mut rng);
        }
    }
}

/// A Student-t draw with ν = 4 degrees of freedom, exactly: t = Z / sqrt(χ²₄ / 4), and a χ²
/// with 4 degrees of freedom is a sum of two exponentials of mean 2, i.e. −2 ln(U₁U₂). Three
/// times faster than the general sampler (which goes through a Gamma), which matters when a
/// 405B layer (3.2 G weights) is drawn twice per run.
fn student_t4(rng: &mut ChaCha8Rng) -> f32 {
    let z: f32 = rng.sample(StandardNormal);
    // Both uniforms from one 64-bit draw, 24 bits each, in (0, 1] so the logarithm is finite.
    let bits = rng.next_u64();
    let unit = |b: u64| ((b & 0xFF_FFFF) as f32 + 1.0) * (1.0 / 16_777_216.0);
    let (u1, u2) = (unit(bits), unit(bits >> 32));
    z / (-(u1 * u2).ln() / 2.0).sqrt()
}

/// The stream of row `r`.
fn row_rng(seed: u64, r: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(r as u64);
    rng
}

/// Fill each row from its own stream.
fn by_rows(
    rows: usize,
    cols: usize,
    seed: u64,
    fill: impl Fn(&mut ChaCha8Rng, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut w = vec![0.0; rows * cols];
    w.par_chunks_mut(cols.max(1))
        .enumerate()
        .for_each(|(r, row)| fill(&mut row_rng(seed, r), row));
    w
}

/// `n` activations from N(0, 1), seeded: the input vectors of kernel checks and timings.
pub fn activations(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.sample(StandardNormal)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_seed_dependent() {
        assert_eq!(llama_like(3, 300, 7), llama_like(3, 300, 7));
        assert_ne!(gaussian(3, 300, 7), gaussian(3, 300, 8));
    }

    #[test]
    fn a_matrix_distribution_draws_the_rows_of_its_generator() {
        let mut row = vec![0.0; 300];
        for (dist, whole) in [
            (Dist::Gaussian, gaussian(3, 300, 7)),
            (Dist::Llama, llama_like(3, 300, 7)),
        ] {
            dist.matrix(300, 7).fill_row(2, &mut row);
            assert_eq!(row, whole[600..], "{}", dist.name());
            assert_eq!(Dist::parse(dist.name()), Some(dist));
        }
        assert_eq!(Dist::parse("uniform"), None);
    }

    #[test]
    fn llama_like_has_heavier_tails_than_gaussian() {
        let kurtosis = |w: &[f32]| {
            let n = w.len() as f64;
            let m2 = w.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n;
            let m4 = w.iter().map(|&v| f64::from(v).powi(4)).sum::<f64>() / n;
            m4 / (m2 * m2)
        };
        let g = kurtosis(&gaussian(64, 1024, 1));
        let l = kurtosis(&llama_like(64, 1024, 1));
        assert!((g - 3.0).abs() < 0.2, "gaussian kurtosis {g}");
        assert!(l > 10.0, "llama-like kurtosis {l}");
    }
}
