//! GEMV on packed weights at LLaMA-70B shapes (FFN 8192 x 28672, attention 8192 x 8192) for every
//! format, against this machine's measured memory read bandwidth. Criterion reports time and
//! weight bytes/s; a summary table then gives weight GB/s, GFLOP/s and the fraction of read
//! bandwidth (`accsim::quant::bandwidth`, the figure `accsim quant` reports as `read_gbps`) for 1
//! thread and all threads (best wall time), and a second table the 1-thread
//! figures per second of that thread's CPU time, which stay meaningful on a shared host. Read
//! bandwidth is measured before and after the GEMVs and the higher figure is the reference.
//!
//! Formats with an int8-activation kernel (`int8`, `int4-g128`, `int3-g64`, `q3-k256`, `q3.5`,
//! `q3.5-byte`, `q3.5-opt`) are measured
//! twice: `FORMAT` (f32 activations, `gemv`) and `FORMAT/i8` (`gemv_i8`).
//!
//! Run: `cargo bench --bench quant` (a few minutes); `cargo bench --bench quant -- q3.5` measures
//! (and quantizes) only the formats whose benchmark id `gemv/SHAPE/FORMAT` or
//! `gemv/SHAPE/FORMAT/i8` contains the filter, and of those only the matching kernels.

use accsim::quant::{Format, PackedMatrix, bandwidth, weights};
use criterion::{Criterion, Throughput};
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

/// This machine's memory read bandwidth [GB/s].
struct Bandwidth {
    /// Best wall time, one thread.
    one: f64,
    /// Best wall time, all threads.
    all: f64,
    /// One thread, per second of its CPU time.
    cpu: f64,
}

impl Bandwidth {
    /// Sum a buffer far beyond any cache on each pool.
    fn measure(one: &rayon::ThreadPool, many: &rayon::ThreadPool) -> Self {
        let buf: Vec<u64> = (0..BANDWIDTH_BYTES as u64 / 8).collect();
        let sum = |b: &[u64]| b.iter().fold(0u64, |a, &v| a.wrapping_add(v));
        let cpu = one.install(|| {
            buf.len() as f64 * 8.0
                / cpu_secs(REPS, || {
                    black_box(sum(&buf));
                })
                / 1e9
        });
        Self {
            one: one.install(|| bandwidth::read_gbps_of(BANDWIDTH_BYTES)),
            all: many.install(|| bandwidth::read_gbps_of(BANDWIDTH_BYTES)),
            cpu,
        }
    }
}

/// The benchmark filter given after `--`, if any (the first argument that is not a flag).
fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

/// Which activations a GEMV takes.
#[derive(Clone, Copy)]
enum Kernel {
    /// f32 activations (`gemv`).
    F32,
    /// Activations rounded to int8 per vector (`gemv_i8`); the label gets `/i8`.
    I8,
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
        .without_plots()
        .configure_from_args();
    let all = rayon::current_num_threads();
    let (one, many) = (pool(1), pool(all));
    let before = Bandwidth::measure(&one, &many);
    println!(
        "read bandwidth: {:.2} GB/s (1 thread), {:.2} GB/s ({all} threads)",
        before.one, before.all
    );
    // (shape, kernel, threads or 0 for the per-CPU-second figure, seconds per GEMV, weights).
    let mut results: Vec<(&str, String, usize, f64, usize)> = Vec::new();
    let wanted = filter();
    for (name, rows, cols) in SHAPES {
        let w = weights::gaussian(rows, cols, 1);
        let x = weights::activations(cols, 2);
        let mut y = vec![0.0; rows];
        let mut group = c.benchmark_group(format!("gemv/{name}"));
        for f in Format::ALL {
            let wants = |label: &str| {
                let id = format!("gemv/{name}/{label}");
                wanted.as_ref().is_none_or(|w| id.contains(w.as_str()))
            };
            if !wants(f.name()) && !wants(&format!("{f}/i8")) {
                continue;
            }
            let m = match PackedMatrix::quantize(f, rows, cols, &w) {
                Ok(m) => m,
                Err(e) => panic!("{f}: {e}"),
            };
            let bytes = m.bytes().len() as u64;
            group.throughput(Throughput::Bytes(bytes));
            // The f32-activation kernel, and the int8-activation one where the format has it.
            let mut kernels: Vec<(String, Kernel)> = vec![(f.name().to_owned(), Kernel::F32)];
            if m.has_int8_kernel() {
                kernels.push((format!("{f}/i8"), Kernel::I8));
            }
            for (label, kernel) in kernels.into_iter().filter(|k| wants(&k.0)) {
                let run = |y: &mut [f32]| match kernel {
                    Kernel::F32 => m.gemv(black_box(&x), y),
                    Kernel::I8 => m
                        .gemv_i8(black_box(&x), y)
                        .unwrap_or_else(|e| panic!("{label}: {e}")),
                };
                group.bench_function(label.as_str(), |b| b.iter(|| run(&mut y)));
                let t = one.install(|| cpu_secs(REPS, || run(&mut y)));
                results.push((name, label.clone(), 0, t, bytes as usize));
                for (threads, p) in [(1, &one), (all, &many)] {
                    let t = p.install(|| best_of(REPS, || run(&mut y))).as_secs_f64();
                    results.push((name, label.clone(), threads, t, bytes as usize));
                }
            }
        }
        group.finish();
    }
    let after = Bandwidth::measure(&one, &many);
    // The higher of the two measurements: the ratios are, if anything, understated.
    let bw = Bandwidth {
        one: before.one.max(after.one),
        all: before.all.max(after.all),
        cpu: before.cpu.max(after.cpu),
    };
    let weights_of = |shape: &str| {
        SHAPES
            .iter()
            .find(|s| s.0 == shape)
            .map_or(0.0, |s| (s.1 * s.2) as f64)
    };
    println!(
        "\nread bandwidth (higher of before / after): {:.2} GB/s (1 thread), {:.2} GB/s ({all} threads)",
        bw.one, bw.all
    );
    println!(
        "{:<15} {:<13} {:>2} {:>8} {:>10} {:>8} {:>7}",
        "shape", "format", "th", "GB/s", "Gweight/s", "GFLOP/s", "of bw"
    );
    for (name, label, threads, t, bytes) in results.iter().filter(|r| r.2 > 0) {
        let gbps = *bytes as f64 / t / 1e9;
        let gweights = weights_of(name) / t / 1e9;
        let of_bw = gbps / if *threads == 1 { bw.one } else { bw.all };
        println!(
            "{name:<15} {label:<13} {threads:>2} {gbps:>8.2} {gweights:>10.2} {:>8.2} {:>6.0}%",
            2.0 * gweights,
            100.0 * of_bw
        );
    }
    println!(
        "\n1 thread, per CPU second: read bandwidth {:.2} GB/s (higher of {:.2} / {:.2})",
        bw.cpu, before.cpu, after.cpu
    );
    println!(
        "{:<15} {:<13} {:>8} {:>10} {:>7}",
        "shape", "format", "GB/s", "Gweight/s", "of bw"
    );
    for (name, label, _, t, bytes) in results.iter().filter(|r| r.2 == 0) {
        let gbps = *bytes as f64 / t / 1e9;
        println!(
            "{name:<15} {label:<13} {gbps:>8.2} {:>10.2} {:>6.0}%",
            weights_of(name) / t / 1e9,
            100.0 * gbps / bw.cpu
        );
    }
    c.final_summary();
}
