//! Sweep rows as CSV: one header line, one line per point, the columns of [`Row`] in order.
//! Missing values are empty cells; text with a comma, quote or line break is quoted.

use super::Row;

/// Column titles, in [`Row`] field order.
pub const COLUMNS: [&str; 22] = [
    "point",
    "arch",
    "workload",
    "unit",
    "units",
    "memory_bytes",
    "clock_hz",
    "link_bytes_per_s",
    "format",
    "batch",
    "context",
    "bits_per_weight",
    "fits",
    "mapping",
    "tokens_per_s_per_user",
    "tokens_per_s",
    "bound_tokens_per_s",
    "ttft_s",
    "energy_j_per_token",
    "rel_error",
    "error",
    "pareto",
];

fn quote(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(String::new, |x| x.to_string())
}

/// The whole table.
pub fn to_csv(rows: &[Row]) -> String {
    let mut out = COLUMNS.join(",") + "\n";
    for r in rows {
        let cells = [
            r.point.to_string(),
            quote(&r.arch),
            quote(&r.workload),
            r.unit.name().to_owned(),
            opt(r.units),
            r.memory_bytes.to_string(),
            opt(r.clock_hz),
            r.link_bytes_per_s.to_string(),
            r.format.to_string(),
            r.batch.to_string(),
            r.context.to_string(),
            r.bits_per_weight.to_string(),
            r.fits.to_string(),
            quote(&r.mapping),
            opt(r.tokens_per_s_per_user),
            opt(r.tokens_per_s),
            opt(r.bound_tokens_per_s),
            opt(r.ttft_s),
            opt(r.energy_j_per_token),
            opt(r.rel_error),
            quote(r.error.as_deref().unwrap_or("")),
            r.pareto.to_string(),
        ];
        out += &cells.join(",");
        out.push('\n');
    }
    out
}
