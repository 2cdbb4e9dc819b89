//! Turning results into things people read: aligned text tables and figures; JSON comes from
//! serde on the result types themselves.

pub mod axis;
pub mod bars;
mod chart;
pub mod doc;
pub mod figures;
pub mod layouts;
pub mod plot;
pub mod style;
mod svg;
mod table;
pub mod xy;

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

/// A fraction as a percentage with three significant digits, so that a small share reads as
/// what it is (`0.0123%`), not as `0.0%`; zero is `0%`.
pub fn percent(fraction: f64) -> String {
    let p = 100.0 * fraction;
    if p == 0.0 || !p.is_finite() {
        return format!("{p}%");
    }
    let decimals = (2 - p.abs().log10().floor() as i32).clamp(0, 12) as usize;
    format!("{p:.decimals$}%")
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_keep_three_significant_digits() {
        assert_eq!(percent(0.000123), "0.0123%");
        assert_eq!(percent(0.0759), "7.59%");
        assert_eq!(percent(0.452), "45.2%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.0), "0%");
    }
}
