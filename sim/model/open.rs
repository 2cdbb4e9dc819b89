//! Opening a workload's checkpoint and tokenizer, chosen by file extension, and reconciling the
//! file's shape with the workload's: the shapes must agree, and the workload's RoPE and norm
//! settings win (GGUF and llama2.c files do not carry LLaMA 3.1 RoPE scaling).

use super::gguf::Gguf;
use super::llama2c::Llama2c;
use super::safetensors::HfSafetensors;
use super::tensor::{Checkpoint, Tensor};
use super::{Config, Tokenizer, data_error};
use crate::Error;
use crate::workload::Workload;
use std::path::{Path, PathBuf};

/// A checkpoint whose config is the workload's.
pub struct Opened {
    inner: Box<dyn Checkpoint>,
    config: Config,
    /// The tokenizer: the workload's file, or the one embedded in a GGUF checkpoint.
    pub tokenizer: Tokenizer,
}

impl Checkpoint for Opened {
    fn config(&self) -> &Config {
        &self.config
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn tensor(&self, t: Tensor) -> crate::Result<Option<Vec<f32>>> {
        self.inner.tensor(t)
    }
}

/// Open the checkpoint of the workload read from `workload_path` (paths relative to it).
pub fn open_workload(workload_path: &Path, w: &Workload) -> crate::Result<Opened> {
    let ck = w.checkpoint.as_ref().ok_or_else(|| Error::Invalid {
        path: workload_path.to_owned(),
        field: "checkpoint".into(),
        reason: "this workload names no checkpoint, so its accuracy cannot be measured".into(),
    })?;
    let weights = Workload::resolve(workload_path, &ck.weights);
    let tok_path: Option<PathBuf> = ck
        .tokenizer
        .as_ref()
        .map(|t| Workload::resolve(workload_path, t));
    let ext = weights.extension().and_then(|e| e.to_str()).unwrap_or("");
    let (inner, embedded): (Box<dyn Checkpoint>, Option<Tokenizer>) = match ext {
        "gguf" => {
            let g = Gguf::open(&weights)?;
            let tok = if tok_path.is_none() {
                Some(g.tokenizer()?)
            } else {
                None
            };
            (Box::new(g), tok)
        }
        "safetensors" => (Box::new(HfSafetensors::open(&weights)?), None),
        _ => (Box::new(Llama2c::open(&weights)?), None),
    };
    let tokenizer = match (embedded, tok_path) {
        (Some(t), _) => t,
        (None, Some(p)) => Tokenizer::from_llama2c(&p)?,
        (None, None) => {
            return Err(Error::Invalid {
                path: workload_path.to_owned(),
                field: "checkpoint.tokenizer".into(),
                reason: format!("{} embeds no tokenizer; name one", weights.display()),
            });
        }
    };
    let config = reconcile(inner.config(), w).map_err(|r| data_error(&weights, r))?;
    if tokenizer.vocab() != config.vocab {
        return Err(data_error(
            &weights,
            format!(
                "tokenizer has {} tokens, the model {}",
                tokenizer.vocab(),
                config.vocab
            ),
        ));
    }
    Ok(Opened {
        inner,
        config,
        tokenizer,
    })
}

/// The file's shape with the workload's position and norm settings, if the sizes agree.
fn reconcile(file: &Config, w: &Workload) -> Result<Config, String> {
    let m = &w.model;
    let pairs = [
        ("layers", file.layers, m.layers),
        ("hidden", file.dim, m.hidden),
        ("ffn", file.hidden, m.ffn),
        ("heads", file.heads, m.heads),
        ("kv_heads", file.kv_heads, m.kv_heads),
        ("head_dim", file.head_dim, m.head_dim),
        ("vocab", file.vocab, m.vocab),
    ];
    for (name, got, want) in pairs {
        if got as u64 != want {
            return Err(format!(
                "the file has {name} = {got}, the workload says {want}"
            ));
        }
    }
    // The sizes agree; the workload's position and norm settings win.
    let config = Config {
        max_seq: file.max_seq,
        ..Config::from_shape(m)
    };
    config.check()?;
    Ok(config)
}
