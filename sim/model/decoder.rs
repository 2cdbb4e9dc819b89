//! The LLaMA decoder: RMSNorm, RoPE over interleaved pairs (llama2.c / Meta convention),
//! grouped-query attention with a KV cache, SwiGLU FFN, and a tied or separate classifier.

use super::calibrate::{Calibration, Input, Site, linear};
use super::linear::{Linear, dot};
use super::tensor::{Checkpoint, Tensor, check_len, required};
use super::{Config, data_error};
use crate::quant::Format;

/// One decoder layer's weights.
pub(crate) struct Layer {
    attn_norm: Vec<f32>,
    q: Box<dyn Linear>,
    k: Box<dyn Linear>,
    v: Box<dyn Linear>,
    o: Box<dyn Linear>,
    ffn_norm: Vec<f32>,
    gate: Box<dyn Linear>,
    up: Box<dyn Linear>,
    down: Box<dyn Linear>,
}

/// A LLaMA model ready to run, its linear layers in whatever formats it was built with.
pub struct Model {
    config: Config,
    embedding: Vec<f32>,
    layers: Vec<Layer>,
    final_norm: Vec<f32>,
    classifier: Box<dyn Linear>,
    rope: Vec<f64>,
}

/// Keys and values of one layer for the positions seen so far (positions × kv_dim each).
#[derive(Clone, Default)]
pub(crate) struct LayerCache {
    k: Vec<f32>,
    v: Vec<f32>,
}

/// Keys and values of the positions seen so far, per layer.
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `model`.
    pub fn new(model: &Model) -> Self {
        Self {
            layers: vec![LayerCache::default(); model.layers.len()],
            len: 0,
        }
    }

    /// Number of cached positions (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before any token was run.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// RoPE cosines and sines of positions `start..start + n`, one row of head_dim/2 per position.
pub(crate) struct RopeTable {
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeTable {
    /// The table for `n` positions from `start`, with the per-pair frequencies `freqs`.
    pub(crate) fn new(freqs: &[f64], start: usize, n: usize) -> Self {
        let angles = (start..start + n).flat_map(|p| freqs.iter().map(move |f| p as f64 * f));
        let (cos, sin) = angles.map(|a| (a.cos() as f32, a.sin() as f32)).unzip();
        Self { cos, sin }
    }
}

/// A vector tensor (norm gain, embedding table) with `format`'s rounding: it is looked up or
/// scaled elementwise rather than multiplied.
pub(crate) fn vector(ck: &dyn Checkpoint, t: Tensor, format: Format) -> crate::Result<Vec<f32>> {
    let w = required(ck, t)?;
    check_len(ck.path(), ck.config(), t, &w)?;
    let (rows, cols) = t.shape(ck.config());
    super::linear::round_trip(format, rows, cols, w)
        .map_err(|r| data_error(ck.path(), format!("tensor {t:?}: {r}")))
}

impl Layer {
    /// Layer `l` of `ck`, each tensor stored in the format `format_of` picks.
    pub(crate) fn load(
        ck: &dyn Checkpoint,
        l: usize,
        format_of: &dyn Fn(Tensor) -> Format,
    ) -> crate::Result<Self> {
        Self::load_with(ck, l, format_of, None)
    }

    /// [`Self::load`], the matrices with calibrated rounding where `calibration` applies.
    fn load_with(
        ck: &dyn Checkpoint,
        l: usize,
        format_of: &dyn Fn(Tensor) -> Format,
        calibration: Option<&Calibration>,
    ) -> crate::Result<Self> {
        let lin = |t: Tensor| linear(ck, t, format_of(t), calibration);
        let vec = |t: Tensor| vector(ck, t, format_of(t));
        Ok(Layer {
            attn_norm: vec(Tensor::AttnNorm(l))?,
            q: lin(Tensor::Q(l))?,
            k: lin(Tensor::K(l))?,
            v: lin(Tensor::V(l))?,
            o: lin(Tensor::O(l))?,
            ffn_norm: vec(Tensor::FfnNorm(l))?,
            gate: lin(Tensor::Gate(l))?,
            up: lin(Tensor::Up(l))?,
            down: lin(Tensor::Down(l))?,
        })
    }

    /// The weight error of each quantized matrix of the layer (its index is `l`).
    pub(crate) fn weight_errors(&self, l: usize) -> Vec<(Tensor, crate::quant::ErrorSums)> {
        [
            (Tensor::Q(l), &self.q),
            (Tensor::K(l), &self.k),
            (Tensor::V(l), &self.v),
            (Tensor::O(l), &self.o),
            (Tensor::Gate(l), &self.gate),
            (Tensor::Up(l), &self.up),
            (Tensor::Down(l), &self.down),
        ]
        .into_iter()
        .filter_map(|(t, m)| m.weight_error().map(|e| (t, e)))
        .collect()
    }

    /// Run `n` positions of the residual stream `x` (n × dim) through the layer, in place,
    /// attending to the positions already in `cache` and appending the new ones; `observe`
    /// is shown the input of each matrix product (n rows).
    pub(crate) fn forward(
        &self,
        c: &Config,
        x: &mut [f32],
        n: usize,
        rope: &RopeTable,
        cache: &mut LayerCache,
        observe: &mut dyn FnMut(Site, &[f32]),
    ) {
        let (d, hd, kv_dim) = (c.dim, c.head_dim, c.kv_dim());
        let past = cache.k.len() / kv_dim;
        let mut xn = vec![0.0; n * d];
        let mut q = vec![0.0; n * c.q_dim()];
        let mut k = vec![0.0; n * kv_dim];
        let mut v = vec![0.0; n * kv_dim];
        let mut att = vec![0.0; n * c.q_dim()];
        let mut out = vec![0.0; n * d];
        let mut g = vec![0.0; n * c.hidden];
        let mut u = vec![0.0; n * c.hidden];
        let mut scores = Vec::with_capacity(past + n);
        let group = c.heads / c.kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        rms_norm(x, &self.attn_norm, c.norm_eps, &mut xn);
        observe(Site::Attn, &xn);
        self.q.forward(&xn, n, &mut q);
        self.k.forward(&xn, n, &mut k);
        self.v.forward(&xn, n, &mut v);
        rotate(&mut q, hd, &rope.cos, &rope.sin);
        rotate(&mut k, hd, &rope.cos, &rope.sin);
        cache.k.extend_from_slice(&k);
        cache.v.extend_from_slice(&v);
        let (keys, values) = (&cache.k, &cache.v);
        for t in 0..n {
            let seen = past + t + 1;
            for h in 0..c.heads {
                let qh = &q[(t * c.heads + h) * hd..][..hd];
                let kv_off = (h / group) * hd;
                scores.clear();
                scores
                    .extend((0..seen).map(|s| dot(qh, &keys[s * kv_dim + kv_off..][..hd]) * scale));
                softmax(&mut scores);
                let oh = &mut att[(t * c.heads + h) * hd..][..hd];
                oh.fill(0.0);
                for (s, &w) in scores.iter().enumerate() {
                    let vs = &values[s * kv_dim + kv_off..][..hd];
                    for (o, &vi) in oh.iter_mut().zip(vs) {
                        *o += w * vi;
                    }
                }
            }
        }
        observe(Site::AttnOut, &att);
        self.o.forward(&att, n, &mut out);
        add(x, &out);
        rms_norm(x, &self.ffn_norm, c.norm_eps, &mut xn);
        observe(Site::Ffn, &xn);
        self.gate.forward(&xn, n, &mut g);
        self.up.forward(&xn, n, &mut u);
        for (gi, &ui) in g.iter_mut().zip(&u) {
            *gi = *gi / (1.0 + (-*gi).exp()) * ui;
        }
        observe(Site::FfnHidden, &g);
        self.down.forward(&g, n, &mut out);
        add(x, &out);
    }
}

/// Final RMSNorm and classifier of `n` positions of the residual stream: logits (n × vocab).
pub(crate) fn head(
    c: &Config,
    final_norm: &[f32],
    classifier: &dyn Linear,
    x: &[f32],
    n: usize,
) -> Vec<f32> {
    head_observed(c, final_norm, classifier, x, n, &mut |_| ())
}

/// [`head`], showing `observe` the classifier's input.
fn head_observed(
    c: &Config,
    final_norm: &[f32],
    classifier: &dyn Linear,
    x: &[f32],
    n: usize,
    observe: &mut dyn FnMut(&[f32]),
) -> Vec<f32> {
    let mut xn = vec![0.0; n * c.dim];
    rms_norm(x, final_norm, c.norm_eps, &mut xn);
    observe(&xn);
    let mut logits = vec![0.0; n * c.vocab];
    classifier.forward(&xn, n, &mut logits);
    logits
}

impl Model {
    /// Build a model from `ck` one tensor at a time, storing each tensor in the format
    /// `format_of` picks, so only one tensor is ever held in f32 besides the built model.
    /// Tensors that are not multiplied (norm gains, the embedding table) get their format's
    /// rounding; a tied classifier is built from the embedding's f32 values.
    pub fn load(ck: &dyn Checkpoint, format_of: &dyn Fn(Tensor) -> Format) -> crate::Result<Self> {
        Self::load_with(ck, format_of, None)
    }

    /// [`Self::load`] with calibrated rounding: every matrix whose format has a calibrated
    /// quantizer and whose input `calibration` has seen is quantized with error feedback
    /// (a classifier tied to the embedding stays round-to-nearest: its bytes are also the
    /// looked-up embedding table, which has no input to calibrate on).
    pub fn load_with(
        ck: &dyn Checkpoint,
        format_of: &dyn Fn(Tensor) -> Format,
        calibration: Option<&Calibration>,
    ) -> crate::Result<Self> {
        let c = ck.config().clone();
        c.check().map_err(|r| data_error(ck.path(), r))?;
        let layers = (0..c.layers)
            .map(|l| Layer::load_with(ck, l, format_of, calibration))
            .collect::<crate::Result<_>>()?;
        Ok(Self {
            rope: c.rope_frequencies(),
            classifier: linear(
                ck,
                Tensor::Classifier,
                format_of(Tensor::Classifier),
                calibration,
            )?,
            embedding: vector(ck, Tensor::Embedding, format_of(Tensor::Embedding))?,
            final_norm: vector(ck, Tensor::FinalNorm, format_of(Tensor::FinalNorm))?,
            layers,
            config: c,
        })
    }

    /// The model shape.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Run `tokens` at the positions following `cache`, appending their keys and values.
    /// Returns logits (tokens × vocab); if `trace` is given, the residual stream after each layer
    /// (tokens × dim) is pushed to it. Token ids must be below the vocabulary size.
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        trace: Option<&mut Vec<Vec<f32>>>,
    ) -> Vec<f32> {
        self.forward_observed(tokens, cache, trace, &mut |_, _| ())
    }

    /// [`Self::forward`], showing `observe` the input of every matrix product (tokens rows
    /// of the matrix's input width), in order.
    pub fn forward_observed(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        mut trace: Option<&mut Vec<Vec<f32>>>,
        observe: &mut dyn FnMut(Input, &[f32]),
    ) -> Vec<f32> {
        let c = &self.config;
        let (n, d) = (tokens.len(), c.dim);
        let mut x = Vec::with_capacity(n * d);
        for &t in tokens {
            x.extend_from_slice(&self.embedding[t as usize * d..(t as usize + 1) * d]);
        }
        let rope = RopeTable::new(&self.rope, cache.len, n);
        for (l, (layer, lc)) in self.layers.iter().zip(&mut cache.layers).enumerate() {
            let mut seen = |site, v: &[f32]| observe(Input::Layer(l, site), v);
            layer.forward(c, &mut x, n, &rope, lc, &mut seen);
            if let Some(tr) = trace.as_deref_mut() {
                tr.push(x.clone());
            }
        }
        cache.len += n;
        let classifier = self.classifier.as_ref();
        head_observed(c, &self.final_norm, classifier, &x, n, &mut |v| {
            observe(Input::Head, v)
        })
    }
}

/// RMSNorm of each row of `x` (rows of `gain.len()`), into `y`.
fn rms_norm(x: &[f32], gain: &[f32], eps: f32, y: &mut [f32]) {
    let d = gain.len();
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let ms = dot(xr, xr) / d as f32;
        let inv = 1.0 / (ms + eps).sqrt();
        for ((yi, &xi), &gi) in yr.iter_mut().zip(xr).zip(gain) {
            *yi = xi * inv * gi;
        }
    }
}

/// Rotate interleaved pairs (x[2i], x[2i+1]) of every head of every token; `cos`/`sin` hold
/// one row of head_dim/2 angles per token.
fn rotate(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    let half = head_dim / 2;
    let n = cos.len() / half;
    let width = x.len() / n;
    for (t, row) in x.chunks_exact_mut(width).enumerate() {
        let (ct, st) = (&cos[t * half..][..half], &sin[t * half..][..half]);
        for head in row.chunks_exact_mut(head_dim) {
            for (i, pair) in head.chunks_exact_mut(2).enumerate() {
                let (a, b) = (pair[0], pair[1]);
                pair[0] = a * ct[i] - b * st[i];
                pair[1] = a * st[i] + b * ct[i];
            }
        }
    }
}

/// In-place softmax with the maximum subtracted first.
fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// x += y elementwise.
fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

/// Greedy decoding: run `prompt` (BOS is prepended) then append the most likely token until
/// `max_new` tokens, EOS or the model's context length.
pub fn greedy(model: &Model, prompt: &[u32], max_new: usize) -> Vec<u32> {
    let vocab = model.config.vocab;
    let mut cache = KvCache::new(model);
    let mut input: Vec<u32> = std::iter::once(super::tokenizer::BOS)
        .chain(prompt.iter().copied())
        .collect();
    let mut generated = Vec::new();
    while generated.len() < max_new && cache.len() + input.len() <= model.config.max_seq {
        let logits = model.forward(&input, &mut cache, None);
        let next = argmax(&logits[logits.len() - vocab..]) as u32;
        if next == super::tokenizer::EOS {
            break;
        }
        generated.push(next);
        input = vec![next];
    }
    generated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gguf::Gguf;
    use crate::model::llama2c::Llama2c;
    use crate::model::testdata::{STORIES_BIN, STORIES_GGUF, STORIES_TOK};
    use crate::model::tokenizer::Tokenizer;
    use std::path::Path;

    fn f32_model(ck: &dyn Checkpoint) -> Model {
        Model::load(ck, &|_| Format::F32).unwrap()
    }

    #[test]
    fn greedy_story_from_bos() {
        let model = f32_model(&Llama2c::open(Path::new(STORIES_BIN)).unwrap());
        let tok = Tokenizer::from_llama2c(Path::new(STORIES_TOK)).unwrap();
        let text = tok.decode(&greedy(&model, &[], 60));
        assert!(
            text.starts_with("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."),
            "{text}"
        );
    }

    #[test]
    fn llama2c_and_gguf_give_identical_logits() {
        let a = f32_model(&Llama2c::open(Path::new(STORIES_BIN)).unwrap());
        let b = f32_model(&Gguf::open(Path::new(STORIES_GGUF)).unwrap());
        let tokens = [1, 400, 30, 100, 7, 260];
        let la = a.forward(&tokens, &mut KvCache::new(&a), None);
        let lb = b.forward(&tokens, &mut KvCache::new(&b), None);
        assert_eq!(la, lb);
    }

    #[test]
    fn cached_steps_match_one_batched_pass() {
        let model = f32_model(&Llama2c::open(Path::new(STORIES_BIN)).unwrap());
        let tokens = [1, 400, 30, 100, 7, 260];
        let all = model.forward(&tokens, &mut KvCache::new(&model), None);
        let mut cache = KvCache::new(&model);
        let mut stepped = Vec::new();
        for t in tokens {
            stepped.extend(model.forward(&[t], &mut cache, None));
        }
        for (a, b) in all.iter().zip(&stepped) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
