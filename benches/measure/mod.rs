//! What every speed bench reads of the process: CPU time, since these hosts are shared and
//! wall time alone would mislead, and the peak resident set. Linux `/proc`; 0 elsewhere.

/// Clock ticks per second of `/proc/self/stat`'s times (Linux `USER_HZ`).
const TICKS_PER_S: f64 = 100.0;

/// User plus system CPU time of this process so far, every thread included, ended ones too [s].
pub fn process_cpu_s() -> f64 {
    process_times_s().iter().sum()
}

/// System CPU time of this process so far [s]: mostly page faults of fresh memory, which cost
/// far more on these VMs than on bare metal.
#[allow(dead_code)] // not every bench reports it
pub fn process_sys_s() -> f64 {
    process_times_s()[1]
}

/// User and system CPU time of this process so far [s].
fn process_times_s() -> [f64; 2] {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime and stime are the 12th
    // and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let mut ticks = after.split_whitespace().skip(11).take(2);
    let mut next = || {
        ticks
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    [next() as f64 / TICKS_PER_S, next() as f64 / TICKS_PER_S]
}

/// Peak resident set of this process [bytes] (`VmHWM`).
#[allow(dead_code)] // not every bench reports memory
pub fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
