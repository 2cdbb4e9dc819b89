//! Cerebras WSE target: placement (`place`), the layout of regions on the wafers (`layout`), the
//! wafer program of a decode step (`emit`), and its execution at two fidelities that agree to
//! the cycle: `fast` (messages in max-plus closed form) and `detailed` (wavelets on the event
//! engine). See `docs/wse.md`.

mod datapath;
mod detailed;
mod emit;
mod fast;
mod geometry;
mod heatmap;
mod held;
mod layout;
mod memo;
mod overlay;
mod place;
mod prefill;
mod program;
mod replay;
mod search;
#[cfg(test)]
mod tests;
mod train;

pub use heatmap::{WaferMaps, heatmaps};
pub use place::place;

use crate::arch::WseSystem;
use crate::engine::{Clock, Cycle, EngineError, Trace};
use crate::mapping::{Candidate, Fidelity, MappingParams, PartTime, SimOptions, Timing, UnitBusy};
use crate::workload::Workload;
use crate::workload::work::{self, Op, Step};
use datapath::Datapath;
use layout::{Arrangement, Layer, Plan};
use place::Spread;

/// Events a detailed run may handle before it is stopped as too large for wavelet-level
/// simulation (about a minute of host time).
const DETAILED_EVENT_BUDGET: u64 = 1 << 31;

/// What one simulated decode step measured, whichever the fidelity.
struct Measured {
    counts: memo::Counts,
    trace: Option<Trace>,
}

/// Wafers the run uses: as asked, or as many as the placement needs.
fn wafers(placement: &crate::mapping::Placement, opts: &SimOptions) -> crate::Result<u32> {
    let n = opts.units.or(placement.units_needed).unwrap_or(1);
    u32::try_from(n).map_err(|_| crate::Error::Usage {
        flag: "--wafers".to_owned(),
        reason: format!("{n} wafers is more than the model addresses"),
    })
}

/// One arrangement of a spread, laid out and run at the fast fidelity, abandoned part way when
/// it could not beat the best found (the part and the cycles it takes at least), or what
/// stopped it (the arrangement, if known, and why).
enum Trial {
    Ran(Box<(Plan, memo::Counts)>),
    Abandoned(String, usize, u64),
    Failed(String, String),
}

/// Lay out and run each arrangement of `r`'s spread worth simulating (see [`arrangements`]), or
/// its overlaid one, abandoning a run once `loses(wafers used, cycles)` says a step that long
/// cannot beat the best found.
fn trial(
    m: &WseSystem,
    w: &Workload,
    wafers: u32,
    r: &search::Ranked,
    loses: impl Fn(u32, u64) -> bool + Copy + 'static,
) -> Vec<Trial> {
    let plans = match plans(m, w, wafers, r) {
        Ok(plans) => plans,
        Err(e) => return vec![Trial::Failed(String::new(), format!("no layout: {e}"))],
    };
    plans
        .into_iter()
        .map(|p| {
            let (bound, used) = (r.bound, p.wafers_used);
            let what = format!(", {}", p.arrangement);
            // Abandoned before by a search whose best was no better than this one's.
            let known = memo::abandoned(m, w, &p).filter(|&(_, at_least)| loses(used, at_least));
            if let Some((part, at_least)) = known {
                return Trial::Abandoned(what, part, at_least);
            }
            let cutoff = fast::Cutoff {
                rest: Box::new(move |part| bound.rest(part)),
                loses: Box::new(move |cycles| loses(used, cycles)),
            };
            match memo::step(m, w, &p, || {
                Ok(counts(&run_fast(m, w, &p, (false, Some(cutoff)))?))
            }) {
                Ok(counts) => Trial::Ran(Box::new((p, counts))),
                Err(crate::Error::Simulation(EngineError::Abandoned { part, at_least })) => {
                    memo::abandon(m, w, &p, (part, at_least));
                    Trial::Abandoned(what, part, at_least)
                }
                Err(e) => Trial::Failed(what, format!("no program: {e}")),
            }
        })
        .collect()
}

/// The plans of `r`: its overlaid one, or each arrangement of its spread worth simulating (see
/// [`arrangements`]).
fn plans(
    m: &WseSystem,
    w: &Workload,
    wafers: u32,
    r: &search::Ranked,
) -> Result<Vec<Plan>, layout::Misfit> {
    match r.overlaid {
        true => layout::plan(m, w, wafers, r.spread, Arrangement::Overlaid(0)).map(|p| vec![p]),
        false => arrangements(m, w, wafers, r.spread),
    }
}

/// A spread in words, followed by `what`.
fn describe(r: &search::Ranked, what: &str) -> String {
    let kv = match r.spread.kv_tokens {
        u64::MAX => "all that fit".to_owned(),
        n => n.to_string(),
    };
    let overlaid = if r.overlaid { ", overlaid" } else { "" };
    format!(
        "tiles <= {} B, KV <= {kv} tokens per PE{overlaid}{what}",
        r.spread.tile_bytes
    )
}

/// The arrangements of `spread` worth simulating on `wafers` wafers: the one `layout::layout`
/// picks there, and each one it would pick on fewer wafers. A plan depends on the wafer count
/// only through whether it fits, so an arrangement is the pick on some smaller count exactly
/// when it needs fewer wafers than every arrangement `layout` prefers to it. Weighing those
/// makes more wafers never slower, and costs no simulation when the preferred one is also the
/// most compact (arrangements that are not translates of a layer are slow to simulate).
fn arrangements(
    m: &WseSystem,
    w: &Workload,
    wafers: u32,
    spread: Spread,
) -> Result<Vec<Plan>, layout::Misfit> {
    let mut kept: Vec<Plan> = Vec::new();
    let mut last = None;
    for a in [
        Arrangement::Bands(0),
        Arrangement::Strips(0),
        Arrangement::Continuous,
    ] {
        match layout::plan(m, w, wafers, spread, a) {
            Ok(p) if kept.iter().all(|k| p.wafers_used < k.wafers_used) => kept.push(p),
            Ok(_) => {}
            Err(e) => last = Some(e),
        }
    }
    match (kept.is_empty(), last) {
        (true, Some(e)) => Err(e),
        _ => Ok(kept),
    }
}

/// A layout that does not fit `wafers` wafers, as a usage error naming the PE or wafer count:
/// blamed on `--wafers` only when the user gave the count (`units`), else on the workload's
/// scenario, whose placement chose it.
fn misfit(
    w: &Workload,
    wafers: u32,
    units: Option<u64>,
    e: impl std::fmt::Display,
) -> crate::Error {
    match units {
        Some(_) => crate::Error::Usage {
            flag: "--wafers".to_owned(),
            reason: e.to_string(),
        },
        None => crate::Error::Usage {
            flag: format!(
                "workload `{}` (batch {}, context {})",
                w.name, w.scenario.batch, w.scenario.context
            ),
            reason: format!("does not lay out on the {wafers} wafer(s) its placement needs: {e}"),
        },
    }
}

/// Refuse, before any layout, a fabric whose state the host cannot hold.
fn reserve_fabric_state(m: &WseSystem, wafers: u32) -> crate::Result<()> {
    let g = geometry::Geometry::new(m, wafers);
    // The fast fidelity's per-PE and per-link arrays, 8 bytes each: the largest allocation.
    let state = 8 * (2 * g.pes() as u64 + g.links() as u64);
    crate::host::reserve(|| format!("the fabric state of {wafers} wafer(s)"), state)
}

/// The mapping the search chose, measured at the fast fidelity, and what it weighed.
struct Chosen {
    plan: Plan,
    counts: memo::Counts,
    candidates: Vec<Candidate>,
}

/// Search the spreads for `w` on `wafers` wafers under `opts`' objective and pins: laid out
/// and measured at the fast fidelity in order of their bound, until no bound left can beat the
/// best measured (see `search`).
fn choose(m: &WseSystem, w: &Workload, wafers: u32, opts: &SimOptions) -> crate::Result<Chosen> {
    reserve_fabric_state(m, wafers)?;
    let mut ranked = search::candidates(m, w, u64::from(wafers), &opts.pins);
    if ranked.is_empty() {
        if !opts.pins.is_empty() {
            return Err(crate::Error::Usage {
                flag: "--tile-bytes / --kv-tokens-per-pe / --overlaid".to_owned(),
                reason: format!("the pinned spread does not fit {wafers} wafer(s)"),
            });
        }
        ranked.push(search::Ranked {
            spread: Spread::densest(m),
            overlaid: false,
            bound: search::StepBound {
                layers: 0,
                layer: 0,
                classifier: 0,
            },
        });
    }
    let clock_hz = m.wafer.clock_hz;
    let seconds = move |cycles: u64| cycles.max(1) as f64 / clock_hz;
    let (batch, objective) = (w.scenario.batch, opts.objective);
    let mut best: Option<(f64, Plan, memo::Counts)> = None;
    let mut candidates = Vec::new();
    for r in &ranked {
        let bound_cycles = r.bound.cycles();
        // No mapping on these wafers uses more of them than all.
        let ceiling = opts.objective.score(seconds(bound_cycles), batch, 1);
        if best.as_ref().is_some_and(|(b, _, _)| ceiling <= *b) {
            candidates.push(Candidate::pruned(describe(r, ""), bound_cycles));
            continue;
        }
        let to_beat = best.as_ref().map(|(b, _, _)| *b);
        let loses = move |used: u32, cycles: u64| {
            to_beat.is_some_and(|b| objective.score(seconds(cycles), batch, u64::from(used)) <= b)
        };
        for t in trial(m, w, wafers, r, loses) {
            let (p, counts) = match t {
                Trial::Ran(ran) => *ran,
                Trial::Abandoned(what, part, at_least) => {
                    let parts = r.bound.layers as usize + 1;
                    let c = Candidate::abandoned(describe(r, &what), (part, parts), at_least);
                    candidates.push(c);
                    continue;
                }
                Trial::Failed(what, note) => {
                    candidates.push(Candidate::unsimulated(describe(r, &what), note));
                    continue;
                }
            };
            let step_s = seconds(counts.end);
            let score = opts
                .objective
                .score(step_s, batch, u64::from(p.wafers_used));
            candidates.push(Candidate {
                mapping: describe(
                    r,
                    &format!(
                        ": {} PEs per layer on {} wafer(s), {}",
                        p.layers.first().map_or(0, Layer::pes),
                        p.wafers_used,
                        p.arrangement
                    ),
                ),
                decode_tokens_per_s: Some(1.0 / step_s),
                score: Some(score),
                note: format!("bound {bound_cycles} cycles, simulated {}", counts.end),
            });
            if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                best = Some((score, p, counts));
            }
        }
    }
    let Some((_, plan, counts)) = best else {
        // Every candidate failed to lay out: report the densest one's reason.
        let why = layout::layout(m, w, wafers, Spread::densest(m))
            .err()
            .map_or_else(|| "no spread lays out".to_owned(), |e| e.to_string());
        return Err(misfit(w, wafers, opts.units, why));
    };
    Ok(Chosen {
        plan,
        counts,
        candidates,
    })
}

/// Wavelet payload in f16 elements.
fn per_wavelet(m: &WseSystem) -> u64 {
    (m.wafer.router.wavelet_bits / 16).max(1)
}

fn clock(m: &WseSystem) -> crate::Result<Clock> {
    Ok(Clock::new(m.wafer.clock_hz.round() as u64)?)
}

/// Evaluate the decode step of `plan` at the fast fidelity, counting the wavelets over each link
/// when `link_load`.
fn run_fast(
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
    (link_load, cutoff): (bool, Option<fast::Cutoff>),
) -> crate::Result<fast::Fast> {
    let mut sink = fast::Fast::new(plan.geometry.clone(), plan.layers.len() + 1);
    if link_load {
        sink = sink.with_link_load();
    }
    if let Some(c) = cutoff {
        sink = sink.with_cutoff(c);
    }
    let dp = Datapath::new(&m.wafer.pe);
    emit::decode_step(&mut sink, plan, w, dp, per_wavelet(m), Step::decode(w))?;
    Ok(sink)
}

/// What a fast step measured.
fn counts(f: &fast::Fast) -> memo::Counts {
    memo::Counts {
        end: f.end,
        part_end: f.part_end.clone(),
        // One pass over every PE of the system.
        pe_busy: f.pe_busy.iter().sum(),
        fabric_wavelets: f.part_wavelets.iter().sum(),
        io_wavelets: f.io_wavelets,
    }
}

fn measure_fast(m: &WseSystem, w: &Workload, plan: &Plan, trace: bool) -> crate::Result<Measured> {
    if trace {
        let f = run_fast(m, w, plan, (false, None))?;
        let trace = Some(fast_trace(m, plan, &f)?);
        return Ok(Measured {
            counts: counts(&f),
            trace,
        });
    }
    let counts = memo::step(m, w, plan, || {
        run_fast(m, w, plan, (false, None)).map(|f| counts(&f))
    })?;
    Ok(Measured {
        counts,
        trace: None,
    })
}

/// The fast fidelity's trace: per wafer, the parts it ran and the wavelets the fabric carried
/// in each (link load over time).
fn fast_trace(m: &WseSystem, plan: &Plan, f: &fast::Fast) -> crate::Result<Trace> {
    let mut t = Trace::new(clock(m)?);
    let mut start = 0;
    for (i, &end) in f.part_end.iter().enumerate() {
        let name = if i < plan.layers.len() {
            format!("layer {i}")
        } else {
            "classifier".to_owned()
        };
        let wavelets = f.part_wavelets[i];
        let wafer = plan.part_wafer(i);
        let chip = format!("wafer{wafer}");
        let step = t.track(&chip, "step");
        t.span(step, name.clone(), Cycle(start), end.saturating_sub(start))?;
        let fabric = t.track(&chip, "fabric");
        let load = format!("{name}: {wavelets} wavelets");
        t.span(fabric, load, Cycle(start), end.saturating_sub(start))?;
        start = start.max(end);
    }
    Ok(t)
}

/// Run `prog`, whose tasks belong to `parts` parts, wavelet by wavelet: the last completion of
/// each part, and what the run measured.
fn detailed_part_ends(
    m: &WseSystem,
    prog: program::Program,
    parts: usize,
    trace: bool,
) -> crate::Result<(Vec<u64>, detailed::Detailed)> {
    let of_task: Vec<usize> = prog.tasks.iter().map(|t| t.part).collect();
    let d = detailed::run(prog, clock(m)?, trace, DETAILED_EVENT_BUDGET)?;
    let mut part_end = vec![0; parts];
    for (&part, &done) in of_task.iter().zip(&d.task_done) {
        part_end[part] = part_end[part].max(done);
    }
    Ok((part_end, d))
}

fn measure_detailed(
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
    trace: bool,
) -> crate::Result<Measured> {
    let mut prog = program::Program::new(plan.geometry.clone());
    let dp = Datapath::new(&m.wafer.pe);
    emit::decode_step(&mut prog, plan, w, dp, per_wavelet(m), Step::decode(w))?;
    let g = prog.geometry.clone();
    let (part_end, d) = detailed_part_ends(m, prog, plan.layers.len() + 1, trace)?;
    let (io, fabric): (Vec<_>, Vec<_>) = d.link_load.iter().partition(|(l, _)| g.is_io(**l));
    Ok(Measured {
        counts: memo::Counts {
            end: d.task_done.iter().copied().max().unwrap_or(0),
            part_end,
            pe_busy: d.pe_busy.iter().sum(),
            fabric_wavelets: fabric.iter().map(|(_, n)| **n).sum(),
            io_wavelets: io.iter().map(|(_, n)| **n).sum(),
        },
        trace: d.trace,
    })
}

/// Compile and time `w` on the placement's units.
pub fn simulate(
    m: &WseSystem,
    w: &Workload,
    placement: &crate::mapping::Placement,
    opts: &SimOptions,
) -> crate::Result<Timing> {
    let wafers = wafers(placement, opts)?;
    let chosen = choose(m, w, wafers, opts)?;
    let r = match (opts.fidelity, opts.trace) {
        (Fidelity::Fast, false) => Measured {
            counts: chosen.counts,
            trace: None,
        },
        (Fidelity::Fast, true) => measure_fast(m, w, &chosen.plan, true)?,
        (Fidelity::Detailed, trace) => measure_detailed(m, w, &chosen.plan, trace)?,
    };
    let prefill = match opts.fidelity {
        _ if opts.decode_only => 0,
        Fidelity::Fast => memo::prefill(m, w, &chosen.plan, || {
            prefill::cycles(m, w, &chosen.plan, Fidelity::Fast)
        })?,
        Fidelity::Detailed => prefill::cycles(m, w, &chosen.plan, Fidelity::Detailed)?,
    };
    Ok(timing(
        m,
        w,
        &chosen.plan,
        (wafers, prefill),
        &r,
        chosen.candidates,
    ))
}

/// The run's timing from the chosen plan's decode step `r` and its prefill's cycles.
fn timing(
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
    (wafers, prefill): (u32, u64),
    r: &Measured,
    candidates: Vec<Candidate>,
) -> Timing {
    let wafer = &m.wafer;
    let clock_hz = wafer.clock_hz;
    let units = wafers as f64;
    let pes = wafers as u64 * wafer.fabric_pes();
    let bytes_per_cycle = (pes * wafer.pe.sram_read_ports * wafer.pe.sram_port_bits / 8) as f64;
    let ops_per_cycle = units * wafer.peak_fp16_ops_per_s() / clock_hz;
    let step = Step::decode(w);
    let part = |name: String, ops: &[Op], cycles: u64| {
        let bytes: u64 = ops.iter().map(Op::bytes).sum();
        let count: u64 = ops.iter().map(|o| o.ops).sum();
        PartTime {
            name,
            cycles,
            bytes,
            ops: count,
            memory_bound_cycles: (bytes as f64 / bytes_per_cycle).ceil() as u64,
            compute_bound_cycles: (count as f64 / ops_per_cycle).ceil() as u64,
        }
    };
    let layer_ops = work::layer_ops(w, step);
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, &end) in r.counts.part_end.iter().enumerate() {
        let cycles = end.saturating_sub(start);
        start = start.max(end);
        parts.push(if i < plan.layers.len() {
            part(format!("layer {i}"), &layer_ops, cycles)
        } else {
            part("classifier".to_owned(), &work::head_ops(w, step), cycles)
        });
    }
    let decode = r.counts.end.max(1);
    let ports = wafer.router.ports;
    let io_lanes = (plan.geometry.io_lanes * wafers) as u64;
    let busy = |unit: &str, instances: u64, busy: u64| UnitBusy {
        unit: unit.to_owned(),
        instances,
        busy_cycles: busy,
        utilization: busy as f64 / (instances * decode) as f64,
    };
    let layer_pes = plan.layers.first().map_or(0, Layer::pes);
    let shapes: Vec<String> = plan.layers.first().map_or(Vec::new(), |l| {
        l.matrices()
            .iter()
            .map(|m| {
                format!(
                    "{} {}x{} tiles on {}x{} PEs{}",
                    m.name,
                    m.tiles.tile_rows,
                    m.tiles.tile_cols,
                    m.tiles.in_blocks,
                    m.outputs.len(),
                    if m.transposed { " (transposed)" } else { "" }
                )
            })
            .collect()
    });
    Timing {
        clock_hz,
        decode_cycles: decode,
        prefill_cycles: prefill,
        parts,
        units: vec![
            busy("pe", pes, r.counts.pe_busy),
            busy("router", pes * ports, r.counts.fabric_wavelets),
            busy("io", io_lanes, r.counts.io_wavelets),
        ],
        network_bytes: r.counts.io_wavelets * wafer.router.wavelet_bits / 8,
        peak_bytes_per_s: bytes_per_cycle * clock_hz,
        peak_ops_per_s: ops_per_cycle * clock_hz,
        peak_network_bytes_per_s: units * m.system.io_bytes_per_s,
        mapping: format!(
            "weight-stationary MeshGEMV on {} of {wafers} wafer(s), {layer_pes} PEs per layer ({}); \
             KV cache in lines of {} tokens per PE; links and PEs serve in program order, \
             links credit-limited by queues of {} wavelets per color; {}",
            plan.wafers_used,
            shapes.join(", "),
            plan.kv_per_pe,
            wafer.router.queue_wavelets,
            plan.arrangement,
        ),
        mapping_params: MappingParams::Wse {
            wafers_used: u64::from(plan.wafers_used),
            tile_bytes: plan.spread.tile_bytes.min(wafer.pe_data_bytes()),
            kv_tokens_per_pe: plan.kv_per_pe,
            pes_per_layer: layer_pes,
            arrangement: plan.arrangement.to_string(),
            overlaid: matches!(plan.arrangement, Arrangement::Overlaid(_)),
        },
        candidates,
        trace: r.trace.clone(),
    }
}
