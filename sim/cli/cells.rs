//! Table cells the commands share: one way to show a value that was not computed, and a
//! relative change.

/// A value shown by `show`, or a dash where it was not computed (not timed, did not fit).
pub fn or_dash<T>(v: Option<T>, show: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "-".to_owned(), show)
}

/// A relative change as a signed percentage with one decimal (`0.05` is `+5.0%`).
pub fn signed_percent(v: f64) -> String {
    format!("{:+.1}%", 100.0 * v)
}
