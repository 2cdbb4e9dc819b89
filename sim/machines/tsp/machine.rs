//! The TSP as the compiler and the simulators see it: functional slices at positions along the
//! east-west axis, stream registers between them, and the latencies and rates of each unit,
//! all derived from `arch/groq-tsp.ron`.
//!
//! Floorplan ([ISCA20] Fig. 2), west to east: MXM, SXM, 44 MEM slices, the VXM in the middle,
//! 44 MEM slices, SXM, MXM. A vector moves one functional slice per `hop_cycles`, so the distance
//! between two units is the difference of their positions. The C2C links leave the chip at the
//! SXM of their hemisphere.

use crate::arch::{TspChip, TspSystem};
use std::fmt;

/// A functional slice (or one port of one) that executes its own instruction queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// MEM slice, numbered west to east.
    Mem(u16),
    /// Weight-install port of an MXM plane.
    Install(u8),
    /// Compute port of an MXM plane.
    Compute(u8),
    /// One of the VXM's concurrent element-wise pipelines.
    Vxm(u8),
    /// The SXM of a hemisphere (0 west, 1 east).
    Sxm(u8),
    /// Transmit side of a C2C link.
    Tx(u8),
    /// Receive side of a C2C link.
    Rx(u8),
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unit::Mem(s) => write!(f, "mem{s}"),
            Unit::Install(p) => write!(f, "mxm{p}.install"),
            Unit::Compute(p) => write!(f, "mxm{p}.compute"),
            Unit::Vxm(v) => write!(f, "vxm{v}"),
            Unit::Sxm(h) => write!(f, "sxm{h}"),
            Unit::Tx(l) => write!(f, "c2c{l}.tx"),
            Unit::Rx(l) => write!(f, "c2c{l}.rx"),
        }
    }
}

/// Kinds of unit in reports.
pub const KINDS: [&str; 5] = ["mem", "mxm", "vxm", "sxm", "c2c"];

impl Unit {
    /// Index of the unit's kind in [`KINDS`].
    pub fn kind_index(self) -> usize {
        match self {
            Unit::Mem(_) => 0,
            Unit::Install(_) | Unit::Compute(_) => 1,
            Unit::Vxm(_) => 2,
            Unit::Sxm(_) => 3,
            Unit::Tx(_) | Unit::Rx(_) => 4,
        }
    }

    /// Kind of unit in reports (`mem`, `mxm`, `vxm`, `sxm`, `c2c`).
    pub fn kind(self) -> &'static str {
        KINDS[self.kind_index()]
    }
}

/// Direction a stream flows in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dir {
    East,
    West,
}

/// One stream register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stream {
    pub dir: Dir,
    pub index: u8,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self.dir {
            Dir::East => 'E',
            Dir::West => 'W',
        };
        write!(f, "S{}{d}", self.index)
    }
}

/// Derived constants of one chip and its links.
#[derive(Clone, Debug)]
pub struct Machine {
    pub clock_hz: f64,
    pub vector_bytes: u64,
    pub slices: u64,
    pub slices_per_hemisphere: u64,
    pub addresses: u64,
    pub banks: u64,
    pub read_latency: u64,
    pub streams: u64,
    pub hop_cycles: u64,
    pub planes: u64,
    pub rows: u64,
    pub mxm_latency: u64,
    pub fp16_divisor: u64,
    pub vxm_pipes: u64,
    pub vxm_latency: u64,
    /// Cycles of a lane reduction (max or sum over a vector): log2(lanes) shift-and-combine steps.
    pub reduce_latency: u64,
    pub links: u64,
    /// C2C links of each chip inside its node.
    pub node_links: u64,
    pub chips_per_node: u64,
    /// Cycles to serialize one vector onto a link.
    pub link_cycles_per_vector: u64,
    /// One-way latency to a chip of the same node / of another node [cycles].
    pub node_latency: u64,
    pub global_latency: u64,
}

impl Machine {
    /// The model of one chip of `m`.
    pub fn new(m: &TspSystem) -> Self {
        let c: &TspChip = &m.chip;
        let cycles_of_ns = |ns: f64| (ns * c.clock_hz / 1e9).ceil() as u64;
        let global_ns = m.system.levels.get(1).map_or(0.0, |l| l.hop_latency_ns);
        let lanes = c.vector_bytes.max(2);
        Machine {
            clock_hz: c.clock_hz,
            vector_bytes: c.vector_bytes,
            slices: c.slices(),
            slices_per_hemisphere: c.mem.slices_per_hemisphere,
            addresses: c.mem.addresses_per_slice,
            banks: c.mem.banks_per_slice,
            read_latency: c.mem.read_latency_cycles,
            streams: c.streams.per_direction,
            hop_cycles: c.streams.hop_cycles,
            planes: c.mxm.planes,
            rows: c.mxm.rows,
            mxm_latency: c.mxm.latency_cycles,
            fp16_divisor: c.mxm.fp16_rate_divisor,
            vxm_pipes: (c.vxm.alus_per_lane / c.vxm.alus_per_op).max(1),
            vxm_latency: c.vxm.latency_cycles,
            reduce_latency: c.sxm.latency_cycles * u64::from(64 - (lanes - 1).leading_zeros()),
            links: c.c2c.links,
            node_links: m.system.levels[0].links_per_chip,
            chips_per_node: m.system.chips_per_node,
            link_cycles_per_vector: (c.vector_bytes as f64 * c.clock_hz / c.c2c.link_bytes_per_s)
                .ceil() as u64,
            node_latency: c.c2c.latency_cycles,
            global_latency: c.c2c.latency_cycles.max(cycles_of_ns(global_ns)),
        }
    }

    /// Position of `unit` along the east-west axis [functional slices].
    pub fn position(&self, unit: Unit) -> u64 {
        let h = self.slices_per_hemisphere;
        let east_edge = 2 * h + 4;
        // Planes in the west half sit at the west edge (a comparison: this is on the hot path).
        let edge = |p: u8| {
            if u64::from(p) * 2 < self.planes {
                0
            } else {
                east_edge
            }
        };
        match unit {
            Unit::Mem(s) => {
                let s = u64::from(s);
                if s < h { 2 + s } else { 3 + s }
            }
            Unit::Vxm(_) => 2 + h,
            Unit::Install(p) | Unit::Compute(p) => edge(p),
            Unit::Sxm(hs) => {
                if hs == 0 {
                    1
                } else {
                    east_edge - 1
                }
            }
            Unit::Tx(l) | Unit::Rx(l) => {
                if l % 2 == 0 {
                    1
                } else {
                    east_edge - 1
                }
            }
        }
    }

    /// Cycles for a vector to travel from `a` to `b` on a stream.
    pub fn hops(&self, a: Unit, b: Unit) -> u64 {
        self.position(a).abs_diff(self.position(b)) * self.hop_cycles
    }

    /// Direction of a stream from `a` to `b`.
    pub fn dir(&self, a: Unit, b: Unit) -> Dir {
        if self.position(b) >= self.position(a) {
            Dir::East
        } else {
            Dir::West
        }
    }

    /// The diagonal of a vector leaving `unit` at cycle `emit` on a stream flowing `dir`: the
    /// vector is at position `x` at cycle `t` with `t - x` (east) or `t + x` (west) constant,
    /// offset to stay positive. Two vectors on one stream collide only on the same diagonal.
    pub fn diagonal(&self, dir: Dir, unit: Unit, emit: u64) -> u64 {
        let pos = self.position(unit) * self.hop_cycles;
        match dir {
            Dir::East => emit + (2 * self.slices_per_hemisphere + 5) * self.hop_cycles - pos,
            Dir::West => emit + pos,
        }
    }

    /// Whether a stream flowing `dir` from `from` passes `to`.
    pub fn downstream(&self, dir: Dir, from: Unit, to: Unit) -> bool {
        let (a, b) = (self.position(from), self.position(to));
        match dir {
            Dir::East => b >= a,
            Dir::West => b <= a,
        }
    }

    /// The SXM of the hemisphere nearest `unit`.
    pub fn sxm_near(&self, unit: Unit) -> Unit {
        let mid = self.position(Unit::Vxm(0));
        Unit::Sxm(u8::from(self.position(unit) > mid))
    }

    /// The link rank `from` uses to reach rank `to` of the same stage (a fully connected node,
    /// then the global links shared round robin), and its one-way latency [cycles].
    pub fn link_to(&self, from: u64, to: u64) -> (u8, u64) {
        let node = self.chips_per_node;
        if from / node == to / node {
            let d = (to + node - from % node) % node;
            (((d - 1) % self.node_links) as u8, self.node_latency)
        } else {
            let global = (self.links - self.node_links).max(1);
            let d = (to / node).abs_diff(from / node);
            ((self.node_links + d % global) as u8, self.global_latency)
        }
    }

    /// The link to the same rank of the next pipeline stage, and its latency [cycles].
    pub fn link_to_next_stage(&self) -> (u8, u64) {
        (self.node_links as u8, self.global_latency)
    }
}
