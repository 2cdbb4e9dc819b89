//! The work of one inference step, independent of the machine: for each operation of a decoder
//! layer (and of the model head), the bytes it must read and the arithmetic it must do. Targets
//! compile these operations onto their hardware; the roofline checks and the GPU baseline use the
//! totals directly.

use crate::quant::Format;
use crate::workload::{TensorClass, Workload};
use serde::Serialize;

/// Which tokens one step processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Sequences served together.
    pub sequences: u64,
    /// New tokens per sequence (1 for a decode step, the prompt for prefill).
    pub tokens: u64,
    /// Tokens already in each sequence's KV cache before the step.
    pub past: u64,
}

impl Step {
    /// One decode step of the workload's scenario: every sequence adds one token to a cache of
    /// `context - 1` tokens (the worst step of the scenario, at full context).
    pub fn decode(w: &Workload) -> Self {
        Step {
            sequences: w.scenario.batch,
            tokens: 1,
            past: w.scenario.context.saturating_sub(1),
        }
    }

    /// The prefill of the scenario's prompt into an empty cache.
    pub fn prefill(w: &Workload) -> Self {
        Step {
            sequences: w.scenario.batch,
            tokens: w.scenario.prompt_tokens,
            past: 0,
        }
    }

    /// Token positions processed by the step over all sequences.
    pub fn positions(&self) -> u64 {
        self.sequences * self.tokens
    }

    /// Sum over the step's new tokens of the cache length each attends to (causal).
    pub fn attended(&self) -> u64 {
        self.sequences * (self.tokens * self.past + self.tokens * (self.tokens + 1) / 2)
    }
}

/// What an operation is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// `Y = X Wᵀ` with a stored weight matrix of `rows` outputs by `cols` inputs.
    Matmul {
        class: TensorClass,
        rows: u64,
        cols: u64,
        format: Format,
    },
    /// Scaled dot-product attention of every query head over the KV cache (scores, softmax,
    /// weighted sum of values), and the step's new keys and values written to the cache.
    Attention {
        heads: u64,
        kv_heads: u64,
        head_dim: u64,
    },
    /// RMSNorm of the residual stream.
    Norm { width: u64 },
    /// SwiGLU: `silu(gate) * up`, element-wise.
    Swiglu { width: u64 },
    /// Residual addition.
    Residual { width: u64 },
}

/// One operation of a step with what it costs anywhere.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Op {
    /// Name in reports, e.g. `attn_q`.
    pub name: &'static str,
    /// What it computes.
    pub kind: OpKind,
    /// Stored weight bytes read (codes and metadata).
    pub weight_bytes: u64,
    /// KV-cache bytes read and written.
    pub kv_bytes: u64,
    /// Arithmetic operations (a multiply-add counts 2).
    pub ops: u64,
}

impl Op {
    /// Every byte the operation must move from memory.
    pub fn bytes(&self) -> u64 {
        self.weight_bytes + self.kv_bytes
    }
}

fn matmul(
    w: &Workload,
    name: &'static str,
    class: TensorClass,
    rows: u64,
    cols: u64,
    step: Step,
) -> Op {
    let format = w.quant.format(class);
    Op {
        name,
        kind: OpKind::Matmul {
            class,
            rows,
            cols,
            format,
        },
        weight_bytes: format.packed_bytes(rows, cols),
        kv_bytes: 0,
        ops: 2 * rows * cols * step.positions(),
    }
}

fn elementwise(name: &'static str, kind: OpKind, width: u64, per_element: u64, step: Step) -> Op {
    Op {
        name,
        kind,
        weight_bytes: 0,
        kv_bytes: 0,
        ops: per_element * width * step.positions(),
    }
}

/// The operations of one decoder layer, in execution order.
pub fn layer_ops(w: &Workload, step: Step) -> Vec<Op> {
    let m = &w.model;
    let (h, f) = (m.hidden, m.ffn);
    let kv_bytes_per_token = 2 * m.kv_dim() * w.scenario.kv_cache.bytes();
    let attention = Op {
        name: "attention",
        kind: OpKind::Attention {
            heads: m.heads,
            kv_heads: m.kv_heads,
            head_dim: m.head_dim,
        },
        weight_bytes: 0,
        // Each sequence reads its whole cache once per step (GQA heads share it) and writes the
        // new tokens' keys and values.
        kv_bytes: kv_bytes_per_token * step.sequences * (step.past + step.tokens)
            + kv_bytes_per_token * step.positions(),
        // q·k and p·v per head and attended position, plus the softmax (about 5 per score).
        ops: step.attended() * m.heads * (4 * m.head_dim + 5),
    };
    vec![
        // RMSNorm: square, sum, scale, multiply by the gain.
        elementwise("attn_norm", OpKind::Norm { width: h }, h, 4, step),
        matmul(w, "attn_q", TensorClass::AttnQ, m.q_dim(), h, step),
        matmul(w, "attn_k", TensorClass::AttnK, m.kv_dim(), h, step),
        matmul(w, "attn_v", TensorClass::AttnV, m.kv_dim(), h, step),
        attention,
        matmul(w, "attn_o", TensorClass::AttnO, h, m.q_dim(), step),
        elementwise("attn_residual", OpKind::Residual { width: h }, h, 1, step),
        elementwise("ffn_norm", OpKind::Norm { width: h }, h, 4, step),
        matmul(w, "ffn_gate", TensorClass::FfnGate, f, h, step),
        matmul(w, "ffn_up", TensorClass::FfnUp, f, h, step),
        // silu(x) * up: exp, add, divide, multiply, multiply.
        elementwise("swiglu", OpKind::Swiglu { width: f }, f, 5, step),
        matmul(w, "ffn_down", TensorClass::FfnDown, h, f, step),
        elementwise("ffn_residual", OpKind::Residual { width: h }, h, 1, step),
    ]
}

/// The operations after the last layer: final norm and classifier (the embedding lookup reads
/// one row per token and is counted in the classifier's place when the two are tied).
pub fn head_ops(w: &Workload, step: Step) -> Vec<Op> {
    let m = &w.model;
    let class = if m.tied_embedding {
        TensorClass::Embedding
    } else {
        TensorClass::Classifier
    };
    vec![
        elementwise(
            "final_norm",
            OpKind::Norm { width: m.hidden },
            m.hidden,
            4,
            step,
        ),
        matmul(w, "classifier", class, m.vocab, m.hidden, step),
    ]
}

/// Bytes and operations of a whole step (all layers and the head).
pub fn totals(w: &Workload, step: Step) -> (u64, u64) {
    let sum = |ops: &[Op]| {
        ops.iter()
            .fold((0, 0), |(b, o), op| (b + op.bytes(), o + op.ops))
    };
    let (lb, lo) = sum(&layer_ops(w, step));
    let (hb, ho) = sum(&head_ops(w, step));
    (w.model.layers * lb + hb, w.model.layers * lo + ho)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload;

    fn llama2() -> Workload {
        workload::presets()
            .unwrap()
            .into_iter()
            .find(|(_, w)| w.name == "llama2-70b")
            .unwrap()
            .1
    }

    #[test]
    fn decode_weight_bytes_are_the_footprint_of_every_matrix() {
        let w = llama2();
        let step = Step::decode(&w);
        let layer: u64 = layer_ops(&w, step).iter().map(|o| o.weight_bytes).sum();
        let head: u64 = head_ops(&w, step).iter().map(|o| o.weight_bytes).sum();
        let f = crate::workload::footprint::footprint(&w);
        let norms: u64 = f
            .classes
            .iter()
            .filter(|c| matches!(c.class, TensorClass::Norm | TensorClass::Embedding))
            .map(|c| c.code_bytes + c.metadata_bytes)
            .sum();
        // Everything but the norm gains and the (untied) embedding table is streamed each token.
        assert_eq!(w.model.layers * layer + head, f.weight_bytes - norms);
    }

    #[test]
    fn decode_matmul_ops_are_two_per_parameter_per_sequence() {
        let w = llama2();
        let step = Step::decode(&w);
        let ops: u64 = layer_ops(&w, step)
            .iter()
            .filter(|o| matches!(o.kind, OpKind::Matmul { .. }))
            .map(|o| o.ops)
            .sum();
        let params: u64 = w.model.layer_tensors()[1..]
            .iter()
            .map(|t| t.params())
            .sum();
        assert_eq!(ops, 2 * params * w.scenario.batch);
    }

    #[test]
    fn causal_prefill_attends_to_the_triangle() {
        let s = Step {
            sequences: 2,
            tokens: 4,
            past: 0,
        };
        assert_eq!(s.attended(), 2 * (1 + 2 + 3 + 4));
        let d = Step {
            sequences: 1,
            tokens: 1,
            past: 9,
        };
        assert_eq!(d.attended(), 10);
    }
}
