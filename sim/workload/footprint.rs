//! How many bytes a workload needs, before any placement: weights per tensor class (codes and
//! quantization metadata apart), KV cache and working buffers.

use crate::quant::Format;
use crate::workload::{TensorClass, Workload};
use serde::Serialize;

/// Bytes of one tensor class over the whole model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassBytes {
    /// The class.
    pub class: TensorClass,
    /// Its storage format.
    pub format: Format,
    /// Parameters in the class.
    pub params: u64,
    /// Bytes of the codes (or plain values), padding included.
    pub code_bytes: u64,
    /// Bytes of scales, zero points and offsets.
    pub metadata_bytes: u64,
}

/// The whole memory demand of a workload, independent of the machine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Footprint {
    /// Per tensor class, in report order.
    pub classes: Vec<ClassBytes>,
    /// Total parameters.
    pub params: u64,
    /// All weight bytes (codes and metadata).
    pub weight_bytes: u64,
    /// Quantization metadata alone (part of `weight_bytes`).
    pub metadata_bytes: u64,
    /// KV cache for the scenario.
    pub kv_cache_bytes: u64,
    /// f32 working vectors of one decode step for the whole batch (see [`activation_bytes`]).
    pub activation_bytes: u64,
}

impl Footprint {
    /// Effective bits per weight over the whole model, metadata included.
    pub fn bits_per_weight(&self) -> f64 {
        8.0 * self.weight_bytes as f64 / self.params as f64
    }

    /// Weights, KV cache and activations (runtime reserves are per machine, not counted here).
    pub fn total_bytes(&self) -> u64 {
        self.weight_bytes + self.kv_cache_bytes + self.activation_bytes
    }
}

/// f32 working vectors live at once during one decode step, for the whole batch: the residual
/// stream and its normed copy, q, k, v, the attention output, gate and up, the attention scores
/// over the whole context for every head, and the logits.
pub fn activation_bytes(w: &Workload) -> u64 {
    let m = &w.model;
    let per_sequence = 3 * m.hidden
        + m.q_dim()
        + 2 * m.kv_dim()
        + 2 * m.ffn
        + m.heads * w.scenario.context
        + m.vocab;
    4 * per_sequence * w.scenario.batch
}

/// Count the bytes of `w` as its quantization policy stores it.
pub fn footprint(w: &Workload) -> Footprint {
    let mut classes: Vec<ClassBytes> = Vec::new();
    for group in w.model.tensor_groups() {
        let format = w.quant.format(group.class);
        let code = group.count * format.code_bytes(group.rows, group.cols);
        let meta = group.count * format.metadata_bytes(group.rows, group.cols);
        match classes.iter_mut().find(|c| c.class == group.class) {
            Some(c) => {
                c.params += group.params();
                c.code_bytes += code;
                c.metadata_bytes += meta;
            }
            None => classes.push(ClassBytes {
                class: group.class,
                format,
                params: group.params(),
                code_bytes: code,
                metadata_bytes: meta,
            }),
        }
    }
    classes.sort_by_key(|c| c.class);
    let sum = |f: fn(&ClassBytes) -> u64| classes.iter().map(f).sum::<u64>();
    Footprint {
        params: sum(|c| c.params),
        weight_bytes: sum(|c| c.code_bytes + c.metadata_bytes),
        metadata_bytes: sum(|c| c.metadata_bytes),
        kv_cache_bytes: w.kv_cache_bytes(),
        activation_bytes: activation_bytes(w),
        classes,
    }
}
