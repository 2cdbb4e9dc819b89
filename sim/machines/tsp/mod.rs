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
mod timing;

#[cfg(test)]
mod tests;

pub use place::place;

use crate::arch::TspSystem;
use crate::mapping::{SimOptions, Timing};
use crate::workload::Workload;
use crate::workload::work::Step;

/// Compile and run one decode step of `w` on `units` chips (or the fewest that hold it) at
/// `fidelity`: its cycles and the instructions executed. What the speed benchmark measures.
pub fn decode_step(
    m: &TspSystem,
    w: &Workload,
    units: Option<u64>,
    fidelity: crate::mapping::Fidelity,
) -> crate::Result<(u64, u64)> {
    let mapping = place::mapping_for(m, w, units).ok_or_else(|| crate::Error::Usage {
        flag: "--workload".to_owned(),
        reason: format!("{} has no TSP mapping", w.name),
    })?;
    let step = Step::decode(w);
    let run = timing::run_step(
        &machine::Machine::new(m),
        w,
        step,
        &mapping,
        fidelity,
        false,
    )?;
    Ok((run.cycles, run.instrs))
}

/// Compile and time `w` on the placement's units: the mapping (`place`), its decode step and
/// prefill compiled and run stage by stage (`timing::run_step`), summed into the run's timing.
pub fn simulate(
    m: &TspSystem,
    w: &Workload,
    placement: &crate::mapping::Placement,
    opts: &SimOptions,
) -> crate::Result<Timing> {
    let mapping = place::mapping_for(m, w, opts.units).ok_or_else(|| crate::Error::Usage {
        flag: "--workload".to_owned(),
        reason: format!("{} has no TSP mapping: {}", w.name, placement.split),
    })?;
    let machine = machine::Machine::new(m);
    let run = |step, trace| timing::run_step(&machine, w, step, &mapping, opts.fidelity, trace);
    let decode = run(Step::decode(w), opts.trace)?;
    let prefill = run(Step::prefill(w), false)?;
    Ok(timing::timing(
        &machine,
        &m.chip,
        w,
        &mapping,
        decode,
        prefill.cycles,
        opts.fidelity,
    ))
}
