//! Groq Tensor Streaming Processor: one chip and how chips compose into nodes, racks and a
//! Dragonfly system.

use super::{
    MAX_BYTES_PER_S, MAX_CLOCK_HZ, MAX_LATENCY_NS, MAX_UNITS, MIN_BYTES_PER_S, MIN_CLOCK_HZ,
};
use crate::describe::check;
use crate::error::Invalid;
use crate::ranges::{self, Range, count, real};
use serde::{Deserialize, Serialize};

/// A TSP system description (`arch/groq-tsp.ron`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspSystem {
    /// One chip.
    pub chip: TspChip,
    /// Chips composed into nodes, racks and the global network.
    pub system: TspTopology,
}

/// One TSP chip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspChip {
    /// Core clock [Hz].
    pub clock_hz: f64,
    /// Superlanes (groups of lanes, one per vertical stripe of the chip).
    pub superlanes: u64,
    /// Lanes per superlane; each lane carries one byte of a vector.
    pub lanes_per_superlane: u64,
    /// Bytes of one vector (one byte per lane).
    pub vector_bytes: u64,
    /// On-chip memory.
    pub mem: TspMem,
    /// Stream registers that carry vectors between functional slices.
    pub streams: TspStreams,
    /// Matrix units.
    pub mxm: TspMxm,
    /// Vector units.
    pub vxm: TspVxm,
    /// Switch units (shifts, permutes, transposes).
    pub sxm: TspSxm,
    /// Instruction control: one queue per functional slice.
    pub icu: TspIcu,
    /// Chip-to-chip links.
    pub c2c: TspC2c,
    /// Power per chip under load [W].
    pub power_w: f64,
    /// MEM kept for the instruction streams, activations and KV staging of a compiled program:
    /// not available to weights [bytes].
    pub runtime_reserve_bytes: u64,
}

/// The MEM slices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspMem {
    /// Hemispheres (east and west), each with its own MEM slices.
    pub hemispheres: u64,
    /// MEM slices per hemisphere.
    pub slices_per_hemisphere: u64,
    /// Vector addresses per slice.
    pub addresses_per_slice: u64,
    /// Independently accessible banks per slice.
    pub banks_per_slice: u64,
    /// Total SRAM [bytes]; must equal slices x addresses x vector bytes.
    pub sram_bytes: u64,
    /// Cycles from a read instruction to its vector entering a stream.
    pub read_latency_cycles: u64,
}

/// Stream registers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspStreams {
    /// Stream registers flowing in each direction (east, west).
    pub per_direction: u64,
    /// Cycles for a vector to advance by one functional slice.
    pub hop_cycles: u64,
}

/// Matrix execution module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspMxm {
    /// Independent MAC planes.
    pub planes: u64,
    /// Rows of one plane's MAC array.
    pub rows: u64,
    /// Columns of one plane's MAC array.
    pub cols: u64,
    /// INT8 MACs per FP16 MAC (FP16 runs at this fraction of the INT8 rate).
    pub fp16_rate_divisor: u64,
    /// Weight vectors a plane accepts per cycle while installing weights.
    pub install_vectors_per_cycle: u64,
    /// Cycles from an activation vector entering a plane to its result leaving.
    pub latency_cycles: u64,
}

/// Vector execution module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspVxm {
    /// ALUs per lane.
    pub alus_per_lane: u64,
    /// ALUs per lane one element-wise instruction chains (e.g. shift and mask to unpack codes,
    /// multiply and add to scale): the VXM runs `alus_per_lane / alus_per_op` at once.
    pub alus_per_op: u64,
    /// Pipeline latency of one element-wise operation [cycles].
    pub latency_cycles: u64,
}

/// Switch execution module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspSxm {
    /// SXM slices per hemisphere.
    pub slices_per_hemisphere: u64,
    /// Latency of a shift, permute or transpose [cycles].
    pub latency_cycles: u64,
}

/// Instruction control unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspIcu {
    /// Instruction queues on the chip (one per functional slice).
    pub instruction_queues: u64,
}

/// Chip-to-chip links.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspC2c {
    /// Links per chip.
    pub links: u64,
    /// Serial lanes per link.
    pub lanes_per_link: u64,
    /// Signalling rate per lane [Gb/s].
    pub lane_gbps: f64,
    /// Payload bandwidth per link and direction [bytes/s]; at most the raw lane rate.
    pub link_bytes_per_s: f64,
    /// One-way chip-to-chip latency including synchronization [cycles].
    pub latency_cycles: u64,
}

/// How chips compose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspTopology {
    /// Chips per node.
    pub chips_per_node: u64,
    /// Nodes per rack.
    pub nodes_per_rack: u64,
    /// Largest system the network supports [chips].
    pub max_chips: u64,
    /// Largest hop count between two chips of the largest system.
    pub max_hops: u64,
    /// Network levels, innermost first.
    pub levels: Vec<TspLinkLevel>,
}

/// One level of the network (within a node, within a rack, between racks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TspLinkLevel {
    /// Level name for reports.
    pub name: String,
    /// C2C links of each chip that serve this level.
    pub links_per_chip: u64,
    /// One-hop latency at this level [ns].
    pub hop_latency_ns: f64,
}

/// Largest latency of a functional unit's pipeline or a MEM read [cycles].
const MAX_UNIT_LATENCY: u64 = 1 << 16;
/// Largest chip-to-chip latency [cycles]: about 18 ms at 900 MHz.
const MAX_LINK_LATENCY: u64 = 1 << 24;
/// Most of a count of on-chip units: far above any chip, low enough that the products the
/// placement forms (slices x addresses x vector bytes) stay far inside 64 bits.
const SMALL: u64 = 1 << 10;
/// Most lanes, vector bytes, MAC rows and instruction queues.
const LARGE: u64 = 1 << 16;

/// The range of every field of a TSP description. Counts start at 1; pipeline latencies at 0 (a
/// legal idealization), bounded where a latency would dwarf any decode step and only hide an
/// error.
pub const RANGES: &[Range] = &[
    real("chip.clock_hz", MIN_CLOCK_HZ, MAX_CLOCK_HZ, "Hz"),
    count("chip.superlanes", 1, SMALL, ""),
    count("chip.lanes_per_superlane", 1, SMALL, ""),
    count("chip.vector_bytes", 1, LARGE, "bytes").and("= superlanes x lanes_per_superlane"),
    count("chip.mem.hemispheres", 1, 16, ""),
    count("chip.mem.slices_per_hemisphere", 1, SMALL, ""),
    count("chip.mem.addresses_per_slice", 1, 1 << 24, ""),
    count("chip.mem.banks_per_slice", 1, SMALL, ""),
    count("chip.mem.sram_bytes", 1, 1 << 40, "bytes")
        .and("= hemispheres x slices_per_hemisphere x addresses_per_slice x vector_bytes"),
    count(
        "chip.mem.read_latency_cycles",
        0,
        MAX_UNIT_LATENCY,
        "cycles",
    ),
    count("chip.streams.per_direction", 1, SMALL, ""),
    count("chip.streams.hop_cycles", 1, SMALL, "cycles"),
    count("chip.mxm.planes", 1, SMALL, ""),
    count("chip.mxm.rows", 1, LARGE, ""),
    count("chip.mxm.cols", 1, LARGE, "").and("= vector_bytes"),
    count("chip.mxm.fp16_rate_divisor", 1, SMALL, ""),
    // The machine model streams one weight vector per plane per cycle into the MXM; another
    // rate would be silently ignored, so it is refused instead.
    count("chip.mxm.install_vectors_per_cycle", 1, 1, "")
        .and("the model streams one vector per plane per cycle"),
    count("chip.mxm.latency_cycles", 0, MAX_UNIT_LATENCY, "cycles"),
    count("chip.vxm.alus_per_lane", 1, SMALL, ""),
    count("chip.vxm.alus_per_op", 1, SMALL, "").and("at most alus_per_lane"),
    count("chip.vxm.latency_cycles", 0, MAX_UNIT_LATENCY, "cycles"),
    count("chip.sxm.slices_per_hemisphere", 1, SMALL, ""),
    count("chip.sxm.latency_cycles", 0, MAX_UNIT_LATENCY, "cycles"),
    count("chip.icu.instruction_queues", 1, LARGE, ""),
    count("chip.c2c.links", 1, SMALL, ""),
    count("chip.c2c.lanes_per_link", 1, SMALL, ""),
    real("chip.c2c.lane_gbps", 1e-3, 1e4, "Gb/s"),
    real(
        "chip.c2c.link_bytes_per_s",
        MIN_BYTES_PER_S,
        MAX_BYTES_PER_S,
        "bytes/s",
    )
    .and("at most the raw lane rate"),
    count("chip.c2c.latency_cycles", 0, MAX_LINK_LATENCY, "cycles"),
    real("chip.power_w", 1e-3, 1e5, "W"),
    count("chip.runtime_reserve_bytes", 0, 1 << 40, "bytes").and("below mem.sram_bytes"),
    count("system.chips_per_node", 1, SMALL, ""),
    count("system.nodes_per_rack", 1, SMALL, ""),
    count("system.max_chips", 1, MAX_UNITS, ""),
    count("system.max_hops", 1, SMALL, ""),
    count("system.levels[].links_per_chip", 1, SMALL, "")
        .and("summed over the levels at most chip.c2c.links"),
    real("system.levels[].hop_latency_ns", 1e-3, MAX_LATENCY_NS, "ns"),
];

impl TspChip {
    /// MEM slices on the chip.
    pub fn slices(&self) -> u64 {
        self.mem.hemispheres * self.mem.slices_per_hemisphere
    }

    /// Bytes one MEM slice holds.
    pub fn slice_bytes(&self) -> u64 {
        self.mem.addresses_per_slice * self.vector_bytes
    }

    /// Peak INT8 operations per second (a MAC counts as two).
    pub fn peak_int8_ops_per_s(&self) -> f64 {
        (2 * self.mxm.planes * self.mxm.rows * self.mxm.cols) as f64 * self.clock_hz
    }
}

impl TspSystem {
    /// Check every field against its range ([`RANGES`]), and every relation between fields.
    pub fn validate(&self) -> Result<(), Invalid> {
        let tree =
            serde_json::to_value(self).map_err(|e| Invalid::new("machine", e.to_string()))?;
        ranges::check(RANGES, &tree, "")?;
        self.check_chip_relations()?;
        self.check_network()
    }

    /// The chip's fields that must agree with each other.
    fn check_chip_relations(&self) -> Result<(), Invalid> {
        let c = &self.chip;
        check::equal(
            "chip.vector_bytes",
            c.vector_bytes,
            c.superlanes * c.lanes_per_superlane,
            "superlanes x lanes_per_superlane (one byte per lane)",
        )?;
        check::equal(
            "chip.mem.sram_bytes",
            c.mem.sram_bytes,
            c.slices() * c.slice_bytes(),
            "hemispheres x slices_per_hemisphere x addresses_per_slice x vector_bytes",
        )?;
        check::equal(
            "chip.mxm.cols",
            c.mxm.cols,
            c.vector_bytes,
            "vector_bytes (a plane consumes one vector per cycle)",
        )?;
        if c.vxm.alus_per_op > c.vxm.alus_per_lane {
            return Err(Invalid::new(
                "chip.vxm.alus_per_op",
                format!(
                    "{} exceeds the {} ALUs of a lane",
                    c.vxm.alus_per_op, c.vxm.alus_per_lane
                ),
            ));
        }
        if c.runtime_reserve_bytes >= c.mem.sram_bytes {
            return Err(Invalid::new(
                "chip.runtime_reserve_bytes",
                format!("{} leaves no SRAM for weights", c.runtime_reserve_bytes),
            ));
        }
        Ok(())
    }

    /// The chip-to-chip links and the network levels built from them.
    fn check_network(&self) -> Result<(), Invalid> {
        let c = &self.chip;
        let raw = c.c2c.lanes_per_link as f64 * c.c2c.lane_gbps * 1e9 / 8.0;
        if c.c2c.link_bytes_per_s > raw {
            return Err(Invalid::new(
                "chip.c2c.link_bytes_per_s",
                format!("{} exceeds the raw lane rate {raw}", c.c2c.link_bytes_per_s),
            ));
        }
        if self.system.levels.is_empty() {
            return Err(Invalid::new(
                "system.levels",
                "at least one network level is needed",
            ));
        }
        let links = self
            .system
            .levels
            .iter()
            .fold(0u64, |sum, level| sum.saturating_add(level.links_per_chip));
        if links > c.c2c.links {
            return Err(Invalid::new(
                "system.levels",
                format!(
                    "levels use {links} links per chip but a chip has {}",
                    c.c2c.links
                ),
            ));
        }
        Ok(())
    }
}
