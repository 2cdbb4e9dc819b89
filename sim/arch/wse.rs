//! Cerebras Wafer-Scale Engine: a 2D mesh of processing elements (PEs), each with its own SRAM
//! and router, and systems of several wafers joined by their I/O links.

use super::{MAX_BYTES_PER_S, MAX_CLOCK_HZ, MAX_LATENCY_NS, MIN_BYTES_PER_S, MIN_CLOCK_HZ};
use crate::error::Invalid;
use crate::ranges::{self, Range, count, real};
use serde::{Deserialize, Serialize};

/// A WSE system description (`arch/cerebras-wse*.ron`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WseSystem {
    /// One wafer.
    pub wafer: WseWafer,
    /// The system (CS-2, CS-3) around one wafer, and how systems combine.
    pub system: WseSystemIo,
}

/// One wafer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WseWafer {
    /// Physical cores on the wafer, spares and I/O-reserved ones included.
    pub cores: u64,
    /// Rows of the programmable fabric.
    pub fabric_rows: u64,
    /// Columns of the programmable fabric.
    pub fabric_cols: u64,
    /// Dies (reticles) stitched into the wafer.
    pub dies: u64,
    /// Core clock [Hz].
    pub clock_hz: f64,
    /// One processing element.
    pub pe: WsePe,
    /// One router.
    pub router: WseRouter,
}

/// A processing element.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsePe {
    /// Local SRAM [bytes].
    pub sram_bytes: u64,
    /// SRAM read ports.
    pub sram_read_ports: u64,
    /// SRAM write ports.
    pub sram_write_ports: u64,
    /// Width of one SRAM port [bits].
    pub sram_port_bits: u64,
    /// FP16 fused multiply-accumulates per cycle.
    pub fp16_simd: u64,
    /// SRAM taken by the kernel's code, task state and stack: not available to data [bytes].
    pub code_reserve_bytes: u64,
    /// SRAM for input, output and partial-sum buffers of a GEMV tile [bytes].
    pub buffer_bytes: u64,
}

/// A fabric router.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WseRouter {
    /// Ports: north, south, east, west and the ramp to its PE.
    pub ports: u64,
    /// Width of a wavelet [bits].
    pub wavelet_bits: u64,
    /// Routable colors (virtual channels).
    pub colors: u64,
    /// Cycles per hop.
    pub hop_cycles: u64,
    /// Wavelets queued per color at each input port (credits a sender holds per color).
    pub queue_wavelets: u64,
}

/// A system around one wafer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WseSystemIo {
    /// System name (CS-2, CS-3).
    pub name: String,
    /// External I/O bandwidth of one system [bytes/s].
    pub io_bytes_per_s: f64,
    /// One-way latency between two systems' wafers [ns].
    pub io_latency_ns: f64,
    /// Power per system [W].
    pub power_w: f64,
}

impl WseWafer {
    /// PEs of the programmable fabric.
    pub fn fabric_pes(&self) -> u64 {
        self.fabric_rows * self.fabric_cols
    }

    /// Peak dense FP16 operations per second of the fabric (an FMAC counts as two).
    pub fn peak_fp16_ops_per_s(&self) -> f64 {
        (2 * self.pe.fp16_simd * self.fabric_pes()) as f64 * self.clock_hz
    }

    /// PE SRAM left for weights and KV cache after code and buffers [bytes].
    pub fn pe_data_bytes(&self) -> u64 {
        self.pe
            .sram_bytes
            .saturating_sub(self.pe.code_reserve_bytes + self.pe.buffer_bytes)
    }
}

/// Most of a count of a PE's or router's units: far above any wafer.
const SMALL: u64 = 1 << 10;

/// The range of every field of a WSE description: counts from 1 to a bound far above any wafer,
/// low enough that the PE arrays of the model stay addressable in 32 bits and products of sizes
/// far inside 64 bits.
pub const RANGES: &[Range] = &[
    count("wafer.cores", 1, 1 << 26, "").and("at least fabric_rows x fabric_cols"),
    count("wafer.fabric_rows", 1, 1 << 14, ""),
    count("wafer.fabric_cols", 1, 1 << 14, ""),
    count("wafer.dies", 1, 1 << 12, ""),
    real("wafer.clock_hz", MIN_CLOCK_HZ, MAX_CLOCK_HZ, "Hz"),
    count("wafer.pe.sram_bytes", 1, 1 << 24, "bytes"),
    count("wafer.pe.sram_read_ports", 1, 64, ""),
    count("wafer.pe.sram_write_ports", 1, 64, ""),
    count("wafer.pe.sram_port_bits", 1, 4096, "bits"),
    count("wafer.pe.fp16_simd", 1, SMALL, ""),
    count("wafer.pe.code_reserve_bytes", 0, 1 << 24, "bytes")
        .and("code and buffers below sram_bytes"),
    count("wafer.pe.buffer_bytes", 0, 1 << 24, "bytes").and("code and buffers below sram_bytes"),
    count("wafer.router.ports", 1, 64, ""),
    count("wafer.router.wavelet_bits", 16, 4096, "bits"),
    count("wafer.router.colors", 1, SMALL, ""),
    count("wafer.router.hop_cycles", 1, SMALL, "cycles"),
    count("wafer.router.queue_wavelets", 1, 1 << 16, ""),
    real(
        "system.io_bytes_per_s",
        MIN_BYTES_PER_S,
        MAX_BYTES_PER_S,
        "bytes/s",
    )
    .and("at most one wavelet per cycle per PE of the fabric's edge"),
    real("system.io_latency_ns", 1e-3, MAX_LATENCY_NS, "ns"),
    real("system.power_w", 1e-3, 1e7, "W"),
];

impl WseSystem {
    /// Check every field against its range ([`RANGES`]), and every relation between fields.
    pub fn validate(&self) -> Result<(), Invalid> {
        let tree =
            serde_json::to_value(self).map_err(|e| Invalid::new("machine", e.to_string()))?;
        ranges::check(RANGES, &tree, "")?;
        let w = &self.wafer;
        if w.fabric_pes() > w.cores {
            return Err(Invalid::new(
                "wafer.fabric_rows",
                format!(
                    "fabric {} x {} = {} PEs exceeds the wafer's {} cores",
                    w.fabric_rows,
                    w.fabric_cols,
                    w.fabric_pes(),
                    w.cores
                ),
            ));
        }
        // The system's I/O enters the fabric at its edge: one wavelet per cycle per edge PE at
        // most. A faster I/O, or a slower clock, would need more lanes than the wafer has edge.
        let lanes = self.io_wavelets_per_cycle();
        let edge = 2 * (w.fabric_rows + w.fabric_cols);
        if lanes > edge as f64 {
            return Err(Invalid::new(
                "system.io_bytes_per_s",
                format!(
                    "{:e} bytes/s at {:e} Hz is {lanes:.0} wavelets per cycle, more than the \
                     {edge} PEs of the fabric's edge can take",
                    self.system.io_bytes_per_s, w.clock_hz
                ),
            ));
        }
        if w.pe.code_reserve_bytes + w.pe.buffer_bytes >= w.pe.sram_bytes {
            return Err(Invalid::new(
                "wafer.pe.code_reserve_bytes",
                format!(
                    "code {} + buffers {} leave nothing of the PE's {} bytes of SRAM",
                    w.pe.code_reserve_bytes, w.pe.buffer_bytes, w.pe.sram_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Wavelets the system's I/O carries per cycle of the wafer's clock.
    pub fn io_wavelets_per_cycle(&self) -> f64 {
        let wavelet_bytes = self.wafer.router.wavelet_bits as f64 / 8.0;
        self.system.io_bytes_per_s / self.wafer.clock_hz / wavelet_bytes
    }
}
