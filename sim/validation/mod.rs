//! Predictions checked against published deployments (`accsim validate`): every point of a
//! validation file is run at the fast fidelity with numerics off, its prediction set beside the
//! published value, and, for a point the model misses by more than [`TOLERANCE`], each estimated
//! input is searched for the value that would reproduce it ([`reproduce`]). Nothing here tunes
//! the model: calibration is only ever written into an arch file, in the open.

pub mod reproduce;
pub mod spec;

pub use reproduce::Reproduction;
pub use spec::{Metric, Point, Validation};

use crate::arch::{self, Arch};
use crate::describe::{self, Described, Preset};
use crate::error::{Error, Invalid};
use crate::quant::Format;
use crate::run::{self, NumericsMode, RunOptions, RunRecord};
use crate::sweep::Job;
use crate::workload::{self, Workload};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// A prediction within this fraction of the published value counts as reproducing it.
pub const TOLERANCE: f64 = 0.25;

/// The shipped validation file, embedded.
pub const PRESET: Preset = Preset {
    path: "workloads/validation.ron",
    text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/validation.ron")),
};

/// Workloads shipped for the published points only (not part of the study's claims).
pub const WORKLOADS: [Preset; 1] = crate::presets!["workloads/llama3.1-70b.ron"];

/// Load a validation file.
pub fn load(path: &Path) -> Result<Validation, Error> {
    describe::load(path)
}

/// The shipped validation file.
pub fn preset() -> Result<Validation, Error> {
    describe::parse(Path::new(PRESET.path), PRESET.text)
}

/// Every workload a validation file may name: the shipped ones and [`WORKLOADS`].
fn workloads() -> Result<Described<Workload>, Error> {
    let mut all = workload::presets()?;
    for (path, w) in describe::parse_presets::<Workload>(&WORKLOADS)? {
        let origin = Some(describe::shipped(&path));
        all.push((path, Workload { origin, ..w }));
    }
    Ok(all)
}

/// `predicted / published - 1`.
pub fn error(predicted: f64, published: f64) -> f64 {
    predicted / published - 1.0
}

/// Whether a prediction reproduces the published value within [`TOLERANCE`].
pub fn within(error: f64) -> bool {
    error.abs() <= TOLERANCE
}

/// One point's result: the record `accsim validate --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub name: String,
    pub arch: String,
    pub workload: String,
    pub format: Format,
    /// Units the run used: the disclosed count, or the fewest that fit (`null`: none do).
    pub units: Option<u64>,
    pub metric: Metric,
    pub published: f64,
    /// `null` when the run was not timed (does not fit, or failed).
    pub predicted: Option<f64>,
    /// `predicted / published - 1`.
    pub error: Option<f64>,
    pub source: String,
    /// The deployment as its source names it.
    pub system: String,
    /// Whether the unit count was published (else the fewest that fit were used).
    pub units_disclosed: bool,
    pub batch: u64,
    pub context: u64,
    pub prompt_tokens: u64,
    /// Within [`TOLERANCE`] of the published value.
    pub within: bool,
    pub fits: bool,
    pub bytes_short: u64,
    /// Why the run failed, if it did.
    pub run_error: Option<String>,
    /// Fields of the architecture calibrated to this point: its prediction is no test.
    pub calibrated: Vec<String>,
    pub date: String,
    pub undisclosed: String,
    /// For a point outside the tolerance, what each estimated input would have to be.
    pub reproduce: Vec<Reproduction>,
}

/// The run one point asks for.
fn job(file: &Path, i: usize, p: &Point, workloads: &Described<Workload>) -> Result<Job, Error> {
    let field = |name: &str| format!("points[{i}].{name}");
    let arch: Arch = describe::resolve(
        file,
        &field("arch"),
        &p.arch,
        arch::presets()?,
        |a| &a.name,
        arch::load,
    )?;
    let base: Workload = describe::resolve(
        file,
        &field("workload"),
        &p.workload,
        workloads.clone(),
        |w| &w.name,
        workload::load,
    )?;
    let mut w = base;
    if let Some(n) = p.prompt_tokens {
        w.scenario.prompt_tokens = n;
    }
    let workload = w
        .with_scenario(Some(p.batch), p.context)
        .map_err(|e| Invalid::new(field("workload"), e.to_string()).in_file(file))?;
    Ok(Job {
        arch,
        workload,
        opts: RunOptions {
            format: p.format,
            units: p.units,
            numerics: NumericsMode::Off,
            ..RunOptions::default()
        },
    })
}

/// Every point's job, and a check that each calibration of their architectures names a point.
fn jobs(file: &Path, v: &Validation) -> Result<Vec<Job>, Error> {
    let all = workloads()?;
    let jobs: Vec<Job> = v
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| job(file, i, p, &all))
        .collect::<Result<_, _>>()?;
    for (i, j) in jobs.iter().enumerate() {
        if let Some(c) = j
            .arch
            .calibrated
            .iter()
            .find(|c| !v.points.iter().any(|p| p.name == c.point))
        {
            return Err(Invalid::new(
                format!("points[{i}].arch"),
                format!(
                    "architecture `{}` has `{}` calibrated to `{}`, which is not a point of this file",
                    j.arch.name, c.field, c.point
                ),
            )
            .in_file(file));
        }
    }
    Ok(jobs)
}

/// Run one job; a failure is kept as its message.
pub(crate) fn run_job(j: &Job) -> Result<RunRecord, String> {
    run::run(&j.arch, &j.workload, &j.opts)
        .map(|o| o.record)
        .map_err(|e| e.to_string())
}

fn outcome(p: &Point, j: &Job, run: &Result<RunRecord, String>) -> Outcome {
    let record = run.as_ref().ok();
    let predicted = record.and_then(|r| p.metric.of(r));
    let error = predicted.map(|x| error(x, p.published));
    Outcome {
        name: p.name.clone(),
        arch: j.arch.name.clone(),
        workload: j.workload.name.clone(),
        format: p.format,
        units: p.units.or(record.map(|r| r.units).filter(|&n| n > 0)),
        metric: p.metric,
        published: p.published,
        predicted,
        error,
        source: p.source.clone(),
        system: p.system.clone(),
        units_disclosed: p.units.is_some(),
        batch: j.workload.scenario.batch,
        context: j.workload.scenario.context,
        prompt_tokens: j.workload.scenario.prompt_tokens,
        within: error.is_some_and(within),
        fits: record.is_some_and(|r| r.fits),
        bytes_short: record.map_or(0, |r| r.bytes_short),
        run_error: run.as_ref().err().cloned(),
        calibrated: j
            .arch
            .calibrated
            .iter()
            .filter(|c| c.point == p.name)
            .map(|c| c.field.clone())
            .collect(),
        date: p.date.clone(),
        undisclosed: p.undisclosed.clone(),
        reproduce: Vec::new(),
    }
}

/// Run every point of `v` (read from `file`, which relative references are resolved against)
/// in parallel; outcomes come back in file order whatever the thread count. With `explain`,
/// every point outside the tolerance gets its [`Reproduction`]s.
pub fn run(file: &Path, v: &Validation, explain: bool) -> Result<Vec<Outcome>, Error> {
    let jobs = jobs(file, v)?;
    // Points that ask for the same run (a speed and a latency of one deployment) share it.
    let mut distinct: Vec<&Job> = Vec::new();
    let which: Vec<usize> = jobs
        .iter()
        .map(|j| match distinct.iter().position(|d| *d == j) {
            Some(k) => k,
            None => {
                distinct.push(j);
                distinct.len() - 1
            }
        })
        .collect();
    let runs: Vec<Result<RunRecord, String>> = distinct.par_iter().map(|j| run_job(j)).collect();
    let mut outcomes: Vec<Outcome> = v
        .points
        .iter()
        .zip(&which)
        .map(|(p, &k)| outcome(p, distinct[k], &runs[k]))
        .collect();
    if explain {
        let missed: Vec<(usize, Metric, f64)> = outcomes
            .iter()
            .zip(&which)
            .filter(|(o, _)| !o.within)
            .map(|(o, &k)| (k, o.metric, o.published))
            .collect();
        let found = reproduce::search(&distinct, &runs, &missed);
        let mut found = found.into_iter();
        for o in outcomes.iter_mut().filter(|o| !o.within) {
            o.reproduce = found.next().unwrap_or_default();
        }
    }
    Ok(outcomes)
}
