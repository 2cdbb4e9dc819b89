//! The accuracy side of accsim: a real LLaMA forward pass over checkpoints loaded from disk, so
//! that claims like "3.5-bit weights lose under 2% accuracy" are measured rather than assumed.
//!
//! Checkpoint loaders ([`llama2c`], [`gguf`], [`safetensors`]) expose tensors one at a time from a
//! memory map ([`Checkpoint`]); [`decoder::Model::load`] converts or quantizes them as it goes, so
//! peak memory is the built model plus one tensor. [`eval`] scores formats against f32.

pub mod accuracy;
pub mod calibrate;
pub mod config;
pub mod decoder;
pub mod eval;
pub mod gguf;
pub mod linear;
pub mod llama2c;
pub mod lockstep;
pub mod open;
pub mod safetensors;
pub mod synthetic;
pub mod tensor;
pub mod tokenizer;

pub use config::{Config, Llama3Scaling};
pub use decoder::{KvCache, Model};
pub use tensor::{Checkpoint, Tensor};
pub use tokenizer::Tokenizer;

use crate::Error;
use std::path::Path;

/// A corrupt, truncated or unsupported model file.
pub(crate) fn data_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Memory-map a file read-only; the loaders then copy out one tensor at a time.
pub(crate) fn map_file(path: &Path) -> crate::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    // SAFETY: the map is read-only and the file is not modified by accsim while mapped; a file
    // truncated by another process underneath could fault, the usual caveat of memory maps.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

/// Paths of the shipped stories260K files, for tests.
#[cfg(test)]
pub(crate) mod testdata {
    pub const STORIES_BIN: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/models/stories260K/stories260K.bin"
    );
    pub const STORIES_GGUF: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/models/stories260K/stories260K.gguf"
    );
    pub const STORIES_TOK: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/models/stories260K/tok512.bin"
    );
}
