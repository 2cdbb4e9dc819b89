//! The default study: every shipped architecture and workload through `fit`, the speed runs and
//! the shipped sweeps through `run`, the accuracy of every format on the real stories260K model,
//! and a verdict on every claim of the source documents. A run that fails (a machine model not
//! built yet) is kept as a recorded failure, so the study works whatever state the targets are in.

pub mod claims;
mod figures;
pub mod tables;
pub mod write;

use crate::arch::{self, Arch};
use crate::describe;
use crate::fit::{self, FitRecord};
use crate::model::accuracy::{self, FormatResult};
use crate::model::eval;
use crate::model::open::open_workload;
use crate::quant::Format;
use crate::run::{self, NumericsMode, RunOptions, RunRecord};
use crate::sensitivity::{self, Sensitivity};
use crate::sweep::{self, Row};
use crate::validation::{self, Outcome, PointsSensitivity};
use crate::workload::{self, Workload};
use crate::{Error, Result};
use claims::Claim;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The workload the accuracy claim is measured on (the one real checkpoint shipped).
pub const ACCURACY_WORKLOAD: &str = "workloads/stories260k.ron";
/// The text it is scored on.
pub const ACCURACY_TEXT: &str = "workloads/text/tinystories_valid_excerpt64k.txt";
/// The text calibrated formats are calibrated on: the paragraphs that follow the scored text in
/// the same split, none of them shared with it.
pub const CALIBRATION_TEXT: &str = "workloads/text/tinystories_valid_calib256.txt";

/// One speed run of the study: the record, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunEntry {
    pub arch: String,
    pub workload: String,
    pub format: Format,
    /// The run's record (`null` when the run failed).
    pub record: Option<RunRecord>,
    /// Why the run failed.
    pub error: Option<String>,
}

/// One shipped sweep and its rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepResult {
    /// The spec's repository path.
    pub spec: String,
    pub rows: Vec<Row>,
}

/// Accuracy of every format on the real model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccuracyResult {
    pub model: String,
    pub text: String,
    /// Paragraphs scored, and how many the text has (fewer when shortened for time).
    pub paragraphs: usize,
    pub paragraphs_in_text: usize,
    pub tokens_scored: usize,
    /// The calibration text of the `calibrated` results, and its size.
    pub calibration_text: String,
    pub calibration_paragraphs: usize,
    pub calibration_tokens: usize,
    /// Every format rounded to nearest, each sub-8-bit one also calibrated.
    pub results: Vec<FormatResult>,
}

/// Everything the report shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Study {
    pub fits: Vec<FitRecord>,
    pub runs: Vec<RunEntry>,
    pub sweeps: Vec<SweepResult>,
    /// `null` when the model or text could not be read (see `accuracy_error`).
    pub accuracy: Option<AccuracyResult>,
    pub accuracy_error: Option<String>,
    /// The published deployments predicted (as `accsim validate --json`, without the search
    /// for the estimates that would reproduce a missed point).
    pub validation: Vec<Outcome>,
    /// Why the validation could not run, if it could not.
    pub validation_error: Option<String>,
    /// Each estimated input halved and doubled on the runs of the published points, mapping
    /// held (the validation figure's error bars and the sensitivity figures).
    pub sensitivity: Vec<PointsSensitivity>,
    /// The same for every system no published point analyses, on the claim's model.
    pub system_sensitivity: Vec<SystemSensitivity>,
    pub claims: Vec<Claim>,
}

/// The sensitivity of one system without a published point: [`UNPUBLISHED_WORKLOAD`] in its
/// default format on the fewest units, every estimated input halved and doubled, mapping held.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SystemSensitivity {
    pub arch: String,
    pub workload: String,
    /// `null` when the run could not be analysed (see `error`).
    pub analysis: Option<Sensitivity>,
    pub error: Option<String>,
}

/// The model of the tornadoes of systems without a published point: the claim's 70B model.
const UNPUBLISHED_WORKLOAD: &str = "llama2-70b";

/// Paragraphs of the accuracy text the study scores by default: a quarter of the shipped text,
/// which keeps the whole study under two minutes on two busy cores (all 314 take about four
/// times as long); the table captions and figure notes say how many were scored.
pub const DEFAULT_ACCURACY_PARAGRAPHS: usize = 80;

/// What to include.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Paragraphs of the accuracy text to score (at most all of them).
    pub accuracy_paragraphs: usize,
}

/// A shipped file by repository path (see [`describe::shipped`]).
pub fn shipped(relative: &str) -> PathBuf {
    describe::shipped(Path::new(relative))
}

/// The large workloads the claims are about (every shipped one with no checkpoint).
fn claim_workloads(all: &[(PathBuf, Workload)]) -> Vec<&Workload> {
    all.iter()
        .map(|(_, w)| w)
        .filter(|w| w.checkpoint.is_none())
        .collect()
}

/// Speed run of `w` on `a` in `q3.5` on the fewest units, timing only.
fn speed_run(a: &Arch, w: &Workload) -> RunEntry {
    let opts = timing_only();
    let out = run::run(a, w, &opts);
    RunEntry {
        arch: a.name.clone(),
        workload: w.name.clone(),
        format: opts.format,
        error: out.as_ref().err().map(ToString::to_string),
        record: out.ok().map(|o| o.record),
    }
}

/// Score every format on the shipped model and text.
fn accuracy_study(opts: Options) -> Result<AccuracyResult> {
    let path = shipped(ACCURACY_WORKLOAD);
    let w = workload::load(&path)?;
    let opened = open_workload(&path, &w)?;
    let all = eval::sequences(&opened.tokenizer, &read_shipped(ACCURACY_TEXT)?);
    let seqs = &all[..opts.accuracy_paragraphs.min(all.len())];
    let cal_seqs = eval::sequences(&opened.tokenizer, &read_shipped(CALIBRATION_TEXT)?);
    let calibration = accuracy::calibrate(&opened, &w, &cal_seqs)?;
    let variants = accuracy::variants(&Format::ALL, true);
    Ok(AccuracyResult {
        model: w.name.clone(),
        text: ACCURACY_TEXT.to_owned(),
        paragraphs: seqs.len(),
        paragraphs_in_text: all.len(),
        tokens_scored: accuracy::tokens_scored(seqs),
        calibration_text: CALIBRATION_TEXT.to_owned(),
        calibration_paragraphs: cal_seqs.len(),
        calibration_tokens: calibration.tokens,
        results: accuracy::score(&opened, &w, &variants, Some(&calibration), seqs, &|| ())?,
    })
}

/// A shipped text file, by repository path.
fn read_shipped(relative: &str) -> Result<String> {
    let path = shipped(relative);
    let bytes = std::fs::read(&path).map_err(|source| Error::Read { path, source })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The shipped published points, predicted.
fn validation_study() -> Result<Vec<Outcome>> {
    validation::run(
        &shipped(validation::PRESET.path),
        &validation::preset()?,
        false,
    )
}

/// The sensitivity of the published points' runs, two variants at a time: a variant of a 405B
/// wafer-scale run holds about 1.7 GB, so two keep the study's peak memory near 5 GB, and
/// each pays a simulated prefill, so one at a time left a core idle for minutes.
fn sensitivity_study() -> Result<Vec<PointsSensitivity>> {
    two_at_a_time(|| {
        validation::sensitivities(&shipped(validation::PRESET.path), &validation::preset()?)
    })
}

/// `f` with its parallel work on two threads (on the caller's pool if one cannot be built).
fn two_at_a_time<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new().num_threads(2).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// The options of the study's runs: the default mapping search, timing only.
fn timing_only() -> RunOptions {
    RunOptions {
        numerics: NumericsMode::Off,
        ..RunOptions::default()
    }
}

/// One [`SystemSensitivity`] per preset system that none of `covered` analyses, so every
/// system has a tornado; two variants at a time, as [`sensitivity_study`].
fn system_sensitivity_study(
    archs: &[(PathBuf, Arch)],
    workloads: &[(PathBuf, Workload)],
    covered: &[PointsSensitivity],
) -> Vec<SystemSensitivity> {
    let Some(w) = workloads
        .iter()
        .map(|(_, w)| w)
        .find(|w| w.name == UNPUBLISHED_WORKLOAD)
    else {
        return Vec::new();
    };
    let opts = timing_only();
    let analyse = |a: &Arch| {
        let out = sensitivity::analyse_held(a, w, &opts);
        SystemSensitivity {
            arch: a.name.clone(),
            workload: w.name.clone(),
            error: out.as_ref().err().map(ToString::to_string),
            analysis: out.ok(),
        }
    };
    let uncovered: Vec<&Arch> = archs
        .iter()
        .map(|(_, a)| a)
        .filter(|a| !covered.iter().any(|c| c.analysis.arch == a.name))
        .collect();
    two_at_a_time(|| uncovered.iter().map(|a| analyse(a)).collect())
}

/// Run the whole study. `progress` is told the name of each stage as it starts.
pub fn run(opts: Options, progress: &dyn Fn(&str)) -> Result<Study> {
    let archs = arch::presets()?;
    let workloads = workload::presets()?;
    progress("fit");
    let fits: Vec<FitRecord> = archs
        .par_iter()
        .flat_map(|(_, a)| {
            workloads.par_iter().flat_map(move |(_, w)| {
                Format::ALL
                    .par_iter()
                    .map(move |&f| fit::fit(a, w, f, None))
            })
        })
        .collect();
    progress("speed runs");
    let big = claim_workloads(&workloads);
    let pairs: Vec<(&Arch, &Workload)> = archs
        .iter()
        .flat_map(|(_, a)| big.iter().map(move |w| (a, *w)))
        .collect();
    let runs: Vec<RunEntry> = pairs.par_iter().map(|(a, w)| speed_run(a, w)).collect();
    progress("sweeps");
    let sweeps = sweep::presets()?
        .into_iter()
        .map(|(path, spec)| {
            let prepared = sweep::prepare(&path, &spec, None)?;
            Ok(SweepResult {
                spec: path.display().to_string(),
                rows: sweep::run(&prepared, &|| ()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    progress("accuracy and published deployments");
    let (accuracy, validated) = rayon::join(|| accuracy_study(opts), validation_study);
    let (accuracy, accuracy_error) = match accuracy {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (validation, validation_error) = match validated {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    progress("sensitivity of the published points");
    // A validation file that does not load has already been reported above.
    let sensitivity = sensitivity_study().unwrap_or_default();
    progress("sensitivity of the systems without a published point");
    let system_sensitivity = system_sensitivity_study(&archs, &workloads, &sensitivity);
    let claims = claims::all(&fits, &runs, accuracy.as_ref(), accuracy_error.as_deref());
    Ok(Study {
        fits,
        runs,
        sweeps,
        accuracy,
        accuracy_error,
        validation,
        validation_error,
        sensitivity,
        system_sensitivity,
        claims,
    })
}
