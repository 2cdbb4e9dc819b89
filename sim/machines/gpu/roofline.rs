//! A roofline-level GPU run: each operation takes the longer of its bytes over HBM bandwidth and
//! its arithmetic over the peak rate of its data type, plus a kernel launch; tensor parallelism
//! splits both over the GPUs of a node and adds two all-reduces per layer; nodes beyond the
//! first form a pipeline, which adds a hop per stage but no bandwidth. Time is counted in
//! nanosecond ticks, so `cycles` are nanoseconds.

use crate::arch::GpuSystem;
use crate::mapping::{Candidate, MappingParams, PartTime, Pins, SimOptions, Timing, UnitBusy};
use crate::quant::Format;
use crate::workload::Workload;
use crate::workload::work::{self, Op, OpKind, Step};

/// Ticks per second of the GPU timeline.
const TICK_HZ: f64 = 1e9;

/// A GPU mapping: `tp` GPUs of one node split every matrix, `stages` groups of them form a
/// pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Split {
    tp: u64,
    stages: u64,
}

impl Split {
    fn gpus(self) -> u64 {
        self.tp * self.stages
    }
}

/// The splits of `units` GPUs that hold `needed`: every tensor-parallel degree up to a node
/// (or the pinned one), with as many stages as the units leave room for (stages beyond one add
/// hops and no bandwidth, so only the fewest that hold the model is tried with each degree).
fn splits(m: &GpuSystem, units: u64, needed: u64, pins: &Pins) -> Vec<Split> {
    let widest = units.clamp(1, m.node.gpus_per_node);
    (1..=widest)
        .filter(|&tp| pins.tp.is_none_or(|p| p == tp))
        .filter_map(|tp| {
            let stages = needed.max(1).div_ceil(tp);
            (tp * stages <= units.max(1)).then_some(Split { tp, stages })
        })
        .collect()
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
fn step(m: &GpuSystem, w: &Workload, step: Step, split: Split) -> (u64, Vec<PartTime>, u64) {
    let Split { tp, stages } = split;
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

/// Time the workload's decode step and prefill on up to `units` GPUs, `needed` of which hold
/// it: the split the objective scores best among those `opts` allows.
pub fn simulate(
    m: &GpuSystem,
    w: &Workload,
    units: u64,
    needed: u64,
    opts: &SimOptions,
) -> crate::Result<Timing> {
    let mut candidates = Vec::new();
    let mut best: Option<(f64, Split)> = None;
    for split in splits(m, units, needed, &opts.pins) {
        let (cycles, _, _) = step(m, w, Step::decode(w), split);
        let step_s = cycles.max(1) as f64 / TICK_HZ;
        let score = opts.objective.score(step_s, w.scenario.batch, split.gpus());
        candidates.push(Candidate {
            mapping: format!("tp {} x {} stage(s)", split.tp, split.stages),
            decode_tokens_per_s: Some(1.0 / step_s),
            score: Some(score),
            note: String::new(),
        });
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, split));
        }
    }
    let Some((_, split)) = best else {
        return Err(crate::Error::Usage {
            flag: if opts.pins.tp.is_some() {
                "--tp"
            } else {
                "--gpus"
            }
            .to_owned(),
            reason: format!(
                "no tensor-parallel degree{} holds the workload on {units} GPU(s) ({needed} needed, at most {} per node)",
                opts.pins.tp.map_or(String::new(), |t| format!(" of {t}")),
                m.node.gpus_per_node
            ),
        });
    };
    Ok(timing(m, w, split, candidates))
}

fn timing(m: &GpuSystem, w: &Workload, split: Split, candidates: Vec<Candidate>) -> Timing {
    let Split { tp, stages } = split;
    let units = split.gpus();
    let (decode, parts, network) = step(m, w, Step::decode(w), split);
    let (prefill, _, _) = step(m, w, Step::prefill(w), split);
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
        mapping_params: MappingParams::Gpu {
            tp,
            gpus_used: units,
        },
        candidates,
        trace: None,
    }
}
