//! Just enough of the llama2.c legacy checkpoint format to read one weight matrix, so formats
//! can be measured on real trained weights (`--dist FILE:TENSOR`). Header: 7 little-endian i32
//! (dim, hidden, layers, heads, kv_heads, vocab, seq_len; a negative vocab marks an unshared
//! classifier), then f32 tensors in a fixed order.

use crate::error::Error;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Matrices that can be named, in file order, with their (rows, cols) in units of the header.
const MATRICES: [&str; 8] = ["tok", "wq", "wk", "wv", "wo", "w1", "w2", "w3"];

/// One weight matrix read from a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Output channels.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Row-major weights.
    pub data: Vec<f32>,
}

/// Read matrix `name` from the checkpoint at `path`. `name` is `tok` (token embeddings) or one
/// of `wq wk wv wo w1 w2 w3`, optionally followed by `.LAYER` (default layer 0): `w1.3`.
pub fn read_matrix(path: &Path, name: &str) -> Result<Tensor, Error> {
    let (tensor, layer) = match name.split_once('.') {
        Some((t, l)) => (t, l.parse::<usize>().map_err(|_| bad_name(name))?),
        None => (name, 0),
    };
    if !MATRICES.contains(&tensor) {
        return Err(bad_name(name));
    }
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let mut header = [0u8; 28];
    file.read_exact(&mut header).map_err(read_err)?;
    let h: Vec<i64> = header
        .chunks_exact(4)
        .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let (dim, hidden, layers, heads, kv_heads) = (h[0], h[1], h[2], h[3], h[4]);
    let vocab = h[5].abs();
    if [dim, hidden, layers, heads, kv_heads, vocab]
        .iter()
        .any(|&v| v <= 0)
        || dim % heads != 0
    {
        return Err(data_err(path, format!("implausible header {h:?}")));
    }
    if layer >= layers as usize || (tensor == "tok" && layer > 0) {
        return Err(Error::Usage {
            flag: "--dist".into(),
            reason: format!("{name}: the checkpoint has {layers} layers (0-based), `tok` only one"),
        });
    }
    let kv_dim = dim * kv_heads / heads;
    // (name, rows, cols, copies) of every tensor before and including the matrices.
    let layout = [
        ("tok", vocab, dim, 1),
        ("rms_att", 1, dim, layers),
        ("wq", dim, dim, layers),
        ("wk", kv_dim, dim, layers),
        ("wv", kv_dim, dim, layers),
        ("wo", dim, dim, layers),
        ("rms_ffn", 1, dim, layers),
        ("w1", hidden, dim, layers),
        ("w2", dim, hidden, layers),
        ("w3", hidden, dim, layers),
    ];
    let file_len = file.metadata().map_err(read_err)?.len();
    // Offsets in 128 bits: the header's sizes are checked against the file's length before
    // anything is allocated from them.
    let mut offset = 28u128;
    for (t, rows, cols, copies) in layout {
        let size = 4 * rows as u128 * cols as u128;
        if t == tensor {
            let start = offset + size * layer as u128;
            if start + size > u128::from(file_len) {
                return Err(data_err(
                    path,
                    format!(
                        "truncated: {name} ({rows} x {cols}) would end at byte {}, the file has {file_len}",
                        start + size
                    ),
                ));
            }
            let mut bytes = vec![0u8; size as usize];
            file.seek(SeekFrom::Start(start as u64)).map_err(read_err)?;
            file.read_exact(&mut bytes)
                .map_err(|e| data_err(path, format!("truncated before {name}: {e}")))?;
            let data: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(data_err(
                    path,
                    format!("{name}: value {i} is {}; weights must be finite", data[i]),
                ));
            }
            return Ok(Tensor {
                rows: rows as usize,
                cols: cols as usize,
                data,
            });
        }
        offset += size * copies as u128;
    }
    Err(bad_name(name))
}

fn bad_name(name: &str) -> Error {
    Error::Usage {
        flag: "--dist".into(),
        reason: format!(
            "unknown tensor `{name}`; expected one of {} with an optional `.LAYER`",
            MATRICES.join(", ")
        ),
    }
}

fn data_err(path: &Path, reason: String) -> Error {
    Error::Data {
        path: PathBuf::from(path),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORIES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/models/stories260K/stories260K.bin"
    );

    #[test]
    fn reads_stories260k_ffn_and_attention() {
        let w1 = read_matrix(Path::new(STORIES), "w1.4").unwrap();
        assert_eq!((w1.rows, w1.cols), (172, 64));
        assert!(w1.data.iter().all(|v| v.is_finite() && v.abs() < 10.0));
        let wk = read_matrix(Path::new(STORIES), "wk").unwrap();
        assert_eq!((wk.rows, wk.cols), (32, 64));
    }

    #[test]
    fn bad_names_and_layers_are_usage_errors() {
        for name in ["w9", "w1.x", "w1.5", "tok.1"] {
            let e = read_matrix(Path::new(STORIES), name).unwrap_err();
            assert!(matches!(e, Error::Usage { .. }), "{name}: {e}");
        }
        assert!(matches!(
            read_matrix(Path::new("/nonexistent"), "w1"),
            Err(Error::Read { .. })
        ));
    }
}
