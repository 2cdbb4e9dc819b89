//! Accuracy of weight formats on a workload's real checkpoint: each format's model is built from
//! the same checkpoint and scored against f32 on the same text ([`super::eval`]). Shared by
//! `accsim accuracy` and the report, so both print the same numbers.

use super::Model;
use super::eval::{self, Score};
use super::open::Opened;
use crate::quant::Format;
use crate::workload::{TensorClass, Workload};
use serde::Serialize;

/// One format's results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FormatResult {
    pub format: String,
    /// Exact bits per weight of the model's matrices, metadata included.
    pub bits_per_weight: f64,
    pub ppl: f64,
    pub mean_nll: f64,
    pub kl_mean: f64,
    pub kl_p99: f64,
    pub top1_agreement: f64,
    pub top1_accuracy: f64,
    pub layer_rel_error: Vec<f64>,
}

/// Build the workload's model with every matrix in `format`.
pub fn build(opened: &Opened, w: &Workload, format: Format) -> crate::Result<Model> {
    let policy = w.quant.with_matrices_as(format);
    Model::load(opened, &|t| policy.format(t.class()))
}

/// Exact bits per weight of the model's matrices (embedding and classifier included) in `format`.
pub fn bits_per_weight(w: &Workload, format: Format) -> f64 {
    let groups = w.model.tensor_groups();
    let matrices = groups.iter().filter(|g| g.class != TensorClass::Norm);
    let (bits, params) = matrices.fold((0u64, 0u64), |(b, p), g| {
        (
            b + 8 * g.count * format.packed_bytes(g.rows, g.cols),
            p + g.params(),
        )
    });
    bits as f64 / params as f64
}

/// Positions scored over `seqs` (every token after BOS is predicted).
pub fn tokens_scored(seqs: &[Vec<u32>]) -> usize {
    seqs.iter().map(|s| s.len() - 1).sum()
}

/// Score every format (f32 included, as itself) on `seqs`; `progress` is called once per
/// finished paragraph.
pub fn score(
    opened: &Opened,
    w: &Workload,
    formats: &[Format],
    seqs: &[Vec<u32>],
    progress: &(dyn Fn() + Sync),
) -> crate::Result<Vec<FormatResult>> {
    let reference = build(opened, w, Format::F32)?;
    // f32 is the reference itself; every other format gets its own model.
    let models = formats
        .iter()
        .filter(|&&f| f != Format::F32)
        .map(|&f| build(opened, w, f).map(|m| (f, m)))
        .collect::<crate::Result<Vec<_>>>()?;
    let candidates: Vec<&Model> = formats
        .iter()
        .map(|f| {
            models
                .iter()
                .find(|(g, _)| g == f)
                .map_or(&reference, |(_, m)| m)
        })
        .collect();
    let scores = eval::evaluate(&reference, &candidates, seqs, progress);
    Ok(formats
        .iter()
        .zip(scores)
        .map(|(&f, s)| result(w, f, s))
        .collect())
}

fn result(w: &Workload, format: Format, s: Score) -> FormatResult {
    FormatResult {
        format: format.name().into(),
        bits_per_weight: bits_per_weight(w, format),
        ppl: s.ppl,
        mean_nll: s.mean_nll,
        kl_mean: s.kl_mean,
        kl_p99: s.kl_p99,
        top1_agreement: s.top1_agreement,
        top1_accuracy: s.top1_accuracy,
        layer_rel_error: s.layer_rel_error,
    }
}
