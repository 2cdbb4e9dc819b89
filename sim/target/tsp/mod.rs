//! Groq TSP target.

mod place;

pub use place::place;

use crate::arch::TspSystem;
use crate::run::{RunOptions, Timing};
use crate::workload::Workload;

/// Compile and time `w` on the placement's units.
pub fn simulate(
    _m: &TspSystem,
    _w: &Workload,
    _placement: &super::Placement,
    _opts: &RunOptions,
) -> crate::Result<Timing> {
    Err(crate::Error::Usage {
        flag: "--arch".to_owned(),
        reason: "the tsp machine model is being built".to_owned(),
    })
}
