//! Hugging Face LLaMA checkpoints: one `.safetensors` file (`model.layers.N.self_attn.q_proj.weight`,
//! ...) with its `config.json` beside it. HF permutes the rows of q/k within each head for its
//! rotate-half RoPE; they are permuted back on load so the decoder keeps one RoPE convention.
//! F32, F16 and BF16 tensors are supported. Multi-file (sharded) checkpoints are not.

use super::tensor::{Checkpoint, Tensor, bf16_from_le, f16_from_le, f32_from_le, finite};
use super::{Config, Llama3Scaling, data_error, map_file};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A memory-mapped safetensors file plus its config.
pub struct HfSafetensors {
    path: PathBuf,
    map: Mmap,
    config: Config,
}

/// The fields of a HF `config.json` the decoder needs.
#[derive(Deserialize)]
struct HfConfig {
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    vocab_size: usize,
    max_position_embeddings: usize,
    rms_norm_eps: f32,
    #[serde(default = "default_theta")]
    rope_theta: f64,
    rope_scaling: Option<HfRopeScaling>,
}

/// HF `rope_scaling`; only `rope_type: "llama3"` is understood.
#[derive(Deserialize)]
struct HfRopeScaling {
    rope_type: Option<String>,
    factor: f64,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
    original_max_position_embeddings: Option<f64>,
}

fn default_theta() -> f64 {
    10_000.0
}

impl HfSafetensors {
    /// Map `path` and read `config.json` from the same directory.
    pub fn open(path: &Path) -> crate::Result<Self> {
        let config_path = path.with_file_name("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|source| crate::Error::Read {
            path: config_path.clone(),
            source,
        })?;
        let hf: HfConfig = serde_json::from_str(&text)
            .map_err(|e| data_error(&config_path, format!("not a LLaMA config.json: {e}")))?;
        let config = to_config(hf).map_err(|r| data_error(&config_path, r))?;
        let map = map_file(path)?;
        SafeTensors::deserialize(&map)
            .map_err(|e| data_error(path, format!("corrupt safetensors: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            map,
            config,
        })
    }
}

/// Translate and check a HF config.
fn to_config(hf: HfConfig) -> Result<Config, String> {
    let heads = hf.num_attention_heads.max(1);
    let llama3_scaling = match hf.rope_scaling {
        None => None,
        Some(s) if s.rope_type.as_deref() == Some("llama3") => Some(Llama3Scaling {
            factor: s.factor,
            low_freq_factor: s
                .low_freq_factor
                .ok_or("rope_scaling.low_freq_factor missing")?,
            high_freq_factor: s
                .high_freq_factor
                .ok_or("rope_scaling.high_freq_factor missing")?,
            original_context: s
                .original_max_position_embeddings
                .ok_or("rope_scaling.original_max_position_embeddings missing")?,
        }),
        Some(s) => {
            return Err(format!(
                "rope_scaling type {:?} is not supported",
                s.rope_type
            ));
        }
    };
    let config = Config {
        dim: hf.hidden_size,
        hidden: hf.intermediate_size,
        layers: hf.num_hidden_layers,
        heads,
        kv_heads: hf.num_key_value_heads.unwrap_or(heads),
        head_dim: hf.head_dim.unwrap_or(hf.hidden_size / heads),
        vocab: hf.vocab_size,
        max_seq: hf.max_position_embeddings,
        norm_eps: hf.rms_norm_eps,
        rope_theta: hf.rope_theta,
        llama3_scaling,
    };
    config.check()?;
    Ok(config)
}

/// The HF name of a tensor.
pub fn tensor_name(t: Tensor) -> String {
    let layer = |l: usize, s: &str| format!("model.layers.{l}.{s}.weight");
    match t {
        Tensor::Embedding => "model.embed_tokens.weight".into(),
        Tensor::AttnNorm(l) => layer(l, "input_layernorm"),
        Tensor::Q(l) => layer(l, "self_attn.q_proj"),
        Tensor::K(l) => layer(l, "self_attn.k_proj"),
        Tensor::V(l) => layer(l, "self_attn.v_proj"),
        Tensor::O(l) => layer(l, "self_attn.o_proj"),
        Tensor::FfnNorm(l) => layer(l, "post_attention_layernorm"),
        Tensor::Gate(l) => layer(l, "mlp.gate_proj"),
        Tensor::Down(l) => layer(l, "mlp.down_proj"),
        Tensor::Up(l) => layer(l, "mlp.up_proj"),
        Tensor::FinalNorm => "model.norm.weight".into(),
        Tensor::Classifier => "lm_head.weight".into(),
    }
}

/// Reorder the rows of each head between HF's rotate-half layout and interleaved pairs.
/// `to_hf` false maps HF row `j·hd/2 + i` back to interleaved row `2i + j`.
pub fn permute_heads(w: &[f32], cols: usize, head_dim: usize, to_hf: bool) -> Vec<f32> {
    let half = head_dim / 2;
    let mut out = vec![0.0; w.len()];
    for (src, dst) in w
        .chunks_exact(head_dim * cols)
        .zip(out.chunks_exact_mut(head_dim * cols))
    {
        for i in 0..half {
            for j in 0..2 {
                let (hf, inter) = (j * half + i, 2 * i + j);
                let (from, to) = if to_hf { (inter, hf) } else { (hf, inter) };
                dst[to * cols..(to + 1) * cols]
                    .copy_from_slice(&src[from * cols..(from + 1) * cols]);
            }
        }
    }
    out
}

impl Checkpoint for HfSafetensors {
    fn config(&self) -> &Config {
        &self.config
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensor(&self, t: Tensor) -> crate::Result<Option<Vec<f32>>> {
        let err = |reason: String| data_error(&self.path, reason);
        let st = SafeTensors::deserialize(&self.map)
            .map_err(|e| err(format!("corrupt safetensors: {e}")))?;
        let name = tensor_name(t);
        let view = match st.tensor(&name) {
            Ok(v) => v,
            Err(_) if t == Tensor::Classifier => return Ok(None),
            Err(_) => return Err(err(format!("tensor `{name}` is missing"))),
        };
        let (rows, cols) = t.shape(&self.config);
        let expected = if rows == 1 {
            vec![cols]
        } else {
            vec![rows, cols]
        };
        if view.shape() != expected {
            return Err(err(format!(
                "tensor `{name}` has shape {:?}, expected {expected:?}",
                view.shape()
            )));
        }
        let w = match view.dtype() {
            Dtype::F32 => f32_from_le(view.data()),
            Dtype::F16 => f16_from_le(view.data()),
            Dtype::BF16 => bf16_from_le(view.data()),
            other => {
                return Err(err(format!(
                    "tensor `{name}` has dtype {other:?}; only F32, F16 and BF16 are supported"
                )));
            }
        };
        let w = finite(&self.path, t, w)?;
        Ok(Some(match t {
            Tensor::Q(_) | Tensor::K(_) => permute_heads(&w, cols, self.config.head_dim, false),
            _ => w,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decoder::{KvCache, Model};
    use crate::model::llama2c::Llama2c;
    use crate::model::testdata::STORIES_BIN;
    use crate::quant::Format;
    use safetensors::tensor::TensorView;

    /// Write stories260K in the HF layout (q/k permuted to rotate-half order) with a config.json.
    fn write_hf(dir: &Path, dtype_f16: bool) -> PathBuf {
        let src = Llama2c::open(Path::new(STORIES_BIN)).unwrap();
        let c = src.config().clone();
        let mut all = vec![Tensor::Embedding, Tensor::FinalNorm];
        for l in 0..c.layers {
            all.extend(Tensor::of_layer(l));
        }
        let mut blobs = Vec::new();
        for t in all {
            let (rows, cols) = t.shape(&c);
            let mut w = src.tensor(t).unwrap().unwrap();
            if matches!(t, Tensor::Q(_) | Tensor::K(_)) {
                w = permute_heads(&w, cols, c.head_dim, true);
            }
            let shape = if rows == 1 {
                vec![cols]
            } else {
                vec![rows, cols]
            };
            let bytes: Vec<u8> = if dtype_f16 {
                w.iter()
                    .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                    .collect()
            } else {
                w.iter().flat_map(|x| x.to_le_bytes()).collect()
            };
            blobs.push((tensor_name(t), shape, bytes));
        }
        let dtype = if dtype_f16 { Dtype::F16 } else { Dtype::F32 };
        let views = blobs
            .iter()
            .map(|(n, s, b)| (n.clone(), TensorView::new(dtype, s.clone(), b).unwrap()));
        let path = dir.join("model.safetensors");
        std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
        let config = serde_json::json!({
            "hidden_size": c.dim, "intermediate_size": c.hidden, "num_hidden_layers": c.layers,
            "num_attention_heads": c.heads, "num_key_value_heads": c.kv_heads,
            "vocab_size": c.vocab, "max_position_embeddings": c.max_seq,
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true
        });
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        path
    }

    fn logits(ck: &dyn Checkpoint) -> Vec<f32> {
        let m = Model::load(ck, &|_| Format::F32).unwrap();
        m.forward(&[1, 400, 30, 100, 7, 260], &mut KvCache::new(&m), None)
    }

    #[test]
    fn hf_round_trip_gives_identical_logits() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_hf(dir.path(), false);
        let hf = HfSafetensors::open(&path).unwrap();
        let orig = Llama2c::open(Path::new(STORIES_BIN)).unwrap();
        assert_eq!(logits(&hf), logits(&orig));
    }

    #[test]
    fn f16_tensors_load_and_wrong_shapes_or_types_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_hf(dir.path(), true);
        let hf = HfSafetensors::open(&path).unwrap();
        let orig = Llama2c::open(Path::new(STORIES_BIN)).unwrap();
        let (a, b) = (logits(&hf), logits(&orig));
        let max = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(max > 0.0 && max < 0.05, "{max}");

        let bad = |t: Tensor, dtype: Dtype, shape: Vec<usize>| {
            let name = tensor_name(t);
            let bytes = vec![0u8; shape.iter().product::<usize>() * dtype.bitsize() / 8];
            let view = TensorView::new(dtype, shape, &bytes).unwrap();
            let p = dir.path().join("model.safetensors");
            std::fs::write(&p, safetensors::serialize([(name, view)], None).unwrap()).unwrap();
            let ck = HfSafetensors::open(&p).unwrap();
            match ck.tensor(t) {
                Err(crate::Error::Data { reason, .. }) => reason,
                other => panic!("expected a data error, got {:?}", other.err()),
            }
        };
        let r = bad(Tensor::Q(0), Dtype::F32, vec![64, 63]);
        assert!(r.contains("shape [64, 63]"), "{r}");
        let r = bad(Tensor::AttnNorm(0), Dtype::F32, vec![63]);
        assert!(r.contains("shape [63]"), "{r}");
        let r = bad(Tensor::AttnNorm(0), Dtype::I8, vec![64]);
        assert!(r.contains("dtype I8"), "{r}");

        std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
        assert!(matches!(
            HfSafetensors::open(&path),
            Err(crate::Error::Data { .. })
        ));
    }
}
