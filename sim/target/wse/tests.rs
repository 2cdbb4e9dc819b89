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
/// along `stops`; a step with `input` is the consumer of drop `input` of the previous message
/// (created with it, at its `service`; its `items` are the message's).
struct Step {
    pe: Pe,
    input: Option<usize>,
    items: u64,
    service: u64,
    stops: Vec<Pe>,
}

fn emit<S: Sink>(sink: &mut S, steps: &[Step]) -> Vec<S::Task> {
    let mut tasks = Vec::new();
    let mut consumers = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let t = match s.input {
            Some(d) => consumers[d],
            None => sink.task(s.pe, s.items, s.service).unwrap(),
        };
        if !s.stops.is_empty() {
            let mut route = Route::default();
            route.through(&grid(), s.pe, s.stops.iter().copied());
            // The steps after this one consuming its drops, in drop order.
            let services: Vec<u64> = steps[i + 1..]
                .iter()
                .take(s.stops.len())
                .map(|c| c.service)
                .collect();
            sink.message(t, &route, &services, &mut consumers).unwrap();
        }
        tasks.push(t);
    }
    tasks
}

/// Completion of every task, at the fast fidelity and the detailed one.
fn both(steps: &[Step]) -> (Vec<u64>, Vec<u64>) {
    on(grid(), steps)
}

/// [`both`] on `g`.
fn on(g: Geometry, steps: &[Step]) -> (Vec<u64>, Vec<u64>) {
    let mut fast = Fast::new(g.clone(), 1);
    emit(&mut fast, steps);
    let done = fast.task_end;
    let mut prog = Program::new(g);
    emit(&mut prog, steps);
    let d = detailed::run(prog, Clock::new(1_000_000_000).unwrap(), false, 1 << 20).unwrap();
    (done, d.task_done)
}

/// The fast fidelity's completions with queues deep enough never to fill.
fn unbounded(steps: &[Step]) -> Vec<u64> {
    let mut fast = Fast::new(
        Geometry {
            queue: 1 << 20,
            ..grid()
        },
        1,
    );
    emit(&mut fast, steps);
    fast.task_end
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

#[test]
fn slow_consumer_back_pressures_a_row_multicast() {
    // PE (0,0) sends 12 wavelets (done at 1..=12) to (0,1), which takes 1 cycle per wavelet,
    // and on to (0,2), which takes 10. Positions of the route: 0 the sender, 1 router (0,0),
    // 2 router (0,1) (drop and link east), 3 router (0,2) (drop). Unbounded, wavelet k leaves
    // position p at k + 1 + p: (0,1) gets it at k + 4 and is done at k + 5, 16 for the last;
    // (0,2) gets it at k + 5 and starts it at 5 + 10k (it is the bottleneck), done at 125.
    // With 4-wavelet queues, wavelet k leaves router (0,2) only once (0,2) has started
    // wavelet k - 4 (+1 for the credit), and router (0,1) only once router (0,2) has sent
    // wavelet k - 4 (+1): the last one leaves router (0,2) at 5 + 10 x 3 + 1 = 36 (k = 7)...
    // ...so wavelet 11 leaves router (0,1) at 37, reaches (0,1) at 38 and is done at 39.
    // The slow consumer's own times do not change: 125.
    let stops = vec![at(0, 1), at(0, 2)];
    let steps = vec![
        step(at(0, 0), None, 12, 1, stops),
        step(at(0, 1), Some(0), 0, 1, vec![]),
        step(at(0, 2), Some(1), 0, 10, vec![]),
    ];
    let (fast, det) = both(&steps);
    assert_eq!(fast, [12, 39, 125]);
    assert_eq!(det, fast);
    assert_eq!(unbounded(&steps), [12, 16, 125]);
}

#[test]
fn a_blocked_message_delays_another_on_its_link() {
    // A: (0,0) sends 12 wavelets to (0,2), which takes 10 cycles per wavelet (as above, it
    // starts wavelet k at 5 + 10k). Its queue at router (0,2) holds 4, so wavelet k >= 9
    // leaves router (0,1) over link east at (5 + 10 (k - 8) + 1) + 1 = 10k - 73: the last at
    // 37, and the link is free from 38 (unbounded: k + 3, free from 15). B: (0,1) then sends 4
    // wavelets (done at 1..=4) to (0,3) over the same link, which passes A first: wavelet k
    // leaves router (0,1) at 38 + k, (0,2) at 39 + k, (0,3) at 40 + k, reaches PE (0,3) at
    // 41 + k, done at 42 + k: 45 for the last (unbounded: 15 + k ... 22).
    let steps = vec![
        step(at(0, 0), None, 12, 1, vec![at(0, 2)]),
        step(at(0, 2), Some(0), 0, 10, vec![]),
        step(at(0, 1), None, 4, 1, vec![at(0, 3)]),
        step(at(0, 3), Some(0), 0, 1, vec![]),
    ];
    let (fast, det) = both(&steps);
    assert_eq!(fast, [12, 125, 4, 45]);
    assert_eq!(det, fast);
    assert_eq!(unbounded(&steps), [12, 125, 4, 22]);
}

#[test]
fn a_deadlock_is_reported_not_hung() {
    // A program no sink can emit (consumers are created with their message): PE (0,2) takes
    // message 1 before message 0, but message 1 reaches it over the ramp behind message 0,
    // whose 8 wavelets do not fit the PE's 4-wavelet queue.
    let g = grid();
    let mut prog = Program::new(g.clone());
    let task = |pe, input, items| super::program::Task {
        pe,
        input,
        items,
        service: 1,
        part: 0,
    };
    let mut route = Route::default();
    for (i, from) in [at(0, 0), at(0, 1)].into_iter().enumerate() {
        prog.tasks.push(task(from, None, 8));
        route.through(&g, from, [at(0, 2)]);
        prog.messages.push(super::program::Message {
            src: i as u32,
            route: route.clone(),
        });
    }
    prog.tasks.push(task(at(0, 2), Some((1, 0)), 8));
    prog.tasks.push(task(at(0, 2), Some((0, 0)), 8));
    let err = detailed::run(prog, Clock::new(1_000_000_000).unwrap(), false, 1 << 20)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("deadlock"), "{err}");
    assert!(err.contains("router (0,2) of wafer 0"), "{err}");
    assert!(err.contains("message 1"), "{err}");
    assert!(err.contains("PE (0,2) of wafer 0"), "{err}");
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
    // cycle. Moved on purpose twice: when batches became weight-stationary GEMMs (every GEMV
    // message carries both sequences; 1,946,411 cycles before, with the sequences no longer
    // overlapping one's GEMV with the other's attention), and when queues became finite
    // (2,017,483 before, with the same PE and router busy cycles: a GEMV's chunks now hold
    // their links at the consumers' pace).
    let m = wse3();
    let mut w = workload("llama3-70b");
    w.model.layers = 4;
    w.scenario.batch = 2;
    let t = run(&m, &w, Fidelity::Fast);
    let parts: Vec<u64> = t.parts.iter().map(|p| p.cycles).collect();
    let units: Vec<u64> = t.units.iter().map(|u| u.busy_cycles).collect();
    assert_eq!(t.decode_cycles, 7_163_226);
    assert_eq!(parts, [1_039_027, 1_949_865, 1_850_848, 1_933_520, 389_966]);
    assert_eq!(units, [4_869_448_228, 331_144_535, 0]);
    assert_eq!(t.network_bytes, 0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// The steady-state shortcut of the wavelet-level evaluation gives the times of every
    /// wavelet's recurrence: links busy until random cycles, PEs busy, a source at one or two
    /// rates, stops anywhere.
    #[test]
    fn steady_state_shortcut_is_exact(
        queue in 2u64..6,
        n in 1u64..80,
        start in 0u64..20,
        rate in (0u64..30, 1u64..4),
        from in (0u32..4, 0u32..4),
        stops in proptest::collection::vec((0u32..4, 0u32..4, 0u64..12, 0u64..60), 1..4),
        busy in proptest::collection::vec((0usize..96, 0u64..80), 0..12),
    ) {
        let g = Geometry { queue, ..grid() };
        let src = at(from.0, from.1);
        let mut ends = Vec::new();
        let mut frees = Vec::new();
        for exhaustive in [false, true] {
            let mut f = Fast::new(g.clone(), 1);
            f.exhaustive = exhaustive;
            for &(link, t) in &busy {
                f.link_free_mut()[link] = t;
            }
            let mut pes = vec![src];
            for &(r, c, _, ready) in &stops {
                let pe = at(r, c);
                if !pes.contains(&pe) {
                    pes.push(pe);
                    f.task(pe, 1, ready).unwrap();
                }
            }
            f.task(src, 1, start).unwrap();
            let t = f.task(src, n, rate.1).unwrap();
            let t = match t {
                super::fast::Flow::Train(mut t) => {
                    t.serve(rate.0, rate.1).unwrap();
                    super::fast::Flow::Train(t)
                }
                other => other,
            };
            let mut route = Route::default();
            let targets: Vec<Pe> = pes[1..].to_vec();
            route.through(&g, src, targets.iter().copied());
            let services: Vec<u64> = targets
                .iter()
                .map(|pe| stops.iter().find(|s| at(s.0, s.1) == *pe).map_or(0, |s| s.2))
                .collect();
            let mut consumers = Vec::new();
            f.message(t, &route, &services, &mut consumers).unwrap();
            ends.push(f.task_end.clone());
            frees.push(f.link_free_mut().to_vec());
        }
        proptest::prop_assert_eq!(&ends[0], &ends[1]);
        proptest::prop_assert_eq!(&frees[0], &frees[1]);
    }
}
