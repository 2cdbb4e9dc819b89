//! Speed of the WSE model's fast fidelity: one decode step of LLaMA-3-70B on one WSE-3 must take
//! under 5 s and LLaMA-3.1-405B on the fewest wafers that hold it (6 by the placement) under
//! 20 s, on one core, with peak memory under 4 GB. Prints the process's CPU time per run (the
//! simulator is single-threaded, so CPU time is one core's time even on a loaded host), wall
//! time, and the peak resident set.

use accsim::run::{self, NumericsMode, RunOptions};
use accsim::{arch, workload};
use std::path::Path;
use std::time::Instant;

mod measure;
use measure::{peak_rss_bytes, process_cpu_s};

fn main() {
    let a = arch::load(Path::new("arch/cerebras-wse3.ron")).expect("arch loads");
    let opts = RunOptions {
        numerics: NumericsMode::Off,
        ..RunOptions::default()
    };
    println!("WSE-3 fast fidelity, one decode step (q3.5, batch 1, context 8192):");
    for (file, limit_s) in [
        ("workloads/llama3-70b.ron", 5.0),
        ("workloads/llama3.1-405b.ron", 20.0),
    ] {
        let w = workload::load(Path::new(file)).expect("workload loads");
        let (cpu, wall) = (process_cpu_s(), Instant::now());
        let out = run::run(&a, &w, &opts).expect("run succeeds");
        let (cpu, wall) = (process_cpu_s() - cpu, wall.elapsed().as_secs_f64());
        let r = &out.record;
        println!(
            "  {:<14} {} wafer(s): {:>6.2} s CPU ({:.2} s wall), target < {limit_s} s: {}; \
             {:.1} tokens/s simulated",
            r.workload,
            r.units,
            cpu,
            wall,
            if cpu < limit_s { "met" } else { "MISSED" },
            r.decode_tokens_per_s.unwrap_or(0.0),
        );
    }
    let rss = peak_rss_bytes() as f64 / 1e9;
    println!(
        "  peak resident set {rss:.2} GB, target < 4 GB: {}",
        if rss < 4.0 { "met" } else { "MISSED" }
    );
}
