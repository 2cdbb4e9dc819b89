//! LLaMA checkpoints with synthetic weights at the true widths: real checkpoints of 70B/405B
//! do not ship with accsim, but the error a format adds depends on the layers' true widths
//! (group and row lengths, reduction depth), so the layers are run at the true dimensions.
//!
//! Weights: every matrix is drawn from [`Dist::Llama`] unless the run asks for another
//! [`Dist`] (`--dist gaussian`): a Student-t body (ν = 4, heavy tails)
//! with standard deviation 0.02 (the `initializer_range` of the LLaMA-2/3 Hugging Face configs)
//! and 0.5% of the input channels scaled 8x. The last is an assumption standing in for the
//! outlier features of trained transformers (Dettmers et al., LLM.int8(), 2022): those are
//! seen in activations, and how far they show in the weights is not published for LLaMA-2/3.
//! Norm gains are 1; the embedding, i.e. the input residual stream, is
//! N(0, 1). Real trained weights differ in detail, so every output is labelled synthetic.
//! Each matrix has its own seed (run seed, tensor) and each row its own stream
//! (`quant::weights`), so values do not depend on threads. Tensors are drawn when asked for,
//! one at a time, and an f32 matrix is never stored: its rows are remade inside each product
//! ([`RowsOnDemand`]), or quantized block of rows by block of rows as they are drawn
//! ([`Quantized::by_rows`]). When one lane under test follows the reference
//! ([`Checkpoint::expect`]), the reference's product quantizes the very blocks it draws for
//! that lane, so each matrix is drawn once. The embedding table is one stream, so the rows a
//! run uses are drawn without the rest of the table.

use super::Config;
use super::linear::{Linear, Quantized, dot};
use super::lockstep;
use super::tensor::{Checkpoint, Tensor};
use crate::quant::Format;
use crate::quant::weights::{Dist, MatrixDist, activations};
use rayon::prelude::*;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One decoder layer's true widths.
#[derive(Clone, Copy, Debug)]
pub struct LayerShape {
    /// Model the widths come from.
    pub name: &'static str,
    pub dim: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// LLaMA-2-70B (Touvron et al. 2023, HF config.json).
pub const LLAMA2_70B: LayerShape = LayerShape {
    name: "llama2-70b",
    dim: 8192,
    hidden: 28672,
    heads: 64,
    kv_heads: 8,
    head_dim: 128,
};

/// LLaMA-3.1-405B (Meta 2024, HF config.json).
pub const LLAMA31_405B: LayerShape = LayerShape {
    name: "llama3.1-405b",
    dim: 16384,
    hidden: 53248,
    heads: 128,
    kv_heads: 8,
    head_dim: 128,
};

/// A checkpoint of `config`'s shape whose tensors are drawn on demand.
pub struct Synthetic {
    config: Config,
    seed: u64,
    dist: Dist,
    /// The formats the lane under test loads the current layer's matrices in, once the
    /// reference has run them ([`Checkpoint::expect`]).
    expected: Mutex<Vec<(Tensor, Format)>>,
    /// Matrices the reference packed for that lane from its own draws, until the lane loads
    /// them.
    drawn: Drawn,
}

/// Packed matrices waiting for their lane, by tensor and format.
type Drawn = Arc<Mutex<Vec<(Tensor, Format, Quantized)>>>;

/// The guarded value, even if another thread panicked holding it (these are plain caches).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Synthetic {
    /// The model of `config` drawn from `seed`, matrices LLaMA-like.
    pub fn new(config: Config, seed: u64) -> Self {
        Self {
            config,
            seed,
            dist: Dist::Llama,
            expected: Mutex::default(),
            drawn: Drawn::default(),
        }
    }

    /// The same model with its matrices drawn from `dist` instead.
    pub fn with_dist(self, dist: Dist) -> Self {
        Self { dist, ..self }
    }

    /// The first `n` rows of the embedding table (the input residual stream of `n` positions):
    /// the table is one stream, so these are its first `n * dim` values.
    pub fn embedding_rows(&self, n: usize) -> Vec<f32> {
        activations(
            n * self.config.dim,
            tensor_seed(self.seed, Tensor::Embedding),
        )
    }

    /// The distribution of matrix `t`.
    fn matrix(&self, t: Tensor) -> MatrixDist {
        self.dist
            .matrix(t.shape(&self.config).1, tensor_seed(self.seed, t))
    }
}

/// A seed per (run seed, tensor), mixed (SplitMix64 finalizer) so nearby seeds and layers
/// give unrelated matrices.
fn tensor_seed(seed: u64, t: Tensor) -> u64 {
    let (kind, layer) = match t {
        Tensor::Embedding => (0, 0),
        Tensor::AttnNorm(l) => (1, l),
        Tensor::Q(l) => (2, l),
        Tensor::K(l) => (3, l),
        Tensor::V(l) => (4, l),
        Tensor::O(l) => (5, l),
        Tensor::FfnNorm(l) => (6, l),
        Tensor::Gate(l) => (7, l),
        Tensor::Down(l) => (8, l),
        Tensor::Up(l) => (9, l),
        Tensor::FinalNorm => (10, 0),
        Tensor::Classifier => (11, 0),
    };
    let mut z = seed ^ (kind << 48 | layer as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Checkpoint for Synthetic {
    fn config(&self) -> &Config {
        &self.config
    }

    fn path(&self) -> &Path {
        Path::new("(synthetic)")
    }

    fn tensor(&self, t: Tensor) -> crate::Result<Option<Vec<f32>>> {
        let (rows, cols) = t.shape(&self.config);
        Ok(Some(match t {
            Tensor::AttnNorm(_) | Tensor::FfnNorm(_) | Tensor::FinalNorm => vec![1.0; cols],
            Tensor::Embedding => self.embedding_rows(rows),
            _ => {
                let dist = self.matrix(t);
                let mut w = vec![0.0; rows * cols];
                w.par_chunks_mut(cols)
                    .enumerate()
                    .for_each(|(r, row)| dist.fill_row(r, row));
                w
            }
        }))
    }

    fn linear(&self, t: Tensor, format: Format) -> crate::Result<Box<dyn Linear>> {
        let (rows, cols) = t.shape(&self.config);
        let dist = self.matrix(t);
        if format == Format::F32 {
            let pack = lock(&self.expected)
                .iter()
                .find(|&&(e, f)| e == t && f != Format::F32)
                .map(|&(tensor, format)| Pack {
                    tensor,
                    format,
                    into: Arc::clone(&self.drawn),
                });
            return Ok(Box::new(RowsOnDemand {
                rows,
                cols,
                dist,
                pack: Mutex::new(pack),
            }));
        }
        let waiting = {
            let mut drawn = lock(&self.drawn);
            let at = drawn.iter().position(|&(e, f, _)| e == t && f == format);
            at.map(|i| drawn.swap_remove(i).2)
        };
        let packed = match waiting {
            Some(q) => q,
            None => Quantized::by_rows(format, rows, cols, |r, row| dist.fill_row(r, row))
                .map_err(|r| super::data_error(self.path(), format!("tensor {t:?}: {r}")))?,
        };
        Ok(Box::new(packed))
    }

    fn expect(&self, lane: &[(Tensor, Format)]) {
        *lock(&self.expected) = lane.to_vec();
        lock(&self.drawn).clear();
    }
}

/// An f32 matrix that is never stored: each product remakes its rows from their streams, so
/// the reference lane of a 405B layer (13 GB in f32) costs no memory.
struct RowsOnDemand {
    rows: usize,
    cols: usize,
    dist: MatrixDist,
    /// Where the first product also packs the rows it draws, if a lane expects them.
    pack: Mutex<Option<Pack>>,
}

/// A matrix to quantize from the reference's draws, and where to leave it.
struct Pack {
    tensor: Tensor,
    format: Format,
    into: Drawn,
}

impl RowsOnDemand {
    /// The products of every row with the `batch` inputs `x`, by row; packs the rows drawn
    /// for them if asked to (and if that fails, the lane quantizes on its own and says why).
    fn by_row(&self, x: &[f32], batch: usize) -> Vec<f32> {
        let cols = self.cols;
        let fill = |r: usize, row: &mut [f32]| self.dist.fill_row(r, row);
        let products = |row: &[f32], out: &mut [f32]| {
            for (b, o) in out.iter_mut().enumerate() {
                *o = dot(row, &x[b * cols..(b + 1) * cols]);
            }
        };
        if let Some(p) = lock(&self.pack).take() {
            let visit = |block: &[f32], out: &mut [f32]| {
                for (row, out) in block.chunks_exact(cols).zip(out.chunks_exact_mut(batch)) {
                    products(row, out);
                }
            };
            let packed = Quantized::by_rows_visiting(p.format, self.rows, cols, fill, batch, visit);
            if let Ok((q, by_row)) = packed {
                lock(&p.into).push((p.tensor, p.format, q));
                return by_row;
            }
        }
        let mut by_row = vec![0.0; self.rows * batch];
        by_row.par_chunks_mut(batch).enumerate().for_each_init(
            || vec![0.0; cols],
            |row, (r, out)| {
                fill(r, row);
                products(row, out);
            },
        );
        by_row
    }
}

impl Linear for RowsOnDemand {
    fn forward(&self, x: &[f32], batch: usize, y: &mut [f32]) {
        let by_row = self.by_row(x, batch);
        for (r, outs) in by_row.chunks_exact(batch).enumerate() {
            for (b, &o) in outs.iter().enumerate() {
                y[b * self.rows + r] = o;
            }
        }
    }
}

/// How much one format perturbs the layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerError {
    pub format: Format,
    /// ‖Δ_format − Δ_f32‖ / ‖Δ_f32‖, Δ being the layer's update to the residual stream
    /// (output minus input) over all tokens.
    pub update_rel_error: f64,
}

/// Run one synthetic layer of `shape` on `tokens` positions in f32 and in each format.
pub fn layer_errors(
    shape: LayerShape,
    formats: &[Format],
    tokens: usize,
    seed: u64,
) -> crate::Result<Vec<LayerError>> {
    let config = Config {
        dim: shape.dim,
        hidden: shape.hidden,
        layers: 1,
        heads: shape.heads,
        kv_heads: shape.kv_heads,
        head_dim: shape.head_dim,
        vocab: tokens,
        max_seq: tokens,
        norm_eps: 1e-5,
        rope_theta: 500_000.0,
        llama3_scaling: None,
    };
    let ck = Synthetic::new(config, seed);
    let input = ck.tensor(Tensor::Embedding)?.unwrap_or_default();
    // The layer's matrices take the format; norms stay exact.
    let lanes: Vec<_> = formats
        .iter()
        .map(|&format| move |t: Tensor| if t.is_linear() { format } else { Format::F32 })
        .collect();
    let refs: Vec<&dyn Fn(Tensor) -> Format> = lanes.iter().map(|l| l as _).collect();
    let errors = lockstep::compare(&ck, &refs, &input, 1, false, &mut |_| {})?;
    Ok(formats
        .iter()
        .zip(errors)
        .map(|(&format, e)| LayerError {
            format,
            update_rel_error: e.update_rel_error,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::linear::Dense;
    use crate::model::tensor::stored_linear;

    const SMALL: LayerShape = LayerShape {
        name: "small",
        dim: 256,
        hidden: 512,
        heads: 4,
        kv_heads: 2,
        head_dim: 64,
    };

    #[test]
    fn errors_are_deterministic_and_ordered_by_precision() {
        let formats = [Format::F32, Format::F16, Format::Int8, Format::Int3G64];
        let a = layer_errors(SMALL, &formats, 4, 7).unwrap();
        assert_eq!(a, layer_errors(SMALL, &formats, 4, 7).unwrap());
        let e: Vec<f64> = a.iter().map(|x| x.update_rel_error).collect();
        assert_eq!(e[0], 0.0);
        assert!(e[1] > 0.0 && e[1] < e[2] && e[2] < e[3], "{e:?}");
    }

    #[test]
    fn rows_made_on_demand_equal_the_stored_matrix() {
        let config = Config {
            layers: 2,
            ..crate::model::Config::from_shape(&crate::workload::presets().unwrap()[0].1.model)
        };
        let ck = Synthetic::new(
            Config {
                dim: 96,
                hidden: 200,
                heads: 6,
                kv_heads: 2,
                head_dim: 16,
                ..config
            },
            9,
        );
        let t = Tensor::Up(1);
        let (rows, cols) = t.shape(ck.config());
        let dense = Dense::new(rows, cols, ck.tensor(t).unwrap().unwrap());
        let x: Vec<f32> = (0..3 * cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let (mut a, mut b) = (vec![0.0; 3 * rows], vec![0.0; 3 * rows]);
        dense.forward(&x, 3, &mut a);
        ck.linear(t, Format::F32).unwrap().forward(&x, 3, &mut b);
        assert_eq!(a, b);
        // Streamed quantization packs the bytes of the stored matrix.
        let (mut c, mut d) = (vec![0.0; 3 * rows], vec![0.0; 3 * rows]);
        let streamed = ck.linear(t, Format::Q35).unwrap();
        streamed.forward(&x, 3, &mut c);
        stored_linear(&ck, t, Format::Q35)
            .unwrap()
            .forward(&x, 3, &mut d);
        assert_eq!(c, d);
        assert!(streamed.weight_error().unwrap().metrics().rel_error > 0.0);
        // A lane that follows the reference takes the blocks the reference drew: the same
        // products, bytes and weight error.
        ck.expect(&[(t, Format::Q35)]);
        let (mut e, mut f) = (vec![0.0; 3 * rows], vec![0.0; 3 * rows]);
        ck.linear(t, Format::F32).unwrap().forward(&x, 3, &mut e);
        assert_eq!(e, a);
        assert_eq!(lock(&ck.drawn).len(), 1, "packed by the reference");
        let shared = ck.linear(t, Format::Q35).unwrap();
        shared.forward(&x, 3, &mut f);
        assert_eq!((f, shared.weight_error()), (c, streamed.weight_error()));
        assert!(lock(&ck.drawn).is_empty(), "handed over");
        // The embedding rows a run uses are the first rows of the table.
        let table = ck.tensor(Tensor::Embedding).unwrap().unwrap();
        assert_eq!(ck.embedding_rows(2), table[..2 * 96]);
        // Different layers and tensors draw different matrices.
        assert_ne!(ck.tensor(Tensor::Up(0)).unwrap(), ck.tensor(t).unwrap());
        assert_ne!(ck.tensor(Tensor::Gate(1)).unwrap(), ck.tensor(t).unwrap());
    }
}
