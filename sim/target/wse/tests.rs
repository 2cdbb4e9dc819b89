//! Golden cycle counts of the wafer's collectives, agreement of the two fidelities, and the
//! mapping's checks.

use super::datapath::Datapath;
use super::detailed;
use super::fast::Fast;
use super::geometry::{Geometry, Pe, Route};
use super::layout::{Matrix, Misfit, layout};
use super::place::Tiles;
use super::program::{Program, Sink};
use crate::arch::{Machine, WseSystem};
use crate::engine::Clock;
use crate::quant::Format;
use crate::run::{Fidelity, RunOptions};
use crate::workload::Workload;

/// A 4 x 4 wafer with one-cycle hops.
fn grid() -> Geometry {
    Geometry {
        wafers: 1,
        rows: 4,
        cols: 4,
        hop: 1,
        io_lanes: 1,
        io_latency: 10,
    }
}

fn wse3() -> WseSystem {
    let archs = crate::arch::presets().unwrap();
    match archs.into_iter().find(|(_, a)| a.name == "cerebras-wse3") {
        Some((_, a)) => match a.machine {
            Machine::CerebrasWse(m) => m,
            _ => unreachable!("cerebras-wse3 is a WSE"),
        },
        None => unreachable!("cerebras-wse3 ships with accsim"),
    }
}

fn workload(name: &str) -> Workload {
    let ws = crate::workload::presets().unwrap();
    ws.into_iter().find(|(_, w)| w.name == name).unwrap().1
}

/// stories260k serving `batch` sequences of a 64-token context.
fn short(batch: u64) -> Workload {
    let mut w = workload("stories260k");
    w.scenario.batch = batch;
    w.scenario.context = 64;
    w.scenario.prompt_tokens = 32;
    w.scenario.generated_tokens = 32;
    w
}

/// A hand-written program for any sink: one task per step, each optionally sending a message
/// along `stops`; a step with `input` consumes drop `input` of the previous message.
struct Step {
    pe: Pe,
    input: Option<usize>,
    items: u64,
    service: u64,
    stops: Vec<Pe>,
}

fn emit<S: Sink>(sink: &mut S, steps: &[Step]) -> Vec<S::Task> {
    let mut tasks = Vec::new();
    let mut last = Vec::new();
    for s in steps {
        let input = s.input.map(|d| last[d]);
        let t = sink.task(s.pe, input, s.items, s.service).unwrap();
        if !s.stops.is_empty() {
            let mut route = Route::default();
            route.through(&grid(), s.pe, s.stops.iter().copied());
            sink.message(t, &route, &mut last).unwrap();
        }
        tasks.push(t);
    }
    tasks
}

/// Completion of every task, at the fast fidelity and the detailed one.
fn both(steps: &[Step]) -> (Vec<u64>, Vec<u64>) {
    let mut fast = Fast::new(grid(), 1);
    let done = emit(&mut fast, steps).iter().map(|t| t.last()).collect();
    let mut prog = Program::new(grid());
    emit(&mut prog, steps);
    let d = detailed::run(prog, Clock::new(1_000_000_000).unwrap(), false, 1 << 20).unwrap();
    (done, d.task_done)
}

fn at(r: u32, c: u32) -> Pe {
    grid().pe(0, r, c)
}

fn step(pe: Pe, input: Option<usize>, items: u64, service: u64, stops: Vec<Pe>) -> Step {
    Step {
        pe,
        input,
        items,
        service,
        stops,
    }
}

#[test]
fn row_broadcast_golden() {
    // PE (0,0) sends 8 wavelets, one per cycle (done at 1..=8); each takes its ramp out (+1),
    // one cycle per hop east, and the ramp in (+1). The last wavelet reaches (0,1) at
    // 8 + 1 + 1 + 1 = 11, (0,2) at 12, (0,3) at 13: n + ramp out + hops + ramp in.
    let stops = vec![at(0, 1), at(0, 2), at(0, 3)];
    let mut steps = vec![step(at(0, 0), None, 8, 1, stops.clone())];
    for (d, &pe) in stops.iter().enumerate() {
        steps.push(step(pe, Some(d), 0, 0, vec![]));
    }
    let (fast, det) = both(&steps);
    assert_eq!(fast, [8, 11, 12, 13]);
    assert_eq!(det, fast);
}

#[test]
fn column_reduction_golden() {
    // Four PEs down column 0 each hold 8 wavelets of partial sums. The top sends (done at
    // 1..=8); each stage below receives a wavelet 3 cycles after it left the PE above (ramp
    // out, hop south, ramp in) and adds it in 1 cycle, then forwards it: 4 cycles per stage,
    // so the last wavelet is reduced at 8 + 3 x 4 = 20.
    let mut steps = vec![step(at(0, 0), None, 8, 1, vec![at(1, 0)])];
    for r in 1..4 {
        let next = if r < 3 { vec![at(r + 1, 0)] } else { vec![] };
        steps.push(step(at(r, 0), Some(0), 0, 1, next));
    }
    let (fast, det) = both(&steps);
    assert_eq!(fast, [8, 12, 16, 20]);
    assert_eq!(det, fast);
}

/// An 8 x 8 f16 matrix in 2 x 2 tiles on the 4 x 4 grid: input block `a` on row `a`, output
/// block `j` reduced down column `j`.
fn small_gemv() -> Matrix {
    Matrix {
        name: "w",
        format: Format::F16,
        tiles: Tiles {
            tile_rows: 2,
            tile_cols: 2,
            out_blocks: 4,
            in_blocks: 4,
        },
        cols: 8,
        outputs: (0..4).map(|j| (2 * j, 2 * j + 2)).collect(),
        runs: (0..4).map(|c| at(0, c)).collect(),
        transposed: false,
        chunk: 2,
        pe_bytes: 0,
        cols_per_row: 4,
    }
}

#[test]
fn small_gemv_golden() {
    // WSE-3 datapath: 4 f16 lanes, so a wavelet (2 inputs) times a 2-row tile takes
    // 2 x ceil(2 / 4) = 2 cycles. Row a's entry (a,0) sends its block (1 wavelet, done at 1):
    // it reaches (a,j) at 1 + 1 (ramp out) + j (hops) + 1 (ramp in) = 3 + j and is multiplied
    // by 5 + j; the entry multiplies its own copy after sending (done at 3). Column j's top then
    // sends 2 wavelets (sums and sum of squares), done at 6 + j and 7 + j (column 0: 4 and 5),
    // and each of the 3 stages below adds 4 cycles (ramp out, hop, ramp in, add): the last
    // wavelet is reduced at 7 + j + 12 = 19 + j (column 0: 5 + 12 = 17).
    let m = small_gemv();
    let dp = Datapath::new(&wse3().wafer.pe);
    let mut fast = Fast::new(grid(), 1);
    let outs = super::emit::gemv(&mut fast, &m, dp, 2).unwrap();
    assert_eq!(outs, (0..4).map(|c| at(3, c)).collect::<Vec<_>>());
    let ends: Vec<u64> = (0..4).map(|c| fast.pe_free(at(3, c))).collect();
    assert_eq!(ends, [17, 20, 21, 22]);
    assert_eq!(fast.end, 22);
    let mut prog = Program::new(grid());
    super::emit::gemv(&mut prog, &m, dp, 2).unwrap();
    let d = detailed::run(prog, Clock::new(1_000_000_000).unwrap(), false, 1 << 20).unwrap();
    assert_eq!(d.task_done.iter().max(), Some(&fast.end));
}

/// `m` with a `rows` x `cols` fabric and `sram` bytes per PE, everything else as WSE-3.
fn tiny_wafer(rows: u64, cols: u64, sram: u64) -> WseSystem {
    let mut m = wse3();
    m.wafer.fabric_rows = rows;
    m.wafer.fabric_cols = cols;
    m.wafer.pe.sram_bytes = sram;
    m.wafer.pe.code_reserve_bytes = 256;
    m.wafer.pe.buffer_bytes = 256;
    m
}

fn run(m: &WseSystem, w: &Workload, fidelity: Fidelity) -> crate::run::Timing {
    let placement = super::place(m, w, None);
    let opts = RunOptions {
        fidelity,
        ..RunOptions::default()
    };
    super::simulate(m, w, &placement, &opts).unwrap()
}

#[test]
fn fidelities_agree_on_small_wafers() {
    // stories260k cut into many small tiles on 2 KB PEs, over one and several wafers, at
    // batch 1 to 4 (GEMV messages carrying every sequence, attention of several sequences;
    // 1 KB of buffers holds their partial sums): every cycle count must agree.
    let mut cases = Vec::new();
    for (rows, cols, batch) in [
        (40, 40, 1),
        (10, 10, 1),
        (10, 10, 2),
        (40, 40, 4),
        (10, 10, 3),
    ] {
        let mut m = tiny_wafer(rows, cols, 2048);
        if batch > 2 {
            m.wafer.pe.buffer_bytes = 1024;
        }
        cases.push((m, short(batch)));
    }
    for (m, w) in &cases {
        let placement = super::place(m, w, None);
        assert!(placement.fits, "{}", placement.split);
        let fast = run(m, w, Fidelity::Fast);
        let det = run(m, w, Fidelity::Detailed);
        assert_eq!(fast.decode_cycles, det.decode_cycles);
        assert_eq!(fast.parts, det.parts);
        assert_eq!(fast.units, det.units);
        assert_eq!(fast.network_bytes, det.network_bytes);
    }
    // The cases on 10 x 10 wafers span several: their I/O lanes carried wavelets.
    for (m, w) in cases.iter().filter(|(m, _)| m.wafer.fabric_rows == 10) {
        assert!(super::place(m, w, None).units_needed > Some(1));
        assert!(run(m, w, Fidelity::Fast).network_bytes > 0);
    }
}

#[test]
fn sram_overflow_names_the_pe_and_bytes_short() {
    // 8 bytes of buffers cannot hold a tile's partial sums next to even one input chunk.
    let mut m = tiny_wafer(40, 40, 2048);
    m.wafer.pe.buffer_bytes = 8;
    let w = short(1);
    match layout(&m, &w, 4) {
        Err(Misfit::Sram { pe, needs, has, .. }) => {
            assert!(needs > has);
            assert_eq!(pe.0, 0);
        }
        other => panic!("expected an SRAM overflow, got {other:?}"),
    }
    let placement = super::place(&m, &w, None);
    let err = super::simulate(&m, &w, &placement, &RunOptions::default()).unwrap_err();
    assert!(err.to_string().contains("bytes short"), "{err}");
}

#[test]
fn layers_respect_their_rooflines() {
    let m = wse3();
    let w = workload("stories260k");
    let t = run(&m, &w, Fidelity::Fast);
    assert_eq!(t.parts.len(), w.model.layers as usize + 1);
    for p in &t.parts {
        assert!(p.cycles >= p.memory_bound_cycles, "{p:?}");
        assert!(p.cycles >= p.compute_bound_cycles, "{p:?}");
    }
    assert_eq!(
        t.decode_cycles,
        t.parts.iter().map(|p| p.cycles).sum::<u64>()
    );
}

#[test]
fn fast_step_of_a_70b_slice_is_pinned() {
    // Four LLaMA-3-70B layers at batch 2 on a WSE-3, pinned so that no optimization moves a
    // cycle. Moved once on purpose, when batches became weight-stationary GEMMs (every GEMV
    // message carries both sequences): 1,946,411 cycles before. The sequences now run each
    // GEMV in lock step, so one's GEMV no longer overlaps the other's attention as the
    // per-sequence order let it (with batch-1-sized chunks it would be 2,037,506).
    let m = wse3();
    let mut w = workload("llama3-70b");
    w.model.layers = 4;
    w.scenario.batch = 2;
    let t = run(&m, &w, Fidelity::Fast);
    let parts: Vec<u64> = t.parts.iter().map(|p| p.cycles).collect();
    let units: Vec<u64> = t.units.iter().map(|u| u.busy_cycles).collect();
    assert_eq!(t.decode_cycles, 2_017_483);
    assert_eq!(parts, [493_544, 467_905, 472_415, 474_270, 109_349]);
    assert_eq!(units, [4_869_448_228, 331_144_535, 0]);
    assert_eq!(t.network_bytes, 0);
}
