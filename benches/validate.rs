//! Speed of `accsim validate`: every shipped published point, with the search for the estimated
//! inputs that would reproduce the missed ones, must take under 60 s on 2 cores.
//!
//! One pass (a 405B-class run takes seconds, too long for criterion's samples), printing wall
//! time and the process's CPU time. Runs happen on short-lived threads (see
//! `run::run_alone`), whose CPU time `/proc/self/task` no longer lists once they end, so the
//! CPU figure is user plus system time from `/proc/self/stat` instead.

use accsim::validation;
use std::path::Path;
use std::time::Instant;

/// The wall-time target [s].
const TARGET_S: f64 = 60.0;

/// User plus system CPU time of the whole process, ended threads included [s].
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux).
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / 100.0
}

fn main() {
    let v = validation::preset().expect("the shipped validation file parses");
    let path = Path::new(validation::PRESET.path);
    println!(
        "validate {} published points, {} threads, target {TARGET_S} s wall",
        v.points.len(),
        rayon::current_num_threads()
    );
    for (explain, what) in [
        (false, "predictions only (the study)"),
        (true, "with the search"),
    ] {
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        let outcomes = validation::run(path, &v, explain).expect("the shipped points run");
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        println!(
            "{what:<30} {:>2} points {wall:>8.2} s wall {cpu:>8.2} s cpu  {}",
            outcomes.len(),
            if wall < TARGET_S { "met" } else { "NOT met" }
        );
    }
}
