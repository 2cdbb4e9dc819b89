//! Naming the tensors of a LLaMA independently of any file format, so every loader answers the
//! same questions and the decoder is built the same way from each.

use super::Config;
use super::linear::Linear;
use crate::quant::Format;
use std::path::Path;

/// One weight tensor of a LLaMA decoder; layer-indexed variants carry the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tensor {
    /// Token embedding table (vocab × dim).
    Embedding,
    /// RMSNorm gain before attention.
    AttnNorm(usize),
    /// Query projection.
    Q(usize),
    /// Key projection.
    K(usize),
    /// Value projection.
    V(usize),
    /// Attention output projection.
    O(usize),
    /// RMSNorm gain before the FFN.
    FfnNorm(usize),
    /// SwiGLU gate projection (llama2.c `w1`).
    Gate(usize),
    /// SwiGLU down projection (llama2.c `w2`).
    Down(usize),
    /// SwiGLU up projection (llama2.c `w3`).
    Up(usize),
    /// RMSNorm gain before the classifier.
    FinalNorm,
    /// Output classifier (vocab × dim); absent when tied to the embedding.
    Classifier,
}

impl Tensor {
    /// Shape as (rows, cols) of a row-major (out, in) matrix; vectors are (1, n).
    pub fn shape(self, c: &Config) -> (usize, usize) {
        match self {
            Tensor::Embedding | Tensor::Classifier => (c.vocab, c.dim),
            Tensor::AttnNorm(_) | Tensor::FfnNorm(_) | Tensor::FinalNorm => (1, c.dim),
            Tensor::Q(_) => (c.q_dim(), c.dim),
            Tensor::K(_) | Tensor::V(_) => (c.kv_dim(), c.dim),
            Tensor::O(_) => (c.dim, c.q_dim()),
            Tensor::Gate(_) | Tensor::Up(_) => (c.hidden, c.dim),
            Tensor::Down(_) => (c.dim, c.hidden),
        }
    }

    /// Number of elements.
    pub fn len(self, c: &Config) -> usize {
        let (r, k) = self.shape(c);
        r * k
    }

    /// True for tensors that multiply activations (the ones a weight format applies to).
    pub fn is_linear(self) -> bool {
        !matches!(
            self,
            Tensor::Embedding | Tensor::AttnNorm(_) | Tensor::FfnNorm(_) | Tensor::FinalNorm
        )
    }

    /// The tensors of layer `l` in file order of llama2.c.
    pub fn of_layer(l: usize) -> [Tensor; 9] {
        [
            Tensor::AttnNorm(l),
            Tensor::Q(l),
            Tensor::K(l),
            Tensor::V(l),
            Tensor::O(l),
            Tensor::FfnNorm(l),
            Tensor::Gate(l),
            Tensor::Down(l),
            Tensor::Up(l),
        ]
    }
}

/// A model file that hands out tensors one at a time, converted to f32 in (out, in) layout.
pub trait Checkpoint: Send + Sync {
    /// The model shape the file declares.
    fn config(&self) -> &Config;
    /// The file, for error messages.
    fn path(&self) -> &Path;
    /// The tensor's values; `Ok(None)` only for a classifier tied to the embedding.
    fn tensor(&self, t: Tensor) -> crate::Result<Option<Vec<f32>>>;

    /// Matrix `t` as a linear layer stored in `format` (a tied classifier is the embedding).
    /// Checkpoints that can remake rows on demand override the f32 case, so a reference layer
    /// of a 400B-class model is never held in memory.
    fn linear(&self, t: Tensor, format: Format) -> crate::Result<Box<dyn Linear>> {
        stored_linear(self, t, format)
    }

    /// Lockstep lanes announce that right after the f32 reference has run the matrices of
    /// `lane`, they will load each in the format paired with it. A checkpoint that draws its
    /// weights may then quantize the rows the reference draws for its products, instead of
    /// drawing every matrix twice ([`super::synthetic::Synthetic`]); others ignore it.
    fn expect(&self, lane: &[(Tensor, Format)]) {
        let _ = lane;
    }
}

/// Matrix `t` of `ck` read in full and stored in `format`: what [`Checkpoint::linear`] does
/// unless a checkpoint knows better.
pub(crate) fn stored_linear<C: Checkpoint + ?Sized>(
    ck: &C,
    t: Tensor,
    format: Format,
) -> crate::Result<Box<dyn Linear>> {
    let w = match ck.tensor(t)? {
        Some(w) => w,
        None if t == Tensor::Classifier => ck
            .tensor(Tensor::Embedding)?
            .ok_or_else(|| super::data_error(ck.path(), "tensor Embedding is missing"))?,
        None => {
            return Err(super::data_error(
                ck.path(),
                format!("tensor {t:?} is missing"),
            ));
        }
    };
    check_len(ck.path(), ck.config(), t, &w)?;
    let (rows, cols) = t.shape(ck.config());
    super::linear::build(format, rows, cols, w)
        .map_err(|r| super::data_error(ck.path(), format!("tensor {t:?}: {r}")))
}

/// Check a tensor has the element count its shape requires.
pub(crate) fn check_len(path: &Path, c: &Config, t: Tensor, w: &[f32]) -> crate::Result<()> {
    let want = t.len(c);
    if w.len() == want {
        Ok(())
    } else {
        Err(super::data_error(
            path,
            format!("tensor {t:?} has {} values, expected {want}", w.len()),
        ))
    }
}

/// Fetch a tensor that must exist (everything but the classifier).
pub(crate) fn required(ck: &dyn Checkpoint, t: Tensor) -> crate::Result<Vec<f32>> {
    ck.tensor(t)?
        .ok_or_else(|| super::data_error(ck.path(), format!("tensor {t:?} is missing")))
}

/// A tensor's values as read from `path`, refused if any is NaN or infinite: such a weight
/// would turn every score into NaN while comparisons with NaN pass silently.
pub(crate) fn finite(path: &Path, t: Tensor, values: Vec<f32>) -> crate::Result<Vec<f32>> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(values),
        Some(i) => Err(super::data_error(
            path,
            format!(
                "tensor {t:?}: value {i} is {}; weights must be finite",
                values[i]
            ),
        )),
    }
}

/// Decode little-endian f32 values.
pub(crate) fn f32_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Decode little-endian IEEE half values.
pub(crate) fn f16_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect()
}

/// Decode little-endian bfloat16 values.
pub(crate) fn bf16_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect()
}

impl Tensor {
    /// The workload's tensor class, which picks the tensor's format in a quantization policy.
    pub fn class(self) -> crate::workload::TensorClass {
        use crate::workload::TensorClass as C;
        match self {
            Tensor::Embedding => C::Embedding,
            Tensor::AttnNorm(_) | Tensor::FfnNorm(_) | Tensor::FinalNorm => C::Norm,
            Tensor::Q(_) => C::AttnQ,
            Tensor::K(_) => C::AttnK,
            Tensor::V(_) => C::AttnV,
            Tensor::O(_) => C::AttnO,
            Tensor::Gate(_) => C::FfnGate,
            Tensor::Down(_) => C::FfnDown,
            Tensor::Up(_) => C::FfnUp,
            Tensor::Classifier => C::Classifier,
        }
    }
}
