//! LLaMA-family model shapes and the tensors they imply.

use crate::describe::check;
use crate::error::Invalid;
use crate::ranges::{self, Range, count, real};
use serde::{Deserialize, Serialize};

/// The dimensions of a LLaMA-family decoder, as in the published model configs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelShape {
    /// Decoder layers.
    pub layers: u64,
    /// Model (residual stream) width.
    pub hidden: u64,
    /// SwiGLU intermediate width.
    pub ffn: u64,
    /// Query heads.
    pub heads: u64,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: u64,
    /// Width of one attention head.
    pub head_dim: u64,
    /// Vocabulary size.
    pub vocab: u64,
    /// The classifier reuses the token-embedding matrix.
    pub tied_embedding: bool,
    /// Longest context the model was trained for [tokens].
    pub max_context: u64,
    /// RMSNorm epsilon.
    pub norm_eps: f64,
    /// Rotary position embedding.
    pub rope: Rope,
}

/// Rotary position embedding parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rope {
    /// Base of the rotation frequencies.
    pub theta: f64,
    /// LLaMA-3.1's long-context frequency rescaling, if any.
    pub llama3_scaling: Option<Llama3Scaling>,
}

/// LLaMA-3.1 RoPE scaling: low frequencies divided by `factor`, high ones kept, a smooth ramp between.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Llama3Scaling {
    /// Divisor applied to low frequencies.
    pub factor: f64,
    /// Wavelengths longer than `original_context / low_freq_factor` are fully scaled.
    pub low_freq_factor: f64,
    /// Wavelengths shorter than `original_context / high_freq_factor` are kept.
    pub high_freq_factor: f64,
    /// Context length of the original training [tokens].
    pub original_context: u64,
}

/// What a tensor is for; quantization policies and memory reports are kept per class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorClass {
    /// Attention query projection.
    AttnQ,
    /// Attention key projection.
    AttnK,
    /// Attention value projection.
    AttnV,
    /// Attention output projection.
    AttnO,
    /// SwiGLU gate projection.
    FfnGate,
    /// SwiGLU up projection.
    FfnUp,
    /// SwiGLU down projection.
    FfnDown,
    /// Token embedding table.
    Embedding,
    /// Output classifier (LM head).
    Classifier,
    /// RMSNorm weight vectors.
    Norm,
}

impl TensorClass {
    /// Every class, in report order.
    pub const ALL: [TensorClass; 10] = [
        TensorClass::AttnQ,
        TensorClass::AttnK,
        TensorClass::AttnV,
        TensorClass::AttnO,
        TensorClass::FfnGate,
        TensorClass::FfnUp,
        TensorClass::FfnDown,
        TensorClass::Embedding,
        TensorClass::Classifier,
        TensorClass::Norm,
    ];

    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            TensorClass::AttnQ => "attn_q",
            TensorClass::AttnK => "attn_k",
            TensorClass::AttnV => "attn_v",
            TensorClass::AttnO => "attn_o",
            TensorClass::FfnGate => "ffn_gate",
            TensorClass::FfnUp => "ffn_up",
            TensorClass::FfnDown => "ffn_down",
            TensorClass::Embedding => "embedding",
            TensorClass::Classifier => "classifier",
            TensorClass::Norm => "norm",
        }
    }

    /// True for the matrices of one decoder layer (the part that is pipelined across devices).
    pub fn is_per_layer(self) -> bool {
        !matches!(self, TensorClass::Embedding | TensorClass::Classifier)
    }
}

/// A group of identically shaped tensors: `count` matrices of `rows` (outputs) x `cols` (inputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TensorGroup {
    /// What the tensors are for.
    pub class: TensorClass,
    /// How many (one per layer for per-layer classes).
    pub count: u64,
    /// Output channels.
    pub rows: u64,
    /// Inputs (the reduction dimension).
    pub cols: u64,
}

impl TensorGroup {
    /// Parameters in the whole group.
    pub fn params(&self) -> u64 {
        self.count * self.rows * self.cols
    }
}

/// The range of every field of a model's shape.
pub const RANGES: &[Range] = &[
    count("layers", 1, MAX_LAYERS, ""),
    count("hidden", 1, MAX_DIM, "").and("a multiple of heads"),
    count("ffn", 1, MAX_DIM, ""),
    count("heads", 1, MAX_DIM, "").and("a multiple of kv_heads"),
    count("kv_heads", 1, MAX_DIM, ""),
    count("head_dim", 1, MAX_DIM, "").and("even, = hidden / heads"),
    count("vocab", 1, MAX_DIM, ""),
    count("max_context", 1, MAX_DIM, "tokens"),
    real("norm_eps", 1e-30, 1.0, ""),
    real("rope.theta", 2.0, 1e30, ""),
    real("rope.llama3_scaling.factor", 1.0, 1e6, ""),
    real("rope.llama3_scaling.low_freq_factor", 1e-6, 1e6, ""),
    real("rope.llama3_scaling.high_freq_factor", 1e-6, 1e6, "").and("above low_freq_factor"),
    count("rope.llama3_scaling.original_context", 1, MAX_DIM, "tokens"),
];

/// Largest accepted dimension: far above any real model, small enough that products of a few
/// dimensions cannot overflow 64 bits.
pub const MAX_DIM: u64 = 1 << 24;
/// Largest accepted layer count.
const MAX_LAYERS: u64 = 10_000;
/// Largest accepted parameter count: 2^48, about 700 times LLaMA-3.1-405B, so that the bytes of
/// the weights in any format, and the operations of a step over them, stay inside 64 bits.
pub const MAX_PARAMS: u64 = 1 << 48;

impl ModelShape {
    /// Width of the key (and value) projection: `kv_heads * head_dim`.
    pub fn kv_dim(&self) -> u64 {
        self.kv_heads * self.head_dim
    }

    /// Width of the query projection: `heads * head_dim`.
    pub fn q_dim(&self) -> u64 {
        self.heads * self.head_dim
    }

    /// The tensors of one decoder layer, in execution order (its two RMSNorm vectors first).
    pub fn layer_tensors(&self) -> [TensorGroup; 8] {
        let g = |class, count, rows, cols| TensorGroup {
            class,
            count,
            rows,
            cols,
        };
        let (h, f) = (self.hidden, self.ffn);
        [
            g(TensorClass::Norm, 2, 1, h),
            g(TensorClass::AttnQ, 1, self.q_dim(), h),
            g(TensorClass::AttnK, 1, self.kv_dim(), h),
            g(TensorClass::AttnV, 1, self.kv_dim(), h),
            g(TensorClass::AttnO, 1, h, self.q_dim()),
            g(TensorClass::FfnGate, 1, f, h),
            g(TensorClass::FfnUp, 1, f, h),
            g(TensorClass::FfnDown, 1, h, f),
        ]
    }

    /// Every tensor group of the model (per-layer groups with `count = layers`).
    pub fn tensor_groups(&self) -> Vec<TensorGroup> {
        let mut groups: Vec<TensorGroup> = vec![TensorGroup {
            class: TensorClass::Embedding,
            count: 1,
            rows: self.vocab,
            cols: self.hidden,
        }];
        groups.extend(self.layer_tensors().map(|t| TensorGroup {
            count: t.count * self.layers,
            ..t
        }));
        groups.push(TensorGroup {
            class: TensorClass::Norm,
            count: 1,
            rows: 1,
            cols: self.hidden,
        });
        if !self.tied_embedding {
            groups.push(TensorGroup {
                class: TensorClass::Classifier,
                count: 1,
                rows: self.vocab,
                cols: self.hidden,
            });
        }
        groups
    }

    /// Total parameter count, as model cards publish it (of a validated shape: at most
    /// [`MAX_PARAMS`]).
    pub fn params(&self) -> u64 {
        self.tensor_groups().iter().map(TensorGroup::params).sum()
    }

    /// Total parameter count in 128 bits, exact for any dimensions the validation accepts one
    /// by one, so an absurd shape is refused rather than wrapped.
    fn wide_params(&self) -> u128 {
        let groups = self.tensor_groups();
        groups
            .iter()
            .map(|g| u128::from(g.count) * u128::from(g.rows) * u128::from(g.cols))
            .sum()
    }

    /// Check the dimensions are consistent and sane.
    pub fn validate(&self, prefix: &str) -> Result<(), Invalid> {
        let f = |name: &str| format!("{prefix}.{name}");
        let tree = serde_json::to_value(self).map_err(|e| Invalid::new(prefix, e.to_string()))?;
        ranges::check(RANGES, &tree, &format!("{prefix}."))?;
        if !self.hidden.is_multiple_of(self.heads) {
            return Err(Invalid::new(
                f("heads"),
                format!("{} heads do not divide hidden {}", self.heads, self.hidden),
            ));
        }
        check::equal(
            &f("head_dim"),
            self.head_dim,
            self.hidden / self.heads,
            "hidden / heads",
        )?;
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(Invalid::new(
                f("kv_heads"),
                format!(
                    "{} kv_heads do not divide {} heads",
                    self.kv_heads, self.heads
                ),
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(Invalid::new(
                f("head_dim"),
                "RoPE rotates pairs: head_dim must be even",
            ));
        }
        // Products of the dimensions, each accepted on its own, can still be absurd.
        let params = self.wide_params();
        if params > u128::from(MAX_PARAMS) {
            return Err(Invalid::new(
                f("layers"),
                format!("the shape has {params} parameters, more than the {MAX_PARAMS} accepted"),
            ));
        }
        if let Some(s) = &self.rope.llama3_scaling
            && s.high_freq_factor <= s.low_freq_factor
        {
            return Err(Invalid::new(
                f("rope.llama3_scaling.high_freq_factor"),
                "must exceed low_freq_factor (the ramp between them would be empty)",
            ));
        }
        Ok(())
    }
}
