//! The LLaMA decoder: RMSNorm, RoPE over interleaved pairs (llama2.c / Meta convention),
//! grouped-query attention with a KV cache, SwiGLU FFN, and a tied or separate classifier.

use super::linear::{Linear, dot};
use super::tensor::{Checkpoint, Tensor, required};
use super::{Config, data_error};
use crate::quant::Format;

/// One decoder layer's weights.
struct Layer {
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

/// Keys and values of the positions seen so far, per layer.
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `model`.
    pub fn new(model: &Model) -> Self {
        let layers = model.layers.len();
        Self {
            k: vec![Vec::new(); layers],
            v: vec![Vec::new(); layers],
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

impl Model {
    /// Build a model from `ck` one tensor at a time, storing each tensor in the format
    /// `format_of` picks, so only one tensor is ever held in f32 besides the built model.
    pub fn load(ck: &dyn Checkpoint, format_of: &dyn Fn(Tensor) -> Format) -> crate::Result<Self> {
        let c = ck.config().clone();
        c.check().map_err(|r| data_error(ck.path(), r))?;
        let raw = |t: Tensor| -> crate::Result<Vec<f32>> {
            let w = required(ck, t)?;
            check_len(ck, t, &w)?;
            Ok(w)
        };
        // Tensors that are not multiplied (norm gains, the embedding table) get their format's
        // rounding; the embedding's f32 values still feed a tied classifier.
        let fetch = |t: Tensor| -> crate::Result<Vec<f32>> {
            let (rows, cols) = t.shape(&c);
            super::linear::round_trip(format_of(t), rows, cols, raw(t)?)
                .map_err(|r| data_error(ck.path(), format!("tensor {t:?}: {r}")))
        };
        let linear = |t: Tensor, w: Vec<f32>| -> crate::Result<Box<dyn Linear>> {
            let (rows, cols) = t.shape(&c);
            super::linear::build(format_of(t), rows, cols, w)
                .map_err(|r| data_error(ck.path(), format!("tensor {t:?}: {r}")))
        };
        let mut layers = Vec::with_capacity(c.layers);
        for l in 0..c.layers {
            let lin = |t: Tensor| raw(t).and_then(|w| linear(t, w));
            layers.push(Layer {
                attn_norm: fetch(Tensor::AttnNorm(l))?,
                q: lin(Tensor::Q(l))?,
                k: lin(Tensor::K(l))?,
                v: lin(Tensor::V(l))?,
                o: lin(Tensor::O(l))?,
                ffn_norm: fetch(Tensor::FfnNorm(l))?,
                gate: lin(Tensor::Gate(l))?,
                up: lin(Tensor::Up(l))?,
                down: lin(Tensor::Down(l))?,
            });
        }
        let classifier = match ck.tensor(Tensor::Classifier)? {
            Some(w) => {
                check_len(ck, Tensor::Classifier, &w)?;
                linear(Tensor::Classifier, w)?
            }
            None => linear(Tensor::Classifier, raw(Tensor::Embedding)?)?,
        };
        let embedding = fetch(Tensor::Embedding)?;
        Ok(Self {
            rope: c.rope_frequencies(),
            final_norm: fetch(Tensor::FinalNorm)?,
            embedding,
            layers,
            classifier,
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
        mut trace: Option<&mut Vec<Vec<f32>>>,
    ) -> Vec<f32> {
        let c = &self.config;
        let (n, d, hd) = (tokens.len(), c.dim, c.head_dim);
        let mut x = Vec::with_capacity(n * d);
        for &t in tokens {
            x.extend_from_slice(&self.embedding[t as usize * d..(t as usize + 1) * d]);
        }
        let (cos, sin) = self.rope_table(cache.len, n);
        let mut xn = vec![0.0; n * d];
        let mut q = vec![0.0; n * c.q_dim()];
        let mut k = vec![0.0; n * c.kv_dim()];
        let mut v = vec![0.0; n * c.kv_dim()];
        let mut att = vec![0.0; n * c.q_dim()];
        let mut out = vec![0.0; n * d];
        let mut g = vec![0.0; n * c.hidden];
        let mut u = vec![0.0; n * c.hidden];
        let mut scores = Vec::with_capacity(cache.len + n);
        let group = c.heads / c.kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        for (l, layer) in self.layers.iter().enumerate() {
            rms_norm(&x, &layer.attn_norm, c.norm_eps, &mut xn);
            layer.q.forward(&xn, n, &mut q);
            layer.k.forward(&xn, n, &mut k);
            layer.v.forward(&xn, n, &mut v);
            rotate(&mut q, hd, &cos, &sin);
            rotate(&mut k, hd, &cos, &sin);
            cache.k[l].extend_from_slice(&k);
            cache.v[l].extend_from_slice(&v);
            let (keys, values) = (&cache.k[l], &cache.v[l]);
            let kv_dim = c.kv_dim();
            for t in 0..n {
                let seen = cache.len + t + 1;
                for h in 0..c.heads {
                    let qh = &q[(t * c.heads + h) * hd..][..hd];
                    let kv_off = (h / group) * hd;
                    scores.clear();
                    scores.extend(
                        (0..seen).map(|s| dot(qh, &keys[s * kv_dim + kv_off..][..hd]) * scale),
                    );
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
            layer.o.forward(&att, n, &mut out);
            add(&mut x, &out);
            rms_norm(&x, &layer.ffn_norm, c.norm_eps, &mut xn);
            layer.gate.forward(&xn, n, &mut g);
            layer.up.forward(&xn, n, &mut u);
            for (gi, &ui) in g.iter_mut().zip(&u) {
                *gi = *gi / (1.0 + (-*gi).exp()) * ui;
            }
            layer.down.forward(&g, n, &mut out);
            add(&mut x, &out);
            if let Some(tr) = trace.as_deref_mut() {
                tr.push(x.clone());
            }
        }
        cache.len += n;
        rms_norm(&x, &self.final_norm, c.norm_eps, &mut xn);
        let mut logits = vec![0.0; n * c.vocab];
        self.classifier.forward(&xn, n, &mut logits);
        logits
    }

    /// Cosines and sines of every rotated pair at positions `start..start + n`.
    fn rope_table(&self, start: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
        let angles = (start..start + n).flat_map(|p| self.rope.iter().map(move |f| p as f64 * f));
        angles.map(|a| (a.cos() as f32, a.sin() as f32)).unzip()
    }
}

/// Check a tensor has the element count its shape requires.
fn check_len(ck: &dyn Checkpoint, t: Tensor, w: &[f32]) -> crate::Result<()> {
    let want = t.len(ck.config());
    if w.len() == want {
        Ok(())
    } else {
        Err(data_error(
            ck.path(),
            format!("tensor {t:?} has {} values, expected {want}", w.len()),
        ))
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
