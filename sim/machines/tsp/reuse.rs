//! Stages lowered and verified one after another, reusing an earlier stage's schedule and its
//! fast-fidelity result where that is provably the same as lowering and verifying the stage.

use super::fast::{self, StageRun};
use super::lower::{self, StageSpec, part_name};
use super::machine::Machine;
use super::place::Item;
use super::program::{Chip, Dep, Handoff, Program};
use super::schedule::Moves;
use crate::engine::EngineError;
use crate::workload::Workload;
use crate::workload::work::Step;

/// A stage lowered earlier whose schedule moves exactly with its input, and its verified run.
struct Compiled {
    items: Vec<Item>,
    has_next: bool,
    is_first: bool,
    prog: Program,
    moves: Moves,
    run: StageRun,
    /// Whether `run.done`, and each part's first issue and end (as in `run.parts`), move.
    done_moves: bool,
    parts_move: Vec<(bool, bool)>,
}

impl Compiled {
    fn new(spec: &StageSpec, prog: Program, moves: Moves, run: StageRun) -> Self {
        // Per part: it holds an instruction that does not move, one that does.
        let mut held = vec![(false, false); prog.parts.len()];
        for (i, &mv) in prog.instrs.iter().zip(&moves.moves) {
            let h = &mut held[usize::from(i.part)];
            if mv { h.1 = true } else { h.0 = true }
        }
        // Every moving cycle is later than every other (see `Stages::moved`): a minimum moves
        // when no instruction it is taken over stays, a maximum when one moves.
        let parts_move = held
            .into_iter()
            .filter(|&(still, moving)| still || moving)
            .map(|(still, moving)| (!still, moving))
            .collect();
        Compiled {
            items: spec.items.to_vec(),
            has_next: spec.has_next,
            is_first: spec.is_first,
            done_moves: moves.moves.contains(&true),
            parts_move,
            prog,
            moves,
            run,
        }
    }

    /// The name in `spec` of this stage's part `name` (layers are numbered differently).
    fn rename(&self, name: &str, spec: &StageSpec) -> String {
        match self.items.iter().position(|&it| part_name(it) == name) {
            Some(j) => part_name(spec.items[j]),
            None => name.to_owned(),
        }
    }

    /// The program moved by `delta` for `spec`, waiting for hand-off `on` of its previous
    /// stage: the program `spec` lowers to (see [`lower::stage`]).
    fn program(&self, spec: &StageSpec, delta: u64, on: u32) -> Program {
        let mut prog = self.prog.clone();
        prog.first_chip = spec.first_chip;
        for (i, _) in prog
            .instrs
            .iter_mut()
            .zip(&self.moves.moves)
            .filter(|(_, m)| **m)
        {
            i.issue += delta;
        }
        for d in &mut prog.deps {
            if let Dep::After(r) | Dep::Free(r) = d
                && r.chip == Chip::PrevStage
            {
                r.idx = on;
            }
        }
        for name in &mut prog.parts {
            *name = self.rename(name, spec);
        }
        prog
    }

    /// [`fast::run`] of [`Compiled::program`], from the verified run (see `Stages::moved`).
    fn run(&self, spec: &StageSpec, delta: u64) -> StageRun {
        let shift = |t: u64, moves: bool| if moves { t + delta } else { t };
        StageRun {
            done: shift(self.run.done, self.done_moves),
            parts: self
                .run
                .parts
                .iter()
                .zip(&self.parts_move)
                .map(|((name, first, end), &(first_moves, end_moves))| {
                    (
                        self.rename(name, spec),
                        shift(*first, first_moves),
                        shift(*end, end_moves),
                    )
                })
                .collect(),
            busy: self.run.busy.clone(),
            c2c_bytes: self.run.c2c_bytes,
            instrs: self.run.instrs,
        }
    }

    /// What the next stage sees of the program moved by `delta`.
    fn to_next(&self, delta: u64) -> Option<Handoff> {
        let mut h = self.prog.to_next()?;
        if self.moves.moves[h.idx as usize] {
            h.instr.issue += delta;
        }
        Some(h)
    }
}

/// A stage verified at the fast fidelity.
pub struct Verified {
    pub run: StageRun,
    /// What the next stage sees of it.
    pub handoff: Option<Handoff>,
    /// Its program, when asked for.
    pub prog: Option<Program>,
}

/// Stages lowered one after another, reusing the schedule of an earlier stage that holds the
/// same kinds of items (layers numbered differently) where [`Scheduler::moves`] proves it
/// exact: the later stage's input arrives a multiple of the bank count cycles later, and its
/// instructions are the earlier ones, those that depend on the input moved by as much.
/// Otherwise the stage is lowered. Most stages of a deep model hold the same items, so a step
/// lowers a few stages instead of all; a reused stage's program is only built when asked for.
///
/// [`Scheduler::moves`]: super::schedule::Scheduler::moves
#[derive(Default)]
pub struct Stages {
    compiled: Vec<Compiled>,
}

impl Stages {
    /// Stage `spec` after the stage that hands off `prev`, verified by [`fast::run`] or
    /// derived from a verified one; with its program when `keep`.
    pub fn stage(
        &mut self,
        m: &Machine,
        w: &Workload,
        step: Step,
        spec: &StageSpec,
        prev: Option<&Handoff>,
        keep: bool,
    ) -> Result<Verified, EngineError> {
        if let Some(v) = prev.and_then(|p| self.moved(m, spec, p, keep)) {
            return Ok(v);
        }
        let (prog, moves) = lower::stage(m, w, step, spec, prev);
        let run = fast::run(m, &prog, prev)?;
        let handoff = prog.to_next();
        let prog = match moves {
            Some(moves) => {
                let kept = keep.then(|| prog.clone());
                self.compiled
                    .push(Compiled::new(spec, prog, moves, run.clone()));
                kept
            }
            None => keep.then_some(prog),
        };
        Ok(Verified { run, handoff, prog })
    }

    /// Stages lowered whose schedule can be moved.
    #[cfg(test)]
    pub fn movable(&self) -> usize {
        self.compiled.len()
    }

    /// An earlier stage moved to `spec`'s input, if one applies.
    ///
    /// Its run is the earlier stage's, cycles of what moves moved by `delta`: what
    /// [`fast::run`] finds on the moved program. That program is the earlier one with the
    /// instructions flagged in `moves` issued `delta` later, and of the previous stage it
    /// reads only the hand-off's end, `delta` later too. `fast::run` compares, takes minima,
    /// maxima and sums of cycles of the program's instructions (issue, reads, ends, unit
    /// release, MEM accesses, stream diagonals: emission cycles plus a non-negative offset),
    /// computes bank classes `(address - cycle) mod banks`, and sums what does not depend on
    /// cycles (busy time, C2C bytes, instructions). Among instructions that move, or among
    /// those that do not, the move keeps every difference. `Scheduler::moves` granted the move
    /// only if every instruction that moves issues after every cycle of every one that does
    /// not (end, unit release, stream and bank reservations), so between the two the one that
    /// moves is the later before and after the move: sorts keep their order, overlaps stay
    /// absent, a moving instruction that waited long enough still does, and a still one never
    /// waits for or reads a moving one (the earlier run would have failed). A part's first
    /// issue moves when no instruction of it stays, its end when one moves. `delta` is a
    /// multiple of the bank count, so bank classes stay.
    fn moved(&self, m: &Machine, spec: &StageSpec, prev: &Handoff, keep: bool) -> Option<Verified> {
        let alike = |a: &Item, b: &Item| match (a, b) {
            (Item::Layer(_), Item::Layer(_)) => true,
            _ => a == b,
        };
        let at = prev.instr.done();
        let (c, delta) = self.compiled.iter().find_map(|c| {
            let delta = at.checked_sub(c.moves.at)?;
            (delta % m.banks == 0
                && c.has_next == spec.has_next
                && c.is_first == spec.is_first
                && c.items.len() == spec.items.len()
                && c.items.iter().zip(spec.items).all(|(a, b)| alike(a, b)))
            .then_some((c, delta))
        })?;
        Some(Verified {
            run: c.run(spec, delta),
            handoff: c.to_next(delta),
            prog: keep.then(|| c.program(spec, delta, prev.idx)),
        })
    }
}
