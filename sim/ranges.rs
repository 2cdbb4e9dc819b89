//! The physically meaningful range of every numeric field of the description files, one table
//! per family. The validators check values against these tables, and tests check that the
//! comment beside each field of the shipped files and the tables of `docs/ranges.md` state the
//! same ranges, so the three cannot drift.

use crate::describe::check;
use crate::error::Invalid;
use serde_json::Value;

/// One field's accepted values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Dotted path inside the description; `[]` stands for every element of a list.
    pub field: &'static str,
    /// The values accepted on their own.
    pub allowed: Allowed,
    /// Unit after the numbers, or empty.
    pub unit: &'static str,
    /// A relation to other fields the validator also enforces, in words, or empty.
    pub relation: &'static str,
}

/// Accepted values of a field on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Allowed {
    /// An integer in `min..=max`.
    Count(u64, u64),
    /// A finite number in `min..=max`.
    Real(f64, f64),
}

/// An integer field in `min..=max` [`unit`].
pub const fn count(field: &'static str, min: u64, max: u64, unit: &'static str) -> Range {
    Range {
        field,
        allowed: Allowed::Count(min, max),
        unit,
        relation: "",
    }
}

/// A real field, finite and in `min..=max` [`unit`].
pub const fn real(field: &'static str, min: f64, max: f64, unit: &'static str) -> Range {
    Range {
        field,
        allowed: Allowed::Real(min, max),
        unit,
        relation: "",
    }
}

impl Range {
    /// The same range with a relation to other fields, stated beside it.
    pub const fn and(self, relation: &'static str) -> Range {
        Range { relation, ..self }
    }

    /// The range as the files' comments and the docs state it, e.g. `1e6 to 1e11 Hz`.
    pub fn text(&self) -> String {
        let (lo, hi) = match self.allowed {
            Allowed::Count(lo, hi) => (check::count_text(lo), check::count_text(hi)),
            Allowed::Real(lo, hi) => (check::real_text(lo), check::real_text(hi)),
        };
        let relation = if self.relation.is_empty() {
            String::new()
        } else {
            format!(", {}", self.relation)
        };
        format!("{lo} to {hi}{}{relation}", check::with_space(self.unit))
    }

    /// Check one value found at the concrete path `field`.
    fn check(&self, field: &str, value: &Value) -> Result<(), Invalid> {
        match self.allowed {
            Allowed::Count(lo, hi) => match value.as_u64() {
                Some(v) => check::within(field, v, lo, hi, self.unit),
                None => Err(Invalid::new(field, "must be a whole number")),
            },
            // serde_json writes a non-finite number as null.
            Allowed::Real(lo, hi) => {
                check::between(field, value.as_f64().unwrap_or(f64::NAN), lo, hi, self.unit)
            }
        }
    }
}

/// Check every field of `table` in `tree` (a description as serde writes it); errors name the
/// field as `prefix` followed by its path, with the index of a list element.
pub fn check(table: &[Range], tree: &Value, prefix: &str) -> Result<(), Invalid> {
    for range in table {
        for (path, value) in values(tree, range.field) {
            range.check(&format!("{prefix}{path}"), value)?;
        }
    }
    Ok(())
}

/// The values at `field` in `tree` with their concrete paths; none where an optional part is
/// absent.
fn values<'a>(tree: &'a Value, field: &str) -> Vec<(String, &'a Value)> {
    let mut found = vec![(String::new(), tree)];
    for part in field.split('.') {
        let (key, each) = match part.strip_suffix("[]") {
            Some(key) => (key, true),
            None => (part, false),
        };
        let mut next = Vec::new();
        for (path, node) in found {
            let Some(child) = node.get(key) else { continue };
            let path = if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            };
            match (each, child) {
                (true, Value::Array(items)) => next.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| (format!("{path}[{i}]"), item)),
                ),
                (true, _) => {}
                (false, child) => next.push((path, child)),
            }
        }
        found = next;
    }
    found
}

/// Every numeric leaf of `tree` (and every null, which may be a non-finite number) with its
/// concrete path: what a completeness test matches against the tables.
pub fn leaves(tree: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    collect_leaves(tree, String::new(), &mut out);
    out
}

fn collect_leaves<'a>(node: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match node {
        Value::Number(_) => out.push((path, node)),
        Value::Object(fields) => {
            for (key, child) in fields {
                collect_leaves(child, join(key), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_leaves(item, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The entry of `table` that governs the concrete path `path` (list indices ignored).
pub fn governing<'a>(table: &'a [Range], path: &str) -> Option<&'a Range> {
    let mut general = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                general.push('[');
            }
            ']' => {
                in_index = false;
                general.push(']');
            }
            _ if in_index => {}
            _ => general.push(c),
        }
    }
    table.iter().find(|r| r.field == general)
}

/// The entry of `tables` (each with the prefix of its fields' paths) that governs `path`.
pub fn governing_in<'a>(tables: &[(&str, &'a [Range])], path: &str) -> Option<&'a Range> {
    tables.iter().find_map(|(prefix, table)| {
        path.strip_prefix(prefix)
            .and_then(|rest| governing(table, rest))
    })
}

/// A Markdown table of `tables` (each with the prefix of its fields' paths), one row per field,
/// for `docs/ranges.md`.
pub fn markdown(tables: &[(&str, &[Range])]) -> String {
    let mut out = String::from("| field | allowed |\n|---|---|\n");
    for (prefix, table) in tables {
        for r in *table {
            out += &format!("| `{prefix}{}` | {} |\n", r.field, r.text());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ranges_read_as_the_errors_state_them() {
        let r = real("a.clock_hz", 1e6, 1e11, "Hz");
        assert_eq!(r.text(), "1e6 to 1e11 Hz");
        let c = count("b[].n", 0, 1 << 24, "").and("at most a.m");
        assert_eq!(c.text(), "0 to 2^24, at most a.m");
        let tree = serde_json::json!({"a": {"clock_hz": 1.0}, "b": [{"n": 1}, {"n": 1u64 << 30}]});
        let e = check(&[r], &tree, "").unwrap_err();
        assert_eq!(e.field, "a.clock_hz");
        assert!(e.reason.contains("between 1e6 and 1e11 Hz"), "{}", e.reason);
        let e = check(&[c], &tree, "x.").unwrap_err();
        assert_eq!(e.field, "x.b[1].n");
        assert!(e.reason.contains("between 0 and 2^24"), "{}", e.reason);
        assert_eq!(governing(&[c], "b[7].n"), Some(&c));
        let nan = serde_json::json!({"a": {"clock_hz": null}});
        assert!(check(&[r], &nan, "").is_err());
        assert!(check(&[r], &serde_json::json!({}), "").is_ok());
    }
}
