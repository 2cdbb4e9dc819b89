//! Seeded synthetic weight matrices. Each row draws from its own stream (`seed`, row), so a
//! matrix is the same bits whatever the thread count and its rows (or blocks of them) can be
//! made in parallel, in any order.
//!
//! * [`gaussian`]: N(0, 0.02²), the textbook case every format handles well.
//! * [`llama_like`]: what trained LLaMA weights look like to a quantizer: a Student-t body
//!   (ν = 4: finite variance, kurtosis far above the Gaussian's) with standard deviation 0.02,
//!   and a few input channels (0.5% of the columns, at least one) scaled up 8x. Those are the
//!   "outlier features" of trained transformers (Dettmers et al., LLM.int8()): they stretch
//!   every row's range, which is what per-row formats like q3.5 are most sensitive to.
//!
//! Both are drawn by polar methods from points uniform on the unit disk of a SplitMix64 stream
//! per row ([`RowStream`]): exact in law, no logarithm for the Student-t, and a transform the
//! compiler vectorizes, which matters when a 405B layer (3.2 G weights) is drawn twice a run.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Standard deviation of both generators, typical of a 4k-8k wide projection.
pub const WEIGHT_STD: f32 = 0.02;
/// Degrees of freedom of the heavy-tailed body (the polar draw below is written for 4).
const STUDENT_NU: f32 = 4.0;
/// Fraction of input channels that are outliers.
const OUTLIER_FRACTION: f64 = 0.005;
/// How much larger the outlier channels are.
const OUTLIER_GAIN: f32 = 8.0;
/// Points drawn on the disk before the vectorized transform runs over them.
const CHUNK: usize = 64;

/// `rows` x `cols` weights from N(0, [`WEIGHT_STD`]²).
pub fn gaussian(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    by_rows(rows, cols, |r, row| gaussian_row(seed, r, row))
}

/// Fill row `r` from N(0, [`WEIGHT_STD`]²) by Marsaglia's polar method: a point (u, v)
/// uniform on the unit disk, w = u² + v², gives the two independent normals
/// u·√(−2 ln w / w) and v·√(−2 ln w / w), stored in that order.
fn gaussian_row(seed: u64, r: usize, row: &mut [f32]) {
    let mut stream = RowStream::new(seed, r);
    let mut disk = Disk::default();
    for out in row.chunks_mut(2 * CHUNK) {
        let pairs = out.len().div_ceil(2);
        disk.fill(&mut stream, pairs);
        let (us, vs, ws) = (&disk.u[..pairs], &disk.v[..pairs], &disk.w[..pairs]);
        let mut normals = [0.0f32; 2 * CHUNK];
        for (((z, &u), &v), &w) in normals.chunks_exact_mut(2).zip(us).zip(vs).zip(ws) {
            let f = WEIGHT_STD * (-2.0 * w.ln() / w).sqrt();
            z[0] = u * f;
            z[1] = v * f;
        }
        out.copy_from_slice(&normals[..out.len()]);
    }
}

/// The stream of one row: SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom
/// number generators", 2014) with the state and the odd increment both derived from
/// (`seed`, row) as their `split` derives them, so rows are independent streams that a
/// block of rows can start anywhere.
struct RowStream {
    state: u64,
    gamma: u64,
}

impl RowStream {
    fn new(seed: u64, row: usize) -> Self {
        let key = mix64(seed ^ mix64((row as u64).wrapping_mul(GOLDEN_GAMMA)));
        let mut gamma = mix64(key.wrapping_add(GOLDEN_GAMMA)) | 1;
        // SplittableRandom's guard against increments with too few bit transitions.
        if (gamma ^ (gamma >> 1)).count_ones() < 24 {
            gamma ^= 0xAAAA_AAAA_AAAA_AAAA;
        }
        Self { state: key, gamma }
    }

    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(self.gamma);
        mix64(self.state)
    }
}

/// SplitMix64's increment, 2^64 / φ.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Stafford's Mix13).
#[inline(always)]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Points uniform on the open unit disk, a chunk at a time: each draw's top 24 bits give u
/// and the next 24 give v, both odd multiples of 2⁻²⁴ in (−1, 1) (exact in f32, never 0, so
/// w > 0); draws with w = u² + v² ≥ 1 are rejected (a fraction 1 − π/4).
///
/// A row's points are one sequence however they are drawn: the AVX2 path draws four at a time
/// and may accept up to three more than a chunk asks for, which it keeps for the next chunk.
struct Disk {
    u: [f32; DISK],
    v: [f32; DISK],
    w: [f32; DISK],
    /// Points held, from index 0.
    held: usize,
    /// Points the last [`Disk::fill`] handed out, dropped at the next.
    taken: usize,
}

/// Room for a chunk and the points of one more vector of draws.
const DISK: usize = CHUNK + 4;

impl Default for Disk {
    fn default() -> Self {
        Self {
            u: [0.0; DISK],
            v: [0.0; DISK],
            w: [0.0; DISK],
            held: 0,
            taken: 0,
        }
    }
}

impl Disk {
    /// The next `n` (at most [`CHUNK`]) points of `stream`, in order, as `u[..n]`, `v[..n]`
    /// and `w[..n]`.
    #[inline(always)]
    fn fill(&mut self, stream: &mut RowStream, n: usize) {
        self.drop_taken(n);
        #[cfg(target_arch = "x86_64")]
        if super::isa::cpu_has_avx2() {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { avx2::draw(self, stream, n) };
            return;
        }
        self.draw(stream, n);
    }

    /// Drop the points handed out last, keep the rest at the front, and note that `n` will be
    /// handed out next.
    #[inline(always)]
    fn drop_taken(&mut self, n: usize) {
        let (taken, held) = (self.taken, self.held);
        for a in [&mut self.u, &mut self.v, &mut self.w] {
            a.copy_within(taken..held, 0);
        }
        self.held -= taken;
        self.taken = n;
    }

    /// Draw from `stream` one point at a time until `n` are held: the definition of the
    /// points, which the vector path reproduces.
    #[inline(always)]
    fn draw(&mut self, stream: &mut RowStream, n: usize) {
        let coordinate = |bits: u64| {
            let odd = 2 * (bits & 0xFF_FFFF) as i32 - 0xFF_FFFF;
            odd as f32 * (1.0 / 16_777_216.0)
        };
        let mut k = self.held;
        while k < n {
            let bits = stream.next_u64();
            let (u, v) = (coordinate(bits >> 40), coordinate(bits >> 16));
            let w = u * u + v * v;
            // Written unconditionally, kept by advancing: no branch on the 21% rejected.
            self.u[k] = u;
            self.v[k] = v;
            self.w[k] = w;
            k += usize::from(w < 1.0);
        }
        self.held = k;
    }
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
            MatrixDist::Gaussian { seed } => gaussian_row(*seed, r, row),
            MatrixDist::Llama(l) => l.fill_row(r, row),
        }
    }
}

/// `rows` x `cols` LLaMA-like weights: Student-t body with outlier input channels.
pub fn llama_like(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let g = LlamaLike::new(cols, seed);
    by_rows(rows, cols, |r, row| g.fill_row(r, row))
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
    ///
    /// The body is Student-t with ν = 4 by Bailey's polar method (Bailey, "Polar generation
    /// of random variates with the t-distribution", Math. Comp. 62, 1994): for (u, v) uniform
    /// on the unit disk and w = u² + v², u·√(ν (w^(−2/ν) − 1) / w) is exactly t_ν; with ν = 4
    /// that is 2u·√((1/√w − 1) / w), square roots and divisions only.
    pub fn fill_row(&self, r: usize, row: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if super::isa::cpu_has_avx2() {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { self.fill_row_avx2(r, row) };
            return;
        }
        self.fill_row_here(r, row);
    }

    /// [`Self::fill_row`] compiled for AVX2: the same IEEE operations, eight lanes wide.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn fill_row_avx2(&self, r: usize, row: &mut [f32]) {
        self.fill_row_here(r, row);
    }

    /// [`Self::fill_row`] for the instruction set it is compiled for.
    #[inline(always)]
    fn fill_row_here(&self, r: usize, row: &mut [f32]) {
        let mut stream = RowStream::new(self.seed, r);
        let mut disk = Disk::default();
        let scale = 2.0 * self.body;
        for (out, gain) in row.chunks_mut(CHUNK).zip(self.gain.chunks(CHUNK)) {
            disk.fill(&mut stream, out.len());
            for (((o, &g), &u), &w) in out.iter_mut().zip(gain).zip(&disk.u).zip(&disk.w) {
                *o = scale * g * (u * ((1.0 / w.sqrt() - 1.0) / w).sqrt());
            }
        }
    }
}

/// Fill each row of a `rows` x `cols` matrix with `fill(r, row)`, rows in parallel.
fn by_rows(rows: usize, cols: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut w = vec![0.0; rows * cols];
    w.par_chunks_mut(cols.max(1))
        .enumerate()
        .for_each(|(r, row)| fill(r, row));
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

    /// √n times the Kolmogorov-Smirnov distance between the sample `xs` and the law `cdf`.
    fn ks(mut xs: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
        xs.sort_by(f64::total_cmp);
        let n = xs.len() as f64;
        let d = xs.iter().enumerate().fold(0.0f64, |d, (i, &x)| {
            let f = cdf(x);
            d.max(f - i as f64 / n).max((i + 1) as f64 / n - f)
        });
        d * n.sqrt()
    }

    #[test]
    fn draws_follow_their_laws() {
        // Φ by Abramowitz and Stegun 7.1.26 (error below 1.5e-7).
        let phi = |x: f64| {
            let z = x.abs() / 2f64.sqrt();
            let t = 1.0 / (1.0 + 0.327_591_1 * z);
            let poly = [0.254_829_592, -0.284_496_736, 1.421_413_741, -1.453_152_027]
                .iter()
                .rev()
                .fold(1.061_405_429, |p, a| a + p * t);
            let erf = 1.0 - t * poly * (-z * z).exp();
            0.5 * (1.0 + erf.copysign(x))
        };
        // Student-t with ν = 4: F(t) = 1/2 + 3s/4 − s³/4 with s = t / √(4 + t²).
        let t4 = |t: f64| {
            let s = t / (4.0 + t * t).sqrt();
            0.5 + 0.75 * s - 0.25 * s.powi(3)
        };
        let (rows, cols) = (64, 4096);
        let normal: Vec<f64> = gaussian(rows, cols, 3)
            .iter()
            .map(|&w| f64::from(w / WEIGHT_STD))
            .collect();
        let l = LlamaLike::new(cols, 3);
        let body: Vec<f64> = llama_like(rows, cols, 3)
            .iter()
            .enumerate()
            .filter(|(i, _)| l.gain[i % cols] == 1.0)
            .map(|(_, &w)| f64::from(w / l.body))
            .collect();
        // Below 1.63: the 1% critical value of the statistic.
        for (name, d) in [("gaussian", ks(normal, phi)), ("student-t4", ks(body, t4))] {
            assert!(d < 1.63, "{name}: KS statistic {d}");
        }
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
