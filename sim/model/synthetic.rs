//! Full-size LLaMA layers with synthetic weights: real checkpoints of 70B/405B do not ship with
//! accsim, but the error a format adds to one layer depends on the layer's true widths (group
//! and row lengths, reduction depth), so one layer is run at the true dimensions.
//!
//! Weights: every matrix entry is N(0, 0.02²), 0.02 being the `initializer_range` of the
//! LLaMA-2/3 Hugging Face configs; norm gains are 1; the input residual stream is N(0, 1).
//! Trained weights have heavier tails and outlier channels, which hurt integer formats more,
//! so these figures are a lower bound on the real error and every output is labelled synthetic.
//! Each tensor row has its own ChaCha8 stream (seed, tensor, row), so values do not depend on
//! threads, and tensors are generated when the loader asks for them, one at a time.

use super::Config;
use super::decoder::{KvCache, Model};
use super::tensor::{Checkpoint, Tensor};
use crate::quant::Format;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use std::path::Path;

/// Standard deviation of synthetic matrix entries (LLaMA `initializer_range`).
pub const WEIGHT_STD: f32 = 0.02;

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

/// A one-layer checkpoint whose tensors are drawn on demand. The vocabulary is the input
/// sequence itself: token t's embedding is input row t.
struct Synthetic {
    config: Config,
    seed: u64,
}

impl Synthetic {
    fn new(shape: LayerShape, tokens: usize, seed: u64) -> Self {
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
        Self { config, seed }
    }
}

/// A stable index per tensor, for seeding.
fn tensor_index(t: Tensor) -> u64 {
    match t {
        Tensor::Embedding => 0,
        Tensor::AttnNorm(_) => 1,
        Tensor::Q(_) => 2,
        Tensor::K(_) => 3,
        Tensor::V(_) => 4,
        Tensor::O(_) => 5,
        Tensor::FfnNorm(_) => 6,
        Tensor::Gate(_) => 7,
        Tensor::Down(_) => 8,
        Tensor::Up(_) => 9,
        Tensor::FinalNorm => 10,
        Tensor::Classifier => 11,
    }
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
        if matches!(
            t,
            Tensor::AttnNorm(_) | Tensor::FfnNorm(_) | Tensor::FinalNorm
        ) {
            return Ok(Some(vec![1.0; cols]));
        }
        let std = if t == Tensor::Embedding {
            1.0
        } else {
            WEIGHT_STD
        };
        let normal =
            Normal::new(0.0, std).map_err(|e| super::data_error(self.path(), e.to_string()))?;
        let mut w = vec![0.0; rows * cols];
        w.par_chunks_mut(cols).enumerate().for_each(|(r, row)| {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(tensor_index(t) << 40 | r as u64);
            for v in row {
                *v = normal.sample(&mut rng);
            }
        });
        Ok(Some(w))
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
    let ck = Synthetic::new(shape, tokens, seed);
    let input = ck.tensor(Tensor::Embedding)?.unwrap_or_default();
    let ids: Vec<u32> = (0..tokens as u32).collect();
    let update = |format: Format| -> crate::Result<Vec<f32>> {
        // The layer's matrices take the format; the embedding (the input) stays exact.
        let model = Model::load(&ck, &|t| {
            if t.is_linear() && t != Tensor::Classifier {
                format
            } else {
                Format::F32
            }
        })?;
        let mut trace = Vec::new();
        model.forward(&ids, &mut KvCache::new(&model), Some(&mut trace));
        let out = trace.pop().unwrap_or_default();
        Ok(out.iter().zip(&input).map(|(h, x)| h - x).collect())
    };
    let reference = update(Format::F32)?;
    let ref_sq: f64 = reference.iter().map(|&v| (v as f64).powi(2)).sum();
    formats
        .iter()
        .map(|&format| {
            let d = update(format)?;
            let err: f64 = d
                .iter()
                .zip(&reference)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum();
            Ok(LayerError {
                format,
                update_rel_error: (err / ref_sq).sqrt(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            e[1] > 0.0 && e[1] < e[2] && e[2] < e[3] && e[3] < 1.0,
            "{e:?}"
        );
    }
}
