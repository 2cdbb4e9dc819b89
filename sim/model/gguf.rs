//! GGUF (v2/v3) LLaMA files: key-value metadata (shape, tokenizer) then aligned tensor data.
//! Tensor dims (ne0, ne1) are read as a row-major (ne1, ne0) matrix, which is the (out, in)
//! layout; Q/K rows are used as stored (interleaved-pair RoPE). F32, F16 and BF16 tensors are
//! supported. LLaMA 3.1 RoPE scaling is not read from the file; it comes from the workload.

use super::tensor::{Checkpoint, Tensor, bf16_from_le, f16_from_le, f32_from_le, finite};
use super::tokenizer::{Reader, Tokenizer};
use super::{Config, data_error, map_file};
use crate::Error;
use memmap2::Mmap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A metadata value.
#[derive(Clone, Debug)]
enum Value {
    Uint(u64),
    Int(i64),
    Float(f64),
    /// A boolean; no key accsim reads is one, so its value is skipped.
    Bool,
    Str(Vec<u8>),
    Array(Vec<Value>),
}

/// Where one tensor's data lies and how it is stored.
struct Info {
    dims: Vec<u64>,
    kind: u32,
    start: usize,
}

/// A memory-mapped GGUF file.
pub struct Gguf {
    path: PathBuf,
    map: Mmap,
    config: Config,
    meta: HashMap<String, Value>,
    tensors: HashMap<String, Info>,
}

const GGML_F32: u32 = 0;
const GGML_F16: u32 = 1;
const GGML_BF16: u32 = 30;

impl Gguf {
    /// Map `path`, parse metadata and the tensor directory, and check every tensor lies inside.
    pub fn open(path: &Path) -> crate::Result<Self> {
        let map = map_file(path)?;
        let err = |reason: String| data_error(path, reason);
        let mut r = Reader {
            bytes: &map,
            pos: 0,
        };
        let eof = || err("truncated GGUF header".into());
        if r.take(4) != Some(b"GGUF") {
            return Err(err("not a GGUF file (bad magic)".into()));
        }
        let version = r.u32().ok_or_else(eof)?;
        if !(2..=3).contains(&version) {
            return Err(err(format!(
                "GGUF version {version} is not supported (2 or 3)"
            )));
        }
        let n_tensors = r.u64().ok_or_else(eof)?;
        let n_kv = r.u64().ok_or_else(eof)?;
        let mut meta = HashMap::new();
        for i in 0..n_kv {
            let key =
                read_string(&mut r).ok_or_else(|| err(format!("truncated metadata key {i}")))?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let value = r
                .u32()
                .and_then(|t| read_value(&mut r, t, 0))
                .ok_or_else(|| err(format!("metadata `{key}` is truncated or of unknown type")))?;
            meta.insert(key, value);
        }
        let mut infos = Vec::new();
        for i in 0..n_tensors {
            let bad = || err(format!("tensor directory entry {i} is truncated"));
            let name = read_string(&mut r).ok_or_else(bad)?;
            let n_dims = r.u32().ok_or_else(bad)?;
            if n_dims > 4 {
                return Err(err(format!("tensor entry {i} has {n_dims} dimensions")));
            }
            let dims = (0..n_dims)
                .map(|_| r.u64())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad)?;
            let kind = r.u32().ok_or_else(bad)?;
            let offset = r.u64().ok_or_else(bad)?;
            infos.push((
                String::from_utf8_lossy(&name).into_owned(),
                dims,
                kind,
                offset,
            ));
        }
        let align = match meta.get("general.alignment") {
            Some(Value::Uint(a)) if *a > 0 && a.is_power_of_two() => *a as usize,
            None => 32,
            Some(v) => return Err(err(format!("general.alignment {v:?} is invalid"))),
        };
        let base = r.pos.div_ceil(align) * align;
        let mut tensors = HashMap::new();
        for (name, dims, kind, offset) in infos {
            let elem = match kind {
                GGML_F32 => 4,
                GGML_F16 | GGML_BF16 => 2,
                other => {
                    return Err(err(format!(
                        "tensor `{name}` has GGML type {other}; only F32, F16 and BF16 are supported"
                    )));
                }
            };
            let count = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let end = count
                .and_then(|c| c.checked_mul(elem))
                .and_then(|b| b.checked_add(offset))
                .and_then(|b| b.checked_add(base as u64));
            if end.is_none_or(|e| e > map.len() as u64) {
                return Err(err(format!(
                    "tensor `{name}` lies past the end (truncated file?)"
                )));
            }
            let start = base + offset as usize;
            tensors.insert(name, Info { dims, kind, start });
        }
        let config = read_config(&meta, &tensors).map_err(err)?;
        Ok(Self {
            path: path.to_owned(),
            map,
            config,
            meta,
            tensors,
        })
    }

    /// The tokenizer embedded in the metadata (SentencePiece `▁` pieces read as spaces).
    pub fn tokenizer(&self) -> crate::Result<Tokenizer> {
        let err = |reason: String| data_error(&self.path, reason);
        let Some(Value::Array(tokens)) = self.meta.get("tokenizer.ggml.tokens") else {
            return Err(err("no tokenizer.ggml.tokens array".into()));
        };
        let pieces = tokens
            .iter()
            .map(|t| match t {
                Value::Str(s) => Ok(String::from_utf8_lossy(s)
                    .replace('\u{2581}', " ")
                    .into_bytes()),
                _ => Err(err("tokenizer.ggml.tokens holds a non-string".into())),
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let scores = match self.meta.get("tokenizer.ggml.scores") {
            Some(Value::Array(s)) => s
                .iter()
                .map(|v| as_f64(v).map(|x| x as f32))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err("tokenizer.ggml.scores holds a non-number".into()))?,
            _ => return Err(err("no tokenizer.ggml.scores array".into())),
        };
        Tokenizer::new(pieces, scores).map_err(err)
    }
}

impl Checkpoint for Gguf {
    fn config(&self) -> &Config {
        &self.config
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensor(&self, t: Tensor) -> crate::Result<Option<Vec<f32>>> {
        let name = tensor_name(t);
        let Some(info) = self.tensors.get(&name) else {
            return match t {
                Tensor::Classifier => Ok(None),
                _ => Err(data_error(
                    &self.path,
                    format!("tensor `{name}` is missing"),
                )),
            };
        };
        let (rows, cols) = t.shape(&self.config);
        let expected: Vec<u64> = if rows == 1 {
            vec![cols as u64]
        } else {
            vec![cols as u64, rows as u64]
        };
        if info.dims != expected {
            return Err(Error::Data {
                path: self.path.clone(),
                reason: format!(
                    "tensor `{name}` has dims {:?}, expected {expected:?}",
                    info.dims
                ),
            });
        }
        let n = rows * cols;
        let bytes = |elem: usize| &self.map[info.start..info.start + n * elem];
        let values = match info.kind {
            GGML_F32 => f32_from_le(bytes(4)),
            GGML_F16 => f16_from_le(bytes(2)),
            _ => bf16_from_le(bytes(2)),
        };
        Ok(Some(finite(&self.path, t, values)?))
    }
}

/// The GGUF name of a tensor in the llama.cpp LLaMA layout.
fn tensor_name(t: Tensor) -> String {
    let blk = |l: usize, s: &str| format!("blk.{l}.{s}.weight");
    match t {
        Tensor::Embedding => "token_embd.weight".into(),
        Tensor::AttnNorm(l) => blk(l, "attn_norm"),
        Tensor::Q(l) => blk(l, "attn_q"),
        Tensor::K(l) => blk(l, "attn_k"),
        Tensor::V(l) => blk(l, "attn_v"),
        Tensor::O(l) => blk(l, "attn_output"),
        Tensor::FfnNorm(l) => blk(l, "ffn_norm"),
        Tensor::Gate(l) => blk(l, "ffn_gate"),
        Tensor::Down(l) => blk(l, "ffn_down"),
        Tensor::Up(l) => blk(l, "ffn_up"),
        Tensor::FinalNorm => "output_norm.weight".into(),
        Tensor::Classifier => "output.weight".into(),
    }
}

/// The model shape from `{arch}.*` metadata; the vocabulary from the tokenizer or embedding.
fn read_config(
    meta: &HashMap<String, Value>,
    tensors: &HashMap<String, Info>,
) -> Result<Config, String> {
    let arch = match meta.get("general.architecture") {
        Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => return Err("no general.architecture".into()),
    };
    if arch != "llama" {
        return Err(format!(
            "architecture `{arch}` is not supported (only llama)"
        ));
    }
    let num = |key: &str| meta.get(&format!("llama.{key}")).and_then(as_f64);
    let size = |key: &str| {
        num(key)
            .filter(|v| *v >= 1.0 && v.fract() == 0.0)
            .map(|v| v as usize)
            .ok_or_else(|| format!("llama.{key} is missing or not a positive integer"))
    };
    let dim = size("embedding_length")?;
    let heads = size("attention.head_count")?;
    let vocab = match tensors.get("token_embd.weight") {
        Some(info) if info.dims.len() == 2 => info.dims[1] as usize,
        _ => return Err("token_embd.weight is missing or not a matrix".into()),
    };
    let config = Config {
        dim,
        hidden: size("feed_forward_length")?,
        layers: size("block_count")?,
        heads,
        kv_heads: size("attention.head_count_kv").unwrap_or(heads),
        head_dim: size("attention.key_length").unwrap_or(dim / heads),
        vocab,
        max_seq: size("context_length")?,
        norm_eps: num("attention.layer_norm_rms_epsilon").unwrap_or(1e-5) as f32,
        rope_theta: num("rope.freq_base").unwrap_or(10_000.0),
        llama3_scaling: None,
    };
    config.check()?;
    Ok(config)
}

/// A numeric metadata value as f64.
fn as_f64(v: &Value) -> Option<f64> {
    match *v {
        Value::Uint(x) => Some(x as f64),
        Value::Int(x) => Some(x as f64),
        Value::Float(x) => Some(x),
        _ => None,
    }
}

/// A GGUF string: u64 length then bytes.
fn read_string(r: &mut Reader) -> Option<Vec<u8>> {
    let n = usize::try_from(r.u64()?).ok()?;
    r.take(n).map(<[u8]>::to_vec)
}

/// One metadata value of GGUF type `t`; nested arrays are limited in depth.
fn read_value(r: &mut Reader, t: u32, depth: u32) -> Option<Value> {
    let le = |b: &[u8]| {
        let mut a = [0u8; 8];
        a[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(a)
    };
    let sign = |v: u64, bits: u32| ((v << (64 - bits)) as i64) >> (64 - bits);
    Some(match t {
        0 | 2 | 4 | 10 => {
            let n = [1, 0, 2, 0, 4, 0, 0, 0, 0, 0, 8][t as usize];
            Value::Uint(le(r.take(n)?))
        }
        1 | 3 | 5 | 11 => {
            let n = [0, 1, 0, 2, 0, 4, 0, 0, 0, 0, 0, 8][t as usize];
            Value::Int(sign(le(r.take(n)?), 8 * n as u32))
        }
        6 => Value::Float(f32::from_bits(r.u32()?) as f64),
        12 => Value::Float(f64::from_bits(r.u64()?)),
        7 => {
            r.take(1)?;
            Value::Bool
        }
        8 => Value::Str(read_string(r)?),
        9 if depth < 4 => {
            let et = r.u32()?;
            let n = usize::try_from(r.u64()?).ok()?;
            // Every element takes at least one byte, so a length beyond the file is corrupt.
            if n > r.bytes.len() - r.pos {
                return None;
            }
            Value::Array(
                (0..n)
                    .map(|_| read_value(r, et, depth + 1))
                    .collect::<Option<_>>()?,
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::llama2c::Llama2c;
    use crate::model::testdata::{STORIES_BIN, STORIES_GGUF, STORIES_TOK};

    #[test]
    fn gguf_and_llama2c_hold_identical_weights_and_tokenizers() {
        let a = Llama2c::open(Path::new(STORIES_BIN)).unwrap();
        let b = Gguf::open(Path::new(STORIES_GGUF)).unwrap();
        let (ca, cb) = (a.config(), b.config());
        assert_eq!(
            (
                ca.dim,
                ca.hidden,
                ca.layers,
                ca.heads,
                ca.kv_heads,
                ca.vocab
            ),
            (
                cb.dim,
                cb.hidden,
                cb.layers,
                cb.heads,
                cb.kv_heads,
                cb.vocab
            )
        );
        let mut all = vec![Tensor::Embedding, Tensor::FinalNorm];
        for l in 0..ca.layers {
            all.extend(Tensor::of_layer(l));
        }
        for t in all {
            assert_eq!(a.tensor(t).unwrap(), b.tensor(t).unwrap(), "{t:?}");
        }
        assert_eq!(a.tensor(Tensor::Classifier).unwrap(), None);
        assert_eq!(
            b.tensor(Tensor::Classifier).unwrap(),
            a.tensor(Tensor::Embedding).unwrap()
        );
        let ta = Tokenizer::from_llama2c(Path::new(STORIES_TOK)).unwrap();
        let tb = b.tokenizer().unwrap();
        let text = "Once upon a time, Tom saw a dogâ€™s ball.";
        assert_eq!(ta.encode(text), tb.encode(text));
    }

    #[test]
    fn truncated_or_corrupt_files_are_data_errors() {
        let bytes = std::fs::read(STORIES_GGUF).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("header", bytes[..10].to_vec()),
            ("metadata", bytes[..5000].to_vec()),
            ("data", bytes[..bytes.len() - 100].to_vec()),
            ("magic", [b"GGUX", &bytes[4..]].concat()),
        ];
        for (name, data) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            match Gguf::open(&path) {
                Err(Error::Data { path: p, reason }) => {
                    assert_eq!(p, path);
                    assert!(!reason.is_empty());
                }
                other => panic!("{name}: expected a data error, got {:?}", other.err()),
            }
        }
    }

    #[test]
    fn unsupported_tensor_types_are_named() {
        let mut bytes = std::fs::read(STORIES_GGUF).unwrap();
        // The type field of the first tensor entry follows its name and two dims.
        let name = b"token_embd.weight";
        let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 4 + 16;
        bytes[at..at + 4].copy_from_slice(&12u32.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q4k.gguf");
        std::fs::write(&path, bytes).unwrap();
        let err = Gguf::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("token_embd.weight") && err.contains("type 12"),
            "{err}"
        );
    }
}
