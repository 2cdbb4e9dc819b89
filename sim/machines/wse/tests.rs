//! Golden cycle counts of the wafer's collectives, agreement of the two fidelities, and the
//! mapping's checks.

use super::datapath::Datapath;
use super::detailed;
use super::fast::Fast;
use super::geometry::{Geometry, Pe, Route, Shift, Sweep};
use super::layout::{Arrangement, Matrix, Misfit, Plan, layout};
use super::place::{Spread, Tiles};
use super::program::{Buffer, Program, Receive, Sink};
use crate::arch::{Machine, WseSystem};
use crate::engine::Clock;
use crate::mapping::{Fidelity, MappingParams, Pins, SimOptions};
use crate::quant::Format;
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
        queue: 4,
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
/// along `stops`; a step with `input` receives drop `input` of the last message sent before it
/// (from its input queue), at its `service` cycles per wavelet.
struct Step {
    pe: Pe,
    input: Option<usize>,
    items: u64,
    service: u64,
    stops: Vec<Pe>,
}

fn emit<S: Sink>(sink: &mut S, g: &Geometry, steps: &[Step]) -> Vec<S::Task> {
    let mut tasks: Vec<Option<S::Task>> = vec![None; steps.len()];
    for (i, s) in steps.iter().enumerate() {
        if s.input.is_none() {
            tasks[i] = Some(sink.task(s.pe, s.items, s.service).unwrap());
        }
        if s.stops.is_empty() {
            continue;
        }
        // The steps receiving this message: the next ones with an input, one per drop.
        let receivers: Vec<usize> = (i + 1..steps.len())
            .filter(|&j| steps[j].input.is_some())
            .take(s.stops.len())
            .collect();
        let mut receives = vec![None; s.stops.len()];
        for &j in &receivers {
            let buffer = Buffer::Queue;
            receives[steps[j].input.unwrap()] = Some(Receive {
                service: steps[j].service,
                buffer,
            });
        }
        let receives: Vec<Receive<S::Task>> = receives.into_iter().map(Option::unwrap).collect();
        let mut route = Route::default();
        route.through(g, s.pe, s.stops.iter().copied());
        let mut received = Vec::new();
        let src = tasks[i].clone().unwrap();
        sink.message(&src, &route, &receives, &mut received)
            .unwrap();
        for &j in &receivers {
            tasks[j] = Some(received[steps[j].input.unwrap()].clone());
        }
    }
    tasks.into_iter().map(Option::unwrap).collect()
}

/// Completion of every task, at the fast fidelity and the detailed one.
fn both(steps: &[Step]) -> (Vec<u64>, Vec<u64>) {
    let mut fast = Fast::new(grid(), 1);
    let done = emit(&mut fast, &grid(), steps)
        .iter()
        .map(|t| t.last())
        .collect();
    let mut prog = Program::new(grid());
    emit(&mut prog, &grid(), steps);
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

fn run(m: &WseSystem, w: &Workload, fidelity: Fidelity) -> crate::mapping::Timing {
    run_pinned(m, w, fidelity, Pins::default())
}

/// Every PE filled, as the fit verdict counts: the mapping before the search.
fn densest(m: &WseSystem) -> Pins {
    Pins {
        tile_bytes: Some(m.wafer.pe_data_bytes()),
        kv_tokens_per_pe: Some(u64::MAX),
        overlaid: Some(false),
        ..Pins::default()
    }
}

fn run_pinned(
    m: &WseSystem,
    w: &Workload,
    fidelity: Fidelity,
    pins: Pins,
) -> crate::mapping::Timing {
    let placement = super::place(m, w, None);
    let opts = SimOptions {
        fidelity,
        pins,
        ..SimOptions::default()
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
    // Queues of 1 and 2 wavelets hold nearly every message up.
    for (case, queue) in [(0, 1), (1, 2), (3, 1)] {
        let (mut m, w) = cases[case].clone();
        m.wafer.router.queue_wavelets = queue;
        cases.push((m, w));
    }
    for (m, w) in &cases {
        let placement = super::place(m, w, None);
        assert!(placement.fits, "{}", placement.split);
        let fast = run(m, w, Fidelity::Fast);
        let det = run(m, w, Fidelity::Detailed);
        assert_eq!(fast.decode_cycles, det.decode_cycles);
        // The prefill of the 32-token prompt, in windows (see `prefill.rs`).
        assert_eq!(fast.prefill_cycles, det.prefill_cycles);
        assert_eq!(fast.parts, det.parts);
        assert_eq!(fast.units, det.units);
        assert_eq!(fast.network_bytes, det.network_bytes);
    }
    // Shallower queues hold messages up for longer.
    let (deep, shallow) = (&cases[0], &cases[cases.len() - 3]);
    let cycles = |(m, w): &(WseSystem, Workload)| run(m, w, Fidelity::Fast).decode_cycles;
    assert!(cycles(shallow) > cycles(deep));
    // The cases on 10 x 10 wafers span several: their I/O lanes carried wavelets.
    for (m, w) in cases.iter().filter(|(m, _)| m.wafer.fabric_rows == 10) {
        assert!(super::place(m, w, None).units_needed > Some(1));
        assert!(run(m, w, Fidelity::Fast).network_bytes > 0);
    }
}

#[test]
fn kv_slices_leave_room_beside_them_instead_of_overflowing() {
    // 8 bytes of buffers: a KV PE whose slice filled its data bytes would have no room for the
    // query head and scores beside it. The slices shrink instead (one rule for `fit` and the
    // layout), so every KV PE stays within its SRAM and the run agrees with the placement.
    let mut m = tiny_wafer(40, 40, 2048);
    m.wafer.pe.buffer_bytes = 8;
    let mut w = short(1);
    w.scenario.context = 512;
    let plan = layout(&m, &w, 4, Spread::densest(&m)).unwrap();
    let vector = w.model.head_dim * w.scenario.kv_cache.bytes();
    assert!(plan.kv_per_pe < m.wafer.pe_data_bytes() / vector);
    for line in plan.layers.iter().flat_map(|l| &l.kv) {
        assert!(line.pe_bytes <= m.wafer.pe.sram_bytes, "{}", line.pe_bytes);
    }
    let placement = super::place(&m, &w, None);
    assert!(placement.fits);
    let t = super::simulate(&m, &w, &placement, &SimOptions::default()).unwrap();
    match t.mapping_params {
        MappingParams::Wse {
            kv_tokens_per_pe, ..
        } => assert!(kv_tokens_per_pe <= plan.kv_per_pe, "{kv_tokens_per_pe}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sram_overflow_names_the_pe_and_bytes_short() {
    let e = Misfit::Sram {
        pe: (1, 2, 3),
        what: "a KV-cache slice".to_owned(),
        needs: 50_000,
        has: 49_152,
    };
    assert_eq!(
        e.to_string(),
        "SRAM overflow: PE (row 2, col 3) of wafer 1 holding a KV-cache slice needs 50000 bytes, \
         has 49152: 848 bytes short"
    );
}

#[test]
fn fit_and_run_agree_when_batch_buffers_outgrow_the_reserve() {
    // LLaMA-2-70B f16 at batch 4 on 5 WSE-3: the 512-row ffn_down tiles the batch-1 placement
    // picks need 4 x 2 x 512 bytes of partial sums, more than the 4 KiB buffer reserve; the
    // placement cuts smaller tiles instead, so the fit verdict and the wafer program agree.
    let mut w = workload("llama2-70b");
    w.quant = w.quant.with_matrices_as(Format::F16);
    w.scenario.batch = 4;
    let placement = super::place(&wse3(), &w, Some(5));
    assert!(placement.fits);
    let plan = layout(&wse3(), &w, 5, Spread::densest(&wse3())).unwrap();
    assert!(plan.layers[0].down.tiles.tile_rows * 2 * 4 + 4 * 4 <= 49_152 - 6_144 - 38_912 + 4_096);
    check_plan(&plan);
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
    // per-sequence order let it (with batch-1-sized chunks it would be 2,037,506). Moved again
    // when layers went into bands (2,017,483 before): layers 1 to 3 are now translates of each
    // other and take the same cycles (layer 0's input comes from the embedding). Moved when
    // router queues got their depth (4 wavelets) and credits (2,004,139 before): chunks wait
    // for their buffers and partial sums for the PE that adds them, holding their links.
    let m = wse3();
    let mut w = workload("llama3-70b");
    w.model.layers = 4;
    w.scenario.batch = 2;
    let t = run_pinned(&m, &w, Fidelity::Fast, densest(&m));
    let parts: Vec<u64> = t.parts.iter().map(|p| p.cycles).collect();
    let units: Vec<u64> = t.units.iter().map(|u| u.busy_cycles).collect();
    assert_eq!(t.decode_cycles, 2_106_365);
    assert_eq!(parts, [507_497, 495_918, 495_918, 495_918, 111_114]);
    assert_eq!(units, [4_869_448_228, 337_483_658, 0]);
    assert_eq!(t.network_bytes, 0);
}

/// stories260k on tall 40-column wafers at `batch`, with `layers` layers, each a translate of
/// the first: `per_wafer` on each wafer one below the other, on the first under everything else.
fn stacked_layers(
    batch: u64,
    layers: usize,
    per_wafer: usize,
) -> (WseSystem, Workload, super::layout::Plan) {
    let mut m = tiny_wafer(400, 40, 2048);
    m.wafer.pe.buffer_bytes = 1024;
    let w = short(batch);
    let wafers = layers.div_ceil(per_wafer) as u32;
    let mut plan = layout(&m, &w, wafers, Spread::densest(&m)).unwrap();
    // The layers moved below span every wafer, where the layout used the first.
    plan.geometry = Geometry::new(&m, wafers);
    plan.wafers_used = wafers;
    let g = plan.geometry.clone();
    let rows = |pes: &mut dyn Iterator<Item = Pe>| {
        let rows: Vec<u32> = pes.map(|p| g.coords(p).1).collect();
        (*rows.iter().min().unwrap(), *rows.iter().max().unwrap())
    };
    let memory = plan.pe_memory();
    let used = (0..g.pes() as u32).filter(|&i| memory[i as usize] > 0);
    let bottom = rows(&mut used.map(Pe)).1 + 1;
    let first = plan.layers[0].clone();
    let mut pes = Vec::new();
    for mat in [
        &first.q,
        &first.k,
        &first.v,
        &first.o,
        &first.gate_up,
        &first.down,
    ] {
        pes.extend(
            (0..mat.outputs.len())
                .flat_map(|j| (0..mat.tiles.in_blocks).map(move |a| mat.pe(a, j))),
        );
    }
    pes.extend(
        first
            .kv
            .iter()
            .flat_map(|l| l.pairs.iter().flat_map(|&(k, v)| [k, v])),
    );
    let (top, low) = rows(&mut pes.into_iter());
    let height = low - top + 1;
    plan.layers = (0..layers)
        .map(|l| {
            let wafer = (l / per_wafer) as u32;
            let row = if wafer == 0 { bottom } else { 0 } + (l % per_wafer) as u32 * height;
            assert!(row + height <= g.rows, "the wafer holds the stacked layers");
            let to = g.pe(wafer, row, 0).0 as i64;
            first.translated(to - g.pe(0, top, 0).0 as i64)
        })
        .collect();
    (m, w, plan)
}

/// The fast fidelity's decode step of `plan`, replaying translated layers unless `replay` is
/// false; `busy` is kept busy until late first (a layer using it cannot be replayed).
fn fast_step(m: &WseSystem, w: &Workload, plan: &Plan, replay: bool, busy: Option<Pe>) -> Fast {
    let mut f = Fast::new(plan.geometry.clone(), plan.layers.len() + 1).with_link_load();
    if !replay {
        f = f.without_replay();
    }
    if let Some(pe) = busy {
        f.task(pe, 1, 1 << 20).unwrap();
    }
    let (dp, step) = (
        Datapath::new(&m.wafer.pe),
        crate::workload::work::Step::decode(w),
    );
    super::emit::decode_step(&mut f, plan, w, dp, 2, step).unwrap();
    f
}

/// Two fast evaluations of one step agree in every cycle and counter the run record uses.
fn assert_same_step(a: &Fast, b: &Fast) {
    assert_eq!(a.end, b.end);
    assert_eq!(a.part_end, b.part_end);
    assert_eq!(a.part_wavelets, b.part_wavelets);
    assert_eq!(a.pe_busy, b.pe_busy);
}

#[test]
fn replayed_layers_equal_evaluated_ones() {
    // Layers that are translates, each fed by the one before: from the third on the fast
    // fidelity replays the recorded layer; every cycle, busy cycle and link state must be
    // what evaluating them gives, and the detailed fidelity must agree.
    // On several wafers, a wafer's first layer is fed over I/O lanes: it is recorded apart,
    // the next layer replays the one recorded on the wafer before, and the first layer of a
    // wafer replays the first of the wafer before once their inputs sit alike (from the
    // fourth wafer on, as the first wafer's layers sit lower).
    for (batch, layers, per_wafer, written) in
        [(1, 5, 5, 2), (3, 5, 5, 2), (2, 8, 4, 3), (1, 12, 3, 4)]
    {
        let (m, w, plan) = stacked_layers(batch, layers, per_wafer);
        let fast = |replay, busy| fast_step(&m, &w, &plan, replay, busy);
        // A PE of layer 2's FFN busy until late: that layer cannot be replayed.
        let busy = Some(plan.layers[2].down.pe(0, 0));
        let (blocked, unblocked) = (fast(true, busy), fast(false, busy));
        assert!(
            blocked.replayed < layers - written,
            "batch {batch}: layer 2 evaluated"
        );
        assert_same_step(&blocked, &unblocked);
        let (replayed, evaluated) = (fast(true, None), fast(false, None));
        assert_eq!(replayed.replayed, layers - written, "batch {batch}");
        assert_eq!(evaluated.replayed, 0);
        assert_same_step(&replayed, &evaluated);
        for link in 0..plan.geometry.links() as u32 {
            assert_eq!(replayed.link_load(link), evaluated.link_load(link));
        }
        for pe in (0..plan.geometry.pes() as u32).map(Pe) {
            assert_eq!(replayed.pe_free(pe), evaluated.pe_free(pe));
        }
        let mut prog = Program::new(plan.geometry.clone());
        let (dp, step) = (
            Datapath::new(&m.wafer.pe),
            crate::workload::work::Step::decode(&w),
        );
        super::emit::decode_step(&mut prog, &plan, &w, dp, 2, step).unwrap();
        let d = detailed::run(prog, Clock::new(1_000_000_000).unwrap(), false, 1 << 26).unwrap();
        assert_eq!(d.task_done.iter().max(), Some(&replayed.end));
    }
}

/// No PE holds two regions (but for the matrices of an overlaid layer, which share its grid),
/// and in bands (strips) every layer is a translate of the one before: by one band (strip) on
/// the same wafer.
fn check_plan(plan: &Plan) {
    let mut taken = std::collections::HashSet::new();
    let ends = std::iter::once(&plan.embedding).chain(plan.classifier.iter());
    let mut regions: Vec<Vec<Pe>> = ends
        .map(|m| m.occupied().map(|(pe, _)| pe).collect())
        .collect();
    for l in &plan.layers {
        let mut grid: Vec<Pe> = Vec::new();
        for m in l.matrices() {
            let pes = m.occupied().map(|(pe, _)| pe);
            match l.grid {
                Some(_) => grid.extend(pes),
                None => regions.push(pes.collect()),
            }
        }
        grid.sort_unstable_by_key(|p| p.0);
        grid.dedup();
        assert_eq!(l.grid.map(|_| grid.len() as u64), l.grid);
        regions.push(grid);
        regions.extend(
            l.kv.iter()
                .map(|k| k.pairs.iter().flat_map(|&(a, b)| [a, b]).collect()),
        );
    }
    for pe in regions.into_iter().flatten() {
        assert!(taken.insert(pe), "{pe:?} holds two regions");
    }
    let g = &plan.geometry;
    let step = match plan.arrangement {
        Arrangement::Bands(h) | Arrangement::Overlaid(h) => h as i64 * g.cols as i64,
        Arrangement::Strips(w) => w as i64,
        Arrangement::Continuous => return,
    };
    for (l, pair) in plan.layers.windows(2).enumerate() {
        let offset = pair[1].offset_from(&pair[0]);
        assert!(
            offset.is_some(),
            "layer {} is no translate of layer {l}",
            l + 1
        );
        if plan.part_wafer(l) == plan.part_wafer(l + 1) {
            assert_eq!(offset, Some(step), "layer {}", l + 1);
        }
    }
}

#[test]
fn layers_in_bands_are_translates() {
    // stories260k on a whole WSE-3 and on small wafers it spans several of.
    for (m, w, wafers) in [
        (wse3(), short(1), 1),
        (tiny_wafer(40, 40, 2048), short(1), 1),
        (tiny_wafer(10, 10, 2048), short(2), 8),
    ] {
        let plan = layout(&m, &w, wafers, Spread::densest(&m)).unwrap();
        assert!(matches!(plan.arrangement, Arrangement::Bands(_)));
        check_plan(&plan);
    }
    // LLaMA-2-70B at 3.5 bits over 2 to 4 WSE-3s.
    let mut w = workload("llama2-70b");
    w.quant = w.quant.with_matrices_as(Format::Q35);
    for wafers in 2..=4 {
        let plan = layout(&wse3(), &w, wafers, Spread::densest(&wse3())).unwrap();
        assert!(
            matches!(plan.arrangement, Arrangement::Bands(_)),
            "{wafers} wafers"
        );
        check_plan(&plan);
    }
}

#[test]
fn layers_go_into_strips_when_bands_do_not_fit() {
    // LLaMA-2-70B at 3.5 bits fills one WSE-3 only in strips, whose columns are nearly full;
    // bands, 60-70% full, need two wafers.
    let mut w = workload("llama2-70b");
    w.quant = w.quant.with_matrices_as(Format::Q35);
    let plan = layout(&wse3(), &w, 1, Spread::densest(&wse3())).unwrap();
    assert!(matches!(plan.arrangement, Arrangement::Strips(_)));
    assert_eq!(plan.wafers_used, 1);
    check_plan(&plan);
    assert_eq!(
        layout(&wse3(), &w, 2, Spread::densest(&wse3()))
            .unwrap()
            .arrangement,
        Arrangement::Bands(21)
    );
}

#[test]
fn layers_in_strips_replay_exactly() {
    // LLaMA-2-70B at 3.5 bits in strips on one WSE-3, eight layers: from the third on, each
    // layer (a strip further east) is replayed, and the step is what evaluating it gives.
    let mut w = workload("llama2-70b");
    w.quant = w.quant.with_matrices_as(Format::Q35);
    let m = wse3();
    let mut plan = layout(&m, &w, 1, Spread::densest(&m)).unwrap();
    plan.layers.truncate(8);
    let (replayed, evaluated) = (
        fast_step(&m, &w, &plan, true, None),
        fast_step(&m, &w, &plan, false, None),
    );
    assert_eq!(replayed.replayed, 6);
    assert_same_step(&replayed, &evaluated);
}

#[test]
fn plans_depend_on_the_wafers_given_only_through_their_arrangement() {
    // What `memo` relies on: more wafers than a layout uses change nothing but which
    // arrangement fits. LLaMA-2-70B at 3.5 bits: strips on 1 WSE-3, bands from 2 on.
    let mut w = workload("llama2-70b");
    w.quant = w.quant.with_matrices_as(Format::Q35);
    let plans: Vec<Plan> = (1..=5)
        .map(|n| layout(&wse3(), &w, n, Spread::densest(&wse3())).unwrap())
        .collect();
    assert!(matches!(plans[0].arrangement, Arrangement::Strips(_)));
    for p in &plans[1..] {
        assert_eq!(p, &plans[1]);
    }
    assert_eq!(plans[1].wafers_used, 2);
}

#[test]
fn layers_fall_back_to_one_sweep_when_strips_do_not_fit() {
    // LLaMA-3-70B at 3.5 bits needs strips of 10 columns, 800 for 80 layers on a WSE-3 of
    // 762: only the continuous sweep, packing the strips' ragged ends, fits one wafer.
    let plan = layout(
        &wse3(),
        &workload("llama3-70b"),
        1,
        Spread::densest(&wse3()),
    )
    .unwrap();
    assert_eq!(plan.arrangement, Arrangement::Continuous);
    assert_eq!(plan.wafers_used, 1);
    check_plan(&plan);
}

#[test]
fn a_strip_sweep_stays_in_its_columns() {
    // Columns 1 and 2 of the 4 x 4 grid, full height: runs go back and forth between them.
    let mut s = Sweep::strip(&grid(), 0, 1, 2);
    assert_eq!(s.column(3), Some((0, 1)));
    assert_eq!(s.column(2), Some((0, 2)));
    assert_eq!(s.column(2), Some((2, 2)));
    assert_eq!(s.column(1), Some((3, 1)));
    assert_eq!(s.column(1), None);
    assert_eq!(Sweep::strip(&grid(), 0, 4, 0).column(1), None);
}

#[test]
fn a_band_sweep_stays_in_its_rows() {
    // Rows 1 and 2 of the 4 x 4 grid: runs start at row 1, and none reaches row 3.
    let mut s = Sweep::band(&grid(), 0, 1, 2);
    assert_eq!(s.column(2), Some((1, 0)));
    assert_eq!(s.column(1), Some((1, 1)));
    assert_eq!(s.depth(), 3);
    assert_eq!(s.column(1), Some((1, 2)));
    assert_eq!(s.column(3), None);
}

#[test]
fn rigid_shifts_refuse_wraps() {
    let g = Geometry {
        wafers: 2,
        ..grid()
    };
    let (at, other) = (g.pe(0, 1, 2), g.pe(0, 2, 3));
    let b = g.bounds([at, other]).unwrap();
    let shift = |wafers, rows, cols| Some(Shift { wafers, rows, cols });
    assert_eq!(g.rigid_shift(&b, at, 4), shift(0, 1, 0));
    assert_eq!(g.rigid_shift(&b, at, -1), shift(0, 0, -1));
    assert_eq!(g.rigid_shift(&b, at, 16), shift(1, 0, 0));
    // Column 3 would wrap to the next row, row 3 to the next wafer, wafer 1 out of the system.
    assert_eq!(g.rigid_shift(&b, at, 1), None);
    assert_eq!(g.rigid_shift(&b, at, 8), None);
    assert_eq!(g.rigid_shift(&b, at, 32), None);
}

#[test]
fn a_slow_consumer_back_pressures_a_multicast() {
    // (0,0) multicasts 16 wavelets (sent at 1..=16) along row 0; (0,2) takes 4 cycles a
    // wavelet from its input queue, the others none; every queue holds 4 wavelets. Unbounded,
    // wavelet k reaches (0,j) at k + 4 + j: the last at 19, 20, 21.
    // (0,2) does wavelet k at 5 + 4 (k + 1) (69 for the last). Its ramp sends wavelet k >= 4 a
    // cycle after item k - 4 is done (4k - 6), so its router's queue fills and the link into
    // it sends wavelet k >= 8 a cycle after the ramp sent k - 4: at 4k - 21, 39 for the last,
    // which reaches (0,3) at 39 + 3 = 42. One queue further back, the link into (0,1) sends
    // wavelet k >= 13 a cycle after that link sent k - 4 (4k - 36): the last at 24, reaching
    // (0,1) at 26. The link out of (0,0) would be held from wavelet 20 on: the sender is not.
    let stops = vec![at(0, 1), at(0, 2), at(0, 3)];
    let steps = vec![
        step(at(0, 0), None, 16, 1, stops),
        step(at(0, 1), Some(0), 0, 0, vec![]),
        step(at(0, 2), Some(1), 0, 4, vec![]),
        step(at(0, 3), Some(2), 0, 0, vec![]),
    ];
    let (fast, det) = both(&steps);
    assert_eq!(fast, [16, 26, 69, 42]);
    assert_eq!(det, fast);
}

#[test]
fn a_held_message_delays_the_next_on_its_links() {
    // (0,0) sends 20 wavelets to (0,3), which takes 6 cycles a wavelet (done at 6 (k + 2),
    // 126 for the last), then 4 wavelets to (0,2) over the same first links. Holding 4
    // wavelets per queue, the links back from (0,3) send wavelet k no earlier than
    // 6k - 11 (ramp), 6k - 34, 6k - 57 and 6k - 80 (each 4 wavelets and a credit's cycle
    // earlier), so the last of the first message leaves (0,1) eastwards at 57 and (0,0) at 34.
    // The second message, sent at 21..=24, follows it: over (0,0)->(0,1) from 35 and
    // (0,1)->(0,2) from 58, and reaches (0,2) at 60..=63. Without back-pressure: 28.
    let steps = vec![
        step(at(0, 0), None, 20, 1, vec![at(0, 3)]),
        step(at(0, 3), Some(0), 0, 6, vec![]),
        step(at(0, 0), None, 4, 1, vec![at(0, 2)]),
        step(at(0, 2), Some(0), 0, 0, vec![]),
    ];
    let (fast, det) = both(&steps);
    assert_eq!(fast, [20, 126, 24, 63]);
    assert_eq!(det, fast);
}

#[test]
fn a_buffer_released_only_later_is_reported_as_a_deadlock() {
    // The buffer (0,1) receives into is released by a task that runs after the one reading
    // it: no program written through a sink does this, so the model names it.
    let g = grid();
    let mut prog = Program::new(g.clone());
    let t = prog.task(at(0, 0), 4, 1).unwrap();
    let mut route = Route::default();
    route.through(&g, at(0, 0), [at(0, 1)]);
    let receive = Receive {
        service: 1,
        buffer: Buffer::Memory { after: None },
    };
    let mut received = Vec::new();
    prog.message(&t, &route, &[receive], &mut received).unwrap();
    let later = prog.task(at(0, 1), 1, 1).unwrap();
    prog.messages[0].buffers[0] = Buffer::Memory { after: Some(later) };
    let clock = Clock::new(1_000_000_000).unwrap();
    let e = detailed::run(prog, clock, false, 1 << 20)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("deadlock"), "{e}");
    assert!(e.contains("PE (0,1) of wafer 0"), "{e}");
    assert!(e.contains("message 0 from PE (0,0)"), "{e}");
    assert!(!e.contains("  "), "{e}");
}

#[test]
fn a_router_without_queues_is_refused() {
    let mut m = wse3();
    m.wafer.router.queue_wavelets = 0;
    let e = m.validate().unwrap_err().to_string();
    assert!(e.contains("wafer.router.queue_wavelets"), "{e}");
}

#[test]
fn a_message_needs_one_receiving_task_per_drop() {
    let g = grid();
    let mut route = Route::default();
    route.through(&g, at(0, 0), [at(0, 1), at(0, 2)]);
    fn receive<T>() -> Receive<T> {
        Receive {
            service: 0,
            buffer: Buffer::Queue,
        }
    }
    let mut fast = Fast::new(g.clone(), 1);
    let t = fast.task(at(0, 0), 2, 1).unwrap();
    let e = fast.message(&t, &route, &[receive()], &mut Vec::new());
    assert!(
        e.unwrap_err()
            .to_string()
            .contains("1 receiving tasks for 2 drops")
    );
    let mut prog = Program::new(g);
    let t = prog.task(at(0, 0), 2, 1).unwrap();
    assert!(
        prog.message(&t, &route, &[receive()], &mut Vec::new())
            .is_err()
    );
}

#[test]
fn more_wafers_never_give_a_slower_step() {
    // stories260k on 12 x 40 wafers of 2 KB PEs needs several wafers; from one count to the
    // next the search may change the arrangement or leave wafers idle, never lose speed. Here
    // the one-wafer mapping stays best: smaller tiles on more wafers lengthen the reductions.
    let m = tiny_wafer(12, 40, 2048);
    let w = short(1);
    let placement = super::place(&m, &w, None);
    let fewest = placement.units_needed.expect("fits some wafer count");
    let steps: Vec<(u64, u64)> = (fewest..fewest + 4)
        .map(|n| {
            let opts = SimOptions {
                units: Some(n),
                ..SimOptions::default()
            };
            let t = super::simulate(&m, &w, &placement, &opts).unwrap();
            (n, t.decode_cycles)
        })
        .collect();
    for pair in steps.windows(2) {
        assert!(pair[1].1 <= pair[0].1, "{steps:?}");
    }
}

#[test]
fn prefill_fidelities_agree_position_by_position() {
    // Every one of 12 prompt positions simulated, pipelined through the layers, on one and on
    // several small wafers (positions crossing I/O lanes): both fidelities to the cycle.
    for (rows, cols) in [(40, 40), (10, 10)] {
        let m = tiny_wafer(rows, cols, 2048);
        let mut w = short(1);
        w.scenario.prompt_tokens = 12;
        let wafers = super::place(&m, &w, None).units_needed.unwrap() as u32;
        let plan = layout(&m, &w, wafers, Spread::densest(&m)).unwrap();
        let fast = super::prefill::exact(&m, &w, &plan, Fidelity::Fast).unwrap();
        let det = super::prefill::exact(&m, &w, &plan, Fidelity::Detailed).unwrap();
        assert_eq!(fast, det);
        // Pipelined: 12 positions take far less than 12 passes of one.
        w.scenario.prompt_tokens = 1;
        let one = super::prefill::exact(&m, &w, &plan, Fidelity::Fast).unwrap();
        assert!(fast < 6 * one, "{fast} vs {one}");
    }
}

#[test]
fn windowed_prefill_is_within_two_percent_of_every_position_simulated() {
    // stories260K on WSE-3, its 256-token prompt, in its own formats and in f16, at batch 1 and
    // 4: the windows' estimate (the last position's pass plus interpolated intervals) against
    // all 256 positions simulated.
    let m = wse3();
    let mut f16 = workload("stories260k");
    f16.quant = f16.quant.with_matrices_as(Format::F16);
    let mut batch4 = workload("stories260k");
    batch4.scenario.batch = 4;
    for w in [workload("stories260k"), f16, batch4] {
        let plan = layout(&m, &w, 1, Spread::densest(&m)).unwrap();
        let exact = super::prefill::exact(&m, &w, &plan, Fidelity::Fast).unwrap();
        let windowed = super::prefill::windowed(&m, &w, &plan, Fidelity::Fast).unwrap();
        let error = windowed as f64 / exact as f64 - 1.0;
        assert!(error.abs() < 0.02, "{windowed} vs {exact}: {error}");
    }
}

#[test]
fn the_search_never_loses_to_a_kv_slice_it_could_pin() {
    // stories260K on WSE-3: the search weighs every KV slice down to one token per PE (and
    // every tile size), so no pinned slice of its ladder gives a faster step.
    let m = wse3();
    let w = workload("stories260k");
    let best = run(&m, &w, Fidelity::Fast).decode_cycles;
    for kv in [1, 2, 4, 8, 16, 32, 64] {
        let pins = Pins {
            kv_tokens_per_pe: Some(kv),
            ..Pins::default()
        };
        let pinned = run_pinned(&m, &w, Fidelity::Fast, pins);
        assert!(best <= pinned.decode_cycles, "KV {kv}: {pinned:?}");
        let MappingParams::Wse {
            kv_tokens_per_pe, ..
        } = pinned.mapping_params
        else {
            unreachable!("a WSE run")
        };
        assert_eq!(kv_tokens_per_pe, kv);
    }
}

#[test]
fn overlaid_layers_share_their_grid_and_are_translates() {
    // stories260k on a WSE-3 and on small wafers it spans several of; LLaMA-3-70B f16 on 5.
    let mut cases = vec![
        (wse3(), short(1), 1),
        (tiny_wafer(40, 40, 2048), short(2), 1),
        (tiny_wafer(10, 10, 2048), short(1), 8),
    ];
    let mut w = workload("llama3-70b");
    w.quant = w.quant.with_matrices_as(Format::F16);
    cases.push((wse3(), w, 5));
    for (m, w, wafers) in cases {
        let overlaid = Arrangement::Overlaid(0);
        let plan = super::layout::plan(&m, &w, wafers, Spread::densest(&m), overlaid).unwrap();
        assert!(matches!(plan.arrangement, Arrangement::Overlaid(_)));
        check_plan(&plan);
        // Every PE of a grid holds its code, a tile of each matrix and their buffers.
        let memory = plan.pe_memory();
        let most = plan.occupied().map(|(pe, _)| memory[pe.0 as usize]).max();
        assert!(most <= Some(m.wafer.pe.sram_bytes as u32), "{most:?}");
        let q = &plan.layers[0].q;
        assert_eq!(q.runs[0], plan.layers[0].down.runs[0]);
    }
}

#[test]
fn overlaid_layers_agree_at_both_fidelities() {
    // The small cases of `fidelities_agree_on_small_wafers`, every layer's matrices overlaid:
    // Q, K and V share their gathers and row multicasts, every GEMV runs on the whole grid.
    let overlaid = Pins {
        overlaid: Some(true),
        ..Pins::default()
    };
    for (rows, cols, batch, queue) in [(40, 40, 1, 4), (40, 40, 2, 2), (40, 40, 3, 1)] {
        let mut m = tiny_wafer(rows, cols, 2048);
        m.wafer.router.queue_wavelets = queue;
        m.wafer.pe.buffer_bytes = 1024;
        let w = short(batch);
        let fast = run_pinned(&m, &w, Fidelity::Fast, overlaid);
        let det = run_pinned(&m, &w, Fidelity::Detailed, overlaid);
        match &fast.mapping_params {
            MappingParams::Wse { arrangement, .. } => assert!(arrangement.contains("overlaid")),
            p => panic!("{p:?}"),
        }
        assert_eq!(fast.decode_cycles, det.decode_cycles);
        assert_eq!(fast.parts, det.parts);
        assert_eq!(fast.units, det.units);
        assert_eq!(fast.network_bytes, det.network_bytes);
    }
}

#[test]
fn a_step_takes_at_least_its_measured_parts_plus_the_bound_of_the_rest() {
    // What lets the search abandon a candidate part way: after any part, the cycles measured
    // so far plus the bound of the parts left never exceed the whole step. Every candidate the
    // search weighs, every arrangement, on a WSE-3 and on small wafers spanning several.
    let mut batch3 = short(3);
    batch3.quant = batch3.quant.with_matrices_as(Format::F16);
    let cases = [
        (wse3(), workload("stories260k"), 1),
        (tiny_wafer(40, 40, 2048), short(2), 1),
        (tiny_wafer(40, 40, 2048), batch3, 1),
        (tiny_wafer(12, 40, 2048), short(1), 3),
    ];
    let mut checked = 0;
    for (m, w, wafers) in cases {
        for r in super::search::candidates(&m, &w, wafers, &Pins::default()) {
            for p in super::plans(&m, &w, wafers as u32, &r).unwrap_or_default() {
                let f = super::run_fast(&m, &w, &p, (false, None)).unwrap();
                for part in 0..f.part_end.len() {
                    let before = part.checked_sub(1).map_or(0, |b| f.part_end[b]);
                    let at_least = before + r.bound.rest(part);
                    assert!(
                        at_least <= f.end,
                        "{r:?} part {part}: {at_least} > {}",
                        f.end
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "{checked} plans");
}

#[test]
fn a_search_run_again_abandons_from_memory_what_it_abandoned() {
    // stories260K on WSE-3 abandons most of its candidates part way; the same search again
    // (a sweep's next wafer count) finds them in the memo and weighs them the same.
    let (m, w) = (wse3(), workload("stories260k"));
    let first = run(&m, &w, Fidelity::Fast);
    let abandoned = |t: &crate::mapping::Timing| {
        (t.candidates.iter())
            .filter(|c| c.note.starts_with("abandoned"))
            .count()
    };
    assert!(abandoned(&first) > 10, "{:?}", first.candidates);
    let again = run(&m, &w, Fidelity::Fast);
    assert_eq!(first.candidates, again.candidates);
}
