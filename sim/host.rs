//! What the host can give: memory a large allocation would take is checked before it is made,
//! so a valid but huge input is refused with its size instead of aborting the process.

use crate::Error;

/// Environment variable that overrides the memory accsim believes is available [bytes] (for
/// tests of the guard, and to cap accsim below what the machine has).
pub const MEMORY_ENV: &str = "ACCSIM_MEMORY_BYTES";

/// Bytes of memory available now: `ACCSIM_MEMORY_BYTES` if set, else Linux's `MemAvailable`;
/// `None` where neither is known (then nothing is refused).
pub fn available_bytes() -> Option<u64> {
    if let Some(v) = std::env::var(MEMORY_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return Some(v);
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuse `what` (described lazily) when it needs more than the memory available.
pub fn reserve(what: impl FnOnce() -> String, needs: u64) -> crate::Result<()> {
    match available_bytes() {
        Some(available) if needs > available => Err(Error::Memory {
            what: what(),
            needs,
            available,
        }),
        _ => Ok(()),
    }
}

/// `n` zeros in memory the kernel is asked to back with huge pages, and written once here.
///
/// The fast fidelity's state arrays hold a value per link of every wafer (1.1 GB for 26 WSE-3
/// wafers). A fresh `vec![0; n]` is mapped to the shared zero page on its first read and
/// copied on its first write, a fault and a flush of every thread's TLB per 4 KiB page: that
/// took two fifths of a 405B run's time. Writing the zeros first faults each page once, and
/// huge pages make those faults 512 times fewer.
pub fn zeroed_huge(n: usize) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let (start, bytes) = (v.as_ptr() as usize, n * std::mem::size_of::<u64>());
        let first = start.next_multiple_of(HUGE);
        let last = (start + bytes) / HUGE * HUGE;
        if last > first {
            // SAFETY: the range lies inside `v`'s allocation; the advice only changes how the
            // kernel backs pages not yet touched, never their contents.
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_HUGEPAGE,
                )
            };
        }
    }
    v.resize(n, 0);
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_machine_has_some_memory_and_a_huge_request_is_refused() {
        if let Some(bytes) = super::available_bytes() {
            assert!(bytes > 0);
            let e = super::reserve(|| "a test".to_owned(), u64::MAX).unwrap_err();
            assert!(e.to_string().contains("a test needs"), "{e}");
        }
        assert!(super::reserve(|| "nothing".to_owned(), 0).is_ok());
    }
}
