//! Numerics in the loop: the run's weights, in the run's format, compute real values through
//! the packed-weight kernels, and the output is compared with the f32 reference.

use crate::Error;
use crate::model::config::Config;
use crate::model::lockstep;
use crate::model::open::open_workload;
use crate::model::synthetic::Synthetic;
use crate::model::tensor::{Checkpoint, Tensor};
use crate::model::tokenizer::BOS;
use crate::quant::ErrorSums;
use crate::quant::weights::Dist;
use crate::workload::{TensorClass, Workload};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Seed of synthetic weights unless the user picks one (fixed so runs are comparable).
pub const DEFAULT_SEED: u64 = 0x5EED;

/// How much of the model computes values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumericsMode {
    /// Every layer and the head compute values.
    Full,
    /// The first K decoder layers compute values; all layers are timed.
    Sampled(u64),
    /// Timing only.
    Off,
}

impl NumericsMode {
    /// Name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            NumericsMode::Full => "full",
            NumericsMode::Sampled(_) => "sampled",
            NumericsMode::Off => "off",
        }
    }
}

/// Positions run through synthetic layers: enough for attention to mix several positions.
const SYNTHETIC_POSITIONS: usize = 4;

/// Prompt run through a real checkpoint (BOS is prepended).
const PROMPT: &str = "Once upon a time, there was a little girl who liked to read books.";

/// The numerics check of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Numerics {
    /// `full`, `sampled` or `off`.
    pub mode: &'static str,
    /// Decoder layers that computed values.
    pub layers_computed: u64,
    /// Positions (tokens) that went through them.
    pub positions: u64,
    /// Where the weights came from: `checkpoint` or `synthetic` (see `model::synthetic`).
    pub weights: &'static str,
    /// The distribution synthetic weights are drawn from (`llama`, `gaussian`); `null` for a
    /// checkpoint.
    pub dist: Option<&'static str>,
    /// What `rel_error` measures.
    pub measure: String,
    /// Relative error of the output against f32 (`null` when off). It compounds every
    /// matrix's error through the layers' nonlinearities (attention softmax, SwiGLU), so it
    /// can exceed each matrix's own error and even 1: the format then changed what the layers
    /// add to the residual stream by more than they add.
    pub rel_error: Option<f64>,
    /// The stored weights of each tensor class against their f32 values, over the matrices
    /// that computed: the error each format makes before anything is multiplied.
    pub matrices: Vec<MatrixError>,
}

/// The weight error of one tensor class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatrixError {
    /// Tensor class (`attn_q`, `ffn_down`, ...).
    pub class: &'static str,
    /// ‖W_stored − W‖ / ‖W‖ over the class's matrices (Frobenius).
    pub rel_error: f64,
    /// 10·log10(‖W‖² / ‖W_stored − W‖²).
    pub sqnr_db: f64,
}

/// The weight errors of `matrices` summed by tensor class, in class order.
fn by_class(matrices: &[(Tensor, ErrorSums)]) -> Vec<MatrixError> {
    let mut classes: Vec<(TensorClass, ErrorSums)> = Vec::new();
    for (t, e) in matrices {
        match classes.iter_mut().find(|(c, _)| *c == t.class()) {
            Some((_, sums)) => sums.merge(e),
            None => classes.push((t.class(), *e)),
        }
    }
    classes.sort_by_key(|(c, _)| *c);
    classes
        .into_iter()
        .map(|(c, e)| {
            let m = e.metrics();
            MatrixError {
                class: c.name(),
                rel_error: m.rel_error,
                sqnr_db: m.sqnr_db,
            }
        })
        .collect()
}

/// Refuse numerics that would take more host memory than there is, before anything is
/// allocated. Synthetic weights are streamed ([`Synthetic`]): the f32 reference remakes its
/// rows inside each product, so what is held is one layer's packed weights (and with the head
/// the packed classifier and the logits), plus the blocks of f32 rows being quantized. A
/// checkpoint is read whole: its embedding table, one layer as f32 in the reference and again
/// in the format's lane, and with the head the classifier, all as f32 at most.
pub fn check_memory(w: &Workload, mode: NumericsMode) -> crate::Result<()> {
    let (layers, head) = match mode {
        NumericsMode::Off => return Ok(()),
        NumericsMode::Sampled(k) => (k.min(w.model.layers), false),
        NumericsMode::Full => (w.model.layers, true),
    };
    if layers == 0 {
        return Ok(());
    }
    let needs = if w.checkpoint.is_some() {
        checkpoint_bytes(w, head)
    } else {
        synthetic_bytes(w, head)
    };
    crate::host::reserve(
        || format!("--numerics {} on workload `{}`", mode.name(), w.name),
        u64::try_from(needs).unwrap_or(u64::MAX),
    )
}

/// Rows of f32 weights one thread holds while quantizing (`PackedMatrix::quantize_rows`
/// draws blocks of 64 rows; twice that covers the block and its reconstruction).
const ROWS_IN_FLIGHT: u128 = 128;

/// Peak bytes of numerics on streamed synthetic weights.
fn synthetic_bytes(w: &Workload, head: bool) -> u128 {
    let m = &w.model;
    let wide = u128::from;
    let packed = |class: TensorClass, count: u64, rows: u64, cols: u64| {
        wide(count) * wide(w.quant.format(class).packed_bytes(rows, cols))
    };
    let layer: u128 = m
        .layer_tensors()
        .iter()
        .map(|t| packed(t.class, t.count, t.rows, t.cols))
        .sum();
    let widest = m.layer_tensors().iter().map(|t| t.cols).max().unwrap_or(0);
    let blocks =
        4 * ROWS_IN_FLIGHT * wide(widest.max(m.hidden)) * rayon::current_num_threads() as u128;
    let positions = SYNTHETIC_POSITIONS as u128;
    let classifier = if head {
        packed(TensorClass::Classifier, 1, m.vocab, m.hidden) + 2 * 4 * positions * wide(m.vocab)
    } else {
        0
    };
    // The lanes' residual streams and a layer's intermediates: a few vectors per position.
    let activations = 4 * positions * wide(m.ffn.max(m.hidden)) * 8;
    layer + classifier + blocks + activations
}

/// Peak bytes of numerics on a checkpoint read whole, all as f32 at most.
fn checkpoint_bytes(w: &Workload, head: bool) -> u128 {
    let m = &w.model;
    let wide = u128::from;
    let table = wide(m.vocab) * wide(m.hidden);
    let layer: u128 = m
        .layer_tensors()
        .iter()
        .map(|t| wide(t.count) * wide(t.rows) * wide(t.cols))
        .sum();
    let classifier = if head { 2 * table } else { 0 };
    4 * (table + 3 * layer + classifier)
}

/// Run the numerics of `w` (every tensor in the format its policy names) as `mode` asks: the
/// same packed bitstreams the machine's memories hold go through the packed-weight kernels,
/// next to an f32 reference, layer by layer.
pub fn check(w: &Workload, mode: NumericsMode, seed: u64, dist: Dist) -> crate::Result<Numerics> {
    check_memory(w, mode)?;
    let total = w.model.layers;
    let layers = match mode {
        NumericsMode::Full => total,
        NumericsMode::Sampled(k) => k.min(total),
        NumericsMode::Off => 0,
    };
    if layers == 0 {
        return Ok(not_computed(w, mode, dist, "not computed"));
    }
    let (weights, dist_name) = source(w, dist);
    let with_head = mode == NumericsMode::Full;
    let format_of = |t: Tensor| w.quant.format(t.class());
    let bar = progress_bar(layers);
    let mut progress = |done: usize| bar.set_position(done as u64);
    let lanes = match &w.checkpoint {
        Some(_) => {
            let origin = w.origin.as_deref().ok_or_else(|| Error::Usage {
                flag: "--workload".to_owned(),
                reason: format!("workload {} was not read from a file", w.name),
            })?;
            let ck = open_workload(origin, w)?;
            let tokens: Vec<u32> = std::iter::once(BOS)
                .chain(ck.tokenizer.encode(PROMPT))
                .take(ck.config().max_seq)
                .collect();
            let table = ck.tensor(Tensor::Embedding)?.unwrap_or_default();
            let d = ck.config().dim;
            let input: Vec<f32> = tokens
                .iter()
                .flat_map(|&t| table[t as usize * d..][..d].iter().copied())
                .collect();
            lockstep::compare(
                &ck,
                &[&format_of],
                &input,
                layers as usize,
                with_head,
                &mut progress,
            )?
        }
        None => {
            let ck = Synthetic::new(Config::from_shape(&w.model), seed).with_dist(dist);
            let input = ck.embedding_rows(SYNTHETIC_POSITIONS);
            lockstep::compare(
                &ck,
                &[&format_of],
                &input,
                layers as usize,
                with_head,
                &mut progress,
            )?
        }
    }
    .remove(0);
    bar.finish_and_clear();
    let (measure, rel_error) = match lanes.logits_rel_error {
        Some(e) => (
            format!(
                "logits after all {layers} layers and the classifier: relative error against f32"
            ),
            e,
        ),
        None => (
            format!(
                "residual-stream update of the first {layers} of {total} layers: relative error \
                 against f32"
            ),
            lanes.update_rel_error,
        ),
    };
    Ok(Numerics {
        mode: mode.name(),
        layers_computed: layers,
        positions: lanes.positions as u64,
        weights,
        dist: dist_name,
        measure,
        rel_error: Some(rel_error),
        matrices: by_class(&lanes.matrices),
    })
}

/// The numerics record of a run that computes none, `measure` saying why.
pub fn not_computed(w: &Workload, mode: NumericsMode, dist: Dist, measure: &str) -> Numerics {
    let (weights, dist) = source(w, dist);
    Numerics {
        mode: mode.name(),
        layers_computed: 0,
        positions: 0,
        weights,
        dist,
        measure: measure.to_owned(),
        rel_error: None,
        matrices: Vec::new(),
    }
}

/// Where `w`'s weights come from, and their distribution when synthetic.
fn source(w: &Workload, dist: Dist) -> (&'static str, Option<&'static str>) {
    if w.checkpoint.is_some() {
        ("checkpoint", None)
    } else {
        ("synthetic", Some(dist.name()))
    }
}

/// A layer counter on stderr (a 70B-class layer takes seconds, a full run minutes); hidden when
/// stderr is not a terminal.
fn progress_bar(layers: u64) -> ProgressBar {
    ProgressBar::new(layers).with_style(
        ProgressStyle::with_template("numerics {bar:30} {pos}/{len} layers, {elapsed} elapsed")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}
