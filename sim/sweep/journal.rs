//! The journal: a sweep shard's rows streamed to disk as points finish, so that a kill loses
//! nothing and a rerun resumes. JSON lines, append-only: a header naming what the rows were
//! computed from (the binary, the spec's fingerprint, the shard), then one [`Row`] per finished
//! point in the order they finished. Each row is one `write` of a whole line, so a killed process
//! leaves whole lines; a torn last line (power loss mid-write) is dropped on reading and its
//! point runs again.

use super::Row;
use super::fingerprint::Fnv;
use super::shard::Shard;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Version of the journal layout, first in every header.
const LAYOUT: &str = "accsim-sweep-journal/1";

/// What a journal's rows were computed from; a resume or merge accepts only equal headers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Journal layout ([`LAYOUT`]).
    pub journal: String,
    /// The accsim binary that computed the rows ([`this_binary`]).
    pub binary: String,
    /// Fingerprint of every point's job ([`super::Sweep::fingerprint`]).
    pub spec: String,
    /// Points in the whole spec.
    pub points: usize,
    pub shard: Shard,
}

impl Header {
    /// The header of `shard` of a sweep with this fingerprint and point count, run by `binary`.
    pub fn new(binary: String, spec: String, points: usize, shard: Shard) -> Self {
        Self {
            journal: LAYOUT.to_owned(),
            binary,
            spec,
            points,
            shard,
        }
    }

    /// Why rows under `self` (found in `path`) cannot stand for `expected`'s.
    pub fn check(&self, path: &Path, expected: &Header) -> Result<(), Error> {
        let reason = if self.journal != expected.journal {
            format!(
                "journal layout `{}`, this binary writes `{}`",
                self.journal, expected.journal
            )
        } else if self.binary != expected.binary {
            format!(
                "written by another accsim binary ({}; this is {}): its rows may differ from this binary's",
                self.binary, expected.binary
            )
        } else if self.spec != expected.spec || self.points != expected.points {
            format!(
                "written for another spec (fingerprint {}, {} points; this spec: {}, {} points): the spec, or an arch or workload file it names, has changed",
                self.spec, self.points, expected.spec, expected.points
            )
        } else if self.shard != expected.shard {
            format!("holds shard {}, not shard {}", self.shard, expected.shard)
        } else {
            return Ok(());
        };
        Err(Error::Data {
            path: path.to_owned(),
            reason: format!("{reason}; delete it to start over, or choose another --out directory"),
        })
    }
}

/// The journal file of `shard` of the sweep whose spec file is named `stem`.
pub fn file_name(stem: &str, shard: Shard) -> String {
    format!("{stem}.shard-{}-of-{}.jsonl", shard.index, shard.count)
}

/// Identity of the running binary: the crate version and a hash of the executable, so that a
/// rebuild with any change refuses to resume or merge another build's rows.
pub fn this_binary() -> Result<String, Error> {
    let exe = std::env::current_exe().map_err(|source| Error::Read {
        path: PathBuf::from("(this executable)"),
        source,
    })?;
    let read_fail = |source| Error::Read {
        path: exe.clone(),
        source,
    };
    let mut file = File::open(&exe).map_err(read_fail)?;
    let (mut hash, mut buf) = (Fnv::default(), vec![0u8; 1 << 20]);
    loop {
        let n = file.read(&mut buf).map_err(read_fail)?;
        if n == 0 {
            break;
        }
        hash.bytes(&buf[..n]);
    }
    Ok(format!(
        "accsim {} exe {}",
        env!("CARGO_PKG_VERSION"),
        hash.hex()
    ))
}

/// A journal's whole lines: the header (none if the file was empty or torn in its first line)
/// and the rows, each point at most once and within the header's shard.
#[derive(Debug)]
pub struct Contents {
    pub header: Option<Header>,
    pub rows: Vec<Row>,
    /// Bytes up to the end of the last whole line.
    whole_len: u64,
}

/// Read a journal, checking every whole line; the bytes after the last line break are ignored.
pub fn read(path: &Path) -> Result<Contents, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let bad = |line: usize, reason: String| Error::Data {
        path: path.to_owned(),
        reason: format!("line {line}: {reason}"),
    };
    let mut lines = whole.lines();
    let header: Option<Header> = lines
        .next()
        .map(|l| {
            serde_json::from_str(l).map_err(|e| bad(1, format!("not a sweep journal header: {e}")))
        })
        .transpose()?;
    let mut rows = Vec::new();
    if let Some(h) = &header {
        let mut seen = vec![false; h.points];
        for (i, line) in lines.enumerate() {
            let row: Row = serde_json::from_str(line)
                .map_err(|e| bad(i + 2, format!("not a sweep row: {e}")))?;
            let p = row.point;
            if p >= h.points || !h.shard.holds(p) {
                return Err(bad(
                    i + 2,
                    format!(
                        "point {p} is not in shard {} of {} points",
                        h.shard, h.points
                    ),
                ));
            }
            if std::mem::replace(&mut seen[p], true) {
                return Err(bad(i + 2, format!("point {p} is recorded twice")));
            }
            rows.push(row);
        }
    }
    Ok(Contents {
        header,
        rows,
        whole_len: whole.len() as u64,
    })
}

/// An open journal, appending one line per finished point.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Open the journal at `path` for rows under `header`, creating it (and its directory) if
    /// need be; returns the rows already finished. A journal written under another header is
    /// refused; a torn last line is cut off.
    pub fn open(path: &Path, header: &Header) -> Result<(Journal, Vec<Row>), Error> {
        let fail = |source| Error::Write {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let found = if path.exists() {
            read(path)?
        } else {
            Contents {
                header: None,
                rows: Vec::new(),
                whole_len: 0,
            }
        };
        if let Some(h) = &found.header {
            h.check(path, header)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(fail)?;
        file.set_len(found.whole_len).map_err(fail)?;
        let mut journal = Journal {
            path: path.to_owned(),
            file,
        };
        if found.header.is_none() {
            let line = serde_json::to_string(header).expect("a header serializes");
            journal.line(line)?;
        }
        Ok((journal, found.rows))
    }

    /// Append one finished point.
    pub fn append(&mut self, row: &Row) -> Result<(), Error> {
        self.line(serde_json::to_string(row).expect("a row serializes"))
    }

    fn line(&mut self, mut line: String) -> Result<(), Error> {
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })
    }
}
