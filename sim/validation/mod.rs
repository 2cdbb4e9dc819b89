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
use crate::sensitivity::{self, Sensitivity};
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
    text: include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/validation.ron"
    )),
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
    run::run_alone(&j.arch, &j.workload, &j.opts)
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

/// The distinct runs of `jobs`, and which of them each job is: points that ask for the same run
/// (a speed and a latency of one deployment) share it.
fn distinct(jobs: &[Job]) -> (Vec<&Job>, Vec<usize>) {
    let mut distinct: Vec<&Job> = Vec::new();
    let which = jobs
        .iter()
        .map(|j| match distinct.iter().position(|d| *d == j) {
            Some(k) => k,
            None => {
                distinct.push(j);
                distinct.len() - 1
            }
        })
        .collect();
    (distinct, which)
}

/// How far the prediction of each point moves when one estimated input is halved or doubled
/// with the mapping held ([`sensitivity::analyse_held`], timing only): one analysis per
/// distinct run that fits, with the points it serves. The report's error bars and tornadoes.
pub fn sensitivities(file: &Path, v: &Validation) -> Result<Vec<PointsSensitivity>, Error> {
    let jobs = jobs(file, v)?;
    let (distinct, which) = distinct(&jobs);
    let analyses: Vec<Option<Sensitivity>> = distinct
        .iter()
        .map(|j| sensitivity::analyse_held(&j.arch, &j.workload, &j.opts).ok())
        .collect();
    Ok(analyses
        .into_iter()
        .enumerate()
        .filter_map(|(k, a)| {
            Some(PointsSensitivity {
                points: v
                    .points
                    .iter()
                    .zip(&which)
                    .filter(|(_, w)| **w == k)
                    .map(|(p, _)| p.name.clone())
                    .collect(),
                analysis: a?,
            })
        })
        .collect())
}

/// A sensitivity analysis and the validation points whose run it varies.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointsSensitivity {
    pub points: Vec<String>,
    pub analysis: Sensitivity,
}

impl PointsSensitivity {
    /// Lowest and highest prediction of `metric` over the run as estimated and every variant.
    pub fn range(&self, metric: Metric) -> Option<(f64, f64)> {
        let a = &self.analysis;
        let base = metric.pick(a.decode_tokens_per_s, a.ttft_s)?;
        let values = a
            .rows
            .iter()
            .filter_map(|r| metric.pick(r.decode_tokens_per_s, r.ttft_s));
        Some(values.fold((base, base), |(lo, hi), v| (lo.min(v), hi.max(v))))
    }
}

/// Run every point of `v` (read from `file`, which relative references are resolved against)
/// in parallel; outcomes come back in file order whatever the thread count. With `explain`,
/// every point outside the tolerance gets its [`Reproduction`]s.
pub fn run(file: &Path, v: &Validation, explain: bool) -> Result<Vec<Outcome>, Error> {
    run_reporting(file, v, explain, &|_| {})
}

/// [`run`], telling `progress` what it is doing: each stage, and each variant run of the
/// search (which takes minutes on 405B-class points).
pub fn run_reporting(
    file: &Path,
    v: &Validation,
    explain: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<Outcome>, Error> {
    let jobs = jobs(file, v)?;
    progress(&format!("predicting {} point(s)", v.points.len()));
    let (distinct, which) = distinct(&jobs);
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
        let found = reproduce::search(&distinct, &runs, &missed, progress);
        let mut found = found.into_iter();
        for o in outcomes.iter_mut().filter(|o| !o.within) {
            o.reproduce = found.next().unwrap_or_default();
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch;

    /// A validation file of small runs (stories260K on one TSP chip), with `extra` points.
    fn small(published: f64, extra: &str) -> String {
        format!(
            r#"Validation(points: [
                (name: "small", system: "one TSP chip", arch: "groq-tsp", workload: "stories260k",
                 format: "int8", units: None, batch: 1, context: None, prompt_tokens: None,
                 metric: DecodeTokensPerSUser, published: {published}, date: "2026-12",
                 source: "https://example.org/small", undisclosed: "nothing"),
                {extra}
            ])"#
        )
    }

    fn parse(text: &str) -> Result<Validation, Error> {
        describe::parse(Path::new("v.ron"), text)
    }

    fn small_prediction() -> f64 {
        let v = parse(&small(1.0, "")).unwrap();
        run(Path::new("v.ron"), &v, false).unwrap()[0]
            .predicted
            .unwrap()
    }

    #[test]
    fn the_shipped_file_parses_and_names_only_shipped_descriptions() {
        let v = preset().unwrap();
        assert!(v.points.len() >= 4);
        jobs(Path::new(PRESET.path), &v).unwrap();
    }

    #[test]
    fn parse_errors_name_the_file_the_field_and_the_reason() {
        let unknown = small(1.0, "").replace("undisclosed:", "colour: \"red\", undisclosed:");
        let e = parse(&unknown).unwrap_err().to_string();
        assert!(e.starts_with("v.ron:"), "{e}");
        assert!(e.contains("points[0]") && e.contains("colour"), "{e}");
        let negative = parse(&small(-3.0, "")).unwrap_err().to_string();
        assert!(
            negative.contains("points[0].published") && negative.contains("> 0"),
            "{negative}"
        );
        let again = r#"(name: "small", system: "s", arch: "groq-tsp", workload: "stories260k",
                 format: "int8", units: None, batch: 1, context: None, prompt_tokens: None,
                 metric: TimeToFirstTokenS, published: 1.0, date: "2026-12",
                 source: "https://example.org/again", undisclosed: "nothing")"#;
        let dup = parse(&small(1.0, again)).unwrap_err().to_string();
        assert!(
            dup.contains("points[1].name") && dup.contains("earlier"),
            "{dup}"
        );
        let bad_arch = small(1.0, "").replace("\"groq-tsp\"", "\"groq-tpu\"");
        let v = parse(&bad_arch).unwrap();
        let e = run(Path::new("v.ron"), &v, false).unwrap_err().to_string();
        assert!(
            e.contains("v.ron") && e.contains("points[0].arch") && e.contains("groq-tsp"),
            "{e}"
        );
    }

    #[test]
    fn a_spread_spans_the_estimate_and_every_timed_variant() {
        let row = |decode: Option<f64>, ttft: Option<f64>| sensitivity::Row {
            field: "f".to_owned(),
            factor: 2.0,
            estimate: None,
            value: None,
            decode_tokens_per_s: decode,
            ttft_s: ttft,
            decode_change: None,
            ttft_change: None,
            hinges: false,
            note: None,
        };
        let s = PointsSensitivity {
            points: vec!["p".to_owned()],
            analysis: Sensitivity {
                arch: "a".to_owned(),
                workload: "w".to_owned(),
                format: Format::Int8,
                unit: arch::Unit::Chip,
                units: 1,
                decode_tokens_per_s: Some(100.0),
                ttft_s: Some(1.0),
                rows: vec![
                    row(Some(80.0), Some(1.5)),
                    row(Some(130.0), Some(0.9)),
                    row(None, None),
                ],
                hinges_on: Vec::new(),
                estimated_inputs: Vec::new(),
                calibrated_inputs: Vec::new(),
            },
        };
        assert_eq!(s.range(Metric::DecodeTokensPerSUser), Some((80.0, 130.0)));
        assert_eq!(s.range(Metric::TimeToFirstTokenS), Some((0.9, 1.5)));
    }

    #[test]
    fn error_is_predicted_over_published_minus_one() {
        assert!((error(112.8, 300.0) + 0.624).abs() < 1e-12);
        assert_eq!(error(450.0, 450.0), 0.0);
        assert!(within(0.25) && within(-0.25));
        assert!(!within(0.2501) && !within(-0.2501));
    }

    #[test]
    fn json_records_lead_with_the_documented_keys_in_order() {
        let v = parse(&small(1.0, "")).unwrap();
        let o = run(Path::new("v.ron"), &v, false).unwrap();
        let json = serde_json::to_string(&o[0]).unwrap();
        let keys = [
            "name",
            "arch",
            "workload",
            "format",
            "units",
            "metric",
            "published",
            "predicted",
            "error",
            "source",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| json.find(&format!("\"{k}\":")).expect(k))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert!(json.starts_with("{\"name\":"), "{json}");
        let predicted = o[0].predicted.unwrap();
        assert_eq!(o[0].error, Some(predicted - 1.0));
        assert_eq!((o[0].units, o[0].units_disclosed), (Some(1), false));
    }

    #[test]
    fn a_point_that_does_not_fit_has_no_prediction_and_its_bytes_short() {
        let big = r#"(name: "big", system: "one chip", arch: "groq-tsp", workload: "llama2-70b",
                 format: "int8", units: Some(1), batch: 1, context: None, prompt_tokens: None,
                 metric: TimeToFirstTokenS, published: 0.3, date: "2026-12",
                 source: "https://example.org/big", undisclosed: "nothing")"#;
        let v = parse(&small(1.0, big)).unwrap();
        let o = &run(Path::new("v.ron"), &v, false).unwrap()[1];
        assert_eq!(
            (o.predicted, o.error, o.fits, o.within),
            (None, None, false, false)
        );
        assert!(o.bytes_short > 0);
        assert_eq!(o.units, Some(1));
    }

    #[test]
    fn a_missed_point_is_reproduced_by_the_estimate_that_made_it() {
        // Publish what the model predicts with the MXM latency doubled: the search must find 48.
        let v = parse(&small(1.0, "")).unwrap();
        let j = jobs(Path::new("v.ron"), &v).unwrap().remove(0);
        let slower = Job {
            arch: arch::vary::scaled(&j.arch, "chip.mxm.latency_cycles", 2.0).unwrap(),
            ..j.clone()
        };
        let target = run_job(&slower).unwrap().decode_tokens_per_s.unwrap();
        assert!(
            target < 0.99 * small_prediction(),
            "the latency must matter"
        );
        let v = parse(&small(target * 1.0001, "")).unwrap();
        let o = &run(Path::new("v.ron"), &v, true).unwrap()[0];
        assert!(o.within, "{o:?}");
        assert!(
            o.reproduce.is_empty(),
            "a point within tolerance is not searched"
        );
        let v = parse(&small(target * 0.5, "")).unwrap();
        let o = &run(Path::new("v.ron"), &v, true).unwrap()[0];
        assert_eq!(o.reproduce.len(), j.arch.estimated.len());
        let fields: Vec<&str> = o.reproduce.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(
            fields,
            j.arch
                .estimated
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        let power = o
            .reproduce
            .iter()
            .find(|r| r.field == "chip.power_w")
            .unwrap();
        assert_eq!(power.factor, None, "power does not change speed");
        // The doubled latency reproduces `target` exactly; the prediction barely moves between
        // 31 and 48 cycles (it dips and comes back), so the value found must reproduce it, not
        // be 48.
        let exact = reproduce::search(
            &[&j],
            &[run_job(&j)],
            &[(0, Metric::DecodeTokensPerSUser, target)],
            &|_| {},
        );
        let latency = exact[0]
            .iter()
            .find(|r| r.field == "chip.mxm.latency_cycles")
            .unwrap();
        assert_eq!(latency.estimate, Some(24.0));
        let found = latency.value.unwrap();
        assert!((24.0..=48.0).contains(&found), "{latency:?}");
        let at = Job {
            arch: arch::vary::scaled(&j.arch, "chip.mxm.latency_cycles", found / 24.0).unwrap(),
            ..j.clone()
        };
        let predicted = run_job(&at).unwrap().decode_tokens_per_s.unwrap();
        assert!(
            (predicted / target - 1.0).abs() < 0.005,
            "{predicted} vs {target}"
        );
    }

    #[test]
    fn wafer_points_are_reproduced_side_by_side() {
        // stories260K on one WSE-3, published at twice and half the predicted speed: with no
        // wafer-to-wafer traffic, speed is proportional to the clock, so the clock that
        // reproduces each is 2x and 0.5x the estimate. The two points are searched side by
        // side, each variant's mapping search running its candidates side by side too (runs
        // nested in the global pool must not wait on each other).
        let text = small(1.0, "")
            .replace("\"groq-tsp\"", "\"cerebras-wse3\"")
            .replace("units: None", "units: Some(1)");
        let v = parse(&text).unwrap();
        let mut j = jobs(Path::new("v.ron"), &v).unwrap().remove(0);
        j.arch.estimated = vec!["wafer.clock_hz".to_owned()];
        let base = run_job(&j);
        let speed = base.as_ref().unwrap().decode_tokens_per_s.unwrap();
        let missed = [
            (0, Metric::DecodeTokensPerSUser, 2.0 * speed),
            (0, Metric::DecodeTokensPerSUser, 0.5 * speed),
        ];
        let found = reproduce::search(&[&j], &[base], &missed, &|_| {});
        let factors: Vec<f64> = found.iter().map(|r| r[0].factor.unwrap()).collect();
        assert!((factors[0] - 2.0).abs() < 0.02, "{factors:?}");
        assert!((factors[1] - 0.5).abs() < 0.005, "{factors:?}");
    }

    #[test]
    fn calibrated_points_are_flagged_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let text = arch::PRESETS[0].text.replace(
            "    machine: GroqTsp((",
            "    calibrated: [(field: \"chip.power_w\", point: \"small\", estimate: 300.0)],\n    machine: GroqTsp((",
        );
        std::fs::write(dir.path().join("tsp.ron"), &text).unwrap();
        let file = dir.path().join("v.ron");
        let v: Validation = describe::parse(
            &file,
            &small(1.0, "").replace("\"groq-tsp\"", "\"tsp.ron\""),
        )
        .unwrap();
        let o = run(&file, &v, false).unwrap();
        assert_eq!(o[0].calibrated, vec!["chip.power_w".to_owned()]);
        let json = serde_json::to_value(&o[0]).unwrap();
        assert_eq!(json["calibrated"][0], "chip.power_w");
        let mut other = v.clone();
        other.points[0].name = "renamed".to_owned();
        let e = run(&file, &other, false).unwrap_err().to_string();
        assert!(e.contains("points[0].arch") && e.contains("`small`"), "{e}");
    }
}
