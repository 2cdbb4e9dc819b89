//! Speed of `accsim sweep`: a 1,000-point grid (10 unit counts x 5 batches x 5 contexts x 4
//! formats of LLaMA-2-70B) of fast-mode runs per family must take under 60 s on 2 cores.
//!
//! One pass per family (a TSP or WSE grid takes too long for criterion's ten samples), on
//! rayon's default pool, printing wall time, CPU time over all threads, and CPU time per point
//! that was simulated. `cargo bench --bench sweep [-- FAMILY...]` (e.g. `-- groq-tsp`) runs only
//! the named families.

use accsim::sweep::{self, Spec};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

mod measure;
use measure::process_cpu_s;

/// The wall-time target of a 1,000-point grid on 2 cores [s].
const TARGET_S: f64 = 60.0;

/// A 1,000-point spec on `arch` with these unit counts.
fn spec(arch: &str, units: &str) -> Spec {
    let text = format!(
        r#"Sweep(
            arch: "{arch}",
            workload: "llama2-70b",
            grid: [
                Units([{units}]),
                Batch([1, 2, 4, 8, 16]),
                Context([2560, 3072, 3584, 4000, 4096]),
                Format(["f16", "int8", "int4-g128", "q3.5"]),
            ],
        )"#
    );
    accsim::describe::parse(Path::new("bench.ron"), &text).expect("bench spec is valid")
}

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let families = [
        ("nvidia-h100", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
        (
            "groq-tsp",
            "160, 192, 224, 256, 288, 320, 384, 448, 512, 576",
        ),
        ("cerebras-wse3", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
    ];
    println!(
        "sweep 1000 fast-mode points, {} threads, target {TARGET_S} s wall",
        rayon::current_num_threads()
    );
    println!(
        "{:<14} {:>6} {:>6} {:>8} {:>8} {:>13}  verdict",
        "family", "points", "timed", "wall_s", "cpu_s", "cpu_ms/timed"
    );
    for (arch, units) in families {
        if !only.is_empty() && !only.iter().any(|o| o == arch) {
            continue;
        }
        let prepared = sweep::prepare(Path::new("bench.ron"), &spec(arch, units), None)
            .expect("bench spec prepares");
        assert_eq!(prepared.jobs.len(), 1000);
        let done = AtomicUsize::new(0);
        let (wall, cpu) = (Instant::now(), process_cpu_s());
        let rows = sweep::run(&prepared, &|| {
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(100) {
                eprint!("\r{arch}: {n}/1000 points");
            }
        });
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), process_cpu_s() - cpu);
        eprint!("\r");
        let timed = rows.iter().filter(|r| r.tokens_per_s.is_some()).count();
        println!(
            "{arch:<14} {:>6} {timed:>6} {wall:>8.2} {cpu:>8.2} {:>13.1}  {}",
            rows.len(),
            1e3 * cpu / timed.max(1) as f64,
            if wall < TARGET_S { "met" } else { "NOT met" }
        );
    }
}
