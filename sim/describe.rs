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
    value.validate().map_err(|e| e.in_file(path))?;
    Ok(value)
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
