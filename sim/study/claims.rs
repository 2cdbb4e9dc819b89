//! Every claim of the source documents with its verdict: the memory claims as `fit` judges them,
//! the speed claims from the study's runs, and the accuracy claim from the real-model
//! evaluation. A claim whose run is unavailable is "not judged", with the reason.

use super::{AccuracyResult, RunEntry};
use crate::fit::FitRecord;
use crate::quant::Format;
use serde::Serialize;

/// Verdict of one claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Holds,
    False,
    NotJudged,
}

impl Verdict {
    /// Word in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::False => "FALSE",
            Verdict::NotJudged => "not judged",
        }
    }
}

/// One claim, where it was judged, and how.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim {
    pub claim: String,
    pub arch: String,
    pub workload: String,
    pub claimed: f64,
    /// accsim's figure (`null` when not judged).
    pub measured: Option<f64>,
    pub unit: String,
    pub verdict: Verdict,
    /// The criterion, or why the claim could not be judged.
    pub criterion: String,
}

/// A speed claim: at least `claimed` tokens/s by the run of (`arch`, `workload`).
struct Speed {
    claim: &'static str,
    arch: &'static str,
    workload: &'static str,
    claimed: f64,
    /// Aggregate over the batch rather than per user.
    aggregate: bool,
}

/// The source documents' speed claims. Each is judged on the study's `q3.5` run on the fewest
/// units that hold the model, at the workload's scenario (batch 1, full context).
const SPEED: [Speed; 3] = [
    Speed {
        claim: "LLaMA-70B at 3.5 bits runs at 110 tokens/s on Groq",
        arch: "groq-tsp",
        workload: "llama2-70b",
        claimed: 110.0,
        aggregate: false,
    },
    Speed {
        claim: "Groq serves 4,188 tokens/s",
        arch: "groq-tsp",
        workload: "llama2-70b",
        claimed: 4188.0,
        aggregate: true,
    },
    Speed {
        claim: "LLaMA-405B runs at 200+ tokens/s on Cerebras",
        arch: "cerebras-wse3",
        workload: "llama3.1-405b",
        claimed: 200.0,
        aggregate: false,
    },
];

/// Most bits per weight (on 8192 x 8192 matrices) a format may take to count as 3.5-bit.
const MAX_BITS_3_5: f64 = 3.55;

/// Largest perplexity increase over f32 that "<2% accuracy loss" allows [%].
const ACCURACY_LOSS_PERCENT: f64 = 2.0;

fn speed(s: &Speed, runs: &[RunEntry]) -> Claim {
    let mut c = Claim {
        claim: s.claim.to_owned(),
        arch: s.arch.to_owned(),
        workload: s.workload.to_owned(),
        claimed: s.claimed,
        measured: None,
        unit: "tokens/s".to_owned(),
        verdict: Verdict::NotJudged,
        criterion: String::new(),
    };
    let run = runs
        .iter()
        .find(|r| r.arch == s.arch && r.workload == s.workload);
    let record = match run {
        None => {
            c.criterion = "no run of this pair in the study".to_owned();
            return c;
        }
        Some(RunEntry { error: Some(e), .. }) => {
            c.criterion = format!("run unavailable: {e}");
            return c;
        }
        Some(r) => r.record.as_ref(),
    };
    let rate = record.and_then(|r| {
        if s.aggregate {
            r.aggregate_tokens_per_s
        } else {
            r.decode_tokens_per_s
        }
    });
    let Some(rate) = rate else {
        c.criterion = "not timed: the model does not fit the machine".to_owned();
        return c;
    };
    let which = if s.aggregate { "aggregate" } else { "per-user" };
    c.measured = Some(rate);
    c.verdict = if rate >= s.claimed {
        Verdict::Holds
    } else {
        Verdict::False
    };
    c.criterion = format!(
        "simulated {which} decode rate at least the claim (q3.5, fewest units, batch {}, context {})",
        record.map_or(0, |r| r.batch),
        record.map_or(0, |r| r.context)
    );
    c
}

fn accuracy(a: Option<&AccuracyResult>, error: Option<&str>) -> Claim {
    let mut c = Claim {
        claim: "3.5-bit quantization loses under 2% accuracy".to_owned(),
        arch: "-".to_owned(),
        workload: a.map_or_else(|| "stories260k".to_owned(), |a| a.model.clone()),
        claimed: ACCURACY_LOSS_PERCENT,
        measured: None,
        unit: "%".to_owned(),
        verdict: Verdict::NotJudged,
        criterion: String::new(),
    };
    let f32_ppl = a
        .and_then(|a| a.results.iter().find(|r| r.format == Format::F32.name()))
        .map(|r| r.ppl);
    // The best 3.5-bit result: any format at most 3.55 bits per weight on 8192-wide rows,
    // rounded to nearest or calibrated.
    let best = a.and_then(|a| {
        a.results
            .iter()
            .filter(|r| {
                r.format
                    .parse::<Format>()
                    .is_ok_and(|f| f.bits_per_weight(8192, 8192) <= MAX_BITS_3_5)
            })
            .min_by(|x, y| x.ppl.total_cmp(&y.ppl))
    });
    match (f32_ppl, best) {
        (Some(reference), Some(q)) => {
            let loss = 100.0 * (q.ppl / reference - 1.0);
            c.measured = Some(loss);
            c.verdict = if loss < ACCURACY_LOSS_PERCENT {
                Verdict::Holds
            } else {
                Verdict::False
            };
            c.criterion = format!(
                "perplexity of the best 3.5-bit format ({}, {:.3} bits/weight here, at most {MAX_BITS_3_5} on 8192-wide rows) within {ACCURACY_LOSS_PERCENT}% of f32 on the real stories260K model (a 260K-parameter stand-in for 70B)",
                q.label(),
                q.bits_per_weight
            );
        }
        _ => {
            c.criterion = format!(
                "accuracy evaluation unavailable: {}",
                error.unwrap_or("no f32 or 3.5-bit result")
            );
        }
    }
    c
}

/// The memory claims of the `q3.5` fit records, then the speed claims, then accuracy.
pub fn all(
    fits: &[FitRecord],
    runs: &[RunEntry],
    acc: Option<&AccuracyResult>,
    acc_error: Option<&str>,
) -> Vec<Claim> {
    let mut out: Vec<Claim> = fits
        .iter()
        .flat_map(|r| {
            r.claims.iter().map(|v| Claim {
                claim: v.claim.clone(),
                arch: r.arch.clone(),
                workload: r.workload.clone(),
                claimed: v.claimed,
                measured: Some(v.measured).filter(|m| m.is_finite()),
                unit: v.unit.to_owned(),
                verdict: if v.holds {
                    Verdict::Holds
                } else {
                    Verdict::False
                },
                criterion: v.criterion.clone(),
            })
        })
        .collect();
    out.extend(SPEED.iter().map(|s| speed(s, runs)));
    out.push(accuracy(acc, acc_error));
    out
}
