//! A GPU baseline: HBM capacity and bandwidth, peak dense rates, and how GPUs form a node.

use super::{MAX_BYTES_PER_S, MIN_BYTES_PER_S};
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
    /// Check every field against its physical range.
    pub fn validate(&self) -> Result<(), Invalid> {
        let g = &self.gpu;
        check::within("gpu.hbm_bytes", g.hbm_bytes, 1, 1 << 50, "bytes")?;
        let bandwidth = |field: &str, v: f64| {
            check::between(field, v, MIN_BYTES_PER_S, MAX_BYTES_PER_S, "bytes/s")
        };
        bandwidth("gpu.hbm_bytes_per_s", g.hbm_bytes_per_s)?;
        let p = &g.peak_ops_per_s;
        for (field, v) in [
            ("gpu.peak_ops_per_s.fp32", p.fp32),
            ("gpu.peak_ops_per_s.fp16", p.fp16),
            ("gpu.peak_ops_per_s.fp8", p.fp8),
            ("gpu.peak_ops_per_s.int8", p.int8),
        ] {
            check::between(field, v, 1e6, 1e18, "operations/s")?;
        }
        check::between("gpu.power_w", g.power_w, 1e-3, 1e5, "W")?;
        check::between("gpu.kernel_launch_s", g.kernel_launch_s, 0.0, 1.0, "s")?;
        if g.runtime_reserve_bytes >= g.hbm_bytes {
            return Err(Invalid::new(
                "gpu.runtime_reserve_bytes",
                "leaves no HBM for the model",
            ));
        }
        check::within(
            "node.gpus_per_node",
            self.node.gpus_per_node,
            1,
            1 << 10,
            "",
        )?;
        bandwidth("node.nvlink_bytes_per_s", self.node.nvlink_bytes_per_s)?;
        check::between(
            "node.collective_latency_s",
            self.node.collective_latency_s,
            0.0,
            1.0,
            "s",
        )?;
        Ok(())
    }
}
