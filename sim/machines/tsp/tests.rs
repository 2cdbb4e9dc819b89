//! Hand-checked cycle counts of small programs, the verifier rejecting broken schedules, and
//! the two fidelities agreeing.
//!
//! Positions on the shipped chip (see `machine.rs`): west MXM planes 0, west SXM and C2C 1,
//! MEM slice s (west) 2 + s, VXM 46; one hop per cycle. Latencies: MEM read 4, MXM 24, VXM 4;
//! a C2C vector takes ceil(320 B x 0.9 GHz / 14 GB/s) = 21 cycles, plus 216 cycles of latency.

use super::detailed;
use super::fast::{self, StageRun};
use super::machine::{Machine, Unit};
use super::place::{Item, Mapping};
use super::program::{Chip, Kind, Program, Ref, VecOp};
use super::schedule::{Member, Pick, Scheduler};
use super::timing::{run_step, specs};
use crate::arch::TspSystem;
use crate::mapping::Fidelity;
use crate::workload::work::Step;

fn system() -> TspSystem {
    super::place::tests::tsp()
}

/// A shipped workload by name.
fn workload(name: &str) -> crate::workload::Workload {
    crate::workload::presets()
        .unwrap()
        .into_iter()
        .find(|(_, w)| w.name == name)
        .unwrap()
        .1
}

fn read(slice: u16, n: u32) -> Member {
    Member::new(
        Pick::Fixed(Unit::Mem(slice)),
        Kind::Read { addr: 0 },
        0,
        n,
        4,
    )
}

/// Both fidelities on `prog`: they must agree; returns the fast run.
fn both(m: &Machine, prog: &Program) -> StageRun {
    let f = fast::run(m, prog, None).unwrap();
    let (d, _) = detailed::run(m, std::slice::from_ref(prog), false).unwrap();
    assert_eq!(d[0].done, f.done, "detailed vs fast");
    f
}

/// MEM -> MXM -> VXM: a 320 x 320 INT8 tile installed from slice 0, one activation vector
/// from slice 1 multiplied, its result scaled on the VXM and written back to slice 1.
fn chain(m: &Machine) -> Program {
    let mut s = Scheduler::new(m);
    let mut p = Program {
        tp: 1,
        parts: vec!["test".to_owned()],
        ..Program::default()
    };
    let install = Member::new(
        Pick::Fixed(Unit::Install(0)),
        Kind::Install { buffer: 0 },
        320,
        0,
        0,
    )
    .fed_by(&[(0, 320)]);
    let ids = s.chain(&mut p, None, &[read(0, 320), install], 0, "w");
    let mut matvec = Member::new(
        Pick::Fixed(Unit::Compute(0)),
        Kind::MatVec { buffer: 0 },
        1,
        1,
        24,
    )
    .fed_by(&[(0, 1)]);
    matvec.after = Some(Ref::here(ids.start + 1));
    let scale = Member::new(Pick::AnyVxm, Kind::Vector(VecOp::Dequant), 1, 1, 4).fed_by(&[(1, 1)]);
    let write = Member::new(
        Pick::Fixed(Unit::Mem(1)),
        Kind::Write { addr: 100 },
        1,
        0,
        0,
    )
    .fed_by(&[(2, 1)]);
    s.chain(&mut p, None, &[read(1, 1), matvec, scale, write], 0, "x");
    p
}

#[test]
fn mem_mxm_vxm_chain_takes_the_hand_counted_cycles() {
    let m = Machine::new(&system());
    let p = chain(&m);
    let issue: Vec<u64> = p.instrs.iter().map(|i| i.issue).collect();
    // Weights: read issues at 0, first vector on the stream at 0 + 4, two hops west to plane 0
    // at 6: install 6 .. 326. Activation: the matvec waits for the install (326); its read of
    // slice 1 (3 hops away) issues just in time at 326 - 4 - 3 = 319. The result leaves the
    // plane at 326 + 24 = 350 and travels 46 hops to the VXM (396), which emits at 400; the
    // write at slice 1 (43 hops west) reads it at 443 and is done at 444.
    assert_eq!(issue, [0, 6, 319, 326, 396, 443]);
    assert_eq!(both(&m, &p).done, 444);
}

#[test]
fn a_320_by_320_gemv_streams_its_tile_through_one_plane() {
    let sys = system();
    let m = Machine::new(&sys);
    let mut w = workload("stories260k");
    w.quant = w.quant.with_matrices_as(crate::quant::Format::Int8);
    let prog = super::lower::gemv_alone(&m, &w, 320, 320);
    // The 320 x 320 INT8 tile is 320 vectors (its 640 metadata bytes follow in 2 more), striped
    // 4 per slice over slices 0..80: read k (4 vectors from slice k) feeds the install on
    // plane 0 from input 4k. West slice k sits k + 2 hops from plane 0, so its read issues at
    // I + 4k - 4 - (k + 2): the first, slice 0, at I - 6 = 0. Install 6 .. 326.
    let install = prog
        .instrs
        .iter()
        .find(|i| matches!(i.kind, Kind::Install { .. }))
        .unwrap();
    assert_eq!((install.issue, install.inputs_done()), (6, 326));
    // Matvec at 326, result at 350 + 46 hops = 396 at the VXM, after the 2 metadata vectors:
    // the dequant issues at 394, reads 394 .. 397 and emits at 394 + 4 + 2 = 400. The output
    // buffer follows the activation's, in slice 1 (43 hops west of the VXM): write at 443,
    // done 444.
    let matvec = prog
        .instrs
        .iter()
        .find(|i| matches!(i.kind, Kind::MatVec { .. }))
        .unwrap();
    assert_eq!(matvec.issue, 326);
    assert_eq!(both(&m, &prog).done, 444);
}

/// 26 vectors sent from rank 0 to rank 1 (and, by symmetry, 1 to 0) over link 0.
fn transfer(m: &Machine) -> Program {
    let mut s = Scheduler::new(m);
    let mut p = Program {
        tp: 2,
        parts: vec!["test".to_owned()],
        ..Program::default()
    };
    let ser = m.link_cycles_per_vector as u32;
    let mut send = Member::new(Pick::Fixed(Unit::Tx(0)), Kind::Send, 26, 26, 0).fed_by(&[(0, 26)]);
    send.ii = ser;
    send.oi = ser;
    send.lat = ser + m.node_latency as u32;
    let ids = s.chain(&mut p, None, &[read(0, 26), send], 0, "c2c");
    let mut recv = Member::new(Pick::Fixed(Unit::Rx(0)), Kind::Recv, 0, 26, 0);
    recv.after = Some(Ref {
        chip: Chip::Peer(1),
        idx: ids.start + 1,
    });
    let write = Member::new(
        Pick::Fixed(Unit::Mem(1)),
        Kind::Write { addr: 50 },
        26,
        0,
        0,
    )
    .fed_by(&[(0, 26)]);
    s.chain(&mut p, None, &[recv, write], 0, "c2c");
    p
}

#[test]
fn a_c2c_transfer_takes_serialization_plus_latency() {
    let m = Machine::new(&system());
    assert_eq!(m.link_cycles_per_vector, 21);
    let p = transfer(&m);
    let issue: Vec<u64> = p.instrs.iter().map(|i| i.issue).collect();
    // Read at 0, first vector at the link (1 hop) at 5: the send serializes 26 x 21 cycles;
    // vector j lands on the peer at 5 + 21 + 216 + 21 j, the last (j = 25) at 767. The receive
    // starts at 768 and hands the message to slice 1 (2 hops): write 770 .. 796.
    assert_eq!(issue, [0, 5, 768, 770]);
    let run = both(&m, &p);
    assert_eq!(run.done, 796);
    assert_eq!(run.c2c_bytes, 26 * 320);
}

/// Both fidelities reject `prog`; returns their messages.
fn rejected(m: &Machine, prog: &Program) -> (String, String) {
    let f = fast::run(m, prog, None).unwrap_err().to_string();
    let d = detailed::run(m, std::slice::from_ref(prog), false)
        .unwrap_err()
        .to_string();
    (f, d)
}

#[test]
fn a_consumer_reading_before_its_data_arrives_is_rejected() {
    let m = Machine::new(&system());
    let mut p = chain(&m);
    // The install one cycle early: vector 0 arrives at 6, not 5.
    p.instrs[1].issue -= 1;
    let (f, d) = rejected(&m, &p);
    for e in [&f, &d] {
        assert!(
            e.contains("tsp0/mxm0.install: cycle 5: instruction #1 install buf0")
                && e.contains("reads vector 0 of #0")
                && e.contains("arrives at cycle 6"),
            "{e}"
        );
    }
}

#[test]
fn stream_bank_and_unit_conflicts_are_rejected() {
    let m = Machine::new(&system());
    // The activation read moved onto the weight read's slice, stream and diagonal, same bank.
    let mut p = chain(&m);
    p.instrs[2].unit = Unit::Mem(0);
    p.instrs[2].issue = 10;
    p.instrs[2].stream = p.instrs[0].stream;
    let (f, d) = rejected(&m, &p);
    assert!(
        f.contains("tsp0/mem0: cycle 14: instruction #2 read @0"),
        "{f}"
    );
    assert!(f.contains("stream conflict"), "{f}");
    assert!(d.contains("tsp0/mem0") && d.contains("conflict"), "{d}");
    // Two reads of one bank in the same cycle on different streams.
    let mut p = chain(&m);
    p.instrs[2].unit = Unit::Mem(0);
    p.instrs[2].issue = 0;
    let (f, d) = rejected(&m, &p);
    for e in [&f, &d] {
        assert!(
            e.contains("tsp0/mem0: cycle 0") && e.contains("bank conflict: bank 0 of mem0"),
            "{e}"
        );
    }
    // A second install on plane 0 while the first is still loading.
    let mut p = chain(&m);
    let again = super::program::Instr {
        issue: 100,
        dep_len: 0,
        ..p.instrs[1]
    };
    p.instrs.push(again);
    let (f, d) = rejected(&m, &p);
    for e in [&f, &d] {
        assert!(e.contains("unit conflict: mxm0.install is busy"), "{e}");
    }
}

#[test]
fn detailed_and_fast_agree_on_stories260k() {
    let sys = system();
    let m = Machine::new(&sys);
    let w = workload("stories260k");
    let one = super::place::mapping(&sys, &w).unwrap();
    // Two stages of two ranks, by hand, to cross stage boundaries and links.
    let two = Mapping::by_hand(
        2,
        vec![
            vec![
                Item::Embedding {
                    piece: 0,
                    pieces: 1,
                },
                Item::Layer(0),
                Item::Layer(1),
            ],
            vec![
                Item::Layer(2),
                Item::Layer(3),
                Item::Layer(4),
                Item::FinalNorm,
            ],
        ],
    );
    for mapping in [&one, &two] {
        for step in [Step::decode(&w), Step::prefill(&w)] {
            let f = run_step(&m, &w, step, mapping, Fidelity::Fast, false).unwrap();
            let d = run_step(&m, &w, step, mapping, Fidelity::Detailed, false).unwrap();
            assert_eq!(f.cycles, d.cycles);
            assert_eq!(f.parts, d.parts);
            assert_eq!(f.busy, d.busy);
            assert_eq!(f.c2c_bytes, d.c2c_bytes);
        }
    }
}

/// A stage that reuses an earlier stage's schedule moved to its input is the stage lowered on
/// its own, instruction for instruction, its run derived from the earlier one is what the fast
/// fidelity finds on it, and most stages of a deep model are reused.
#[test]
fn moved_stages_are_the_stages_lowered() {
    let sys = system();
    let m = Machine::new(&sys);
    let mut w = workload("llama2-70b");
    for (format, chips, batch) in [
        (crate::quant::Format::Q35, 160, 1),
        (crate::quant::Format::Int8, 576, 4),
        (crate::quant::Format::Int4G128, 320, 2),
    ] {
        w.quant = w.quant.with_matrices_as(format);
        w.scenario.batch = batch;
        // The widest degree inside a node that fits the chips.
        let mapping = super::place::mappings(&sys, &w)
            .filter(|mp| mp.tp <= sys.system.chips_per_node && mp.chips() <= chips)
            .max_by_key(|mp| mp.tp)
            .or_else(|| super::place::mapping(&sys, &w))
            .unwrap();
        let specs = specs(&mapping);
        for step in [Step::decode(&w), Step::prefill(&w)] {
            let mut stages = super::reuse::Stages::default();
            let mut prev = None;
            for spec in &specs {
                let (alone, _) = super::lower::stage(&m, &w, step, spec, prev.as_ref());
                let got = stages
                    .stage(&m, &w, step, spec, prev.as_ref(), true)
                    .unwrap();
                let prog = got.prog.unwrap();
                let at = format!("{format} stage {}", spec.first_chip);
                assert_eq!(prog.instrs, alone.instrs, "{at}");
                assert_eq!(prog.deps, alone.deps, "{at}");
                assert_eq!(prog.parts, alone.parts, "{at}");
                assert_eq!(
                    (prog.tp, prog.first_chip, prog.handoff),
                    (alone.tp, alone.first_chip, alone.handoff)
                );
                assert_eq!(
                    got.run,
                    fast::run(&m, &prog, prev.as_ref()).unwrap(),
                    "{at}"
                );
                assert_eq!(got.handoff, prog.to_next(), "{at}");
                prev = got.handoff;
            }
            // Lowered with a schedule that moves: some, and few (the others were reused).
            let movable = stages.movable();
            assert!(
                (1..specs.len() / 3).contains(&movable),
                "{format}: {movable}"
            );
        }
    }
}
