//! TSP placement at the granularity of the hardware: 320-byte vectors at MEM-slice addresses.
//!
//! Mapping (as Groq's deployments do): tensor parallelism of degree `tp` inside a group of chips
//! (Megatron split: q, k, v, gate and up by output rows; o and down by input columns; norms
//! replicated; KV cache split by KV heads), and the model pipelined across groups in layer order,
//! with the token embedding first and the classifier last, split by vocabulary rows as needed.
//! Every shard is striped over all MEM slices of its chip so it streams at full MEM bandwidth:
//! a shard of `b` bytes takes `ceil(ceil(b / 320) / slices)` addresses in every slice. The
//! runtime reserve (instructions, activations, staging) takes whole addresses too; if the batch's
//! activations per chip exceed it, they take its place.

use crate::arch::{TspChip, TspSystem, Unit};
use crate::mapping::{Placement, UnitLoad, verdict};
use crate::quant::Format;
use crate::workload::footprint::activation_bytes;
use crate::workload::{TensorClass, Workload};

/// Shard storage on one chip.
struct Chip<'a> {
    chip: &'a TspChip,
}

impl Chip<'_> {
    /// Addresses per slice taken by a shard of `bytes`.
    fn addresses(&self, bytes: u64) -> u64 {
        bytes
            .div_ceil(self.chip.vector_bytes)
            .div_ceil(self.chip.slices())
    }

    /// Bytes of `addresses` in every slice.
    fn bytes(&self, addresses: u64) -> u64 {
        addresses * self.chip.slices() * self.chip.vector_bytes
    }
}

/// What one chip of a pipeline stage holds, in addresses per slice.
#[derive(Clone, Copy, Default)]
struct Cost {
    weights: u64,
    kv: u64,
}

impl Cost {
    fn total(self) -> u64 {
        self.weights + self.kv
    }

    fn add(self, o: Cost) -> Cost {
        Cost {
            weights: self.weights + o.weights,
            kv: self.kv + o.kv,
        }
    }
}

/// What a pipeline stage holds, in execution order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// Piece `piece` of `pieces` of the token embedding, split by vocabulary rows.
    Embedding { piece: u64, pieces: u64 },
    /// Decoder layer number (from 0).
    Layer(u64),
    /// The final RMSNorm.
    FinalNorm,
    /// Piece `piece` of `pieces` of the classifier (the embedding when tied).
    Classifier { piece: u64, pieces: u64 },
}

/// The mapping at one tensor-parallel degree.
pub struct Mapping {
    /// Tensor-parallel degree: chips per pipeline stage.
    pub tp: u64,
    stages: Vec<Cost>,
    layers_per_stage: Vec<u64>,
    /// What each stage holds, in order.
    pub items: Vec<Vec<Item>>,
    buffer_addresses: u64,
}

/// Per-chip cost of one decoder layer at tensor-parallel degree `tp`.
fn layer_cost(c: &Chip, w: &Workload, tp: u64) -> Cost {
    let m = &w.model;
    let mut cost = Cost::default();
    for t in m.layer_tensors() {
        let format = w.quant.format(t.class);
        let shard = match t.class {
            TensorClass::AttnO | TensorClass::FfnDown => {
                format.packed_bytes(t.rows, t.cols.div_ceil(tp))
            }
            TensorClass::Norm => format.packed_bytes(t.rows, t.cols),
            _ => format.packed_bytes(t.rows.div_ceil(tp), t.cols),
        };
        cost.weights += t.count * c.addresses(shard);
    }
    let kv_heads = m.kv_heads.div_ceil(tp);
    let kv_shard =
        kv_heads * m.head_dim * w.scenario.context * w.scenario.batch * w.scenario.kv_cache.bytes();
    cost.kv = 2 * c.addresses(kv_shard);
    cost
}

/// Per-chip costs of a vocabulary-sized matrix split by rows over `tp` chips and as few
/// pipeline stages as needed; `None` if even one row per chip does not fit.
fn vocab_pieces(
    c: &Chip,
    format: Format,
    vocab: u64,
    hidden: u64,
    tp: u64,
    cap: u64,
) -> Option<Vec<Cost>> {
    let cost = |pieces: u64| c.addresses(format.packed_bytes(vocab.div_ceil(tp * pieces), hidden));
    let mut pieces = 1;
    while cost(pieces) > cap {
        if tp * pieces >= vocab {
            return None;
        }
        pieces += 1;
    }
    let weights = cost(pieces);
    Some(vec![Cost { weights, kv: 0 }; pieces as usize])
}

/// Pipeline the model over groups of `tp` chips; `None` if a layer does not fit one group.
fn map(c: &Chip, w: &Workload, tp: u64) -> Option<Mapping> {
    let m = &w.model;
    let chip = c.chip;
    let buffer_bytes = chip
        .runtime_reserve_bytes
        .max(activation_bytes(w).div_ceil(tp));
    let buffer_addresses = c.addresses(buffer_bytes);
    let cap = chip.mem.addresses_per_slice.checked_sub(buffer_addresses)?;
    let layer = layer_cost(c, w, tp);
    if layer.total() > cap {
        return None;
    }
    let embedding = vocab_pieces(
        c,
        w.quant.format(TensorClass::Embedding),
        m.vocab,
        m.hidden,
        tp,
        cap,
    )?;
    let final_norm = Cost {
        weights: c.addresses(w.quant.format(TensorClass::Norm).packed_bytes(1, m.hidden)),
        kv: 0,
    };
    let classifier = if m.tied_embedding {
        // The classifier reads the embedding's pieces where they are.
        Vec::new()
    } else {
        vocab_pieces(
            c,
            w.quant.format(TensorClass::Classifier),
            m.vocab,
            m.hidden,
            tp,
            cap,
        )?
    };
    let (ne, nc) = (embedding.len() as u64, classifier.len() as u64);
    let items = embedding
        .iter()
        .enumerate()
        .map(|(i, &cost)| {
            let piece = i as u64;
            (cost, Item::Embedding { piece, pieces: ne })
        })
        .chain((0..m.layers).map(|l| (layer, Item::Layer(l))))
        .chain(std::iter::once((final_norm, Item::FinalNorm)))
        .chain(classifier.iter().enumerate().map(|(i, &cost)| {
            let piece = i as u64;
            (cost, Item::Classifier { piece, pieces: nc })
        }));
    let mut stages: Vec<Cost> = Vec::new();
    let mut layers_per_stage: Vec<u64> = Vec::new();
    let mut held: Vec<Vec<Item>> = Vec::new();
    for (cost, item) in items {
        let layers = u64::from(matches!(item, Item::Layer(_)));
        match stages.last_mut() {
            Some(s) if s.total() + cost.total() <= cap => {
                *s = s.add(cost);
                *layers_per_stage.last_mut()? += layers;
                held.last_mut()?.push(item);
            }
            _ => {
                if cost.total() > cap {
                    return None;
                }
                stages.push(cost);
                layers_per_stage.push(layers);
                held.push(vec![item]);
            }
        }
    }
    Some(Mapping {
        tp,
        stages,
        layers_per_stage,
        items: held,
        buffer_addresses,
    })
}

/// Tensor-parallel degrees: powers of two up to one node, then whole nodes.
fn degrees(m: &TspSystem) -> impl Iterator<Item = u64> + '_ {
    let node = m.system.chips_per_node;
    (0..)
        .map(|i| 1u64 << i)
        .take_while(move |&tp| tp <= node)
        .chain((2..=64).map(move |n| n * node))
        .take_while(|&tp| tp <= m.system.max_chips)
}

/// The mapping on the fewest chips: the tensor-parallel degree and what each stage holds.
pub fn mapping(m: &TspSystem, w: &Workload) -> Option<Mapping> {
    let c = Chip { chip: &m.chip };
    degrees(m)
        .filter_map(|tp| map(&c, w, tp))
        .min_by_key(|mp| (mp.stages.len() as u64 * mp.tp, mp.tp))
}

/// Every mapping of `w`, one per tensor-parallel degree that holds it (within a node and across
/// nodes).
pub fn mappings<'a>(m: &'a TspSystem, w: &'a Workload) -> impl Iterator<Item = Mapping> + 'a {
    let c = Chip { chip: &m.chip };
    degrees(m).filter_map(move |tp| map(&c, w, tp))
}

impl Mapping {
    /// Chips the mapping uses.
    pub fn chips(&self) -> u64 {
        self.tp * self.items.len() as u64
    }

    /// Most layers any stage holds.
    pub fn max_layers_per_stage(&self) -> u64 {
        self.layers_per_stage.iter().max().copied().unwrap_or(0)
    }

    /// The mapping in words.
    pub fn describe(&self) -> String {
        let max_layers = self.layers_per_stage.iter().max().copied().unwrap_or(0);
        format!(
            "tensor parallel {} x {} pipeline stages on {} chips, up to {max_layers} layers per stage",
            self.tp,
            self.items.len(),
            self.chips()
        )
    }
}

#[cfg(test)]
impl Mapping {
    /// A hand-made mapping of `items` per stage at degree `tp`.
    pub fn by_hand(tp: u64, items: Vec<Vec<Item>>) -> Self {
        Mapping {
            tp,
            stages: vec![Cost::default(); items.len()],
            layers_per_stage: items
                .iter()
                .map(|s| s.iter().filter(|i| matches!(i, Item::Layer(_))).count() as u64)
                .collect(),
            items,
            buffer_addresses: 0,
        }
    }
}

/// Place `w` on `units` chips, or on as few as hold it.
pub fn place(m: &TspSystem, w: &Workload, units: Option<u64>) -> Placement {
    let c = Chip { chip: &m.chip };
    let node = m.system.chips_per_node;
    let best = mapping(m, w);
    let usable = c.bytes(m.chip.mem.addresses_per_slice) - m.chip.runtime_reserve_bytes;
    let Some(mp) = best else {
        let p = Placement {
            unit: Unit::Chip,
            units_needed: None,
            units_given: None,
            fits: false,
            usable_bytes_per_unit: usable,
            split: format!(
                "no mapping: one decoder layer exceeds {} chips",
                m.system.max_chips
            ),
            units: Vec::new(),
            bytes_short: 0,
        };
        return verdict(p, units, Some(m.system.max_chips), 0);
    };
    let loads: Vec<UnitLoad> = mp
        .stages
        .iter()
        .flat_map(|s| {
            let load = UnitLoad {
                weight_bytes: c.bytes(s.weights),
                kv_cache_bytes: c.bytes(s.kv),
                buffer_bytes: c.bytes(mp.buffer_addresses),
                granules_used: s.total() + mp.buffer_addresses,
                granules_total: m.chip.mem.addresses_per_slice,
            };
            (0..mp.tp).map(move |_| load.clone())
        })
        .collect();
    let needed = loads.len() as u64;
    let stored: u64 = loads
        .iter()
        .map(|l| l.weight_bytes + l.kv_cache_bytes)
        .sum();
    let max_layers = mp.layers_per_stage.iter().max().copied().unwrap_or(0);
    let where_tp = if mp.tp <= node {
        "within a node"
    } else {
        "across nodes"
    };
    let p = Placement {
        unit: Unit::Chip,
        units_needed: Some(needed),
        units_given: None,
        fits: true,
        usable_bytes_per_unit: usable,
        split: format!(
            "tensor parallel {} ({where_tp}) x {} pipeline stages, up to {max_layers} layers per stage; \
             shards striped over {} MEM slices in {}-byte vectors",
            mp.tp,
            mp.stages.len(),
            m.chip.slices(),
            m.chip.vector_bytes
        ),
        units: loads,
        bytes_short: 0,
    };
    verdict(p, units, Some(m.system.max_chips), stored)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::arch::Machine;

    /// The shipped TSP system (shared with the machine-model tests).
    pub(in crate::machines::tsp) fn tsp() -> TspSystem {
        let archs = crate::arch::presets().unwrap();
        match archs
            .into_iter()
            .find(|(_, a)| a.name == "groq-tsp")
            .unwrap()
            .1
            .machine
        {
            Machine::GroqTsp(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn shards_take_whole_vectors_striped_over_every_slice() {
        let m = tsp();
        let c = Chip { chip: &m.chip };
        assert_eq!(c.addresses(1), 1);
        assert_eq!(c.addresses(88 * 320), 1);
        assert_eq!(c.addresses(88 * 320 + 1), 2);
        assert_eq!(c.bytes(1), 88 * 320);
    }

    #[test]
    fn fewer_bits_never_need_more_chips() {
        let m = tsp();
        let (_, w) = crate::workload::presets()
            .unwrap()
            .into_iter()
            .find(|(_, w)| w.name == "llama2-70b")
            .unwrap();
        let chips = |f: Format| {
            let mut w = w.clone();
            w.quant = w.quant.with_matrices_as(f);
            place(&m, &w, None).units_needed.unwrap()
        };
        let q35 = chips(Format::Q35);
        assert!(q35 <= chips(Format::Q35Byte));
        assert!(chips(Format::Q35Byte) <= chips(Format::Int8));
        assert!(chips(Format::Int8) <= chips(Format::F16));
        // 30.2 GB of weights cannot fit in fewer chips than weights / usable SRAM.
        assert!(q35 as f64 >= 30.2e9 / (212.0 * 1048576.0));
    }
}
