//! Groq TSP target: placement, the compiler (`lower` + `schedule` into a `program`), and the
//! machine model that executes and verifies it at two fidelities (`fast`, `detailed`).

mod detailed;
mod fast;
mod layout;
mod lower;
mod machine;
mod place;
mod program;
mod schedule;
mod timing;

#[cfg(test)]
mod tests;

pub use place::place;

use crate::arch::TspSystem;
use crate::run::{RunOptions, Timing};
use crate::workload::Workload;

/// Compile and time `w` on the placement's units.
pub fn simulate(
    m: &TspSystem,
    w: &Workload,
    placement: &super::Placement,
    opts: &RunOptions,
) -> crate::Result<Timing> {
    timing::simulate(m, w, placement, opts)
}
