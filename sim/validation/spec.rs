//! The description of published deployments (`workloads/validation.ron`): what was run, on
//! what, and what was measured, with its source and what the source left out.

use crate::describe::{Validate, check};
use crate::error::Invalid;
use crate::quant::Format;
use crate::run::RunRecord;
use serde::{Deserialize, Serialize};

/// One validation file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    /// The published points, in the order the table lists them.
    pub points: Vec<Point>,
}

/// One published measurement of one deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Unique name, used by `calibrated` entries of arch files.
    pub name: String,
    /// The deployment as its source names it.
    pub system: String,
    /// A shipped architecture by name, or a `.ron` file relative to the validation file.
    pub arch: String,
    /// A shipped workload by name, or a `.ron` file relative to the validation file.
    pub workload: String,
    /// Format every weight matrix was stored in.
    pub format: Format,
    /// Units deployed; `None` when not disclosed (the run uses the fewest that fit).
    pub units: Option<u64>,
    /// Sequences decoded together.
    pub batch: u64,
    /// KV-cache context per sequence, if disclosed (else the workload's).
    pub context: Option<u64>,
    /// Prompt length, if disclosed (else the workload's).
    pub prompt_tokens: Option<u64>,
    /// What was measured.
    pub metric: Metric,
    /// The published value, in the metric's unit.
    pub published: f64,
    /// When it was published (`YYYY-MM`).
    pub date: String,
    /// Where it was published (URL).
    pub source: String,
    /// What the source did not disclose, and what stands in for it.
    pub undisclosed: String,
}

/// A published quantity a run predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    /// Decode tokens per second seen by one user.
    DecodeTokensPerSUser,
    /// Time to first token [s].
    TimeToFirstTokenS,
}

impl Metric {
    /// The run's prediction of this quantity (`None` when the run was not timed).
    pub fn of(self, r: &RunRecord) -> Option<f64> {
        self.pick(r.decode_tokens_per_s, r.ttft_s)
    }

    /// This quantity out of a run's decode tokens/s and time to first token.
    pub fn pick(self, decode_tokens_per_s: Option<f64>, ttft_s: Option<f64>) -> Option<f64> {
        match self {
            Metric::DecodeTokensPerSUser => decode_tokens_per_s,
            Metric::TimeToFirstTokenS => ttft_s,
        }
    }

    /// Name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Metric::DecodeTokensPerSUser => "decode tokens/s per user",
            Metric::TimeToFirstTokenS => "time to first token (s)",
        }
    }

    /// A value of this quantity, rounded for tables.
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::DecodeTokensPerSUser => format!("{v:.1}"),
            Metric::TimeToFirstTokenS => format!("{v:.3}"),
        }
    }
}

impl Validate for Validation {
    fn validate(&self) -> Result<(), Invalid> {
        if self.points.is_empty() {
            return Err(Invalid::new("points", "list at least one published point"));
        }
        for (i, p) in self.points.iter().enumerate() {
            let f = |name: &str| format!("points[{i}].{name}");
            for (name, v) in [
                ("name", &p.name),
                ("system", &p.system),
                ("arch", &p.arch),
                ("workload", &p.workload),
                ("date", &p.date),
            ] {
                if v.trim().is_empty() {
                    return Err(Invalid::new(f(name), "must not be empty"));
                }
            }
            if self.points[..i].iter().any(|q| q.name == p.name) {
                return Err(Invalid::new(
                    f("name"),
                    format!("`{}` is used by an earlier point", p.name),
                ));
            }
            if !p.source.starts_with("https://") && !p.source.starts_with("http://") {
                return Err(Invalid::new(
                    f("source"),
                    "must be the URL of the publication",
                ));
            }
            check::positive(&f("published"), p.published)?;
            check::nonzero(&f("batch"), p.batch)?;
            for (name, v) in [
                ("units", p.units),
                ("context", p.context),
                ("prompt_tokens", p.prompt_tokens),
            ] {
                if let Some(n) = v {
                    check::nonzero(&f(name), n)?;
                    check::at_most(&f(name), n, 1 << 40)?;
                }
            }
        }
        Ok(())
    }
}
