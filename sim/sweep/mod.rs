//! Parameter sweeps: one architecture and workload, many points (unit counts, memory, clock,
//! link bandwidth, format, batch, context), each run through [`run::run`] in parallel. Rows come
//! back in spec order and do not depend on the thread count; a point whose run fails is a row
//! with its error, not an abort, so a sweep works on every target whatever its state.
//!
//! Beyond one process: a sweep splits into [`shard`]s, each streaming its rows to a
//! [`journal`] as points finish (a rerun resumes from it), and [`merge`] joins the shards'
//! journals into the rows the whole sweep gives, byte for byte.

mod apply;
pub mod csv;
pub mod estimate;
mod fingerprint;
pub mod journal;
pub mod merge;
pub mod pareto;
pub mod shard;
pub mod spec;

pub use apply::{Job, clock_hz, link_bytes_per_s, memory_bytes};
pub use shard::Shard;
pub use spec::{Axis, Setting, Spec, SweepNumerics};

use fingerprint::Fnv;
use journal::Journal;
use std::fmt::Write;
use std::sync::Mutex;

use crate::arch::{self, Arch, Unit};
use crate::describe::{self, Described, Preset};
use crate::error::Error;
use crate::fit;
use crate::quant::Format;
use crate::run::{self, NumericsMode, RunOptions};
use crate::workload::footprint;
use crate::workload::{self, Workload};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
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

/// A sweep ready to run: every point's job, built and validated.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Where the spec came from.
    pub path: PathBuf,
    /// Each point's job, in spec order.
    pub jobs: Vec<Job>,
    /// Hash of everything that decides the rows (the resolved architecture and workload, the
    /// run options, every point's settings): journals record it so that rows computed for
    /// another spec are never mixed in.
    pub fingerprint: String,
}

/// Resolve the spec's architecture and workload and build every point, so that a bad value is
/// reported (file, field, reason) before anything runs. `numerics` overrides the spec's.
pub fn prepare(path: &Path, spec: &Spec, numerics: Option<SweepNumerics>) -> Result<Sweep, Error> {
    let arch: Arch = describe::resolve(
        path,
        "arch",
        &spec.arch,
        arch::presets()?,
        |a| &a.name,
        arch::load,
    )?;
    let workload: Workload = describe::resolve(
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
    let points = spec.points();
    let jobs = points
        .iter()
        .map(|p| apply::apply(&base, p).map_err(|e| describe::located(e, path, &text)))
        .collect::<Result<_, _>>()?;
    let mut hash = Fnv::default();
    write!(hash, "{base:?}{points:?}").expect("hashing cannot fail");
    Ok(Sweep {
        path: path.to_owned(),
        jobs,
        fingerprint: hash.hex(),
    })
}

/// One point's results: the record `accsim sweep` writes as a JSON object and a CSV row.
/// Parameters are the values the point ran with, swept or not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// The mapping the run chose (or was pinned to), as `accsim run` prints it; empty when
    /// not timed.
    pub mapping: String,
    /// Decode tokens per second seen by each user.
    pub tokens_per_s_per_user: Option<f64>,
    /// Decode tokens per second over the batch.
    pub tokens_per_s: Option<f64>,
    /// The hardware bound of the decode rate per user on these units (see
    /// [`crate::run::RunRecord::bound_tokens_per_s`]).
    pub bound_tokens_per_s: Option<f64>,
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
        mapping: String::new(),
        tokens_per_s_per_user: None,
        tokens_per_s: None,
        bound_tokens_per_s: None,
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
            row.mapping = r.mapping;
            row.tokens_per_s_per_user = r.decode_tokens_per_s;
            row.tokens_per_s = r.aggregate_tokens_per_s;
            row.bound_tokens_per_s = r.bound_tokens_per_s;
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

/// Rows in point order with the Pareto front marked: the one way every sweep's final rows are
/// made, whether run at once, resumed or merged from shards, so that their outputs agree.
pub fn finish(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by_key(|r| r.point);
    pareto::mark(&mut rows);
    rows
}

/// Run every point on the current rayon pool, calling `progress` once per finished point (from
/// worker threads), and mark the Pareto front.
pub fn run(sweep: &Sweep, progress: &(dyn Fn() + Sync)) -> Vec<Row> {
    finish(
        sweep
            .jobs
            .par_iter()
            .enumerate()
            .map(|(i, job)| {
                let row = run_point(i, job);
                progress();
                row
            })
            .collect(),
    )
}

/// Run the points of `shard` that are not among `done` on the current rayon pool, appending each
/// row to `journal` as it finishes and calling `progress` after it; returns the shard's rows
/// (`done` included) in point order, the Pareto front not yet marked.
pub fn run_shard(
    sweep: &Sweep,
    shard: Shard,
    journal: Journal,
    done: Vec<Row>,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Row>, Error> {
    let mut finished = vec![false; sweep.jobs.len()];
    for r in &done {
        finished[r.point] = true;
    }
    let todo: Vec<usize> = shard
        .points(sweep.jobs.len())
        .filter(|&p| !finished[p])
        .collect();
    let journal = Mutex::new(journal);
    let new: Vec<Row> = todo
        .par_iter()
        .map(|&p| {
            let row = run_point(p, &sweep.jobs[p]);
            journal
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .append(&row)?;
            progress();
            Ok(row)
        })
        .collect::<Result<_, Error>>()?;
    let mut rows = done;
    rows.extend(new);
    rows.sort_by_key(|r| r.point);
    Ok(rows)
}

#[cfg(test)]
mod tests;
