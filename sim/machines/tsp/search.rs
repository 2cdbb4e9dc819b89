//! The TSP mapping search: the tensor-parallel degree (within a node and across nodes) and the
//! pipeline stages the chips given leave room for.
//!
//! Every degree whose mapping fits the chips is a candidate. Each has a lower bound on its
//! decode step: every weight row of the layers must be installed into an MXM plane, at
//! `install_vectors_per_cycle` per plane, spread over the `tp` chips of a stage, and every
//! all-reduce costs at least one chip-to-chip latency. Candidates are simulated at the fast
//! fidelity in order of that bound, and the search stops when the next bound cannot beat the
//! best step found (branch and bound: the result is the best over every candidate).

use super::machine::Machine;
use super::place::{self, Mapping};
use super::timing::{StepRun, run_step};
use crate::arch::TspSystem;
use crate::mapping::{Candidate, Fidelity, Pins, SimOptions};
use crate::quant::Format;
use crate::workload::Workload;
use crate::workload::work::{self, OpKind, Step};

/// A mapping the search may use, with the lower bound of its decode step.
pub struct Bounded {
    pub mapping: Mapping,
    pub bound_cycles: u64,
}

/// Every mapping on at most `units` chips (the fewest-chip mapping's count when none given),
/// at the pinned degree if any, smallest bound first.
pub fn candidates(m: &TspSystem, w: &Workload, units: Option<u64>, pins: &Pins) -> Vec<Bounded> {
    let limit = units.or_else(|| place::mapping(m, w).map(|mp| mp.chips()));
    let mut out: Vec<Bounded> = place::mappings(m, w)
        .filter(|mp| limit.is_some_and(|n| mp.chips() <= n))
        .filter(|mp| pins.tp.is_none_or(|tp| tp == mp.tp))
        .map(|mapping| Bounded {
            bound_cycles: bound(m, w, mapping.tp),
            mapping,
        })
        .collect();
    // Equal bounds: fewer chips first.
    out.sort_by_key(|b| (b.bound_cycles, b.mapping.chips()));
    out
}

/// Cycles a decode step takes at least at degree `tp`: the weight installs of every matrix
/// (one vector of one byte per int8 weight, two for f16, per plane and cycle), and one
/// chip-to-chip latency per all-reduce (two per layer) when the matrices are split.
fn bound(m: &TspSystem, w: &Workload, tp: u64) -> u64 {
    let chip = &m.chip;
    let step = Step::decode(w);
    let vectors = |ops: &[work::Op]| -> u64 {
        ops.iter()
            .map(|op| match op.kind {
                OpKind::Matmul {
                    rows, cols, format, ..
                } => {
                    let bytes = if format == Format::F16 || format == Format::F32 {
                        2
                    } else {
                        1
                    };
                    rows * (cols * bytes).div_ceil(chip.vector_bytes)
                }
                _ => 0,
            })
            .sum()
    };
    let layer = vectors(&work::layer_ops(w, step));
    let head = vectors(&work::head_ops(w, step));
    let rate = (tp * chip.mxm.planes * chip.mxm.install_vectors_per_cycle).max(1);
    let installs = (w.model.layers * layer + head).div_ceil(rate);
    let reduces = if tp > 1 {
        2 * w.model.layers * chip.c2c.latency_cycles
    } else {
        0
    };
    installs + reduces
}

/// The mapping the search chose, its decode step at the fast fidelity, and what it weighed.
pub struct Chosen {
    pub mapping: Mapping,
    pub decode: StepRun,
    pub candidates: Vec<Candidate>,
}

/// Search the mappings of `w` on `opts.units` chips for the best under `opts.objective`.
pub fn choose(
    m: &Machine,
    sys: &TspSystem,
    w: &Workload,
    opts: &SimOptions,
) -> crate::Result<Chosen> {
    let mut cands = candidates(sys, w, opts.units, &opts.pins);
    if cands.is_empty() {
        return Err(crate::Error::Usage {
            flag: if opts.pins.tp.is_some() {
                "--tp"
            } else {
                "--chips"
            }
            .to_owned(),
            reason: format!(
                "no TSP mapping of {}{} fits {} chip(s)",
                w.name,
                opts.pins.tp.map_or(String::new(), |tp| format!(
                    " at tensor-parallel degree {tp}"
                )),
                opts.units.map_or("the".to_owned(), |n| n.to_string()),
            ),
        });
    }
    let batch = w.scenario.batch;
    let seconds = |cycles: u64| cycles.max(1) as f64 / m.clock_hz;
    let mut best: Option<(f64, usize, StepRun)> = None;
    let mut candidates = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        let chips = c.mapping.chips();
        let mapping = c.mapping.describe();
        let ceiling = opts.objective.score(seconds(c.bound_cycles), batch, chips);
        if let Some((score, _, _)) = &best
            && ceiling <= *score
        {
            candidates.push(Candidate::pruned(mapping, c.bound_cycles));
            continue;
        }
        let run = run_step(m, w, Step::decode(w), &c.mapping, Fidelity::Fast, false)?;
        let score = opts.objective.score(seconds(run.cycles), batch, chips);
        candidates.push(Candidate {
            mapping,
            decode_tokens_per_s: Some(1.0 / seconds(run.cycles)),
            score: Some(score),
            note: format!("bound {} cycles, simulated {}", c.bound_cycles, run.cycles),
        });
        if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
            best = Some((score, i, run));
        }
    }
    let (_, i, mut decode) = best.expect("the first candidate is always simulated");
    let mapping = cands.swap_remove(i).mapping;
    if opts.fidelity != Fidelity::Fast || opts.trace {
        decode = run_step(m, w, Step::decode(w), &mapping, opts.fidelity, opts.trace)?;
    }
    Ok(Chosen {
        mapping,
        decode,
        candidates,
    })
}
