//! The physical limit a GEMV on packed weights is judged against: how fast this machine reads
//! memory, measured in the same process the same way the kernels read their weights (every
//! thread of the rayon pool streams its share of a buffer far larger than the last-level
//! cache, with vector loads and adds).

use rayon::prelude::*;
use std::hint::black_box;
use std::time::Instant;

/// Bytes of the summed buffer: 8x the 32 MiB L3 of the machines accsim is measured on, and
/// beyond the last-level cache of any current server CPU core complex.
pub const READ_BYTES: usize = 256 << 20;
/// Passes over the buffer; the fastest one counts (the others absorb page faults and a shared
/// host's noise).
const PASSES: usize = 5;
/// Bytes one task sums (rayon splits the buffer into these).
const CHUNK_BYTES: usize = 1 << 20;
/// Independent u64 sums per task: enough for the compiler to keep several vector registers of
/// additions in flight.
const SUM_LANES: usize = 16;

/// Memory read bandwidth [GB/s] of the current rayon pool: the best of [`PASSES`] parallel
/// sums of a [`READ_BYTES`] buffer.
pub fn read_gbps() -> f64 {
    read_gbps_of(READ_BYTES)
}

/// [`read_gbps`] on a buffer of `bytes` (rounded down to whole u64s, at least one).
pub fn read_gbps_of(bytes: usize) -> f64 {
    let words = (bytes / 8).max(1);
    let buf: Vec<u64> = (0..words as u64).collect();
    let best = (0..PASSES)
        .map(|_| {
            let start = Instant::now();
            black_box(sum(black_box(&buf)));
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    (words * 8) as f64 / best.max(1e-9) / 1e9
}

/// Wrapping sum of `buf` on every thread of the pool.
fn sum(buf: &[u64]) -> u64 {
    buf.par_chunks(CHUNK_BYTES / 8)
        .map(|chunk| {
            let mut lanes = [0u64; SUM_LANES];
            let mut blocks = chunk.chunks_exact(SUM_LANES);
            for block in &mut blocks {
                for (l, &v) in lanes.iter_mut().zip(block) {
                    *l = l.wrapping_add(v);
                }
            }
            let tail = blocks
                .remainder()
                .iter()
                .fold(0u64, |a, &v| a.wrapping_add(v));
            lanes.iter().fold(tail, |a, &v| a.wrapping_add(v))
        })
        .reduce(|| 0, u64::wrapping_add)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sum_is_right_and_the_figure_positive() {
        let buf: Vec<u64> = (0..1000).collect();
        assert_eq!(super::sum(&buf), 999 * 1000 / 2);
        let g = super::read_gbps_of(1 << 20);
        assert!(g.is_finite() && g > 0.0, "{g}");
    }
}
