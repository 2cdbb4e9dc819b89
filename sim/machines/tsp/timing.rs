//! A step compiled stage by stage, executed at the requested fidelity, and summed into the
//! run's [`Timing`]: per-part spans with their rooflines, per-unit busy time, C2C traffic.

use super::detailed;
use super::fast::StageRun;
use super::lower::{self, StageSpec};
use super::machine::Machine;
use super::place::Mapping;
use super::program::Program;
use super::reuse::Stages;
use super::search::Chosen;
use crate::arch::TspChip;
use crate::engine::{Clock, EngineError, Trace};
use crate::mapping::{Fidelity, MappingParams, PartTime, Timing, UnitBusy};
use crate::workload::Workload;
use crate::workload::work::{self, Step};
use std::collections::BTreeMap;

/// One step over every stage.
pub struct StepRun {
    pub cycles: u64,
    /// Per part: first issue, end, chips of its stage.
    pub parts: Vec<(String, u64, u64, u64)>,
    /// Busy cycles by kind of unit over the whole system.
    pub busy: BTreeMap<&'static str, u64>,
    pub c2c_bytes: u64,
    pub instrs: u64,
    pub trace: Option<Trace>,
}

/// The stages' specifications of `mapping`.
pub fn specs(mapping: &Mapping) -> Vec<StageSpec<'_>> {
    let n = mapping.items.len();
    mapping
        .items
        .iter()
        .enumerate()
        .map(|(s, items)| StageSpec {
            items,
            tp: mapping.tp,
            first_chip: s as u64 * mapping.tp,
            has_next: s + 1 < n,
            is_first: s == 0,
        })
        .collect()
}

/// Compile `step` of `w` for `mapping` and run it at `fidelity`.
pub fn run_step(
    m: &Machine,
    w: &Workload,
    step: Step,
    mapping: &Mapping,
    fidelity: Fidelity,
    trace: bool,
) -> Result<StepRun, EngineError> {
    let specs = specs(mapping);
    let mut out = StepRun {
        cycles: 0,
        parts: Vec::new(),
        busy: BTreeMap::new(),
        c2c_bytes: 0,
        instrs: 0,
        trace: None,
    };
    // `copies`: ranks the run stands for (its own when it already sums them).
    let mut add = |r: StageRun, copies: u64, tp: u64| {
        out.cycles = out.cycles.max(r.done);
        for (k, v) in r.busy {
            *out.busy.entry(k).or_default() += v * copies;
        }
        out.c2c_bytes += r.c2c_bytes * copies;
        out.instrs += r.instrs * copies;
        for (name, first, last) in r.parts {
            match out.parts.iter_mut().find(|p| p.0 == name) {
                Some(p) => {
                    p.1 = p.1.min(first);
                    p.2 = p.2.max(last);
                }
                None => out.parts.push((name, first, last, tp)),
            }
        }
    };
    match fidelity {
        Fidelity::Fast => {
            let clock = Clock::new(m.clock_hz as u64)?;
            let mut tr = trace.then(|| Trace::new(clock));
            let mut prev = None;
            let mut stages = Stages::default();
            for spec in &specs {
                let s = stages.stage(m, w, step, spec, prev.as_ref(), tr.is_some())?;
                if let (Some(t), Some(prog)) = (&mut tr, &s.prog) {
                    spans(t, prog)?;
                }
                add(s.run, spec.tp, spec.tp);
                prev = s.handoff;
            }
            out.trace = tr;
        }
        Fidelity::Detailed => {
            let mut progs: Vec<Program> = Vec::with_capacity(specs.len());
            for spec in &specs {
                let prev = progs.last().and_then(Program::to_next);
                let (prog, _) = lower::stage(m, w, step, spec, prev.as_ref());
                progs.push(prog);
            }
            let (runs, tr) = detailed::run(m, &progs, trace)?;
            // Already summed over every rank.
            for (r, p) in runs.into_iter().zip(&progs) {
                add(r, 1, p.tp);
            }
            out.trace = tr;
        }
    }
    Ok(out)
}

/// Every instruction of the stage's first rank as a span on its unit's track.
fn spans(t: &mut Trace, prog: &Program) -> Result<(), EngineError> {
    let chip = format!("tsp{}", prog.first_chip);
    let mut tracks = BTreeMap::new();
    for i in &prog.instrs {
        let track = *tracks
            .entry(i.unit)
            .or_insert_with(|| t.track(&chip, &i.unit.to_string()));
        t.span(
            track,
            i.label(),
            crate::engine::Cycle(i.issue),
            u64::from(i.occ),
        )?;
    }
    Ok(())
}

/// The run's timing from the chosen mapping's decode step and its prefill: each part's span
/// with its rooflines, each kind of unit's busy time, the peaks of the chips used.
pub fn timing(
    m: &Machine,
    chip: &TspChip,
    w: &Workload,
    chosen: Chosen,
    prefill_cycles: u64,
    fidelity: Fidelity,
) -> Timing {
    let Chosen {
        mapping,
        decode,
        candidates,
    } = chosen;
    let mapping = &mapping;
    let chips = mapping.chips();
    let mem_bytes_per_cycle = (m.slices * m.vector_bytes) as f64;
    let ops_per_cycle = chip.peak_int8_ops_per_s() / m.clock_hz;
    let step = Step::decode(w);
    let (layer_ops, head_ops) = (work::layer_ops(w, step), work::head_ops(w, step));
    let sum = |ops: &[work::Op]| {
        ops.iter()
            .fold((0, 0), |(b, o), op| (b + op.bytes(), o + op.ops))
    };
    let (layer, head) = (sum(&layer_ops), sum(&head_ops));
    let embedding_row = w
        .quant
        .format(crate::workload::TensorClass::Embedding)
        .packed_bytes(1, w.model.hidden);
    // A part's time is what it adds to the step: from the previous part's end (or its own
    // first issue) to its own end. Weights stream in ahead of their activations, so spans from
    // first issue would overlap; these add up to the step.
    let mut prev_end = 0;
    let parts = decode
        .parts
        .iter()
        .map(|(name, first, last, tp)| {
            let start = (*first).max(prev_end).min(*last);
            prev_end = *last;
            let (bytes, ops) = match name.as_str() {
                "head" => head,
                "embedding" => (embedding_row, 0),
                _ => layer,
            };
            let tp = *tp as f64;
            PartTime {
                name: name.clone(),
                cycles: last - start,
                bytes,
                ops,
                memory_bound_cycles: (bytes as f64 / (tp * mem_bytes_per_cycle)).ceil() as u64,
                compute_bound_cycles: (ops as f64 / (tp * ops_per_cycle)).ceil() as u64,
            }
        })
        .collect();
    let per_chip = [
        ("mem", m.slices),
        ("mxm", m.planes),
        ("vxm", m.vxm_pipes),
        ("sxm", 2),
        ("c2c", m.links),
    ];
    let units = per_chip
        .iter()
        .map(|&(kind, n)| {
            let busy = decode.busy.get(kind).copied().unwrap_or(0);
            let instances = n * chips;
            UnitBusy {
                unit: kind.to_owned(),
                instances,
                busy_cycles: busy,
                utilization: busy as f64 / (instances * decode.cycles.max(1)) as f64,
            }
        })
        .collect();
    let chips_f = chips as f64;
    Timing {
        clock_hz: m.clock_hz,
        decode_cycles: decode.cycles,
        prefill_cycles,
        parts,
        units,
        network_bytes: decode.c2c_bytes,
        peak_bytes_per_s: chips_f * mem_bytes_per_cycle * m.clock_hz,
        peak_ops_per_s: chips_f * chip.peak_int8_ops_per_s(),
        peak_network_bytes_per_s: chips_f * (m.links as f64) * chip.c2c.link_bytes_per_s,
        mapping: format!(
            "{}; statically scheduled, {} instructions per decode step, verified at {} fidelity",
            mapping.describe(),
            decode.instrs,
            fidelity.name()
        ),
        mapping_params: MappingParams::Tsp {
            tp: mapping.tp,
            stages: mapping.items.len() as u64,
            chips_used: mapping.chips(),
            max_layers_per_stage: mapping.max_layers_per_stage(),
            allreduce: "direct: each rank sends its partial to every peer".to_owned(),
        },
        candidates,
        trace: decode.trace,
    }
}
