//! Calibration for error-compensating quantization: run the f32 model over calibration text,
//! sum `x xᵀ` of the inputs of every matrix product (the Hessian of the layer's squared output
//! error), and turn each sum into the error feedback a format's quantizer follows
//! ([`crate::quant::Feedback`], GPTQ). Matrices that read the same input (q, k and v; gate and
//! up) share one Hessian.

use super::decoder::{KvCache, Model};
use super::linear::Quantized;
use super::tensor::{Checkpoint, Tensor, check_len};
use super::{Config, data_error};
use crate::quant::{Feedback, Format};
use rayon::prelude::*;

/// Dampening added to each Hessian's diagonal, relative to its mean diagonal (GPTQ's 1%).
pub const DAMP: f64 = 0.01;
/// Paragraphs whose Hessians are summed in parallel before being added, in order, to the total.
const CHUNK: usize = 16;

/// Which input of a decoder layer a matrix reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The normed residual stream before attention (q, k, v).
    Attn,
    /// The attention heads' output (o).
    AttnOut,
    /// The normed residual stream before the FFN (gate, up).
    Ffn,
    /// The SwiGLU hidden activations (down).
    FfnHidden,
}

/// The input of one matrix product of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A site of layer `l`.
    Layer(usize, Site),
    /// The final normed residual stream (the classifier).
    Head,
}

impl Input {
    /// The input matrix `t` reads; `None` for tensors that are not multiplied.
    pub fn of(t: Tensor) -> Option<Self> {
        Some(match t {
            Tensor::Q(l) | Tensor::K(l) | Tensor::V(l) => Input::Layer(l, Site::Attn),
            Tensor::O(l) => Input::Layer(l, Site::AttnOut),
            Tensor::Gate(l) | Tensor::Up(l) => Input::Layer(l, Site::Ffn),
            Tensor::Down(l) => Input::Layer(l, Site::FfnHidden),
            Tensor::Classifier => Input::Head,
            _ => return None,
        })
    }

    /// Position in [`Calibration`]'s lists: four sites per layer, then the head.
    fn index(self, layers: usize) -> usize {
        match self {
            Input::Layer(l, site) => 4 * l + site as usize,
            Input::Head => 4 * layers,
        }
    }

    /// Width of the input.
    fn width(self, c: &Config) -> usize {
        match self {
            Input::Layer(_, Site::Attn | Site::Ffn) | Input::Head => c.dim,
            Input::Layer(_, Site::AttnOut) => c.q_dim(),
            Input::Layer(_, Site::FfnHidden) => c.hidden,
        }
    }
}

/// The error feedback of every matrix input of a model, from its f32 pass over calibration text.
pub struct Calibration {
    layers: usize,
    feedback: Vec<Feedback>,
    /// Positions the Hessians were summed over.
    pub tokens: usize,
}

impl Calibration {
    /// Run `reference` (the f32 model) over `seqs` and build the feedback of every input.
    /// Paragraphs run in parallel; their sums are added in text order, so the result does not
    /// depend on the thread count.
    pub fn collect(reference: &Model, seqs: &[Vec<u32>]) -> Result<Self, String> {
        let c = reference.config();
        let inputs: Vec<Input> = (0..c.layers)
            .flat_map(|l| {
                [Site::Attn, Site::AttnOut, Site::Ffn, Site::FfnHidden].map(|s| Input::Layer(l, s))
            })
            .chain([Input::Head])
            .collect();
        let widths: Vec<usize> = inputs.iter().map(|i| i.width(c)).collect();
        let mut total: Vec<Vec<f64>> = widths.iter().map(|&w| vec![0.0; w * w]).collect();
        for chunk in seqs.chunks(CHUNK) {
            let sums: Vec<Vec<Vec<f64>>> = chunk
                .par_iter()
                .map(|seq| paragraph_sums(reference, &widths, seq))
                .collect();
            for s in sums {
                for (t, p) in total.iter_mut().zip(s) {
                    t.iter_mut().zip(p).for_each(|(a, b)| *a += b);
                }
            }
        }
        let feedback = total
            .par_iter()
            .zip(&widths)
            .map(|(h, &w)| Feedback::from_hessian(w, &mirrored(w, h), DAMP))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            layers: c.layers,
            feedback,
            tokens: seqs.iter().map(Vec::len).sum(),
        })
    }

    /// The feedback for matrix `t`, if it is multiplied.
    pub fn feedback(&self, t: Tensor) -> Option<&Feedback> {
        Input::of(t).and_then(|i| self.feedback.get(i.index(self.layers)))
    }
}

/// The upper triangles of `x xᵀ` summed over the positions of one paragraph, per input.
fn paragraph_sums(model: &Model, widths: &[usize], seq: &[u32]) -> Vec<Vec<f64>> {
    let layers = model.config().layers;
    let mut sums: Vec<Vec<f64>> = widths.iter().map(|&w| vec![0.0; w * w]).collect();
    let mut observe = |input: Input, x: &[f32]| {
        let i = input.index(layers);
        let w = widths[i];
        let h = &mut sums[i];
        for row in x.chunks_exact(w) {
            for (a, &xa) in row.iter().enumerate() {
                let xa = f64::from(xa);
                for (hb, &xb) in h[a * w + a..(a + 1) * w].iter_mut().zip(&row[a..]) {
                    *hb += xa * f64::from(xb);
                }
            }
        }
    };
    model.forward_observed(seq, &mut KvCache::new(model), None, &mut observe);
    sums
}

/// The full symmetric matrix from its upper triangle (`w` x `w`, row-major).
fn mirrored(w: usize, upper: &[f64]) -> Vec<f64> {
    let mut h = upper.to_vec();
    for a in 0..w {
        for b in 0..a {
            h[a * w + b] = upper[b * w + a];
        }
    }
    h
}

/// Matrix `t` of `ck` in `format`, with calibrated rounding when `calibration` covers it and
/// the format has a calibrated quantizer; otherwise as the checkpoint builds it.
pub(crate) fn linear(
    ck: &dyn Checkpoint,
    t: Tensor,
    format: Format,
    calibration: Option<&Calibration>,
) -> crate::Result<Box<dyn super::linear::Linear>> {
    let feedback = calibration
        .filter(|_| format.is_calibrated())
        .and_then(|c| c.feedback(t));
    let Some(feedback) = feedback else {
        return ck.linear(t, format);
    };
    // A tied classifier (no tensor of its own) stays round-to-nearest.
    let Some(w) = ck.tensor(t)? else {
        return ck.linear(t, format);
    };
    check_len(ck.path(), ck.config(), t, &w)?;
    let (rows, cols) = t.shape(ck.config());
    Quantized::calibrated(format, rows, cols, &w, feedback)
        .map(|q| Box::new(q) as Box<dyn super::linear::Linear>)
        .map_err(|r| data_error(ck.path(), format!("tensor {t:?}: {r}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tokenizer;
    use crate::model::eval;
    use crate::model::llama2c::Llama2c;
    use crate::model::testdata::{STORIES_BIN, STORIES_TOK};
    use std::path::Path;

    #[test]
    fn calibration_is_the_same_for_any_thread_count() {
        let ck = Llama2c::open(Path::new(STORIES_BIN)).unwrap();
        let model = Model::load(&ck, &|_| Format::F32).unwrap();
        let tok = Tokenizer::from_llama2c(Path::new(STORIES_TOK)).unwrap();
        let text = "Tom had a red ball.\n\nThe cat sat on the mat and slept.\n\nMia ran home fast.";
        let seqs = eval::sequences(&tok, text);
        let in_pool = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| Calibration::collect(&model, &seqs).unwrap())
        };
        let (a, b) = (in_pool(1), in_pool(2));
        assert_eq!(a.feedback, b.feedback);
        assert_eq!(a.tokens, seqs.iter().map(Vec::len).sum::<usize>());
        // q, k and v read one input; o another; the embedding none.
        assert_eq!(a.feedback(Tensor::Q(1)), a.feedback(Tensor::V(1)));
        assert_ne!(a.feedback(Tensor::Q(1)), a.feedback(Tensor::O(1)));
        assert_eq!(
            a.feedback(Tensor::Down(0)).unwrap().cols(),
            ck.config().hidden
        );
        assert!(a.feedback(Tensor::Embedding).is_none());
        let calibrated = |c: &Calibration| {
            let m = Model::load_with(&ck, &|_| Format::Q3K256, Some(c)).unwrap();
            m.forward(&seqs[0], &mut KvCache::new(&m), None)
        };
        assert_eq!(calibrated(&a), calibrated(&b));
    }
}
