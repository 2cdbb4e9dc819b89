//! llama2.c legacy checkpoints: a 7 × i32 header, then every tensor as f32, grouped by kind
//! across layers (all `wq`, then all `wk`, ...). A negative vocabulary size in the header marks
//! an unshared classifier, stored after the (ignored) RoPE tables.

use super::tensor::{Checkpoint, Tensor, f32_from_le, finite};
use super::{Config, data_error, map_file};
use memmap2::Mmap;
use std::path::{Path, PathBuf};

const HEADER_BYTES: usize = 7 * 4;

/// A memory-mapped llama2.c checkpoint.
pub struct Llama2c {
    path: PathBuf,
    map: Mmap,
    config: Config,
    shared_classifier: bool,
}

impl Llama2c {
    /// Map `path` and check its header and length; tensors are read on demand.
    pub fn open(path: &Path) -> crate::Result<Self> {
        let map = map_file(path)?;
        let err = |reason: String| data_error(path, reason);
        if map.len() < HEADER_BYTES {
            return Err(err(format!(
                "{} bytes is too short for a llama2.c header ({HEADER_BYTES} bytes)",
                map.len()
            )));
        }
        let h: Vec<i32> = map[..HEADER_BYTES]
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let size = |i: usize, name: &str| {
            usize::try_from(h[i].unsigned_abs())
                .ok()
                .filter(|_| h[i] != 0 && (name == "vocab" || h[i] > 0))
                .ok_or_else(|| err(format!("header field {name} = {} is invalid", h[i])))
        };
        let dim = size(0, "dim")?;
        let heads = size(3, "heads")?;
        if dim % heads != 0 {
            return Err(err(format!("dim {dim} is not a multiple of heads {heads}")));
        }
        let config = Config {
            dim,
            hidden: size(1, "hidden")?,
            layers: size(2, "layers")?,
            heads,
            kv_heads: size(4, "kv_heads")?,
            head_dim: dim / heads,
            vocab: size(5, "vocab")?,
            max_seq: size(6, "seq_len")?,
            norm_eps: 1e-5,
            rope_theta: 10_000.0,
            llama3_scaling: None,
        };
        config.check().map_err(err)?;
        // The header's sizes are checked against the file's length in 128 bits before any
        // offset is formed, so an absurd header cannot overflow or allocate.
        let needed = wide_end_offset(&config, h[5] > 0);
        if (map.len() as u128) < needed {
            return Err(err(format!(
                "truncated: {} bytes, the header implies at least {needed}",
                map.len()
            )));
        }
        let ck = Self {
            path: path.to_owned(),
            shared_classifier: h[5] > 0,
            map,
            config,
        };
        Ok(ck)
    }

    /// Element offset (in f32s after the header) of every tensor kind, in file order.
    fn offset(&self, t: Tensor) -> usize {
        let c = &self.config;
        let per_layer = |t: Tensor| t.len(c);
        let kinds = [
            Tensor::AttnNorm(0),
            Tensor::Q(0),
            Tensor::K(0),
            Tensor::V(0),
            Tensor::O(0),
            Tensor::FfnNorm(0),
            Tensor::Gate(0),
            Tensor::Down(0),
            Tensor::Up(0),
        ];
        let mut off = Tensor::Embedding.len(c);
        let (kind, layer) = match t {
            Tensor::Embedding => return 0,
            Tensor::AttnNorm(l) => (0, l),
            Tensor::Q(l) => (1, l),
            Tensor::K(l) => (2, l),
            Tensor::V(l) => (3, l),
            Tensor::O(l) => (4, l),
            Tensor::FfnNorm(l) => (5, l),
            Tensor::Gate(l) => (6, l),
            Tensor::Down(l) => (7, l),
            Tensor::Up(l) => (8, l),
            Tensor::FinalNorm | Tensor::Classifier => (kinds.len(), 0),
        };
        for k in &kinds[..kind] {
            off += c.layers * per_layer(*k);
        }
        if kind < kinds.len() {
            return off + layer * per_layer(kinds[kind]);
        }
        if t == Tensor::FinalNorm {
            return off;
        }
        // Skip the final norm and the two RoPE tables (seq_len × head_dim/2 each).
        off + c.dim + c.max_seq * c.head_dim
    }
}

/// Bytes a file with this header must hold: the header, every tensor in file order, the RoPE
/// tables and, when not shared, the classifier.
fn wide_end_offset(c: &Config, shared_classifier: bool) -> u128 {
    let len = |t: Tensor| t.len(c) as u128;
    let per_layer: u128 = Tensor::of_layer(0).into_iter().map(len).sum();
    let rope = c.max_seq as u128 * c.head_dim as u128;
    let classifier = if shared_classifier {
        0
    } else {
        len(Tensor::Classifier)
    };
    let values = len(Tensor::Embedding)
        + c.layers as u128 * per_layer
        + len(Tensor::FinalNorm)
        + rope
        + classifier;
    HEADER_BYTES as u128 + 4 * values
}

impl Checkpoint for Llama2c {
    fn config(&self) -> &Config {
        &self.config
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensor(&self, t: Tensor) -> crate::Result<Option<Vec<f32>>> {
        if t == Tensor::Classifier && self.shared_classifier {
            return Ok(None);
        }
        let start = HEADER_BYTES + 4 * self.offset(t);
        let end = start + 4 * t.len(&self.config);
        let bytes = self
            .map
            .get(start..end)
            .ok_or_else(|| data_error(&self.path, format!("tensor {t:?} lies past the end")))?;
        Ok(Some(finite(&self.path, t, f32_from_le(bytes))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::STORIES_BIN;

    fn open_bytes(bytes: &[u8]) -> crate::Result<Llama2c> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.bin");
        std::fs::write(&path, bytes).unwrap();
        Llama2c::open(&path)
    }

    fn reason(r: crate::Result<Llama2c>) -> String {
        match r {
            Err(crate::Error::Data { reason, .. }) => reason,
            other => panic!("expected a data error, got {:?}", other.err()),
        }
    }

    #[test]
    fn header_and_length_are_checked() {
        let bytes = std::fs::read(STORIES_BIN).unwrap();
        let ck = open_bytes(&bytes).unwrap();
        assert_eq!(ck.config().head_dim, 8);
        assert!(reason(open_bytes(&bytes[..20])).contains("too short"));
        assert!(reason(open_bytes(&bytes[..bytes.len() / 2])).contains("truncated"));
        let mut neg = bytes.clone();
        neg[..4].copy_from_slice(&(-64i32).to_le_bytes());
        assert!(reason(open_bytes(&neg)).contains("dim = -64"));
        let mut odd_heads = bytes.clone();
        odd_heads[12..16].copy_from_slice(&7i32.to_le_bytes());
        assert!(reason(open_bytes(&odd_heads)).contains("multiple of heads"));
        // A negative vocabulary means a separate classifier, which this file does not have.
        let mut unshared = bytes;
        unshared[20..24].copy_from_slice(&(-512i32).to_le_bytes());
        assert!(reason(open_bytes(&unshared)).contains("truncated"));
    }
}
