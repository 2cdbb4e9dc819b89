//! Accuracy of weight formats on a workload's real checkpoint: each format's model is built from
//! the same checkpoint and scored against f32 on the same text ([`super::eval`]). Shared by
//! `accsim accuracy` and the report, so both print the same numbers.

use super::calibrate::Calibration;
use super::eval::{self, Score};
use super::open::Opened;
use super::{Checkpoint, Model};
use crate::quant::Format;
use crate::workload::{TensorClass, Workload};
use serde::Serialize;

/// A way of building the model: every matrix in `format`, rounded to nearest or calibrated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub format: Format,
    /// Codes chosen with error feedback from calibration text (GPTQ).
    pub calibrated: bool,
}

impl Variant {
    /// The name tables print: the format's, with `+cal` for calibrated codes.
    pub fn label(self) -> String {
        label(self.format.name(), self.calibrated)
    }
}

/// `FORMAT`, or `FORMAT+cal` for calibrated codes.
fn label(format: &str, calibrated: bool) -> String {
    if calibrated {
        format!("{format}+cal")
    } else {
        format.to_owned()
    }
}

/// Each of `formats` rounded to nearest and, if `calibrated`, each that has a calibrated
/// quantizer a second time with calibrated codes, right after it.
pub fn variants(formats: &[Format], calibrated: bool) -> Vec<Variant> {
    formats
        .iter()
        .flat_map(|&format| {
            let plain = Variant {
                format,
                calibrated: false,
            };
            let cal = (calibrated && format.is_calibrated()).then_some(Variant {
                format,
                calibrated: true,
            });
            std::iter::once(plain).chain(cal)
        })
        .collect()
}

/// One format's results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FormatResult {
    pub format: String,
    /// Codes chosen with calibration (GPTQ error feedback) rather than rounded to nearest.
    pub calibrated: bool,
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
    build_with(opened, w, format, None)
}

/// [`build`], the matrices calibrated with `calibration` where their format allows.
fn build_with(
    opened: &Opened,
    w: &Workload,
    format: Format,
    calibration: Option<&Calibration>,
) -> crate::Result<Model> {
    let policy = w.quant.with_matrices_as(format);
    Model::load_with(opened, &|t| policy.format(t.class()), calibration)
}

/// The calibration of the workload's model on `seqs` (its f32 pass over them).
pub fn calibrate(opened: &Opened, w: &Workload, seqs: &[Vec<u32>]) -> crate::Result<Calibration> {
    let reference = build(opened, w, Format::F32)?;
    Calibration::collect(&reference, seqs).map_err(|reason| crate::Error::Data {
        path: opened.path().to_owned(),
        reason: format!("calibration: {reason}"),
    })
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

impl FormatResult {
    /// The variant's name as tables print it (`FORMAT+cal` when calibrated).
    pub fn label(&self) -> String {
        label(&self.format, self.calibrated)
    }
}

/// Paragraphs (as [`eval::sequences`] splits them, trimmed) that `a` and `b` both contain:
/// calibration text must share none with the text it is judged on.
pub fn shared_paragraphs(a: &str, b: &str) -> usize {
    let paragraphs = |t: &'_ str| -> std::collections::HashSet<String> {
        t.split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    paragraphs(a).intersection(&paragraphs(b)).count()
}

/// Positions scored over `seqs` (every token after BOS is predicted).
pub fn tokens_scored(seqs: &[Vec<u32>]) -> usize {
    seqs.iter().map(|s| s.len() - 1).sum()
}

/// Score every variant (f32 included, as itself) on `seqs`; calibrated variants need
/// `calibration`. `progress` is called once per finished paragraph.
pub fn score(
    opened: &Opened,
    w: &Workload,
    variants: &[Variant],
    calibration: Option<&Calibration>,
    seqs: &[Vec<u32>],
    progress: &(dyn Fn() + Sync),
) -> crate::Result<Vec<FormatResult>> {
    let reference = build(opened, w, Format::F32)?;
    // f32 is the reference itself; every other variant gets its own model.
    let models = variants
        .iter()
        .filter(|v| v.format != Format::F32)
        .map(|&v| {
            let cal = if v.calibrated {
                Some(calibration.ok_or_else(|| crate::Error::Usage {
                    flag: "--calibrate".into(),
                    reason: format!("{} needs calibration text", v.label()),
                })?)
            } else {
                None
            };
            build_with(opened, w, v.format, cal).map(|m| (v, m))
        })
        .collect::<crate::Result<Vec<_>>>()?;
    let candidates: Vec<&Model> = variants
        .iter()
        .map(|v| {
            models
                .iter()
                .find(|(g, _)| g == v)
                .map_or(&reference, |(_, m)| m)
        })
        .collect();
    let scores = eval::evaluate(&reference, &candidates, seqs, progress);
    Ok(variants
        .iter()
        .zip(scores)
        .map(|(&v, s)| result(w, v, s))
        .collect())
}

fn result(w: &Workload, v: Variant, s: Score) -> FormatResult {
    let format = v.format;
    FormatResult {
        format: format.name().into(),
        calibrated: v.calibrated,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> String {
        let path = format!("{}/workloads/text/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn calibration_text_shares_no_paragraph_with_the_evaluation_text() {
        let eval = shipped("tinystories_valid_excerpt64k.txt");
        let cal = shipped("tinystories_valid_calib256.txt");
        assert_eq!(shared_paragraphs(&cal, &eval), 0);
        let count = |t: &str| t.split("\n\n").filter(|p| !p.trim().is_empty()).count();
        assert_eq!((count(&eval), count(&cal)), (314, 256));
        assert_eq!(shared_paragraphs("a\n\nb", "b\n\n c \n\n"), 1);
    }

    #[test]
    fn variants_add_calibrated_codes_to_sub_8_bit_formats_only() {
        let v = variants(&[Format::F16, Format::Int8, Format::Q35Opt], true);
        let labels: Vec<String> = v.iter().map(|v| v.label()).collect();
        assert_eq!(labels, ["f16", "int8", "q3.5-opt", "q3.5-opt+cal"]);
        assert_eq!(variants(&[Format::Q35Opt], false).len(), 1);
    }
}
