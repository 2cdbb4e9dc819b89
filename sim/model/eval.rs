//! Scoring weight formats on text against the f32 model. Protocol: the text is split on blank
//! lines; each paragraph is scored on its own as [BOS] + its tokens, truncated to
//! [`MAX_TOKENS`], every token after BOS predicted from its prefix. Paragraphs run in parallel
//! and are combined in text order, so results do not depend on the thread count.

use super::decoder::{KvCache, Model, argmax};
use super::tokenizer::{BOS, Tokenizer};
use rayon::prelude::*;

/// Longest scored sequence, BOS included (the first 512 text tokens of a paragraph).
pub const MAX_TOKENS: usize = 513;

/// The token sequences to score, one per non-empty paragraph.
pub fn sequences(tok: &Tokenizer, text: &str) -> Vec<Vec<u32>> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut ids = vec![BOS];
            ids.extend(tok.encode(p));
            ids.truncate(MAX_TOKENS);
            ids
        })
        .filter(|ids| ids.len() > 1)
        .collect()
}

/// How one model predicts the text, compared with the f32 reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// Positions scored (tokens predicted).
    pub tokens: usize,
    /// Mean negative log-likelihood of the text [nats/token].
    pub mean_nll: f64,
    /// exp(mean_nll).
    pub ppl: f64,
    /// Mean KL(f32 ‖ model) of the next-token distributions [nats].
    pub kl_mean: f64,
    /// 99th percentile (nearest rank) of the per-position KL.
    pub kl_p99: f64,
    /// Fraction of positions where the most likely token equals f32's.
    pub top1_agreement: f64,
    /// Fraction of positions where the most likely token is the text's next token.
    pub top1_accuracy: f64,
    /// Per layer: ‖h − h_f32‖ / ‖h_f32‖ of the residual stream after the layer, over all positions.
    pub layer_rel_error: Vec<f64>,
}

/// Running sums for one model over some paragraphs.
#[derive(Clone, Default)]
struct Tally {
    nll: f64,
    kl: Vec<f64>,
    agree: usize,
    correct: usize,
    err_sq: Vec<f64>,
    ref_sq: Vec<f64>,
}

impl Tally {
    fn absorb(&mut self, other: Tally) {
        self.nll += other.nll;
        self.kl.extend(other.kl);
        self.agree += other.agree;
        self.correct += other.correct;
        merge_sums(&mut self.err_sq, &other.err_sq);
        merge_sums(&mut self.ref_sq, &other.ref_sq);
    }

    fn score(self) -> Score {
        let n = self.kl.len();
        let mean_nll = self.nll / n as f64;
        let kl_mean = self.kl.iter().sum::<f64>() / n as f64;
        let mut sorted = self.kl;
        sorted.sort_by(f64::total_cmp);
        let rank = (0.99 * n as f64).ceil() as usize;
        Score {
            tokens: n,
            mean_nll,
            ppl: mean_nll.exp(),
            kl_mean,
            kl_p99: sorted.get(rank.saturating_sub(1)).copied().unwrap_or(0.0),
            top1_agreement: self.agree as f64 / n as f64,
            top1_accuracy: self.correct as f64 / n as f64,
            layer_rel_error: self
                .err_sq
                .iter()
                .zip(&self.ref_sq)
                .map(|(e, r)| (e / r).sqrt())
                .collect(),
        }
    }
}

/// Add `b` elementwise into `a`, growing it as needed.
fn merge_sums(a: &mut Vec<f64>, b: &[f64]) {
    a.resize(a.len().max(b.len()), 0.0);
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// Score every candidate on `seqs` against `reference`; `progress` is called once per finished
/// paragraph (from worker threads). Empty `seqs` gives scores over zero tokens (NaN means).
pub fn evaluate(
    reference: &Model,
    candidates: &[&Model],
    seqs: &[Vec<u32>],
    progress: &(dyn Fn() + Sync),
) -> Vec<Score> {
    let per_paragraph: Vec<Vec<Tally>> = seqs
        .par_iter()
        .map(|seq| {
            let tallies = score_paragraph(reference, candidates, seq);
            progress();
            tallies
        })
        .collect();
    let mut totals = vec![Tally::default(); candidates.len()];
    for tallies in per_paragraph {
        for (total, t) in totals.iter_mut().zip(tallies) {
            total.absorb(t);
        }
    }
    totals.into_iter().map(Tally::score).collect()
}

/// Tallies of each candidate on one sequence.
fn score_paragraph(reference: &Model, candidates: &[&Model], seq: &[u32]) -> Vec<Tally> {
    let vocab = reference.config().vocab;
    let mut ref_trace = Vec::new();
    let ref_logits = reference.forward(seq, &mut KvCache::new(reference), Some(&mut ref_trace));
    let scored = seq.len() - 1;
    let ref_lp: Vec<Vec<f64>> = ref_logits
        .chunks_exact(vocab)
        .take(scored)
        .map(log_softmax)
        .collect();
    candidates
        .iter()
        .map(|model| {
            // The reference itself may be a candidate (f32 in a format list): reuse its pass.
            let (logits, trace) = if std::ptr::eq(*model, reference) {
                (ref_logits.clone(), ref_trace.clone())
            } else {
                let mut trace = Vec::new();
                let logits = model.forward(seq, &mut KvCache::new(model), Some(&mut trace));
                (logits, trace)
            };
            let mut t = Tally::default();
            for (pos, (row, rlp)) in logits.chunks_exact(vocab).zip(&ref_lp).enumerate() {
                let lp = log_softmax(row);
                let next = seq[pos + 1] as usize;
                t.nll -= lp[next];
                let kl: f64 = rlp.iter().zip(&lp).map(|(r, c)| r.exp() * (r - c)).sum();
                t.kl.push(kl.max(0.0));
                let top = argmax(row);
                t.agree += usize::from(top == argmax(&ref_logits[pos * vocab..][..vocab]));
                t.correct += usize::from(top == next);
            }
            for (h, r) in trace.iter().zip(&ref_trace) {
                let rows = h.len() / seq.len();
                // Only the scored positions count, matching the token metrics.
                let (h, r) = (&h[..scored * rows], &r[..scored * rows]);
                t.err_sq
                    .push(h.iter().zip(r).map(|(a, b)| ((a - b) as f64).powi(2)).sum());
                t.ref_sq.push(r.iter().map(|b| (*b as f64).powi(2)).sum());
            }
            t
        })
        .collect()
}

/// Log-probabilities of one row of logits, in f64.
fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + logits
            .iter()
            .map(|&l| (l as f64 - max).exp())
            .sum::<f64>()
            .ln();
    logits.iter().map(|&l| l as f64 - lse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::llama2c::Llama2c;
    use crate::model::testdata::{STORIES_BIN, STORIES_TOK};
    use crate::quant::Format;
    use std::path::Path;

    #[test]
    fn f32_against_itself_is_exact_and_text_is_predicted() {
        let ck = Llama2c::open(Path::new(STORIES_BIN)).unwrap();
        let model = Model::load(&ck, &|_| Format::F32).unwrap();
        let tok = Tokenizer::from_llama2c(Path::new(STORIES_TOK)).unwrap();
        let text = "Once upon a time, there was a little girl.\n\nShe liked to play.\n\n\n";
        let seqs = sequences(&tok, text);
        assert_eq!(seqs.len(), 2);
        let scores = evaluate(&model, &[&model], &seqs, &|| ());
        let s = &scores[0];
        assert_eq!(s.tokens, seqs.iter().map(|q| q.len() - 1).sum::<usize>());
        assert_eq!((s.kl_mean, s.kl_p99, s.top1_agreement), (0.0, 0.0, 1.0));
        assert!(s.layer_rel_error.iter().all(|&e| e == 0.0));
        assert_eq!(s.layer_rel_error.len(), 5);
        assert!(s.ppl > 1.0 && s.ppl < 20.0, "{}", s.ppl);
    }

    #[test]
    fn f16_stays_within_the_kl_target_and_low_bits_do_not() {
        let ck = Llama2c::open(Path::new(STORIES_BIN)).unwrap();
        let tok = Tokenizer::from_llama2c(Path::new(STORIES_TOK)).unwrap();
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/workloads/text/tinystories_valid_excerpt64k.txt"
        ))
        .unwrap();
        let seqs: Vec<_> = sequences(&tok, &text).into_iter().take(12).collect();
        let f32m = Model::load(&ck, &|_| Format::F32).unwrap();
        let f16m = Model::load(&ck, &|_| Format::F16).unwrap();
        let int3 = Model::load(&ck, &|_| Format::Int3G64).unwrap();
        let s = evaluate(&f32m, &[&f16m, &int3], &seqs, &|| ());
        assert!(
            s[0].kl_mean > 0.0 && s[0].kl_mean < 1e-4,
            "{}",
            s[0].kl_mean
        );
        assert!(s[0].top1_agreement > 0.99);
        assert!(s[1].kl_mean > 100.0 * s[0].kl_mean && s[1].ppl > s[0].ppl);
        assert_eq!(s, evaluate(&f32m, &[&f16m, &int3], &seqs, &|| ()));
    }

    #[test]
    fn long_paragraphs_are_truncated() {
        let tok = Tokenizer::from_llama2c(Path::new(STORIES_TOK)).unwrap();
        let long = "The cat sat on the mat. ".repeat(200);
        assert_eq!(sequences(&tok, &long)[0].len(), MAX_TOKENS);
    }
}
