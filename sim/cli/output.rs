//! Output paths checked before the work starts, so that an unwritable folder is reported at
//! once with its path, not after minutes of simulation.

use accsim::Error;
use std::path::Path;

/// Create `dir` (and its parents) and prove a file can be created in it.
pub fn writable_dir(dir: &Path) -> Result<(), Error> {
    let fail = |source| Error::Write {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    probe(dir).map_err(fail)
}

/// Prove `file` can be written: it is not a folder, and its folder exists and takes a new file.
pub fn writable_file(file: &Path) -> Result<(), Error> {
    let fail = |source| Error::Write {
        path: file.to_owned(),
        source,
    };
    if file.is_dir() {
        return Err(fail(std::io::Error::other("is a directory")));
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    probe(dir).map_err(fail)
}

/// Create and remove an empty file in `dir`.
fn probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(format!(".accsim-write-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)
}
