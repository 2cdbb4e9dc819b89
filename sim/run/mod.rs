//! Performance runs: a workload compiled for a machine and executed on its model, timing one
//! decode step and the prefill, with the numerics of the same weights checked beside it.
//!
//! Each target family returns a [`Timing`]; everything derived from it (tokens per second,
//! utilization, energy) and the numerics check are computed here once for all families, so a
//! new accelerator only has to produce cycles.

pub mod numerics;

use crate::arch::{Arch, Calibration, Machine, Unit};
use crate::engine::Trace;
use crate::fit;
use crate::machines;
use crate::mapping::{
    Candidate, Fidelity, MappingParams, Objective, PartTime, Pins, SimOptions, UnitBusy,
};
use crate::quant::Format;
use crate::quant::weights::Dist;
use crate::workload::Workload;
use crate::workload::work::{self, Step};
use serde::Serialize;

pub use numerics::{Numerics, NumericsMode};

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOptions {
    /// Format of every weight matrix.
    pub format: Format,
    /// Units (chips, wafers, GPUs) to run on; `None` means the fewest that hold the workload.
    pub units: Option<u64>,
    /// Execution fidelity.
    pub fidelity: Fidelity,
    /// How much of the model computes real values.
    pub numerics: NumericsMode,
    /// Seed of synthetic weights when the workload ships no checkpoint.
    pub seed: u64,
    /// Distribution of synthetic weights when the workload ships no checkpoint.
    pub dist: Dist,
    /// Record a trace (Chrome trace event format).
    pub trace: bool,
    /// What the mapping search maximizes.
    pub objective: Objective,
    /// Mapping parameters the user fixed.
    pub pins: Pins,
    /// Time the decode step alone ([`SimOptions::decode_only`]): `ttft_s` is null.
    pub decode_only: bool,
}

impl RunOptions {
    /// What the machine family's simulation is asked for.
    pub fn sim(&self) -> SimOptions {
        SimOptions {
            units: self.units,
            fidelity: self.fidelity,
            trace: self.trace,
            objective: self.objective,
            pins: self.pins,
            decode_only: self.decode_only,
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            format: Format::Q35,
            units: None,
            fidelity: Fidelity::Fast,
            numerics: NumericsMode::Sampled(1),
            seed: numerics::DEFAULT_SEED,
            dist: Dist::default(),
            trace: false,
            decode_only: false,
            objective: Objective::default(),
            pins: Pins::default(),
        }
    }
}

/// Fractions of the system's peaks achieved over one decode step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Utilization {
    /// Arithmetic done over peak arithmetic.
    pub compute: f64,
    /// Bytes read over peak memory bandwidth.
    pub memory: f64,
    /// Bytes across chips or wafers over peak network bandwidth.
    pub network: f64,
}

/// One run: the record `accsim run --json` prints. Timing fields are `null` when the workload
/// does not fit the units given (the run does not spill; the fit verdict says why).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRecord {
    pub arch: String,
    pub workload: String,
    pub format: Format,
    /// Unit the system is counted in.
    pub unit: Unit,
    /// Units the run used.
    pub units: u64,
    /// Sequences decoded together.
    pub batch: u64,
    /// KV-cache length per sequence [tokens].
    pub context: u64,
    /// Prompt length per sequence [tokens].
    pub prompt_tokens: u64,
    pub fidelity: Fidelity,
    /// Whether the weights, KV cache and buffers fit the units.
    pub fits: bool,
    /// Bytes that do not fit (zero when it fits).
    pub bytes_short: u64,
    /// How the workload was mapped.
    pub mapping: String,
    /// The mapping as structured parameters (`null` when not timed).
    pub mapping_params: Option<MappingParams>,
    /// What the mapping search maximized.
    pub objective: Objective,
    /// The mappings the search weighed (`accsim run --explain` lists them).
    pub mapping_candidates: Vec<Candidate>,
    /// Clock the cycle counts are in [Hz].
    pub clock_hz: Option<f64>,
    /// One decode step of the whole batch [cycles].
    pub cycles_per_token: Option<u64>,
    /// Decode tokens per second seen by each user.
    pub decode_tokens_per_s: Option<f64>,
    /// Decode tokens per second over the whole batch.
    pub aggregate_tokens_per_s: Option<f64>,
    /// What the units could decode per user if every byte of the step (weights and KV cache as
    /// stored) crossed each unit's memory at its peak rate: `units x memory bytes/s per unit /
    /// decode step bytes`. Independent of the mapping.
    pub bound_tokens_per_s: Option<f64>,
    /// `decode_tokens_per_s / bound_tokens_per_s`: how much of the hardware the mapping uses.
    pub mapping_efficiency: Option<f64>,
    /// Time to first token: prefill of the prompt plus one decode step [s].
    pub ttft_s: Option<f64>,
    pub utilization: Option<Utilization>,
    /// Whole-system peak memory bandwidth [bytes/s] and arithmetic rate [ops/s] (rooflines).
    pub peak_bytes_per_s: Option<f64>,
    pub peak_ops_per_s: Option<f64>,
    /// Decode step part by part.
    pub parts: Vec<PartTime>,
    /// Decode step unit kind by unit kind.
    pub unit_busy: Vec<UnitBusy>,
    /// Bytes crossing chip or wafer boundaries per decode step.
    pub network_bytes_per_token: Option<u64>,
    /// Power of the units the run used, from the architecture's figures [W].
    pub power_w: f64,
    /// Energy of one decode step for the whole batch [J].
    pub energy_j_per_token: Option<f64>,
    /// The numerics check of the same weights.
    pub numerics: Numerics,
    /// Inputs of the architecture that are estimates, not published figures.
    pub estimated_inputs: Vec<String>,
    /// Estimated inputs fit to a published point (see [`crate::arch::Calibration`]).
    pub calibrated_inputs: Vec<Calibration>,
}

/// What a run produced: the record and, if asked for, the trace.
pub struct RunOutput {
    pub record: RunRecord,
    pub trace: Option<Trace>,
}

/// Board or system power of one unit [W].
fn unit_power_w(machine: &Machine) -> f64 {
    match machine {
        Machine::GroqTsp(m) => m.chip.power_w,
        Machine::CerebrasWse(m) => m.system.power_w,
        Machine::Gpu(m) => m.gpu.power_w,
    }
}

/// The hardware bound of a decode step on `units` units (`None` without units).
fn bound_tokens_per_s(machine: &Machine, w: &Workload, units: u64) -> Option<f64> {
    let (bytes, _) = work::totals(w, Step::decode(w));
    (units > 0 && bytes > 0)
        .then(|| units as f64 * machine.memory_bytes_per_s_per_unit() / bytes as f64)
}

/// Compile `w` for `arch` with every matrix in `opts.format`, execute it, and check numerics.
pub fn run(arch: &Arch, w: &Workload, opts: &RunOptions) -> crate::Result<RunOutput> {
    if let Some(n) = opts.units {
        let unit = arch.machine.unit().name();
        arch.machine
            .check_units(n)
            .map_err(|reason| crate::Error::Usage {
                flag: format!("--{unit}s"),
                reason,
            })?;
    }
    let mut w = w.clone();
    w.quant = w.quant.with_matrices_as(opts.format);
    let fit = fit::fit(arch, &w, opts.format, opts.units);
    // Refused before the simulation, not after it; a run that does not fit computes none.
    if fit.fits {
        numerics::check_memory(&w, opts.numerics)?;
    }
    let units = opts.units.or(fit.units_needed).unwrap_or(0);
    let power_w = unit_power_w(&arch.machine) * units as f64;
    let timing = if fit.fits {
        Some(machines::simulate(
            &arch.machine,
            &w,
            &fit.placement,
            units,
            &opts.sim(),
        )?)
    } else {
        None
    };
    let numerics = if fit.fits {
        numerics::check(&w, opts.numerics, opts.seed, opts.dist)?
    } else {
        numerics::not_computed(
            &w,
            opts.numerics,
            opts.dist,
            "not computed: the workload does not fit the units",
        )
    };
    let bound = bound_tokens_per_s(&arch.machine, &w, units);
    let t = timing.as_ref();
    let seconds = |cycles: u64| cycles as f64 / t.map_or(1.0, |t| t.clock_hz);
    let step_s = t.map(|t| seconds(t.decode_cycles));
    let record = RunRecord {
        arch: arch.name.clone(),
        workload: w.name.clone(),
        format: opts.format,
        unit: fit.unit,
        units,
        batch: w.scenario.batch,
        context: w.scenario.context,
        prompt_tokens: w.scenario.prompt_tokens,
        fidelity: opts.fidelity,
        fits: fit.fits,
        bytes_short: fit.placement.bytes_short,
        mapping: t.map_or_else(|| fit.placement.split.clone(), |t| t.mapping.clone()),
        mapping_params: t.map(|t| t.mapping_params.clone()),
        objective: opts.objective,
        mapping_candidates: t.map(|t| t.candidates.clone()).unwrap_or_default(),
        clock_hz: t.map(|t| t.clock_hz),
        cycles_per_token: t.map(|t| t.decode_cycles),
        decode_tokens_per_s: step_s.map(|s| 1.0 / s),
        aggregate_tokens_per_s: step_s.map(|s| w.scenario.batch as f64 / s),
        bound_tokens_per_s: bound,
        mapping_efficiency: step_s.zip(bound).map(|(s, b)| 1.0 / s / b),
        ttft_s: (t.filter(|_| !opts.decode_only))
            .map(|t| seconds(t.prefill_cycles + t.decode_cycles)),
        utilization: t.map(|t| {
            let s = seconds(t.decode_cycles);
            let (bytes, ops) = t
                .parts
                .iter()
                .fold((0, 0), |(b, o), p| (b + p.bytes, o + p.ops));
            Utilization {
                compute: ops as f64 / (t.peak_ops_per_s * s),
                memory: bytes as f64 / (t.peak_bytes_per_s * s),
                network: t.network_bytes as f64 / (t.peak_network_bytes_per_s * s),
            }
        }),
        peak_bytes_per_s: t.map(|t| t.peak_bytes_per_s),
        peak_ops_per_s: t.map(|t| t.peak_ops_per_s),
        parts: t.map(|t| t.parts.clone()).unwrap_or_default(),
        unit_busy: t.map(|t| t.units.clone()).unwrap_or_default(),
        network_bytes_per_token: t.map(|t| t.network_bytes),
        power_w,
        energy_j_per_token: step_s.map(|s| s * power_w),
        numerics,
        estimated_inputs: arch.estimated.clone(),
        calibrated_inputs: arch.calibrated.clone(),
    };
    Ok(RunOutput {
        record,
        trace: timing.and_then(|t| t.trace),
    })
}

/// [`run`] on a short-lived thread pool of its own, of the caller's size, so that a caller
/// that blocks on the run (a worker of the global pool running variants side by side) never
/// waits on workers all blocked the same way.
pub fn run_alone(arch: &Arch, w: &Workload, opts: &RunOptions) -> crate::Result<RunOutput> {
    let threads = rayon::current_num_threads();
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(|| run(arch, w, opts)),
        // No threads to spare: the run's parallel parts share the caller's pool.
        Err(_) => run(arch, w, opts),
    }
}
