//! GPU placement: tensor parallelism over HBM. Every weight matrix and the KV cache are split
//! evenly across the GPUs; norms are replicated; each GPU also holds the batch's activations.

use crate::arch::{GpuSystem, Unit};
use crate::mapping::{Placement, UnitLoad, verdict};
use crate::workload::footprint::footprint;
use crate::workload::{TensorClass, Workload};

/// Place `w` on `units` GPUs, or on as few as hold it.
pub fn place(m: &GpuSystem, w: &Workload, units: Option<u64>) -> Placement {
    let f = footprint(w);
    let usable = m.gpu.hbm_bytes - m.gpu.runtime_reserve_bytes;
    let replicated: u64 = f
        .classes
        .iter()
        .filter(|c| c.class == TensorClass::Norm)
        .map(|c| c.code_bytes + c.metadata_bytes)
        .sum();
    let split = f.weight_bytes - replicated;
    let per_gpu =
        |n: u64| split.div_ceil(n) + f.kv_cache_bytes.div_ceil(n) + replicated + f.activation_bytes;
    // Per-GPU demand falls with n towards the replicated part: search until it fits or cannot.
    let floor = replicated + f.activation_bytes;
    let needed = (floor < usable).then(|| {
        let mut n = (split + f.kv_cache_bytes).div_ceil(usable - floor).max(1);
        while per_gpu(n) > usable {
            n += 1;
        }
        n
    });
    let shown = units.or(needed).unwrap_or(0);
    let load = |n: u64| UnitLoad {
        weight_bytes: split.div_ceil(n) + replicated,
        kv_cache_bytes: f.kv_cache_bytes.div_ceil(n),
        buffer_bytes: f.activation_bytes,
        granules_used: per_gpu(n),
        granules_total: usable,
    };
    let p = Placement {
        unit: Unit::Gpu,
        units_needed: needed,
        units_given: None,
        fits: true,
        usable_bytes_per_unit: usable,
        split: format!(
            "tensor parallel over {shown} GPU(s) ({} per node over NVLink)",
            m.node.gpus_per_node
        ),
        units: (0..shown).map(|_| load(shown)).collect(),
        bytes_short: 0,
    };
    verdict(
        p,
        units,
        None,
        per_gpu(needed.unwrap_or(1)) * needed.unwrap_or(1),
    )
}
