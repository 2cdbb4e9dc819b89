//! Speed of the mapping search, which simulates every candidate it cannot prune at the fast
//! fidelity: LLaMA-2-70B int8 on 576 TSP chips (Groq's deployment) and LLaMA-3.1-405B f16 on 26
//! WSE-3 wafers must each be chosen in under 10 s. One pass each (a run takes seconds, too long
//! for criterion's samples), numerics off, printing CPU and wall time, the candidates weighed
//! and simulated, and the choice. The search is timed as a decode-only run (choosing the
//! mapping and timing its step); the whole run, which then simulates the chosen mapping's
//! prefill for the time to first token, is timed after it for comparison.

use accsim::quant::Format;
use accsim::run::{self, NumericsMode, RunOptions};
use accsim::{arch, workload};
use std::path::Path;
use std::time::Instant;

mod measure;
use measure::{process_cpu_s, process_sys_s};

/// The target per search [s].
const TARGET_S: f64 = 10.0;

fn main() {
    println!("mapping search, fast fidelity, numerics off, target < {TARGET_S} s CPU each:");
    for (arch_file, workload_file, format, units) in [
        (
            "arch/groq-tsp.ron",
            "workloads/llama2-70b.ron",
            Format::Int8,
            576,
        ),
        (
            "arch/cerebras-wse3.ron",
            "workloads/llama3.1-405b.ron",
            Format::F16,
            26,
        ),
    ] {
        let a = arch::load(Path::new(arch_file)).expect("arch loads");
        let w = workload::load(Path::new(workload_file)).expect("workload loads");
        let opts = RunOptions {
            format,
            units: Some(units),
            numerics: NumericsMode::Off,
            decode_only: true,
            ..RunOptions::default()
        };
        let (cpu, sys, wall) = (process_cpu_s(), process_sys_s(), Instant::now());
        let out = run::run(&a, &w, &opts).expect("run succeeds");
        let (cpu, wall) = (process_cpu_s() - cpu, wall.elapsed().as_secs_f64());
        let sys = process_sys_s() - sys;
        let r = &out.record;
        let simulated = r
            .mapping_candidates
            .iter()
            .filter(|c| c.decode_tokens_per_s.is_some())
            .count();
        println!(
            "  {} {} on {units} {}(s): {cpu:.2} s CPU ({sys:.2} s in the kernel; {wall:.2} s wall), {} \
             candidates, {simulated} simulated, {:.2}x the target: {}; {:.1} tokens/s per user",
            r.workload,
            r.format,
            r.unit.name(),
            r.mapping_candidates.len(),
            cpu / TARGET_S,
            if cpu < TARGET_S { "met" } else { "MISSED" },
            r.decode_tokens_per_s.unwrap_or(0.0),
        );
        let whole = RunOptions {
            decode_only: false,
            ..opts
        };
        let (cpu, wall) = (process_cpu_s(), Instant::now());
        let out = run::run(&a, &w, &whole).expect("run succeeds");
        let (cpu, wall) = (process_cpu_s() - cpu, wall.elapsed().as_secs_f64());
        println!(
            "    the whole run, the prefill included (time to first token {:.3} s): {cpu:.2} s CPU \
             ({wall:.2} s wall)",
            out.record.ttft_s.unwrap_or(f64::NAN),
        );
    }
}
