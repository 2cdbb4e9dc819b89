//! The shape of a LLaMA model and its position encoding: everything the decoder needs besides
//! the weights.

/// Model hyper-parameters, as read from a checkpoint header or metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Residual stream width.
    pub dim: usize,
    /// SwiGLU inner width.
    pub hidden: usize,
    /// Number of decoder layers.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Longest sequence the model was trained for (the KV cache never grows beyond it).
    pub max_seq: usize,
    /// RMSNorm epsilon.
    pub norm_eps: f32,
    /// RoPE base.
    pub rope_theta: f64,
    /// LLaMA 3.1 long-context frequency scaling, if the model uses it.
    pub llama3_scaling: Option<Llama3Scaling>,
}

/// LLaMA 3.1 RoPE scaling: long wavelengths are slowed by `factor`, short ones kept, and the
/// band between is interpolated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_context: f64,
}

impl Config {
    /// The shape a workload file declares (its longest context as the sequence limit).
    pub fn from_shape(m: &crate::workload::ModelShape) -> Self {
        Config {
            dim: m.hidden as usize,
            hidden: m.ffn as usize,
            layers: m.layers as usize,
            heads: m.heads as usize,
            kv_heads: m.kv_heads as usize,
            head_dim: m.head_dim as usize,
            vocab: m.vocab as usize,
            max_seq: m.max_context as usize,
            norm_eps: m.norm_eps as f32,
            rope_theta: m.rope.theta,
            llama3_scaling: m.rope.llama3_scaling.as_ref().map(|s| Llama3Scaling {
                factor: s.factor,
                low_freq_factor: s.low_freq_factor,
                high_freq_factor: s.high_freq_factor,
                original_context: s.original_context as f64,
            }),
        }
    }

    /// Width of the key and value projections.
    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// Width of the query projection (equal to `dim` in every LLaMA, but not assumed).
    pub fn q_dim(&self) -> usize {
        self.heads * self.head_dim
    }

    /// The reason the shape cannot describe a LLaMA, if any.
    pub fn check(&self) -> Result<(), String> {
        let sizes = [
            ("dim", self.dim),
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("heads", self.heads),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("vocab", self.vocab),
            ("max_seq", self.max_seq),
        ];
        for (name, v) in sizes {
            if v == 0 || v > 1 << 24 {
                return Err(format!("{name} = {v} is not a plausible size"));
            }
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!(
                "heads ({}) is not a multiple of kv_heads ({})",
                self.heads, self.kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(format!(
                "head_dim {} is odd; RoPE needs pairs",
                self.head_dim
            ));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return Err(format!("norm_eps {} must be > 0", self.norm_eps));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return Err(format!("rope theta {} must be > 1", self.rope_theta));
        }
        if let Some(s) = self.llama3_scaling {
            let ok = s.factor >= 1.0
                && s.low_freq_factor > 0.0
                && s.high_freq_factor > s.low_freq_factor
                && s.original_context > 0.0;
            if !ok {
                return Err(format!("llama3 RoPE scaling {s:?} is inconsistent"));
            }
        }
        Ok(())
    }

    /// RoPE angular frequency of each rotated pair of a head, scaling included.
    pub fn rope_frequencies(&self) -> Vec<f64> {
        let half = self.head_dim / 2;
        (0..half)
            .map(|i| {
                let freq = self
                    .rope_theta
                    .powf(-((2 * i) as f64) / self.head_dim as f64);
                match self.llama3_scaling {
                    Some(s) => s.scale(freq),
                    None => freq,
                }
            })
            .collect()
    }
}

impl Llama3Scaling {
    /// The scaled frequency, following Meta's LLaMA 3.1 reference rule.
    pub fn scale(&self, freq: f64) -> f64 {
        let wavelen = 2.0 * std::f64::consts::PI / freq;
        let low_freq_wavelen = self.original_context / self.low_freq_factor;
        let high_freq_wavelen = self.original_context / self.high_freq_factor;
        if wavelen < high_freq_wavelen {
            freq
        } else if wavelen > low_freq_wavelen {
            freq / self.factor
        } else {
            let smooth = (self.original_context / wavelen - self.low_freq_factor)
                / (self.high_freq_factor - self.low_freq_factor);
            (1.0 - smooth) * freq / self.factor + smooth * freq
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_scaling_keeps_high_and_slows_low_frequencies() {
        let s = Llama3Scaling {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_context: 8192.0,
        };
        assert_eq!(s.scale(1.0), 1.0);
        let slow = 2.0 * std::f64::consts::PI / 100_000.0;
        assert!((s.scale(slow) - slow / 8.0).abs() < 1e-15);
        let mid = 2.0 * std::f64::consts::PI / 4096.0;
        let scaled = s.scale(mid);
        assert!(scaled < mid && scaled > mid / 8.0);
    }
}
