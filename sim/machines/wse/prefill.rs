//! Time to first token on the wafer: the prompt's positions run through the decode step's
//! wafer program (`emit::prefill`), one group of one token per sequence after another, each
//! attending to its own causal prefix, pipelined through the layers by program order.
//!
//! A short prompt is simulated position by position ([`exact`]). A long one would cost a decode
//! step per position (2,048 of them for the shipped workloads), so it is simulated in windows
//! ([`windowed`]): the last position alone through every layer and the classifier (its pass),
//! plus the interval at which positions leave a pipeline of the first [`WINDOW_LAYERS`] layers
//! (translates of every other one), measured on [`WINDOW`] positions in flight at [`DEPTHS`]
//! context depths from the prompt's start to its end, interpolated linearly in the depth and
//! summed over the positions before the last one: position `q` enters `interval(q)` after
//! position `q - 1`, and the last one then takes its pass. The estimate against every position
//! simulated is tested on stories260K (`tests.rs`).

use super::datapath::Datapath;
use super::layout::Plan;
use super::{detailed_part_ends, emit, fast, per_wavelet, program};
use crate::arch::WseSystem;
use crate::mapping::Fidelity;
use crate::workload::Workload;
use rayon::prelude::*;
use std::ops::Range;

/// Positions in flight in a window: the first fills the pipeline, the intervals at which the
/// others leave it are averaged.
const WINDOW: u64 = 3;
/// Context depths at which a window runs, evenly from the prompt's start to its end.
const DEPTHS: u64 = 4;
/// Layers in the window's pipeline: a layer fed by the embedding and one fed by a layer (on
/// LLaMA-3.1-405B the second doubles the interval: the two layers share links, which serve
/// the positions' messages in program order).
const WINDOW_LAYERS: usize = 2;
/// Prompts no longer than this are simulated position by position.
const EXACT_POSITIONS: u64 = WINDOW * DEPTHS;

/// Cycles from the start of the prefill until the last prompt position's token is chosen:
/// simulated position by position for a short prompt, else in windows (see the module).
pub fn cycles(m: &WseSystem, w: &Workload, plan: &Plan, fidelity: Fidelity) -> crate::Result<u64> {
    match w.scenario.prompt_tokens {
        0 => Ok(0),
        p if p <= EXACT_POSITIONS => exact(m, w, plan, fidelity),
        _ => windowed(m, w, plan, fidelity),
    }
}

/// Every prompt position simulated, the last one through the classifier.
pub fn exact(m: &WseSystem, w: &Workload, plan: &Plan, fidelity: Fidelity) -> crate::Result<u64> {
    let p = w.scenario.prompt_tokens;
    let ends = part_ends(m, w, plan, fidelity, (0..p, true))?;
    Ok(ends.into_iter().max().unwrap_or(0))
}

/// The last position's pass plus the intervals of the positions before it, each interpolated
/// from windows at [`DEPTHS`] depths (see the module); a prompt shorter than a window is
/// simulated position by position.
pub fn windowed(
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
    fidelity: Fidelity,
) -> crate::Result<u64> {
    let p = w.scenario.prompt_tokens;
    if p < WINDOW {
        return exact(m, w, plan, fidelity);
    }
    let pipeline = window_plan(plan);
    let parts = pipeline.layers.len() + 1;
    // The last position's pass and the windows are independent runs: side by side at the
    // fast fidelity.
    let window = |i: u64| -> crate::Result<(f64, f64)> {
        let depth = i * (p - WINDOW) / (DEPTHS - 1);
        let ends = part_ends(m, w, &pipeline, fidelity, (depth..depth + WINDOW, false))?;
        let leave: Vec<u64> = (ends.chunks(parts))
            .map(|group| group.iter().copied().max().unwrap_or(0))
            .collect();
        let span = leave[WINDOW as usize - 1].saturating_sub(leave[0]);
        // The intervals measured are those of positions depth + 1 ..= depth + WINDOW - 1.
        let centre = depth as f64 + WINDOW as f64 / 2.0;
        Ok((centre, span as f64 / (WINDOW - 1) as f64))
    };
    let last = || part_ends(m, w, plan, fidelity, (p - 1..p, true));
    let (last, samples) = match fidelity {
        Fidelity::Fast => rayon::join(last, || {
            (0..DEPTHS)
                .into_par_iter()
                .map(window)
                .collect::<crate::Result<_>>()
        }),
        // Detailed runs hold every event: one at a time.
        Fidelity::Detailed => (
            last(),
            (0..DEPTHS).map(window).collect::<crate::Result<_>>(),
        ),
    };
    let pass = last?.into_iter().max().unwrap_or(0);
    let samples: Vec<(f64, f64)> = samples?;
    let start: f64 = (1..p).map(|q| interpolate(&samples, q as f64)).sum();
    Ok(pass + start.round() as u64)
}

/// `samples` (abscissae increasing) linearly interpolated at `x`, held constant past the ends.
fn interpolate(samples: &[(f64, f64)], x: f64) -> f64 {
    let after = samples.partition_point(|&(at, _)| at <= x);
    match (after.checked_sub(1).map(|i| samples[i]), samples.get(after)) {
        (Some((x0, y0)), Some(&(x1, y1))) => y0 + (y1 - y0) * (x - x0) / (x1 - x0),
        (Some((_, y)), None) | (None, Some(&(_, y))) => y,
        (None, None) => 0.0,
    }
}

/// The first [`WINDOW_LAYERS`] layers of `plan` after its embedding, without the classifier,
/// on the wafers they use: the pipeline whose interval a window measures.
fn window_plan(plan: &Plan) -> Plan {
    let layers = plan.layers[..WINDOW_LAYERS.min(plan.layers.len())].to_vec();
    let g = &plan.geometry;
    let pes = (plan.embedding.occupied()).chain(layers.iter().flat_map(|l| l.occupied()));
    let wafers = pes.map(|(pe, _)| g.coords(pe).0 + 1).max().unwrap_or(1);
    Plan {
        geometry: super::geometry::Geometry {
            wafers,
            ..g.clone()
        },
        embedding: plan.embedding.clone(),
        layers,
        classifier: None,
        kv_per_pe: plan.kv_per_pe,
        spread: plan.spread,
        wafers_used: wafers,
        arrangement: plan.arrangement,
    }
}

/// The last completion of every part of the prefill of `positions` (`emit::prefill`, the last
/// position through the classifier when asked) at `fidelity`, each run from an idle system.
fn part_ends(
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
    fidelity: Fidelity,
    (positions, classify_last): (Range<u64>, bool),
) -> crate::Result<Vec<u64>> {
    let parts = (positions.end - positions.start) as usize * (plan.layers.len() + 1);
    let emitted = (Datapath::new(&m.wafer.pe), per_wavelet(m));
    match fidelity {
        Fidelity::Fast => {
            let mut f = fast::Fast::new(plan.geometry.clone(), parts);
            emit::prefill(&mut f, (plan, w), emitted, positions, classify_last)?;
            Ok(std::mem::take(&mut f.part_end))
        }
        Fidelity::Detailed => {
            let mut prog = program::Program::new(plan.geometry.clone());
            emit::prefill(&mut prog, (plan, w), emitted, positions, classify_last)?;
            Ok(detailed_part_ends(m, prog, parts, false)?.0)
        }
    }
}
