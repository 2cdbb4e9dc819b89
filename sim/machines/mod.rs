//! Accelerator families. Each family owns its placement (how a workload's bytes land on its
//! memories), its compiler and its machine model; this module dispatches to them. Adding a family
//! means one folder here and one RON file under `arch/`.

pub mod gpu;
pub mod tsp;
pub mod wse;

use crate::arch::Machine;
use crate::mapping::{Placement, SimOptions, Timing};
use crate::workload::Workload;

/// Place `w` on `machine`, on exactly `units` units if given, else on as few as possible.
pub fn place(machine: &Machine, w: &Workload, units: Option<u64>) -> Placement {
    match machine {
        Machine::GroqTsp(m) => tsp::place(m, w, units),
        Machine::CerebrasWse(m) => wse::place(m, w, units),
        Machine::Gpu(m) => gpu::place(m, w, units),
    }
}

/// Compile `w` for `units` units of `machine` (laid out as `placement`) and time it.
pub fn simulate(
    machine: &Machine,
    w: &Workload,
    placement: &Placement,
    units: u64,
    opts: &SimOptions,
) -> crate::Result<Timing> {
    match machine {
        Machine::GroqTsp(m) => tsp::simulate(m, w, placement, opts),
        Machine::CerebrasWse(m) => wse::simulate(m, w, placement, opts),
        Machine::Gpu(m) => {
            gpu::simulate(m, w, units, placement.units_needed.unwrap_or(units), opts)
        }
    }
}
