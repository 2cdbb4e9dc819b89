//! The compiled program: per pipeline stage, one instruction list that every chip of the stage
//! (its tensor-parallel ranks) runs on its own shard. Each instruction sits in the queue of one
//! functional slice, is issued at a static cycle, and processes a group of vectors: it consumes
//! `n_in` of them one per `ii` cycles from `issue`, and produces `n_out` of them one per `oi`
//! cycles from `issue + lat`.

use super::machine::{Stream, Unit};

/// What an instruction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Read `n_out` vectors from consecutive addresses of a MEM slice onto a stream.
    Read { addr: u32 },
    /// Write `n_in` vectors from a stream to consecutive addresses of a MEM slice.
    Write { addr: u32 },
    /// Turn packed weight codes (or a misaligned edge tile) into one INT8/FP16 row per vector.
    Unpack,
    /// Load one weight row per vector into a plane's weight buffer.
    Install { buffer: u8 },
    /// Multiply activation vectors by the installed weights, accumulating; results leave with
    /// the last K-tile of a row block.
    MatVec { buffer: u8 },
    /// Element-wise work on the VXM (scale, add, activation, exp, rotary).
    Vector(VecOp),
    /// A lane reduction on the SXM (sum or max over a vector).
    Reduce,
    /// Serialize vectors onto a C2C link towards another chip.
    Send,
    /// Hand a message that arrived on a C2C link to a stream.
    Recv,
}

/// Element-wise operations, for names in errors and traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VecOp {
    Dequant,
    SumSquares,
    Scale,
    Rotary,
    Softmax,
    Swiglu,
    Add,
    Argmax,
}

/// Which chip a reference points at, relative to the chip running the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chip {
    /// This chip.
    Same,
    /// The rank `d` below this one in the same stage (it sends to this chip what this chip
    /// sends to the rank `d` above).
    Peer(u32),
    /// The same rank of the previous stage.
    PrevStage,
}

/// An instruction of some chip's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ref {
    pub chip: Chip,
    pub idx: u32,
}

impl Ref {
    /// Instruction `idx` of this chip.
    pub fn here(idx: u32) -> Self {
        Ref {
            chip: Chip::Same,
            idx,
        }
    }
}

/// What an instruction waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dep {
    /// Consumes `count` output vectors of the producer off its stream, the producer's vector
    /// `first + j` as its own input vector `offset + j`: each must have arrived when read.
    Stream {
        from: u32,
        first: u32,
        offset: u32,
        count: u32,
    },
    /// Starts once the producer finished (its results are in MEM, its weights installed, its
    /// message arrived).
    After(Ref),
    /// Starts once the producer stopped reading what this instruction overwrites (a weight
    /// buffer of an MXM plane).
    Free(Ref),
}

/// One instruction with its static schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instr {
    pub unit: Unit,
    pub kind: Kind,
    /// Issue cycle from the start of the step [cycles].
    pub issue: u64,
    pub n_in: u32,
    pub ii: u32,
    pub lat: u32,
    pub n_out: u32,
    pub oi: u32,
    /// Cycles the unit cannot take another instruction, from `issue`.
    pub occ: u32,
    /// Stream the outputs travel on, when other instructions consume them.
    pub stream: Option<Stream>,
    /// Dependencies: `deps[dep_start .. dep_start + dep_len]` of the program.
    pub dep_start: u32,
    pub dep_len: u16,
    /// Report part (index into the program's part names).
    pub part: u16,
    /// Position in the weight stream of its matrix, for error messages.
    pub tile: u32,
    /// What the instruction belongs to, for error messages.
    pub what: &'static str,
}

impl Instr {
    /// First output leaves the unit [cycle].
    pub fn out_start(&self) -> u64 {
        self.issue + u64::from(self.lat)
    }

    /// Cycle input vector `j` is read.
    pub fn consume_at(&self, j: u64) -> u64 {
        self.issue + j * u64::from(self.ii)
    }

    /// Cycle output vector `j` leaves the unit.
    pub fn emit_at(&self, j: u64) -> u64 {
        self.out_start() + j * u64::from(self.oi)
    }

    /// First cycle after the instruction has read all its inputs.
    pub fn inputs_done(&self) -> u64 {
        self.issue + u64::from(self.n_in) * u64::from(self.ii)
    }

    /// First cycle after the instruction is finished: inputs read and outputs delivered.
    pub fn done(&self) -> u64 {
        let out = if self.n_out > 0 {
            self.emit_at(u64::from(self.n_out) - 1) + 1
        } else {
            0
        };
        self.inputs_done().max(out).max(self.issue + 1)
    }

    /// Vectors it moves through a MEM slice, and the cycle of the first access (one per cycle).
    pub fn mem_run(&self) -> Option<(u64, u64, u64)> {
        match self.kind {
            Kind::Read { addr } => Some((self.issue, u64::from(self.n_out), u64::from(addr))),
            Kind::Write { addr } => Some((self.issue, u64::from(self.n_in), u64::from(addr))),
            _ => None,
        }
    }

    /// A name for errors and traces.
    pub fn label(&self) -> String {
        let op = match self.kind {
            Kind::Read { addr } => format!("read @{addr}"),
            Kind::Write { addr } => format!("write @{addr}"),
            Kind::Unpack => "unpack".to_owned(),
            Kind::Install { buffer } => format!("install buf{buffer}"),
            Kind::MatVec { buffer } => format!("matvec buf{buffer}"),
            Kind::Vector(op) => format!("{op:?}").to_lowercase(),
            Kind::Reduce => "reduce".to_owned(),
            Kind::Send => "send".to_owned(),
            Kind::Recv => "recv".to_owned(),
        };
        format!("{op} ({} tile {})", self.what, self.tile)
    }
}

/// The program of one pipeline stage.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// Ranks running it.
    pub tp: u64,
    /// Index of the first chip of the stage in the system.
    pub first_chip: u64,
    pub instrs: Vec<Instr>,
    pub deps: Vec<Dep>,
    /// Report parts, in order; `Instr::part` indexes them.
    pub parts: Vec<String>,
    /// Instructions whose results leave the stage for the next one (one per rank).
    pub handoff: Option<u32>,
}

/// All that the next stage's lowering and verification see of a stage: the instruction its
/// results leave by, which its `Chip::PrevStage` references name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handoff {
    pub idx: u32,
    pub instr: Instr,
}

impl Program {
    /// What the next stage sees of this one.
    pub fn to_next(&self) -> Option<Handoff> {
        let idx = self.handoff?;
        Some(Handoff {
            idx,
            instr: *self.instrs.get(idx as usize)?,
        })
    }

    /// The instruction `r` refers to, peers resolved by symmetry (every rank runs the same
    /// program at the same cycles), the previous stage by its hand-off `prev`.
    pub fn resolve<'a>(&'a self, prev: Option<&'a Handoff>, r: Ref) -> Option<&'a Instr> {
        match r.chip {
            Chip::Same | Chip::Peer(_) => self.instrs.get(r.idx as usize),
            Chip::PrevStage => prev.filter(|h| h.idx == r.idx).map(|h| &h.instr),
        }
    }

    /// The dependencies of instruction `i`.
    pub fn deps_of(&self, i: &Instr) -> &[Dep] {
        let s = i.dep_start as usize;
        &self.deps[s..s + usize::from(i.dep_len)]
    }
}
