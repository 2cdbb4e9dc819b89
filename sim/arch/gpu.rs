//! A GPU baseline: HBM capacity and bandwidth, peak dense rates, and how GPUs form a node.

use super::{MAX_BYTES_PER_S, MIN_BYTES_PER_S};
use crate::error::Invalid;
use crate::ranges::{self, Range, count, real};
use serde::{Deserialize, Serialize};

/// A GPU system description (`arch/nvidia-*.ron`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSystem {
    /// One GPU.
    pub gpu: Gpu,
    /// GPUs per node and their interconnect.
    pub node: GpuNode,
}

/// One GPU.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    /// HBM capacity [bytes].
    pub hbm_bytes: u64,
    /// HBM bandwidth [bytes/s].
    pub hbm_bytes_per_s: f64,
    /// Dense (no sparsity) peak rates [operations/s].
    pub peak_ops_per_s: GpuPeaks,
    /// Board power [W].
    pub power_w: f64,
    /// HBM kept by the runtime, CUDA context and workspaces: not available to the model [bytes].
    pub runtime_reserve_bytes: u64,
    /// Fixed cost of one kernel launch [s].
    pub kernel_launch_s: f64,
}

/// Dense peak rates per data type [operations/s].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuPeaks {
    /// FP32 (non-tensor-core).
    pub fp32: f64,
    /// FP16 and BF16 tensor core.
    pub fp16: f64,
    /// FP8 tensor core.
    pub fp8: f64,
    /// INT8 tensor core.
    pub int8: f64,
}

/// GPUs in a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuNode {
    /// GPUs per node.
    pub gpus_per_node: u64,
    /// NVLink bandwidth per GPU, per direction [bytes/s].
    pub nvlink_bytes_per_s: f64,
    /// Fixed latency of one collective (all-reduce) step [s].
    pub collective_latency_s: f64,
}

/// The range of every field of a GPU description.
pub const RANGES: &[Range] = &[
    count("gpu.hbm_bytes", 1, 1 << 50, "bytes"),
    real(
        "gpu.hbm_bytes_per_s",
        MIN_BYTES_PER_S,
        MAX_BYTES_PER_S,
        "bytes/s",
    ),
    real("gpu.peak_ops_per_s.fp32", 1e6, 1e18, "operations/s"),
    real("gpu.peak_ops_per_s.fp16", 1e6, 1e18, "operations/s"),
    real("gpu.peak_ops_per_s.fp8", 1e6, 1e18, "operations/s"),
    real("gpu.peak_ops_per_s.int8", 1e6, 1e18, "operations/s"),
    real("gpu.power_w", 1e-3, 1e5, "W"),
    count("gpu.runtime_reserve_bytes", 0, 1 << 50, "bytes").and("below hbm_bytes"),
    real("gpu.kernel_launch_s", 0.0, 1.0, "s"),
    count("node.gpus_per_node", 1, 1 << 10, ""),
    real(
        "node.nvlink_bytes_per_s",
        MIN_BYTES_PER_S,
        MAX_BYTES_PER_S,
        "bytes/s",
    ),
    real("node.collective_latency_s", 0.0, 1.0, "s"),
];

impl GpuSystem {
    /// Check every field against its range ([`RANGES`]), and the reserve against the HBM.
    pub fn validate(&self) -> Result<(), Invalid> {
        let tree =
            serde_json::to_value(self).map_err(|e| Invalid::new("machine", e.to_string()))?;
        ranges::check(RANGES, &tree, "")?;
        let g = &self.gpu;
        if g.runtime_reserve_bytes >= g.hbm_bytes {
            return Err(Invalid::new(
                "gpu.runtime_reserve_bytes",
                "leaves no HBM for the model",
            ));
        }
        Ok(())
    }
}
