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
mod place;
mod program;
mod replay;
#[cfg(test)]
mod tests;
mod train;

pub use heatmap::{WaferMaps, heatmaps};
pub use place::place;

use crate::arch::WseSystem;
use crate::engine::{Clock, Cycle, Trace};
use crate::mapping::{Fidelity, PartTime, SimOptions, Timing, UnitBusy};
use crate::workload::Workload;
use crate::workload::work::{self, Op, Step};
use datapath::Datapath;
use layout::{Layer, Plan};

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

/// Lay `w` out on `wafers` wafers, after checking the host can hold the fabric's state. A
/// misfit is a usage error naming the PE or wafer count, blamed on `--wafers` only when the
/// user gave the count (`opts.units`); otherwise on the workload's scenario.
fn plan(m: &WseSystem, w: &Workload, wafers: u32, opts: &SimOptions) -> crate::Result<Plan> {
    let g = geometry::Geometry::new(m, wafers);
    // The fast fidelity's per-PE and per-link arrays, 8 bytes each: the largest allocation.
    let state = 8 * (2 * g.pes() as u64 + g.links() as u64);
    crate::host::reserve(|| format!("the fabric state of {wafers} wafer(s)"), state)?;
    layout::layout(m, w, wafers).map_err(|e| match opts.units {
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
    link_load: bool,
) -> crate::Result<fast::Fast> {
    let mut sink = fast::Fast::new(plan.geometry.clone(), plan.layers.len() + 1);
    if link_load {
        sink = sink.with_link_load();
    }
    let dp = Datapath::new(&m.wafer.pe);
    emit::decode_step(&mut sink, plan, w, dp, per_wavelet(m), Step::decode(w))?;
    Ok(sink)
}

fn measure_fast(m: &WseSystem, w: &Workload, plan: &Plan, trace: bool) -> crate::Result<Measured> {
    let counts = |f: &fast::Fast| {
        // One pass over every PE of the system.
        let (pe_busy, pe_busy_max) =
            (f.pe_busy.iter()).fold((0, 0), |(sum, max), &b| (sum + b, max.max(b)));
        memo::Counts {
            end: f.end,
            part_end: f.part_end.clone(),
            pe_busy,
            pe_busy_max,
            fabric_wavelets: f.part_wavelets.iter().sum(),
            io_wavelets: f.io_wavelets,
        }
    };
    if trace {
        let f = run_fast(m, w, plan, false)?;
        let trace = Some(fast_trace(m, plan, &f)?);
        return Ok(Measured {
            counts: counts(&f),
            trace,
        });
    }
    let counts = memo::step(m, w, plan, || {
        run_fast(m, w, plan, false).map(|f| counts(&f))
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

fn measure_detailed(
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
    trace: bool,
) -> crate::Result<Measured> {
    let mut prog = program::Program::new(plan.geometry.clone());
    let dp = Datapath::new(&m.wafer.pe);
    emit::decode_step(&mut prog, plan, w, dp, per_wavelet(m), Step::decode(w))?;
    let parts: Vec<usize> = prog.tasks.iter().map(|t| t.part).collect();
    let g = prog.geometry.clone();
    let d = detailed::run(prog, clock(m)?, trace, DETAILED_EVENT_BUDGET)?;
    let mut part_end = vec![0; plan.layers.len() + 1];
    for (&part, &done) in parts.iter().zip(&d.task_done) {
        part_end[part] = part_end[part].max(done);
    }
    let (io, fabric): (Vec<_>, Vec<_>) = d.link_load.iter().partition(|(l, _)| g.is_io(**l));
    Ok(Measured {
        counts: memo::Counts {
            end: d.task_done.iter().copied().max().unwrap_or(0),
            part_end,
            pe_busy: d.pe_busy.iter().sum(),
            pe_busy_max: d.pe_busy.iter().copied().max().unwrap_or(0),
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
    let plan = plan(m, w, wafers, opts)?;
    let r = match opts.fidelity {
        Fidelity::Fast => measure_fast(m, w, &plan, opts.trace)?,
        Fidelity::Detailed => measure_detailed(m, w, &plan, opts.trace)?,
    };
    Ok(timing(m, w, &plan, wafers, &r))
}

fn timing(m: &WseSystem, w: &Workload, plan: &Plan, wafers: u32, r: &Measured) -> Timing {
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
    // Prefill streams the prompt's positions through the same pipeline: the first one takes a
    // decode step, each further one the busiest PE's share of a step (an upper bound: every
    // position is charged attention over the full context).
    let positions = step.sequences * w.scenario.prompt_tokens;
    let interval = r.counts.pe_busy_max.div_ceil(step.sequences.max(1));
    let prefill = decode + positions.saturating_sub(1) * interval;
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
        trace: r.trace.clone(),
    }
}
