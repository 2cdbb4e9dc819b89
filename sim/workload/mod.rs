//! Workloads: a model shape, how each class of its tensors is stored, and how it is served.
//! Knows nothing about hardware.

pub mod footprint;
mod shape;
pub mod work;

pub use shape::{Llama3Scaling, ModelShape, Rope, TensorClass, TensorGroup};

use crate::describe::{self, Described, Preset, Validate, check};
use crate::error::{Error, Invalid};
use crate::quant::Format;
use crate::ranges::{self, Range, count};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One workload file (`workloads/*.ron`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Short name used in reports.
    pub name: String,
    /// Where the shape comes from (model card, config file).
    pub source: String,
    /// The published parameter count, checked against the shape on load.
    pub published_params: u64,
    /// Model dimensions.
    pub model: ModelShape,
    /// Storage format per tensor class.
    pub quant: QuantPolicy,
    /// How the model is served.
    pub scenario: Scenario,
    /// Real weights for this shape, relative to the workload file; `None` means synthetic weights.
    pub checkpoint: Option<Checkpoint>,
    /// The file this workload was read from, which its checkpoint paths are relative to.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

/// Files holding real weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Model weights (llama2.c `.bin`, `.gguf` or `.safetensors`).
    pub weights: PathBuf,
    /// Tokenizer (llama2.c `.bin`), if not embedded in the weights file.
    pub tokenizer: Option<PathBuf>,
}

/// Storage format of each tensor class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantPolicy {
    /// Query projection.
    pub attn_q: Format,
    /// Key projection.
    pub attn_k: Format,
    /// Value projection.
    pub attn_v: Format,
    /// Attention output projection.
    pub attn_o: Format,
    /// SwiGLU gate projection.
    pub ffn_gate: Format,
    /// SwiGLU up projection.
    pub ffn_up: Format,
    /// SwiGLU down projection.
    pub ffn_down: Format,
    /// Token embedding table.
    pub embedding: Format,
    /// Output classifier.
    pub classifier: Format,
    /// RMSNorm vectors (floating point only).
    pub norms: Format,
}

impl QuantPolicy {
    /// The format of one class.
    pub fn format(&self, class: TensorClass) -> Format {
        match class {
            TensorClass::AttnQ => self.attn_q,
            TensorClass::AttnK => self.attn_k,
            TensorClass::AttnV => self.attn_v,
            TensorClass::AttnO => self.attn_o,
            TensorClass::FfnGate => self.ffn_gate,
            TensorClass::FfnUp => self.ffn_up,
            TensorClass::FfnDown => self.ffn_down,
            TensorClass::Embedding => self.embedding,
            TensorClass::Classifier => self.classifier,
            TensorClass::Norm => self.norms,
        }
    }

    /// Every matrix (all classes but the norm vectors) stored as `format`: what "the model at
    /// 3.5 bits" means in the source documents' arithmetic. Norms keep their policy.
    pub fn with_matrices_as(&self, format: Format) -> QuantPolicy {
        QuantPolicy {
            attn_q: format,
            attn_k: format,
            attn_v: format,
            attn_o: format,
            ffn_gate: format,
            ffn_up: format,
            ffn_down: format,
            embedding: format,
            classifier: format,
            norms: self.norms,
        }
    }
}

/// Data type of the KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvDtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    Bf16,
    /// 8-bit floating point (E4M3), scales amortized to nothing.
    Fp8,
}

impl KvDtype {
    /// Bytes per cached element.
    pub fn bytes(self) -> u64 {
        match self {
            KvDtype::F32 => 4,
            KvDtype::F16 | KvDtype::Bf16 => 2,
            KvDtype::Fp8 => 1,
        }
    }
}

/// How the model is served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Concurrent sequences decoded together.
    pub batch: u64,
    /// Prompt length [tokens].
    pub prompt_tokens: u64,
    /// Generated tokens per sequence.
    pub generated_tokens: u64,
    /// KV-cache capacity per sequence [tokens]; at least prompt + generated.
    pub context: u64,
    /// KV-cache element type.
    pub kv_cache: KvDtype,
}

/// The range of every numeric field of a workload outside its model's shape
/// ([`shape::RANGES`], under `model.`).
pub const RANGES: &[Range] = &[
    count("published_params", 1, shape::MAX_PARAMS, "").and("= the count of the model's shape"),
    count("scenario.batch", 1, MAX_BATCH, ""),
    count("scenario.prompt_tokens", 0, MAX_TOKENS, "tokens")
        .and("prompt_tokens + generated_tokens at most context"),
    count("scenario.generated_tokens", 1, MAX_TOKENS, "tokens"),
    count("scenario.context", 1, MAX_TOKENS, "tokens").and("at most model.max_context"),
];

/// Every range of a workload file, each table with the prefix of its fields' paths.
pub const RANGE_TABLES: [(&str, &[Range]); 2] = [("", RANGES), ("model.", shape::RANGES)];

/// Largest accepted token count of a scenario: the largest `max_context` accepted.
const MAX_TOKENS: u64 = shape::MAX_DIM;
/// Largest accepted batch: beyond any serving system, small enough to keep byte counts in 64 bits.
const MAX_BATCH: u64 = 1 << 20;
/// Largest byte count of the KV cache or of a step's working vectors (2^56 bytes, 72 PB): far
/// beyond any system, so sums and small multiples of it stay inside 64 bits.
const MAX_BYTES: u128 = 1 << 56;
/// Largest operation count of a prefill (2^62): the step the machine models time.
const MAX_OPS: u128 = 1 << 62;

impl Workload {
    /// Bytes of the KV cache for the whole scenario (keys and values, every layer, every sequence).
    pub fn kv_cache_bytes(&self) -> u64 {
        2 * self.model.layers
            * self.model.kv_dim()
            * self.scenario.context
            * self.scenario.batch
            * self.scenario.kv_cache.bytes()
    }

    /// Resolve a checkpoint path written relative to the workload file at `workload_path`.
    pub fn resolve(workload_path: &Path, relative: &Path) -> PathBuf {
        workload_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(relative)
    }

    /// Serve with another batch or KV-cache context (command-line overrides), re-validated.
    pub fn with_scenario(
        &self,
        batch: Option<u64>,
        context: Option<u64>,
    ) -> Result<Workload, Invalid> {
        let mut w = self.clone();
        w.scenario.batch = batch.unwrap_or(w.scenario.batch);
        w.scenario.context = context.unwrap_or(w.scenario.context);
        w.validate()?;
        Ok(w)
    }
}

impl Validate for Workload {
    fn validate(&self) -> Result<(), Invalid> {
        if self.name.trim().is_empty() {
            return Err(Invalid::new("name", "must not be empty"));
        }
        self.model.validate("model")?;
        check::equal(
            "published_params",
            self.published_params,
            self.model.params(),
            "the model shape",
        )?;
        for class in TensorClass::ALL {
            let format = self.quant.format(class);
            if class == TensorClass::Norm && format.is_integer() {
                return Err(Invalid::new(
                    "quant.norms",
                    format!("norm vectors must be floating point (f32, f16, bf16), got {format}"),
                ));
            }
        }
        let tree = serde_json::to_value(self).map_err(|e| Invalid::new("name", e.to_string()))?;
        ranges::check(RANGES, &tree, "")?;
        let s = &self.scenario;
        if s.context > self.model.max_context {
            return Err(Invalid::new(
                "scenario.context",
                format!(
                    "{} exceeds the model's max_context {}",
                    s.context, self.model.max_context
                ),
            ));
        }
        let tokens = s.prompt_tokens.checked_add(s.generated_tokens);
        if tokens.is_none_or(|t| t > s.context) {
            return Err(Invalid::new(
                "scenario.context",
                format!(
                    "{} cannot hold prompt_tokens {} + generated_tokens {}",
                    s.context, s.prompt_tokens, s.generated_tokens
                ),
            ));
        }
        self.check_scale()
    }
}

impl Workload {
    /// The products every later stage forms (KV cache and working bytes, prefill operations),
    /// computed in 128 bits and bounded, so no stage can overflow on a valid workload.
    fn check_scale(&self) -> Result<(), Invalid> {
        let (m, s) = (&self.model, &self.scenario);
        let wide = u128::from;
        let batch = wide(s.batch);
        let kv = 2
            * wide(m.layers)
            * wide(m.kv_dim())
            * wide(s.context)
            * batch
            * wide(s.kv_cache.bytes());
        let per_sequence = 3 * wide(m.hidden)
            + wide(m.q_dim())
            + 2 * wide(m.kv_dim())
            + 2 * wide(m.ffn)
            + wide(m.heads) * wide(s.context)
            + wide(m.vocab);
        let prompt = wide(s.prompt_tokens);
        let attended = batch * prompt * (prompt + 1) / 2;
        let prefill_ops =
            2 * wide(m.params()) * batch * prompt + 4 * wide(m.layers) * wide(m.q_dim()) * attended;
        for (what, value, limit, unit) in [
            ("the KV cache takes", kv, MAX_BYTES, "bytes"),
            (
                "one step's working vectors take",
                4 * per_sequence * batch,
                MAX_BYTES,
                "bytes",
            ),
            (
                "the prefill of the prompt takes",
                prefill_ops,
                MAX_OPS,
                "operations",
            ),
        ] {
            if value > limit {
                return Err(Invalid::new(
                    "scenario.batch",
                    format!(
                        "with this model, batch {} and context {} (prompt {}), {what} {value} \
                         {unit}, beyond the {limit} accepted",
                        s.batch, s.context, s.prompt_tokens
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The shipped workloads.
pub const PRESETS: [Preset; 4] = crate::presets![
    "workloads/llama2-70b.ron",
    "workloads/llama3-70b.ron",
    "workloads/llama3.1-405b.ron",
    "workloads/stories260k.ron",
];

/// Load a workload file.
pub fn load(path: &Path) -> Result<Workload, Error> {
    let w: Workload = describe::load(path)?;
    Ok(Workload {
        origin: Some(path.to_owned()),
        ..w
    })
}

/// Parse every shipped workload.
pub fn presets() -> Result<Described<Workload>, Error> {
    let all: Described<Workload> = describe::parse_presets(&PRESETS)?;
    Ok(all
        .into_iter()
        .map(|(path, w)| {
            let origin = Some(describe::shipped(&path));
            (path, Workload { origin, ..w })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(name: &str) -> Workload {
        presets()
            .unwrap()
            .into_iter()
            .find(|(_, w)| w.name == name)
            .unwrap()
            .1
    }

    #[test]
    fn parameter_counts_match_the_published_ones_exactly() {
        assert_eq!(preset("llama2-70b").model.params(), 68_976_648_192);
        assert_eq!(preset("llama3-70b").model.params(), 70_553_706_496);
        assert_eq!(preset("llama3.1-405b").model.params(), 405_853_388_800);
        assert_eq!(preset("stories260k").model.params(), 260_032);
    }

    #[test]
    fn kv_cache_per_token_matches_the_published_figures() {
        // 320 KiB per token for the 70B models, 504 KiB for 405B, at 16 bits.
        let per_token = |name: &str| {
            let w = preset(name);
            w.kv_cache_bytes() / w.scenario.context / w.scenario.batch
        };
        assert_eq!(per_token("llama2-70b"), 320 * 1024);
        assert_eq!(per_token("llama3-70b"), 320 * 1024);
        assert_eq!(per_token("llama3.1-405b"), 504 * 1024);
    }

    #[test]
    fn matrices_override_keeps_norms() {
        let p = preset("llama2-70b").quant.with_matrices_as(Format::Int8);
        assert_eq!(p.format(TensorClass::FfnDown), Format::Int8);
        assert_eq!(p.format(TensorClass::Norm), Format::F16);
    }
}
