//! Parameter sweeps: one architecture and workload, many points (unit counts, memory, clock,
//! link bandwidth, format, batch, context), each run through [`run::run`] in parallel. Rows come
//! back in spec order and do not depend on the thread count; a point whose run fails is a row
//! with its error, not an abort, so a sweep works on every target whatever its state.

mod apply;
pub mod csv;
pub mod pareto;
pub mod spec;

pub use apply::{Job, clock_hz, link_bytes_per_s, memory_bytes};
pub use spec::{Axis, Setting, Spec, SweepNumerics};

use crate::arch::{self, Arch, Unit};
use crate::describe::{self, Described, Preset};
use crate::error::{Error, Invalid};
use crate::fit;
use crate::quant::Format;
use crate::run::{self, NumericsMode, RunOptions};
use crate::workload::footprint;
use crate::workload::{self, Workload};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The shipped sweeps.
pub const PRESETS: [Preset; 3] = crate::presets![
    "workloads/sweeps/tsp-chips-formats.ron",
    "workloads/sweeps/wse-wafers-formats.ron",
    "workloads/sweeps/h100-gpus-formats.ron",
];

/// Parse every shipped sweep.
pub fn presets() -> Result<Described<Spec>, Error> {
    describe::parse_presets(&PRESETS)
}

/// Load a sweep file.
pub fn load(path: &Path) -> Result<Spec, Error> {
    describe::load(path)
}

/// A shipped description by name, or a file relative to the spec.
fn resolve<T: Clone>(
    spec_path: &Path,
    field: &str,
    reference: &str,
    presets: Described<T>,
    name: fn(&T) -> &str,
    load: fn(&Path) -> Result<T, Error>,
) -> Result<T, Error> {
    if reference.ends_with(".ron") {
        return load(&Workload::resolve(spec_path, Path::new(reference)));
    }
    let known: Vec<String> = presets.iter().map(|(_, t)| name(t).to_owned()).collect();
    presets
        .into_iter()
        .map(|(_, t)| t)
        .find(|t| name(t) == reference)
        .ok_or_else(|| {
            Invalid::new(
                field,
                format!(
                    "`{reference}` is neither a shipped description ({}) nor a .ron file",
                    known.join(", ")
                ),
            )
            .in_file(spec_path)
        })
}

/// A sweep ready to run: every point's job, built and validated.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Where the spec came from.
    pub path: PathBuf,
    /// Each point's job, in spec order.
    pub jobs: Vec<Job>,
}

/// Resolve the spec's architecture and workload and build every point, so that a bad value is
/// reported (file, field, reason) before anything runs. `numerics` overrides the spec's.
pub fn prepare(path: &Path, spec: &Spec, numerics: Option<SweepNumerics>) -> Result<Sweep, Error> {
    let arch: Arch = resolve(
        path,
        "arch",
        &spec.arch,
        arch::presets()?,
        |a| &a.name,
        arch::load,
    )?;
    let workload: Workload = resolve(
        path,
        "workload",
        &spec.workload,
        workload::presets()?,
        |w| &w.name,
        workload::load,
    )?;
    let base = Job {
        arch,
        workload,
        opts: RunOptions {
            numerics: match numerics.unwrap_or(spec.numerics) {
                SweepNumerics::Off => NumericsMode::Off,
                SweepNumerics::Sampled(k) => NumericsMode::Sampled(k),
                SweepNumerics::Full => NumericsMode::Full,
            },
            fidelity: spec.fidelity,
            seed: spec.seed,
            ..RunOptions::default()
        },
    };
    // The spec's text, to point at the setting a failed point came from.
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let jobs = spec
        .points()
        .iter()
        .map(|p| apply::apply(&base, p).map_err(|e| e.in_text(path, &text)))
        .collect::<Result<_, _>>()?;
    Ok(Sweep {
        path: path.to_owned(),
        jobs,
    })
}

/// One point's results: the record `accsim sweep` writes as a JSON object and a CSV row.
/// Parameters are the values the point ran with, swept or not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Position in the spec (0-based).
    pub point: usize,
    pub arch: String,
    pub workload: String,
    /// What units count.
    pub unit: Unit,
    /// Units given, or the fewest that hold the workload (`null`: none can).
    pub units: Option<u64>,
    /// Memory per unit of storage (see [`memory_bytes`]).
    pub memory_bytes: u64,
    /// Core clock (`null` for GPUs).
    pub clock_hz: Option<f64>,
    /// Link bandwidth per direction (see [`link_bytes_per_s`]).
    pub link_bytes_per_s: f64,
    pub format: Format,
    pub batch: u64,
    pub context: u64,
    /// Effective bits per weight of the whole model, metadata included.
    pub bits_per_weight: f64,
    /// Whether weights, KV cache and buffers fit the units.
    pub fits: bool,
    /// Decode tokens per second seen by each user.
    pub tokens_per_s_per_user: Option<f64>,
    /// Decode tokens per second over the batch.
    pub tokens_per_s: Option<f64>,
    /// Time to first token [s].
    pub ttft_s: Option<f64>,
    /// Energy per generated token: one decode step's energy over the batch [J].
    pub energy_j_per_token: Option<f64>,
    /// Relative error of the numerics check against f32, when computed.
    pub rel_error: Option<f64>,
    /// Why the run failed, if it did (the fit fields above still hold).
    pub error: Option<String>,
    /// On the Pareto front of the timed points (see [`pareto`]).
    pub pareto: bool,
}

/// Run one point. A failing run keeps the fit verdict and records its error.
fn run_point(point: usize, job: &Job) -> Row {
    let (a, w, o) = (&job.arch, &job.workload, &job.opts);
    let mut sized = w.clone();
    sized.quant = sized.quant.with_matrices_as(o.format);
    let mut row = Row {
        point,
        arch: a.name.clone(),
        workload: w.name.clone(),
        unit: a.machine.unit(),
        units: None,
        memory_bytes: memory_bytes(a),
        clock_hz: clock_hz(a),
        link_bytes_per_s: link_bytes_per_s(a),
        format: o.format,
        batch: w.scenario.batch,
        context: w.scenario.context,
        bits_per_weight: footprint::footprint(&sized).bits_per_weight(),
        fits: false,
        tokens_per_s_per_user: None,
        tokens_per_s: None,
        ttft_s: None,
        energy_j_per_token: None,
        rel_error: None,
        error: None,
        pareto: false,
    };
    match run::run(a, w, o) {
        Ok(out) => {
            let r = out.record;
            row.units = o.units.or(Some(r.units).filter(|&n| n > 0));
            row.fits = r.fits;
            row.tokens_per_s_per_user = r.decode_tokens_per_s;
            row.tokens_per_s = r.aggregate_tokens_per_s;
            row.ttft_s = r.ttft_s;
            row.energy_j_per_token = r.energy_j_per_token.map(|e| e / r.batch as f64);
            row.rel_error = r.numerics.rel_error;
        }
        Err(e) => {
            let f = fit::fit(a, w, o.format, o.units);
            row.units = o.units.or(f.units_needed);
            row.fits = f.fits;
            row.error = Some(e.to_string());
        }
    }
    row
}

/// Run every point on the current rayon pool, calling `progress` once per finished point (from
/// worker threads), and mark the Pareto front.
pub fn run(sweep: &Sweep, progress: &(dyn Fn() + Sync)) -> Vec<Row> {
    let mut rows: Vec<Row> = sweep
        .jobs
        .par_iter()
        .enumerate()
        .map(|(i, job)| {
            let row = run_point(i, job);
            progress();
            row
        })
        .collect();
    pareto::mark(&mut rows);
    rows
}

#[cfg(test)]
mod tests;
