//! Loading RON description files (architectures, workloads, sweep specs) with errors that name
//! the file, the line and column, and the dotted path of the offending field.

use crate::error::{Error, Invalid};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A description that can check its own values after parsing.
pub trait Validate {
    /// Every violated invariant is reported with the field it concerns.
    fn validate(&self) -> Result<(), Invalid>;
}

/// Read and parse a description file, then validate it.
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parse description text that came from `path` (a file, or an embedded default), then validate it.
pub fn parse<T: DeserializeOwned + Validate>(path: &Path, text: &str) -> Result<T, Error> {
    let syntax = |span: ron::error::SpannedError, field: String| Error::Syntax {
        path: path.to_owned(),
        line: span.span.start.line,
        column: span.span.start.col,
        field: if field.is_empty() || field == "." {
            "(top level)".to_owned()
        } else {
            field
        },
        reason: span.code.to_string(),
    };
    let mut de = ron::Deserializer::from_str(text).map_err(|e| syntax(e, String::new()))?;
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        syntax(de.span_error(e.into_inner()), field)
    })?;
    de.end()
        .map_err(|e| syntax(de.span_error(e), String::new()))?;
    value.validate().map_err(|e| located(e, path, text))?;
    Ok(value)
}

/// `e` in the file at `path` and, when its field can be found in the file's `text`, at the line
/// and column where the field is written.
pub fn located(e: Invalid, path: &Path, text: &str) -> Error {
    match locate(text, &e.field) {
        Some((line, column)) => Error::InvalidAt {
            path: path.to_owned(),
            line,
            column,
            field: e.field,
            reason: e.reason,
        },
        None => e.in_file(path),
    }
}

/// Line and column (1-based) where the field at the dotted `path` of a validation error (e.g.
/// `system.levels[1].hop_latency_ns`, `grid[0]`) is written in the RON `text`; `None` when it
/// cannot be found (then the error names the field alone). Keys are matched in order outside
/// comments and strings, `[i]` steps to the i-th element of the list or tuple that follows.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let code = blank_comments(text);
    let mut pos = 0;
    for part in path.split('.') {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            pos = find_key(&code, pos, name)?;
        }
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            pos = element(&code, pos, i)?;
        }
    }
    let before = &text.as_bytes()[..pos];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Some((line, column))
}

/// `text` with every comment replaced by spaces (byte offsets kept), strings left as they are.
fn blank_comments(text: &str) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'"', _) => i = string_end(&b, i),
            (b'/', Some(b'/')) => {
                while i < b.len() && b[i] != b'\n' {
                    b[i] = b' ';
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] != b'\n' {
                        b[i] = b' ';
                    }
                    i += 1;
                }
                let end = (i + 2).min(b.len());
                b[i..end].fill(b' ');
                i += 2;
            }
            _ => i += 1,
        }
    }
    b
}

/// Offset just past the string starting at the quote at `start`.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() && b[i] != b'"' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// Offset of the first `name:` key or `Name(` variant at or after `from` (a whole identifier,
/// outside strings).
fn find_key(code: &[u8], from: usize, name: &str) -> Option<usize> {
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = from;
    while i < code.len() {
        if code[i] == b'"' {
            i = string_end(code, i);
            continue;
        }
        if code[i..].starts_with(name.as_bytes()) && (i == 0 || !ident(code[i - 1])) {
            let rest = &code[i + name.len()..];
            let after = rest.iter().position(|c| !c.is_ascii_whitespace());
            let opens = |a: usize| rest[a] == b':' || rest[a] == b'(';
            if after.is_some_and(|a| opens(a) && !ident(rest[0])) {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// Offset of element `index` of the first list or tuple opening at or after `from`.
fn element(code: &[u8], from: usize, index: usize) -> Option<usize> {
    let mut open = from + code[from..].iter().position(|&c| c == b'[' || c == b'(')?;
    // A variant wrapping a list, `ClockHz([...])`: its elements are the list's.
    let inner = open
        + 1
        + code[open + 1..]
            .iter()
            .position(|c| !c.is_ascii_whitespace())?;
    if code[open] == b'(' && code[inner] == b'[' {
        open = inner;
    }
    let (mut depth, mut count, mut i) = (0usize, 0usize, open);
    let start = |i: usize| {
        i + code[i..]
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .unwrap_or(0)
    };
    while i < code.len() {
        match code[i] {
            b'"' => {
                i = string_end(code, i);
                continue;
            }
            b'[' | b'(' | b'{' => {
                depth += 1;
                if depth == 1 && index == 0 {
                    return Some(start(i + 1));
                }
            }
            b']' | b')' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return None;
                }
            }
            b',' if depth == 1 => {
                count += 1;
                if count == index {
                    return Some(start(i + 1));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A description file shipped with accsim, embedded so the binary works from any directory.
pub struct Preset {
    /// Path of the file in the repository.
    pub path: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// Embed description files by repository path: `presets!["arch/a.ron", "arch/b.ron"]`.
#[macro_export]
macro_rules! presets {
    ($($path:literal),* $(,)?) => {
        [$($crate::describe::Preset {
            path: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)),
        }),*]
    };
}

/// A shipped file by repository path: under the current directory if it is there, else in the
/// source tree the binary was built from.
pub fn shipped(relative: &Path) -> PathBuf {
    if relative.exists() {
        relative.to_owned()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}

/// Descriptions with the path each was read from (for error messages and reports).
pub type Described<T> = Vec<(PathBuf, T)>;

/// Parse embedded description files, each reported under its repository path.
pub fn parse_presets<T: DeserializeOwned + Validate>(
    presets: &[Preset],
) -> Result<Described<T>, Error> {
    presets
        .iter()
        .map(|p| {
            let path = PathBuf::from(p.path);
            parse(&path, p.text).map(|v| (path, v))
        })
        .collect()
}

/// A description one file refers to: a shipped one by name, or a `.ron` file relative to the
/// referring file `from`. The error lists the shipped names.
pub fn resolve<T>(
    from: &Path,
    field: &str,
    reference: &str,
    presets: Described<T>,
    name: fn(&T) -> &str,
    load: fn(&Path) -> Result<T, Error>,
) -> Result<T, Error> {
    if reference.ends_with(".ron") {
        return load(&from.parent().unwrap_or(Path::new(".")).join(reference));
    }
    let known: Vec<String> = presets.iter().map(|(_, t)| name(t).to_owned()).collect();
    presets
        .into_iter()
        .map(|(_, t)| t)
        .find(|t| name(t) == reference)
        .ok_or_else(|| {
            Invalid::new(
                field,
                format!(
                    "`{reference}` is neither a shipped description ({}) nor a .ron file",
                    known.join(", ")
                ),
            )
            .in_file(from)
        })
}

/// Checks shared by every description type, so each invariant reads as one line.
pub mod check {
    use crate::error::Invalid;

    /// `value` must be a finite number greater than zero.
    pub fn positive(field: &str, value: f64) -> Result<(), Invalid> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(Invalid::new(
                field,
                format!("must be a finite number > 0, got {value}"),
            ))
        }
    }

    /// `value` must be a finite number at least zero.
    pub fn non_negative(field: &str, value: f64) -> Result<(), Invalid> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(Invalid::new(
                field,
                format!("must be a finite number >= 0, got {value}"),
            ))
        }
    }

    /// An integer count or size must be at least one.
    pub fn nonzero(field: &str, value: u64) -> Result<(), Invalid> {
        if value > 0 {
            Ok(())
        } else {
            Err(Invalid::new(field, "must be at least 1, got 0"))
        }
    }

    /// An integer must lie in `min..=max` [`unit`]: the physically meaningful range of the field.
    pub fn within(field: &str, value: u64, min: u64, max: u64, unit: &str) -> Result<(), Invalid> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(Invalid::new(
                field,
                format!(
                    "must be between {} and {}{}, got {value}",
                    count_text(min),
                    count_text(max),
                    with_space(unit)
                ),
            ))
        }
    }

    /// A number must be finite and lie in `min..=max` [`unit`]: the physically meaningful range
    /// of the field.
    pub fn between(field: &str, value: f64, min: f64, max: f64, unit: &str) -> Result<(), Invalid> {
        if value.is_finite() && (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(Invalid::new(
                field,
                format!(
                    "must be between {} and {}{}, got {value:e}",
                    real_text(min),
                    real_text(max),
                    with_space(unit)
                ),
            ))
        }
    }

    /// An integer bound as ranges state it: powers of two from 2^16 up as `2^k`, others in
    /// decimal, so error messages, file comments and docs read the same.
    pub fn count_text(n: u64) -> String {
        if n >= 1 << 16 && n.is_power_of_two() {
            format!("2^{}", n.trailing_zeros())
        } else {
            n.to_string()
        }
    }

    /// A real bound as ranges state it: small whole numbers plainly, others as `1e6`.
    pub fn real_text(x: f64) -> String {
        if x.fract() == 0.0 && x.abs() < 1e3 {
            format!("{x}")
        } else {
            format!("{x:e}")
        }
    }

    /// A unit after a number, if there is one.
    pub fn with_space(unit: &str) -> String {
        if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        }
    }

    /// `value` must not exceed `max` (guards against absurd sizes that would overflow later).
    pub fn at_most(field: &str, value: u64, max: u64) -> Result<(), Invalid> {
        if value <= max {
            Ok(())
        } else {
            Err(Invalid::new(
                field,
                format!("{value} is absurdly large (limit {max})"),
            ))
        }
    }

    /// Two views of the same quantity must agree exactly.
    pub fn equal(field: &str, value: u64, expected: u64, how: &str) -> Result<(), Invalid> {
        if value == expected {
            Ok(())
        } else {
            Err(Invalid::new(
                field,
                format!("is {value} but {how} gives {expected}"),
            ))
        }
    }
}
