//! A roofline-level GPU run: each operation takes the longer of its bytes over HBM bandwidth and
//! its arithmetic over the peak rate of its data type, plus a kernel launch; tensor parallelism
//! splits both over the GPUs of a node and adds two all-reduces per layer; nodes beyond the
//! first form a pipeline, which adds a hop per stage but no bandwidth. Time is counted in
//! nanosecond ticks, so `cycles` are nanoseconds.

use crate::arch::GpuSystem;
use crate::mapping::{PartTime, Timing, UnitBusy};
use crate::quant::Format;
use crate::workload::Workload;
use crate::workload::work::{self, Op, OpKind, Step};

/// Ticks per second of the GPU timeline.
const TICK_HZ: f64 = 1e9;

/// Tensor-parallel degree and pipeline stages of `units` GPUs.
fn split(m: &GpuSystem, units: u64) -> (u64, u64) {
    let tp = units.clamp(1, m.node.gpus_per_node);
    (tp, units.max(1).div_ceil(tp))
}

/// Peak rate of a matmul whose weights are stored in `format`: integer and low-bit formats are
/// dequantized to FP16 and run on the FP16 tensor cores (weight-only quantization), int8 on the
/// INT8 ones, f32 on the FP32 units.
fn peak_ops(m: &GpuSystem, op: &Op) -> f64 {
    let p = &m.gpu.peak_ops_per_s;
    match op.kind {
        OpKind::Matmul {
            format: Format::F32,
            ..
        } => p.fp32,
        OpKind::Matmul {
            format: Format::Int8,
            ..
        } => p.int8,
        OpKind::Matmul { .. } | OpKind::Attention { .. } => p.fp16,
        // Element-wise work runs on the CUDA cores.
        _ => p.fp32,
    }
}

/// Seconds of one operation on `tp` GPUs: roofline plus launch.
fn op_seconds(m: &GpuSystem, op: &Op, tp: u64) -> (f64, f64, f64) {
    let memory = op.bytes() as f64 / (tp as f64 * m.gpu.hbm_bytes_per_s);
    let compute = op.ops as f64 / (tp as f64 * peak_ops(m, op));
    (memory.max(compute) + m.gpu.kernel_launch_s, memory, compute)
}

/// One all-reduce of `bytes` over `tp` GPUs (ring: 2 (tp-1)/tp of the data cross each link).
fn all_reduce_seconds(m: &GpuSystem, bytes: u64, tp: u64) -> f64 {
    if tp < 2 {
        return 0.0;
    }
    m.node.collective_latency_s
        + 2.0 * (tp - 1) as f64 / tp as f64 * bytes as f64 / m.node.nvlink_bytes_per_s
}

fn ticks(seconds: f64) -> u64 {
    (seconds * TICK_HZ).ceil() as u64
}

/// Time of a whole step, with its parts (one per layer, then the head).
fn step(m: &GpuSystem, w: &Workload, step: Step, units: u64) -> (u64, Vec<PartTime>, u64) {
    let (tp, stages) = split(m, units);
    // f16 activations of the step's tokens, reduced after attention and after the FFN.
    let reduce_bytes = 2 * w.model.hidden * step.positions();
    let part = |name: String, ops: &[Op], reduces: u64| {
        let (mut s, mut mem, mut comp) = (0.0, 0.0, 0.0);
        for op in ops {
            let (t, m_s, c_s) = op_seconds(m, op, tp);
            s += t;
            mem += m_s;
            comp += c_s;
        }
        s += reduces as f64 * all_reduce_seconds(m, reduce_bytes, tp);
        PartTime {
            name,
            cycles: ticks(s),
            bytes: ops.iter().map(Op::bytes).sum(),
            ops: ops.iter().map(|o| o.ops).sum(),
            memory_bound_cycles: (mem * TICK_HZ) as u64,
            compute_bound_cycles: (comp * TICK_HZ) as u64,
        }
    };
    let layer = work::layer_ops(w, step);
    let mut parts: Vec<PartTime> = (0..w.model.layers)
        .map(|l| part(format!("layer {l}"), &layer, 2))
        .collect();
    parts.push(part("head".to_owned(), &work::head_ops(w, step), 1));
    // Activations hop from one pipeline stage to the next.
    let hops = (stages - 1) as f64
        * (m.node.collective_latency_s + reduce_bytes as f64 / m.node.nvlink_bytes_per_s);
    let total = parts.iter().map(|p| p.cycles).sum::<u64>() + ticks(hops);
    let network = 2 * w.model.layers * reduce_bytes * (tp - 1) + (stages - 1) * reduce_bytes;
    (total, parts, network)
}

/// Time the workload's decode step and prefill on `units` GPUs.
pub fn simulate(m: &GpuSystem, w: &Workload, units: u64) -> Timing {
    let (tp, stages) = split(m, units);
    let (decode, parts, network) = step(m, w, Step::decode(w), units);
    let (prefill, _, _) = step(m, w, Step::prefill(w), units);
    let units_f = units as f64;
    let busy: u64 = parts
        .iter()
        .map(|p| p.memory_bound_cycles.max(p.compute_bound_cycles))
        .sum();
    Timing {
        clock_hz: TICK_HZ,
        decode_cycles: decode,
        prefill_cycles: prefill,
        units: vec![UnitBusy {
            unit: "gpu".to_owned(),
            instances: units,
            // Each GPU of a stage is busy for its share of the roofline time; the others wait.
            busy_cycles: busy * tp,
            utilization: (busy * tp) as f64 / (units * decode.max(1)) as f64,
        }],
        parts,
        network_bytes: network,
        peak_bytes_per_s: units_f * m.gpu.hbm_bytes_per_s,
        peak_ops_per_s: units_f * m.gpu.peak_ops_per_s.fp16,
        peak_network_bytes_per_s: units_f * m.node.nvlink_bytes_per_s,
        mapping: format!(
            "tensor parallel over {tp} GPU(s), {stages} pipeline stage(s); roofline per kernel, nanosecond ticks"
        ),
        trace: None,
    }
}
