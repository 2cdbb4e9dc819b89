//! Turning results into things people read: aligned text tables and figures; JSON comes from
//! serde on the result types themselves.

pub mod doc;
pub mod figures;
pub mod plot;
mod svg;
mod table;

pub use table::Table;

/// Bytes as decimal gigabytes, the unit the claims use.
pub fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

/// Bytes in the largest binary unit that keeps the number readable.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", UNITS[i])
    }
}
