//! Estimates for planning a sweep before running it (`accsim sweep --dry-run`): a few of the
//! points are run one after another on this thread, measuring the CPU time and the memory each
//! takes, and the figures scale to the whole sweep and to a split into shards. Point costs vary
//! (a point that does not fit costs nothing), so the samples are spread over the spec at
//! irregular steps (a golden-ratio sequence) that do not line up with a grid's axes.

use super::shard::Shard;
use super::{Sweep, run_point};
use std::time::Instant;

/// What a sample of points cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Points in the whole spec.
    pub points: usize,
    /// Points run to measure.
    pub sampled: usize,
    /// Mean CPU time per point [s].
    pub cpu_s_per_point: f64,
    /// Largest growth of resident memory while one point ran [bytes]; `None` where the operating
    /// system does not tell (not Linux).
    pub mem_bytes_per_point: Option<u64>,
    /// Resident memory before the first sample, the spec and its jobs loaded [bytes].
    pub base_mem_bytes: Option<u64>,
}

/// How to split a sweep to finish within a target wall time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// Shards suggested (at least 1, at most one per point).
    pub shards: usize,
    /// Estimated wall time of one shard [s].
    pub shard_wall_s: f64,
    /// Estimated peak resident memory of one shard's process [bytes].
    pub shard_mem_bytes: Option<u64>,
}

/// A number from a `/proc/self/status` line such as `VmRSS:  1234 kB`, in bytes.
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// CPU time of this thread so far [s], to the nanosecond. (Linux's `/proc/thread-self/schedstat`
/// lags by up to a scheduler tick, which is longer than a roofline point.)
#[cfg(unix)]
fn thread_cpu_s() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a pointer to a live, owned value.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

/// Elsewhere the samples are timed by the wall clock.
#[cfg(not(unix))]
fn thread_cpu_s() -> Option<f64> {
    None
}

/// Up to `n` distinct positions below `len`, spread at golden-ratio steps from the middle.
fn spread(n: usize, len: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for k in 0..n.min(len) * 4 {
        let at = ((0.5 + k as f64 * 0.618_033_988_749_895).fract() * len as f64) as usize;
        if out.len() < n && !out.contains(&at) {
            out.push(at);
        }
    }
    out
}

/// Run up to `samples` points of `shard`, spread over its points, and measure them.
pub fn estimate(sweep: &Sweep, shard: Shard, samples: usize) -> Estimate {
    let points: Vec<usize> = shard.points(sweep.jobs.len()).collect();
    let picks = spread(samples.max(1), points.len());
    let n = picks.len();
    let base_mem_bytes = status_bytes("VmRSS:");
    let (mut cpu, mut mem) = (0.0, base_mem_bytes.map(|_| 0));
    for &k in &picks {
        let p = points[k];
        // Restart the peak-memory count (Linux 4.0+; where refused, the peak only overstates).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = status_bytes("VmRSS:");
        let (wall, thread) = (Instant::now(), thread_cpu_s());
        run_point(p, &sweep.jobs[p]);
        cpu += match (thread, thread_cpu_s()) {
            (Some(a), Some(b)) => b - a,
            _ => wall.elapsed().as_secs_f64(),
        };
        mem = match (mem, before, status_bytes("VmHWM:")) {
            (Some(m), Some(b), Some(peak)) => Some(m.max(peak.saturating_sub(b))),
            _ => None,
        };
    }
    Estimate {
        points: sweep.jobs.len(),
        sampled: n,
        cpu_s_per_point: if n == 0 { 0.0 } else { cpu / n as f64 },
        mem_bytes_per_point: mem,
        base_mem_bytes,
    }
}

impl Estimate {
    /// CPU time of the whole sweep [s].
    pub fn cpu_s(&self) -> f64 {
        self.cpu_s_per_point * self.points as f64
    }

    /// The fewest shards of `threads` threads each that finish within `target_wall_s`.
    pub fn plan(&self, threads: usize, target_wall_s: f64) -> Plan {
        let wanted = (self.cpu_s() / (threads.max(1) as f64 * target_wall_s)).ceil() as usize;
        let mut plan = self.split(threads, wanted.clamp(1, self.points.max(1)));
        // Points run `threads` at a time, so a split rounds up; add shards until it fits.
        while plan.shards < self.points && plan.shard_wall_s > target_wall_s {
            plan = self.split(threads, plan.shards + 1);
        }
        plan
    }

    /// The cost of each of `shards` shards of `threads` threads each.
    pub fn split(&self, threads: usize, shards: usize) -> Plan {
        let shards = shards.max(1);
        let shard_points = self.points.div_ceil(shards);
        let threads = threads.max(1).min(shard_points.max(1));
        Plan {
            shards,
            shard_wall_s: shard_points.div_ceil(threads) as f64 * self.cpu_s_per_point,
            shard_mem_bytes: self
                .base_mem_bytes
                .zip(self.mem_bytes_per_point)
                .map(|(base, per)| base + per * threads as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(points: usize, cpu: f64) -> Estimate {
        Estimate {
            points,
            sampled: 3,
            cpu_s_per_point: cpu,
            mem_bytes_per_point: Some(10),
            base_mem_bytes: Some(100),
        }
    }

    #[test]
    fn samples_are_distinct_and_in_range() {
        for len in [1, 2, 5, 12, 1000] {
            let s = spread(5, len);
            assert_eq!(s.len(), 5.min(len));
            assert!(s.iter().all(|&p| p < len));
            assert!(s.iter().enumerate().all(|(i, p)| !s[..i].contains(p)));
        }
    }

    #[test]
    fn plan_splits_to_meet_the_target() {
        // 1,000 points of 0.2 s on 2 threads: 100 s of wall; a 30 s target needs 4 shards.
        let p = est(1000, 0.2).plan(2, 30.0);
        assert_eq!(p.shards, 4);
        assert!((p.shard_wall_s - 25.0).abs() < 1e-9, "{p:?}");
        assert_eq!(p.shard_mem_bytes, Some(120));
        assert_eq!(est(1000, 0.2).plan(2, 1e6).shards, 1);
        // Never more shards than points, even when one point alone misses the target.
        assert_eq!(est(3, 100.0).plan(1, 1.0).shards, 3);
        // A given split: 10 shards of 100 points, 50 rounds of 2 points.
        let s = est(1000, 0.2).split(2, 10);
        assert!((s.shard_wall_s - 10.0).abs() < 1e-9, "{s:?}");
    }
}
