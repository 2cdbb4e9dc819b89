//! The default `accsim run` (sampled numerics: one layer, four positions) against the targets
//! of issue 17: LLaMA-2-70B on Groq TSP under 10 s and 1.5 GB peak resident set, LLaMA-3.1-405B
//! on 6 Cerebras WSE-3 under 30 s and 3 GB. Each case runs in a child process of its own (this
//! bench re-executed), so its peak resident set is its own; the child reports CPU time (every
//! thread, which the shared hosts this runs on disturb less than wall time), wall time and peak
//! resident set, and this prints each beside its target with the ratio. The child first runs
//! the case with `--numerics off`, so the CPU time splits into the timing's share (the machine
//! model) and the numerics' (drawing, quantizing and multiplying one synthetic layer).
//!
//! Run: `cargo bench --bench run` (both, about a minute of CPU on 2 cores), or
//! `cargo bench --bench run -- 70b` for the cases whose name contains the filter.

use accsim::arch::Arch;
use accsim::run::{NumericsMode, RunOptions, run};
use accsim::workload::Workload;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod measure;
use measure::{peak_rss_bytes, process_cpu_s};

/// Names the case a child process runs.
const CASE_ENV: &str = "ACCSIM_RUN_BENCH_CASE";

/// One target: name, architecture and workload files, units, seconds and bytes allowed.
struct Case {
    name: &'static str,
    arch: &'static str,
    workload: &'static str,
    units: Option<u64>,
    seconds: f64,
    peak_bytes: f64,
}

const CASES: [Case; 2] = [
    Case {
        name: "llama2-70b on groq-tsp",
        arch: "arch/groq-tsp.ron",
        workload: "workloads/llama2-70b.ron",
        units: None,
        seconds: 10.0,
        peak_bytes: 1.5e9,
    },
    Case {
        name: "llama3.1-405b on 6 cerebras-wse3",
        arch: "arch/cerebras-wse3.ron",
        workload: "workloads/llama3.1-405b.ron",
        units: Some(6),
        seconds: 30.0,
        peak_bytes: 3e9,
    },
];

/// The child: run the case without numerics, then as by default; print `timing_cpu_s cpu_s
/// wall_s peak_bytes rel_error`, the last four of the default run.
fn child(case: &Case) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let arch: Arch = accsim::describe::load(&root.join(case.arch)).expect("arch loads");
    let w: Workload = accsim::describe::load(&root.join(case.workload)).expect("workload loads");
    let opts = RunOptions {
        units: case.units,
        ..RunOptions::default()
    };
    let timing = process_cpu_s();
    let off = RunOptions {
        numerics: NumericsMode::Off,
        ..opts.clone()
    };
    run(&arch, &w, &off).expect("the run succeeds");
    let timing = process_cpu_s() - timing;
    let (wall, cpu) = (Instant::now(), process_cpu_s());
    let out = run(&arch, &w, &opts).expect("the run succeeds");
    println!(
        "{timing} {} {} {} {}",
        process_cpu_s() - cpu,
        wall.elapsed().as_secs_f64(),
        peak_rss_bytes(),
        out.record.numerics.rel_error.unwrap_or(f64::NAN)
    );
}

fn main() {
    if let Some(name) = std::env::var_os(CASE_ENV) {
        let case = CASES.iter().find(|c| name == c.name).expect("known case");
        return child(case);
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let exe = std::env::current_exe().expect("the bench knows its executable");
    for case in CASES
        .iter()
        .filter(|c| filter.as_ref().is_none_or(|f| c.name.contains(f.as_str())))
    {
        let out = Command::new(&exe)
            .env(CASE_ENV, case.name)
            .output()
            .expect("the child runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let figures: Vec<f64> = text
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let [timing, cpu, wall, peak, rel_error] = figures[..] else {
            panic!(
                "{}: the child reported `{text}`; stderr: {}",
                case.name,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        println!(
            "accsim run, {}, sampled numerics (rel_error {rel_error:.3}): {cpu:.2} s CPU \
             ({timing:.2} s of it timing, as with --numerics off; {:.2} s numerics), {wall:.2} s \
             wall (target {} s: CPU {:.2}x of it); peak resident set {:.2} GB (target {} GB: \
             {:.2}x)",
            case.name,
            cpu - timing,
            case.seconds,
            cpu / case.seconds,
            peak / 1e9,
            case.peak_bytes / 1e9,
            peak / case.peak_bytes
        );
    }
}
