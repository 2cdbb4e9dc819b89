//! Merging shards: the journals of every shard of one sweep, checked to come from the same spec
//! and binary, with every shard once and every point once, become the rows of the whole sweep.

use super::Row;
use super::journal::{self, Header};
use super::shard::Shard;
use crate::error::Error;
use std::path::{Path, PathBuf};

/// The shard journals of the sweep named `stem` in `dir`, by file name.
fn journals_in(dir: &Path, stem: &str) -> Result<Vec<PathBuf>, Error> {
    let prefix = format!("{stem}.shard-");
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".jsonl") {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

fn usage(reason: String) -> Error {
    Error::Usage {
        flag: "--merge".to_owned(),
        reason,
    }
}

/// Every row of the sweep `stem` from the shard journals in `dirs`. `expected` is the header
/// this binary would write for the spec (its shard is ignored). Refused: no journal, a journal
/// of another spec or binary, shards of different counts, a shard twice or missing, a shard
/// unfinished.
pub fn gather(dirs: &[PathBuf], stem: &str, expected: &Header) -> Result<Vec<Row>, Error> {
    let mut paths = Vec::new();
    for dir in dirs {
        paths.extend(journals_in(dir, stem)?);
    }
    let listed = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if paths.is_empty() {
        return Err(usage(format!(
            "no shard journals of `{stem}` ({stem}.shard-I-of-N.jsonl) in {listed}"
        )));
    }
    let mut owners: Vec<Option<PathBuf>> = Vec::new();
    let mut rows = Vec::new();
    for path in &paths {
        let contents = journal::read(path)?;
        let header = contents.header.ok_or_else(|| Error::Data {
            path: path.clone(),
            reason: "empty journal: its shard never started; run it".to_owned(),
        })?;
        let shard = header.shard;
        header.check(
            path,
            &Header {
                shard,
                ..expected.clone()
            },
        )?;
        if owners.is_empty() {
            owners = vec![None; shard.count];
        }
        if owners.len() != shard.count {
            return Err(Error::Data {
                path: path.clone(),
                reason: format!(
                    "holds shard {shard}, but {} holds one of {} shards: merge the shards of one split",
                    paths[0].display(),
                    owners.len()
                ),
            });
        }
        if let Some(other) = &owners[shard.index] {
            return Err(usage(format!(
                "shard {shard} is given twice: {} and {}",
                other.display(),
                path.display()
            )));
        }
        let wanted = shard.points(header.points).count();
        if contents.rows.len() != wanted {
            return Err(Error::Data {
                path: path.clone(),
                reason: format!(
                    "shard {shard} is unfinished: {} of its {wanted} points; rerun it to resume",
                    contents.rows.len()
                ),
            });
        }
        owners[shard.index] = Some(path.clone());
        rows.extend(contents.rows);
    }
    if let Some(index) = owners.iter().position(Option::is_none) {
        let missing = Shard {
            index,
            count: owners.len(),
        };
        return Err(usage(format!(
            "shard {missing} is missing: no {} in {listed}",
            journal::file_name(stem, missing)
        )));
    }
    Ok(rows)
}
