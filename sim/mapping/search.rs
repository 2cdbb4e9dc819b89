//! The mapping search every family runs: what it optimizes, what the user pinned, the
//! parameters of the mapping it chose and the candidates it weighed (`--explain`).

use serde::{Deserialize, Serialize};

/// What the mapping search maximizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Decode tokens per second seen by each user.
    #[default]
    PerUser,
    /// Decode tokens per second over the whole batch.
    Aggregate,
    /// Aggregate tokens per second per unit in use (chip, wafer, GPU): leaves units idle when
    /// they add less than their share.
    PerUnit,
}

impl Objective {
    /// The score of a mapping that decodes `batch` sequences in `step_s` seconds on `units`
    /// units: larger is better.
    pub fn score(self, step_s: f64, batch: u64, units: u64) -> f64 {
        match self {
            Objective::PerUser => 1.0 / step_s,
            Objective::Aggregate => batch as f64 / step_s,
            Objective::PerUnit => batch as f64 / step_s / units.max(1) as f64,
        }
    }

    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Objective::PerUser => "per-user tokens/s",
            Objective::Aggregate => "aggregate tokens/s",
            Objective::PerUnit => "aggregate tokens/s per unit",
        }
    }
}

/// Mapping parameters the user fixed; the search only varies the others. A pin a family does
/// not have is refused by that family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pins {
    /// Tensor-parallel degree (TSP chips per stage, GPUs per stage).
    pub tp: Option<u64>,
    /// WSE: data bytes a weight tile may take on one PE.
    pub tile_bytes: Option<u64>,
    /// WSE: tokens of one KV head one PE may hold.
    pub kv_tokens_per_pe: Option<u64>,
    /// WSE: each layer's matrices overlaid on one grid of PEs (`true`) or in regions of their
    /// own (`false`).
    pub overlaid: Option<bool>,
}

impl Pins {
    /// Pins that hold the mapping `params` describes: its tensor-parallel degree, or its tile
    /// and KV slice sizes and family: what a variant of a run keeps when the search is not to
    /// move (the sensitivity analysis with the mapping held).
    pub fn holding(params: &MappingParams) -> Pins {
        match params {
            MappingParams::Tsp { tp, .. } | MappingParams::Gpu { tp, .. } => Pins {
                tp: Some(*tp),
                ..Pins::default()
            },
            MappingParams::Wse {
                tile_bytes,
                kv_tokens_per_pe,
                overlaid,
                ..
            } => Pins {
                tile_bytes: Some(*tile_bytes),
                kv_tokens_per_pe: Some(*kv_tokens_per_pe),
                overlaid: Some(*overlaid),
                ..Pins::default()
            },
        }
    }

    /// Whether nothing is pinned.
    pub fn is_empty(&self) -> bool {
        *self == Pins::default()
    }

    /// Refuse a pin of 0 or one the family of `unit` does not have, as (flag, reason): the
    /// CLI and sweep specs name their own field.
    pub fn check(&self, unit: crate::arch::Unit) -> Result<(), (&'static str, String)> {
        use crate::arch::Unit;
        let pins = [
            ("--tp", self.tp, unit != Unit::Wafer),
            ("--tile-bytes", self.tile_bytes, unit == Unit::Wafer),
            (
                "--kv-tokens-per-pe",
                self.kv_tokens_per_pe,
                unit == Unit::Wafer,
            ),
        ];
        if self.overlaid.is_some() && unit != Unit::Wafer {
            let reason = format!("a {} has no such mapping parameter", unit.name());
            return Err(("--overlaid", reason));
        }
        for (flag, value, applies) in pins {
            match value {
                Some(_) if !applies => {
                    return Err((
                        flag,
                        format!("a {} has no such mapping parameter", unit.name()),
                    ));
                }
                Some(0) => return Err((flag, "must be at least 1".to_owned())),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The mapping a family chose, as structured parameters (`mapping_params` in the run record).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum MappingParams {
    /// Groq TSP: tensor parallelism within and across nodes, pipeline stages over the rest.
    Tsp {
        tp: u64,
        stages: u64,
        chips_used: u64,
        max_layers_per_stage: u64,
        allreduce: String,
    },
    /// Cerebras WSE: how far tiles and KV slices fill a PE, and how the layers sit.
    Wse {
        wafers_used: u64,
        tile_bytes: u64,
        kv_tokens_per_pe: u64,
        pes_per_layer: u64,
        arrangement: String,
        /// Each layer's matrices overlaid on one grid (else in regions of their own).
        overlaid: bool,
    },
    /// GPU: tensor parallelism over the GPUs in use.
    Gpu { tp: u64, gpus_used: u64 },
}

/// One mapping the search weighed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// The mapping, in words.
    pub mapping: String,
    /// Its decode tokens per second per user, where it was simulated.
    pub decode_tokens_per_s: Option<f64>,
    /// Its score under the objective, where it was simulated.
    pub score: Option<f64>,
    /// Why it was not simulated or failed, or that it was chosen.
    pub note: String,
}

impl Candidate {
    /// A mapping the branch and bound did not simulate: its bound cannot beat the best found.
    pub fn pruned(mapping: String, bound_cycles: u64) -> Candidate {
        let note = format!("pruned: its bound ({bound_cycles} cycles) cannot beat the best found");
        Candidate::unsimulated(mapping, note)
    }

    /// A mapping whose simulation the branch and bound stopped at part `part` of `parts`:
    /// what it had measured plus a bound on the parts left (`at_least` cycles) cannot beat
    /// the best found.
    pub fn abandoned(mapping: String, (part, parts): (usize, usize), at_least: u64) -> Candidate {
        let note = format!(
            "abandoned after {part} of {parts} parts: at least {at_least} cycles cannot beat the \
             best found"
        );
        Candidate::unsimulated(mapping, note)
    }

    /// A mapping that was pruned or failed, and why.
    pub fn unsimulated(mapping: String, note: String) -> Candidate {
        Candidate {
            mapping,
            decode_tokens_per_s: None,
            score: None,
            note,
        }
    }
}
