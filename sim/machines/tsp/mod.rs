//! Groq TSP target: placement, the compiler (`lower` + `schedule` into a `program`), and the
//! machine model that executes and verifies it at two fidelities (`fast`, `detailed`).

mod detailed;
mod fast;
mod layout;
mod lower;
mod machine;
mod place;
mod program;
mod reuse;
mod schedule;
mod search;
mod timing;

#[cfg(test)]
mod tests;

pub use place::place;

use crate::arch::TspSystem;
use crate::mapping::{SimOptions, Timing};
use crate::workload::Workload;

/// Compile and run one decode step of `w` on `units` chips (or the fewest that hold it) at
/// `fidelity`: its cycles and the instructions executed. What the speed benchmark measures.
pub fn decode_step(
    m: &TspSystem,
    w: &Workload,
    units: Option<u64>,
    fidelity: crate::mapping::Fidelity,
) -> crate::Result<(u64, u64)> {
    let opts = SimOptions {
        units,
        fidelity,
        ..SimOptions::default()
    };
    let run = search::choose(&machine::Machine::new(m), m, w, &opts)?.decode;
    Ok((run.cycles, run.instrs))
}

/// Compile and time `w` on the placement's units.
pub fn simulate(
    m: &TspSystem,
    w: &Workload,
    placement: &crate::mapping::Placement,
    opts: &SimOptions,
) -> crate::Result<Timing> {
    timing::simulate(m, w, placement, opts)
}
