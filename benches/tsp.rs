//! Speed of the TSP model's fast fidelity: one full decode token of LLaMA-2-70B (int8, as Groq
//! deployed it) on 576 chips, at the tensor-parallel degree the mapping search chooses there
//! (32, pinned so that one mapping is timed; `benches/mapping.rs` times the search), must take
//! under 1 s, and of LLaMA-3.1-405B (q3.5, on the fewest chips that hold it, searched) under
//! 5 s, on one core, with peak memory under 2 GB. Prints wall and
//! CPU time of each (best of 3) and the process's peak resident set.

use accsim::arch::Machine;
use accsim::mapping::{Pins, SimOptions};
use accsim::quant::Format;
use std::time::Instant;

mod measure;
use measure::{peak_rss_bytes, process_cpu_s};

fn main() {
    let tsp = accsim::arch::presets()
        .expect("shipped architectures load")
        .into_iter()
        .find_map(|(_, a)| match a.machine {
            Machine::GroqTsp(m) => Some(m),
            _ => None,
        })
        .expect("a TSP architecture ships");
    let workloads = accsim::workload::presets().expect("shipped workloads load");
    let get = |name: &str, format: Format| {
        let mut w = workloads
            .iter()
            .find(|(_, w)| w.name == name)
            .expect("workload ships")
            .1
            .clone();
        w.quant = w.quant.with_matrices_as(format);
        w
    };
    let cases = [
        (
            "llama2-70b int8, 576 chips",
            get("llama2-70b", Format::Int8),
            Some(576),
            Some(32),
            1.0,
        ),
        (
            "llama3.1-405b q3.5, fewest chips",
            get("llama3.1-405b", Format::Q35),
            None,
            None,
            5.0,
        ),
    ];
    for (name, w, units, tp, limit) in cases {
        let opts = SimOptions {
            units,
            pins: Pins {
                tp,
                ..Pins::default()
            },
            ..SimOptions::default()
        };
        let mut best = (f64::MAX, f64::MAX);
        let mut result = (0, 0);
        for _ in 0..3 {
            let (wall, cpu) = (Instant::now(), process_cpu_s());
            result = accsim::machines::tsp::decode_step(&tsp, &w, &opts).expect("decode step runs");
            best.0 = best.0.min(wall.elapsed().as_secs_f64());
            best.1 = best.1.min(process_cpu_s() - cpu);
        }
        println!(
            "tsp fast decode step, {name}: {:.3} s wall, {:.3} s CPU (limit {limit} s); \
             {} cycles, {} instructions",
            best.0, best.1, result.0, result.1
        );
    }
    println!(
        "peak resident set: {:.0} MiB (limit 2048 MiB)",
        peak_rss_bytes() as f64 / 1048576.0
    );
}
