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
use crate::workload::work::Step;

/// Compile and run one decode step of `w` on `opts.units` chips (or the fewest that hold it),
/// through the mapping search (pin `opts.pins.tp` to time one mapping): its cycles and the
/// instructions executed. What the speed benchmark measures.
pub fn decode_step(m: &TspSystem, w: &Workload, opts: &SimOptions) -> crate::Result<(u64, u64)> {
    let run = search::choose(&machine::Machine::new(m), m, w, opts)?.decode;
    Ok((run.cycles, run.instrs))
}

/// Compile and time `w` on the placement's units: the mapping search (`search::choose`, which
/// compiles and runs each candidate's decode step stage by stage with `timing::run_step`), the
/// chosen mapping's prefill, and the two summed into the run's timing (`timing::timing`).
pub fn simulate(
    m: &TspSystem,
    w: &Workload,
    placement: &crate::mapping::Placement,
    opts: &SimOptions,
) -> crate::Result<Timing> {
    if placement.units_needed.is_none() {
        return Err(crate::Error::Usage {
            flag: "--workload".to_owned(),
            reason: format!("{} has no TSP mapping: {}", w.name, placement.split),
        });
    }
    let machine = machine::Machine::new(m);
    let chosen = search::choose(&machine, m, w, opts)?;
    let prefill = match opts.decode_only {
        true => None,
        false => Some(timing::run_step(
            &machine,
            w,
            Step::prefill(w),
            &chosen.mapping,
            opts.fidelity,
            false,
        )?),
    };
    Ok(timing::timing(
        &machine,
        &m.chip,
        w,
        chosen,
        prefill.map_or(0, |p| p.cycles),
        opts.fidelity,
    ))
}
