//! Speed of the TSP model's fast fidelity: one full decode token of LLaMA-2-70B (int8, as Groq
//! deployed it) on 576 chips must take under 1 s, and of LLaMA-3.1-405B (q3.5, on the fewest
//! chips that hold it) under 5 s, on one core, with peak memory under 2 GB. Prints wall and
//! CPU time of each (best of 3) and the process's peak resident set.

use accsim::arch::Machine;
use accsim::mapping::Fidelity;
use accsim::quant::Format;
use std::time::Instant;

/// CPU time of this thread [s] (the host is shared; wall time alone would mislead).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

/// Peak resident set of the process [bytes].
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

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
            1.0,
        ),
        (
            "llama3.1-405b q3.5, fewest chips",
            get("llama3.1-405b", Format::Q35),
            None,
            5.0,
        ),
    ];
    for (name, w, units, limit) in cases {
        let mut best = (f64::MAX, f64::MAX);
        let mut result = (0, 0);
        for _ in 0..3 {
            let (wall, cpu) = (Instant::now(), cpu_seconds());
            result = accsim::machines::tsp::decode_step(&tsp, &w, units, Fidelity::Fast)
                .expect("decode step runs");
            best.0 = best.0.min(wall.elapsed().as_secs_f64());
            best.1 = best.1.min(cpu_seconds() - cpu);
        }
        println!(
            "tsp fast decode step, {name}: {:.3} s wall, {:.3} s CPU (limit {limit} s); \
             {} cycles, {} instructions",
            best.0, best.1, result.0, result.1
        );
    }
    println!(
        "peak resident set: {:.0} MiB (limit 2048 MiB)",
        peak_rss() as f64 / 1048576.0
    );
}
