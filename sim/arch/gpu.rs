//! A GPU baseline: HBM capacity and bandwidth, peak dense rates, and how GPUs form a node.

use crate::describe::check;
use crate::error::Invalid;
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

impl GpuSystem {
    /// Check every field.
    pub fn validate(&self) -> Result<(), Invalid> {
        let g = &self.gpu;
        check::nonzero("gpu.hbm_bytes", g.hbm_bytes)?;
        check::positive("gpu.hbm_bytes_per_s", g.hbm_bytes_per_s)?;
        check::positive("gpu.peak_ops_per_s.fp32", g.peak_ops_per_s.fp32)?;
        check::positive("gpu.peak_ops_per_s.fp16", g.peak_ops_per_s.fp16)?;
        check::positive("gpu.peak_ops_per_s.fp8", g.peak_ops_per_s.fp8)?;
        check::positive("gpu.peak_ops_per_s.int8", g.peak_ops_per_s.int8)?;
        check::positive("gpu.power_w", g.power_w)?;
        check::non_negative("gpu.kernel_launch_s", g.kernel_launch_s)?;
        if g.runtime_reserve_bytes >= g.hbm_bytes {
            return Err(Invalid::new(
                "gpu.runtime_reserve_bytes",
                "leaves no HBM for the model",
            ));
        }
        check::nonzero("node.gpus_per_node", self.node.gpus_per_node)?;
        check::positive("node.nvlink_bytes_per_s", self.node.nvlink_bytes_per_s)?;
        check::non_negative("node.collective_latency_s", self.node.collective_latency_s)?;
        Ok(())
    }
}
