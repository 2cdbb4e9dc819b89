//! GEMV on packed weights at LLaMA-70B shapes (FFN 8192 x 28672, attention 8192 x 8192) for every
//! format, against this machine's measured memory read bandwidth. Criterion reports time and
//! weight bytes/s; a summary table then gives weight GB/s, GFLOP/s and the fraction of read
//! bandwidth for 1 thread and all threads (best wall time), and a second table the 1-thread
//! figures per second of that thread's CPU time, which stay meaningful on a shared host.
//!
//! Run: `cargo bench --bench quant` (a few minutes); `cargo bench --bench quant -- q3.5` measures
//! (and quantizes) only the formats whose benchmark id `gemv/SHAPE/FORMAT` contains the filter.

use accsim::quant::{Format, PackedMatrix, weights};
use criterion::{Criterion, Throughput};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// (name, rows, cols) of the benchmarked matrices.
const SHAPES: [(&str, usize, usize); 2] = [
    ("ffn-8192x28672", 28672, 8192),
    ("attn-8192x8192", 8192, 8192),
];
/// Bytes summed to measure read bandwidth: far beyond any cache.
const BANDWIDTH_BYTES: usize = 1 << 30;
/// Timed repetitions per summary figure (best of).
const REPS: usize = 5;
/// Where Linux reports a thread's time on a CPU [ns], first field.
const SCHEDSTAT: &str = "/proc/thread-self/schedstat";

/// CPU time of the calling thread [ns]; 0 where the kernel does not report it.
fn cpu_ns() -> u64 {
    std::fs::read_to_string(SCHEDSTAT)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Mean CPU time [s] of `reps` runs of `f` on the calling thread (the 1-thread pool runs the
/// whole GEMV on its one worker, the caller inside `install`).
fn cpu_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    let start = cpu_ns();
    (0..reps).for_each(|_| f());
    cpu_ns().saturating_sub(start) as f64 / 1e9 / reps as f64
}

/// Best wall time of `reps` runs of `f`.
fn best_of(reps: usize, mut f: impl FnMut()) -> Duration {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Read bandwidth (GB/s) of summing a large u64 buffer, on the current rayon pool.
fn read_bandwidth_gbps(buf: &[u64]) -> f64 {
    let t = best_of(REPS, || {
        black_box(
            buf.par_chunks(1 << 16)
                .map(|c| c.iter().fold(0u64, |a, &v| a.wrapping_add(v)))
                .reduce(|| 0, u64::wrapping_add),
        );
    });
    (buf.len() * 8) as f64 / t.as_secs_f64() / 1e9
}

/// The benchmark filter given after `--`, if any (the first argument that is not a flag).
fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a {threads}-thread pool: {e}"))
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let all = rayon::current_num_threads();
    let (one, many) = (pool(1), pool(all));
    let buf: Vec<u64> = (0..BANDWIDTH_BYTES as u64 / 8).collect();
    let bw1 = one.install(|| read_bandwidth_gbps(&buf));
    let bwn = many.install(|| read_bandwidth_gbps(&buf));
    let bw_cpu = one.install(|| {
        let sum = |b: &[u64]| b.iter().fold(0u64, |a, &v| a.wrapping_add(v));
        buf.len() as f64 * 8.0
            / cpu_secs(REPS, || {
                black_box(sum(&buf));
            })
            / 1e9
    });
    drop(buf);
    println!("read bandwidth: {bw1:.2} GB/s (1 thread), {bwn:.2} GB/s ({all} threads)");
    let mut summary = Vec::new();
    let mut cpu_summary = Vec::new();
    let wanted = filter();
    for (name, rows, cols) in SHAPES {
        let w = weights::gaussian(rows, cols, 1);
        let x = weights::activations(cols, 2);
        let mut y = vec![0.0; rows];
        let mut group = c.benchmark_group(format!("gemv/{name}"));
        for f in Format::ALL {
            let id = format!("gemv/{name}/{f}");
            if wanted.as_ref().is_some_and(|w| !id.contains(w.as_str())) {
                continue;
            }
            let m = match PackedMatrix::quantize(f, rows, cols, &w) {
                Ok(m) => m,
                Err(e) => panic!("{f}: {e}"),
            };
            let bytes = m.bytes().len() as u64;
            group.throughput(Throughput::Bytes(bytes));
            group.bench_function(f.name(), |b| b.iter(|| m.gemv(black_box(&x), &mut y)));
            let t = one.install(|| cpu_secs(REPS, || m.gemv(&x, &mut y)));
            let gbps = bytes as f64 / t / 1e9;
            cpu_summary.push(format!(
                "{name:<15} {:<10} {gbps:>8.2} {:>10.2} {:>6.0}%",
                f.name(),
                (rows * cols) as f64 / t / 1e9,
                100.0 * gbps / bw_cpu
            ));
            for (threads, p, bw) in [(1, &one, bw1), (all, &many, bwn)] {
                let t = p
                    .install(|| best_of(REPS, || m.gemv(&x, &mut y)))
                    .as_secs_f64();
                let gbps = bytes as f64 / t / 1e9;
                let gflops = 2.0 * (rows * cols) as f64 / t / 1e9;
                let gweights = (rows * cols) as f64 / t / 1e9;
                summary.push(format!(
                    "{name:<15} {:<10} {threads:>2} {gbps:>8.2} {gweights:>10.2} {gflops:>8.2} {:>6.0}%",
                    f.name(),
                    100.0 * gbps / bw
                ));
            }
        }
        group.finish();
    }
    println!("\nread bandwidth: {bw1:.2} GB/s (1 thread), {bwn:.2} GB/s ({all} threads)");
    println!(
        "{:<15} {:<10} {:>2} {:>8} {:>10} {:>8} {:>7}",
        "shape", "format", "th", "GB/s", "Gweight/s", "GFLOP/s", "of bw"
    );
    for line in summary {
        println!("{line}");
    }
    println!("\n1 thread, per CPU second: read bandwidth {bw_cpu:.2} GB/s");
    println!(
        "{:<15} {:<10} {:>8} {:>10} {:>7}",
        "shape", "format", "GB/s", "Gweight/s", "of bw"
    );
    for line in cpu_summary {
        println!("{line}");
    }
    c.final_summary();
}
