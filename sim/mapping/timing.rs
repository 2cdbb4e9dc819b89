//! What a family's simulation is asked to do and what it returns: the options of one run and
//! the cycles it measured, part by part and unit by unit.

use super::search::{Candidate, MappingParams, Objective, Pins};
use crate::engine::Trace;
use serde::Serialize;

/// How finely the machine model is executed.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// Every instruction and every vector or wavelet is an event.
    Detailed,
    /// Instruction groups and messages are aggregated with their exact pipelined latency and
    /// occupancy; gives the same cycle counts as `detailed` (tested on small cases).
    #[default]
    Fast,
}

impl Fidelity {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Fidelity::Detailed => "detailed",
            Fidelity::Fast => "fast",
        }
    }
}

/// What a family's simulation is asked for, beyond the workload and the placement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimOptions {
    /// Units (chips, wafers, GPUs) to run on; `None` means the fewest that hold the workload.
    pub units: Option<u64>,
    /// Execution fidelity.
    pub fidelity: Fidelity,
    /// Record a trace (Chrome trace event format).
    pub trace: bool,
    /// What the mapping search maximizes.
    pub objective: Objective,
    /// Mapping parameters the user fixed.
    pub pins: Pins,
    /// Time the decode step alone: no prefill, no time to first token (a search that needs
    /// only decode speed runs each variant for about half the cost).
    pub decode_only: bool,
}

/// Time spent in one part of a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartTime {
    /// Name, e.g. `layer 12` or `classifier`.
    pub name: String,
    /// Cycles from the part's first issue to its last result (on the critical path).
    pub cycles: u64,
    /// Bytes it read from memory over all units.
    pub bytes: u64,
    /// Arithmetic operations over all units.
    pub ops: u64,
    /// Lower bound from memory bandwidth: `bytes` over the units' peak bandwidth [cycles].
    pub memory_bound_cycles: u64,
    /// Lower bound from compute: `ops` over the units' peak rate [cycles].
    pub compute_bound_cycles: u64,
}

/// How busy one kind of functional unit was over a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitBusy {
    /// Kind of unit, e.g. `mxm`, `c2c`, `pe`, `router`.
    pub unit: String,
    /// Instances of it over the whole system.
    pub instances: u64,
    /// Busy cycles summed over instances.
    pub busy_cycles: u64,
    /// `busy_cycles / (instances × step cycles)`.
    pub utilization: f64,
}

/// What a target's simulation of one workload measured.
#[derive(Clone, Debug)]
pub struct Timing {
    /// The cycles below are of this clock [Hz].
    pub clock_hz: f64,
    /// One decode step for the whole batch [cycles].
    pub decode_cycles: u64,
    /// Prefill of the prompt for the whole batch [cycles].
    pub prefill_cycles: u64,
    /// The decode step part by part (layers, head).
    pub parts: Vec<PartTime>,
    /// The decode step unit kind by unit kind.
    pub units: Vec<UnitBusy>,
    /// Bytes crossing chip or wafer boundaries in one decode step.
    pub network_bytes: u64,
    /// Whole-system peaks: memory bandwidth [bytes/s], arithmetic [ops/s], network [bytes/s].
    pub peak_bytes_per_s: f64,
    pub peak_ops_per_s: f64,
    pub peak_network_bytes_per_s: f64,
    /// How the workload was mapped, in words.
    pub mapping: String,
    /// The same, as structured parameters.
    pub mapping_params: MappingParams,
    /// The mappings the search weighed, best first where simulated.
    pub candidates: Vec<Candidate>,
    /// Trace of the decode step, when asked for.
    pub trace: Option<Trace>,
}
