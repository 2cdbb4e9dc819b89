//! WSE placement at the granularity of the hardware: one 48 KB PE at a time.
//!
//! Mapping (weight-stationary, in the spirit of WaferLLM's MeshGEMV): each weight matrix is cut
//! into a grid of tiles, one tile per PE, each tile packed in the workload's format with its own
//! per-row metadata (so metadata is replicated across the tile columns of a row). The tile shape
//! is searched to use the fewest PEs whose tile fits what a PE has left after code and buffers.
//! The KV cache is spread over PEs holding whole (token, head) vectors of K or V. Layers are laid
//! out in order and wafers are filled in turn; a layer never straddles two wafers, the embedding
//! and classifier may.

use crate::arch::{Unit, WseSystem};
use crate::mapping::{Placement, UnitLoad, verdict};
use crate::quant::Format;
use crate::workload::{TensorClass, Workload};
use serde::Serialize;

/// The WSE family's mapping knobs: how much of a PE one weight tile and one KV slice may take.
/// The densest spread (whole PEs) needs the fewest wafers; smaller tiles and slices spread a
/// layer over more PEs, so each does less work, when the wafers given have room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Spread {
    /// Data bytes a weight tile may take (at most what the code and buffer reserves leave).
    pub tile_bytes: u64,
    /// Tokens of one KV head's keys (or values) one PE may hold.
    pub kv_tokens: u64,
}

impl Spread {
    /// Every PE filled: the fewest PEs, the fit verdict's mapping.
    pub fn densest(m: &WseSystem) -> Spread {
        Spread {
            tile_bytes: m.wafer.pe_data_bytes(),
            kv_tokens: u64::MAX,
        }
    }
}

/// PEs used by one part of the model and the bytes they hold.
#[derive(Clone, Copy, Default)]
struct Region {
    pes: u64,
    weight_bytes: u64,
    kv_bytes: u64,
}

impl Region {
    fn add(self, o: Region) -> Region {
        Region {
            pes: self.pes + o.pes,
            weight_bytes: self.weight_bytes + o.weight_bytes,
            kv_bytes: self.kv_bytes + o.kv_bytes,
        }
    }
}

/// How one matrix is cut: tiles of `tile_rows` x `tile_cols`, a grid of `out_blocks` (tile rows)
/// by `in_blocks` (tile columns), one tile per PE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiles {
    pub tile_rows: u64,
    pub tile_cols: u64,
    pub out_blocks: u64,
    pub in_blocks: u64,
}

/// What a PE has for a weight tile. The tile gets at most `cap` bytes (what the code and buffer
/// reserves leave), and the tile with the buffers its GEMV needs at batch `batch` (its partial
/// sums, the second operand of its tail when `operand`, and at least one input element per
/// sequence, f16, as the layout checks each PE) must fit `beside_code`: at large batches a tall
/// tile's buffers outgrow the estimated buffer reserve, and the fit verdict must count the
/// smaller tiles the wafer program then uses.
#[derive(Clone, Copy, Debug)]
pub struct Room {
    pub cap: u64,
    pub beside_code: u64,
    pub batch: u64,
    pub operand: bool,
}

impl Room {
    /// The room on a PE of `m` for a step of `batch` sequences, tiles taking at most
    /// `spread.tile_bytes`.
    pub fn new(m: &WseSystem, batch: u64, spread: Spread) -> Room {
        let pe = &m.wafer.pe;
        Room {
            cap: spread.tile_bytes.min(m.wafer.pe_data_bytes()),
            beside_code: pe.sram_bytes.saturating_sub(pe.code_reserve_bytes),
            batch,
            operand: false,
        }
    }

    /// The room for a matrix of `class`: its output PEs receive a second vector per sequence
    /// for their tail, the residual (attention output, FFN down) or the gate values (up; gate
    /// and up share tiles).
    pub fn of(self, class: TensorClass) -> Room {
        use TensorClass::{AttnO, FfnDown, FfnGate, FfnUp};
        Room {
            operand: matches!(class, AttnO | FfnDown | FfnGate | FfnUp),
            ..self
        }
    }

    /// Bytes of a PE's buffers beside a tile of `tile_rows` rows: partial sums and the tail's
    /// operand, f16, for every sequence.
    pub fn tail_bytes(&self, tile_rows: u64) -> u64 {
        2 * self.batch * tile_rows * (1 + u64::from(self.operand))
    }

    /// Bytes left for input chunks beside a tile of `tile_bytes` and `tile_rows` rows and its
    /// tail buffers; `None` when those alone do not fit.
    pub fn chunk_bytes(&self, tile_bytes: u64, tile_rows: u64) -> Option<u64> {
        (self.beside_code).checked_sub(tile_bytes + self.tail_bytes(tile_rows))
    }

    /// Whether a `tile_rows` x `tile_cols` tile in `format` fits, with its buffers and one
    /// input element (two chunk buffers, f16) per sequence.
    fn holds(&self, format: Format, tile_rows: u64, tile_cols: u64) -> bool {
        let tile = format.packed_bytes(tile_rows, tile_cols);
        tile <= self.cap && self.chunk_bytes(tile, tile_rows) >= Some(4 * self.batch)
    }
}

/// The tiling [`place`] uses for a `rows` x `cols` matrix in `format` on PEs with `room`, so
/// that the machine model runs exactly the mapping the fit verdict counted.
pub fn tiles(format: Format, rows: u64, cols: u64, room: Room) -> Option<Tiles> {
    search(format, rows, cols, room).map(|(t, _)| t)
}

/// Fewest PEs holding a `rows` x `cols` matrix in `format` on PEs with `room`, over tile grids
/// of `ceil(rows / tile_rows)` x `ceil(cols / tile_cols)`; `None` if not even a single weight
/// fits a PE.
fn matrix(format: Format, rows: u64, cols: u64, room: Room) -> Option<Region> {
    search(format, rows, cols, room).map(|(_, r)| r)
}

fn search(format: Format, rows: u64, cols: u64, room: Room) -> Option<(Tiles, Region)> {
    let fits = |tr: u64, tc: u64| room.holds(format, tr, tc);
    let mut best: Option<(Tiles, Region)> = None;
    // Every distinct tile width ceil(cols / pc), from whole rows down to one column.
    let mut tc = cols;
    loop {
        if fits(1, tc) {
            // Largest tile height that fits: bytes grow with height, so bisect.
            let (mut lo, mut hi) = (1, rows);
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                if fits(mid, tc) {
                    lo = mid
                } else {
                    hi = mid - 1
                }
            }
            let tiles = rows.div_ceil(lo) * cols.div_ceil(tc);
            if best.is_none_or(|(_, b)| tiles < b.pes) {
                let shape = Tiles {
                    tile_rows: lo,
                    tile_cols: tc,
                    out_blocks: rows.div_ceil(lo),
                    in_blocks: cols.div_ceil(tc),
                };
                let region = Region {
                    pes: tiles,
                    weight_bytes: tiles * format.packed_bytes(lo, tc),
                    kv_bytes: 0,
                };
                best = Some((shape, region));
            }
        }
        if tc == 1 {
            break;
        }
        // The next narrower width: pc = ceil(cols / (tc - 1)) columns of tiles.
        tc = cols.div_ceil(cols.div_ceil(tc - 1));
    }
    best
}

/// Tokens of one KV head's K (or V) vectors one PE holds, at most `limit`; `None` if not even
/// one fits. They fit the PE's data bytes, and, with the query (or partial output) of the head
/// being worked on and one f16 score per token beside them, the PE's SRAM after its code (the
/// layout's rule).
pub fn kv_tokens_per_pe(m: &WseSystem, w: &Workload, limit: u64) -> Option<u64> {
    let pe = &m.wafer.pe;
    let vector = w.model.head_dim * w.scenario.kv_cache.bytes();
    let beside = pe
        .sram_bytes
        .checked_sub(pe.code_reserve_bytes + 4 * w.model.head_dim)?;
    let fit = (m.wafer.pe_data_bytes() / vector).min(beside / (vector + 2));
    Some(fit.min(limit)).filter(|&n| n > 0)
}

/// PEs of one layer's KV cache: each PE holds whole head vectors of K or V for some tokens.
fn kv_cache(m: &WseSystem, w: &Workload, limit: u64) -> Option<Region> {
    let vector = w.model.head_dim * w.scenario.kv_cache.bytes();
    let per_pe = kv_tokens_per_pe(m, w, limit)?;
    let m = &w.model;
    let tokens = w.scenario.context * w.scenario.batch;
    let pes = 2 * m.kv_heads * tokens.div_ceil(per_pe);
    Some(Region {
        pes,
        weight_bytes: 0,
        kv_bytes: 2 * m.kv_heads * tokens * vector,
    })
}

/// Lay `r` into the wafers from the last one on, opening new wafers as they fill up.
fn spill(wafers: &mut Vec<Region>, r: Region, fabric: u64) {
    let mut left = r;
    while left.pes > 0 {
        let room = wafers.last().map_or(0, |cur| fabric - cur.pes);
        if room == 0 {
            wafers.push(Region::default());
            continue;
        }
        let take = left.pes.min(room);
        let share = |b: u64| (u128::from(b) * u128::from(take) / u128::from(left.pes)) as u64;
        let part = Region {
            pes: take,
            weight_bytes: share(left.weight_bytes),
            kv_bytes: share(left.kv_bytes),
        };
        if let Some(cur) = wafers.last_mut() {
            *cur = cur.add(part);
        }
        left = Region {
            pes: left.pes - take,
            weight_bytes: left.weight_bytes - part.weight_bytes,
            kv_bytes: left.kv_bytes - part.kv_bytes,
        };
    }
}

/// Place `w` on `units` wafers, or on as few as hold it, every PE filled.
pub fn place(m: &WseSystem, w: &Workload, units: Option<u64>) -> Placement {
    place_spread(m, w, units, Spread::densest(m))
}

/// Place `w` on `units` wafers, or on as few as hold it, with tiles and KV slices of `spread`.
pub fn place_spread(m: &WseSystem, w: &Workload, units: Option<u64>, spread: Spread) -> Placement {
    let wafer = &m.wafer;
    let cap = wafer.pe_data_bytes();
    let room = Room::new(m, w.scenario.batch, spread);
    let fabric = wafer.fabric_pes();
    let usable = fabric * cap;
    let model = &w.model;
    let region = |class: TensorClass, rows: u64, cols: u64| {
        matrix(w.quant.format(class), rows, cols, room.of(class))
    };
    let layer = model
        .layer_tensors()
        .iter()
        .try_fold(Region::default(), |acc, t| {
            let r = region(t.class, t.rows, t.cols)?;
            Some((0..t.count).fold(acc, |a, _| a.add(r)))
        })
        .and_then(|r| Some(r.add(kv_cache(m, w, spread.kv_tokens)?)));
    let embedding = region(TensorClass::Embedding, model.vocab, model.hidden);
    let final_norm = region(TensorClass::Norm, 1, model.hidden);
    let classifier = if model.tied_embedding {
        Some(Region::default())
    } else {
        region(TensorClass::Classifier, model.vocab, model.hidden)
    };
    let fail = |why: String| {
        let p = Placement {
            unit: Unit::Wafer,
            units_needed: None,
            units_given: None,
            fits: false,
            usable_bytes_per_unit: usable,
            split: why,
            units: Vec::new(),
            bytes_short: 0,
        };
        verdict(p, units, None, 0)
    };
    let (Some(layer), Some(kv), Some(embedding), Some(final_norm), Some(classifier)) = (
        layer,
        kv_cache(m, w, spread.kv_tokens),
        embedding,
        final_norm,
        classifier,
    ) else {
        return fail(format!(
            "no mapping: a single tile or KV vector exceeds the {cap} bytes a PE has for data"
        ));
    };
    if layer.pes > fabric {
        return fail(format!(
            "no mapping: one decoder layer needs {} PEs, a wafer has {fabric}",
            layer.pes
        ));
    }
    // Fill wafers in model order; only the vocabulary matrices may straddle wafers.
    let mut wafers = vec![Region::default()];
    spill(&mut wafers, embedding, fabric);
    for _ in 0..model.layers {
        match wafers.last_mut() {
            Some(cur) if cur.pes + layer.pes <= fabric => *cur = cur.add(layer),
            _ => wafers.push(layer),
        }
    }
    spill(&mut wafers, final_norm.add(classifier), fabric);
    let loads: Vec<UnitLoad> = wafers
        .iter()
        .map(|r| UnitLoad {
            weight_bytes: r.weight_bytes,
            kv_cache_bytes: r.kv_bytes,
            buffer_bytes: r.pes * wafer.pe.buffer_bytes,
            granules_used: r.pes,
            granules_total: fabric,
        })
        .collect();
    let needed = loads.len() as u64;
    let stored = wafers.iter().map(|r| r.weight_bytes + r.kv_bytes).sum();
    let layers_per_wafer = fabric / layer.pes;
    let p = Placement {
        unit: Unit::Wafer,
        units_needed: Some(needed),
        units_given: None,
        fits: true,
        usable_bytes_per_unit: usable,
        split: format!(
            "weight-stationary tiles, {} PEs per layer ({} weights + {} KV cache), up to {layers_per_wafer} layers per wafer \
             of {} x {} PEs with {cap} data bytes each",
            layer.pes,
            layer.pes - kv.pes,
            kv.pes,
            wafer.fabric_rows,
            wafer.fabric_cols,
        ),
        units: loads,
        bytes_short: 0,
    };
    verdict(p, units, None, stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Fewest PEs over every tile shape, by exhaustion.
    fn brute_force(format: Format, rows: u64, cols: u64, room: Room) -> Option<u64> {
        (1..=rows)
            .flat_map(|tr| (1..=cols).map(move |tc| (tr, tc)))
            .filter(|&(tr, tc)| {
                let tile = format.packed_bytes(tr, tc);
                let buffers = 2 * room.batch * tr * (1 + u64::from(room.operand)) + 4 * room.batch;
                tile <= room.cap && tile + buffers <= room.beside_code
            })
            .map(|(tr, tc)| rows.div_ceil(tr) * cols.div_ceil(tc))
            .min()
    }

    proptest! {
        #[test]
        fn tile_search_finds_the_fewest_pes(
            rows in 1u64..40,
            cols in 1u64..40,
            cap in 1u64..600,
            reserve in 0u64..200,
            batch in 0u64..4,
            operand: bool,
            format in proptest::sample::select(Format::ALL.to_vec()),
        ) {
            let room = Room { cap, beside_code: cap + reserve, batch, operand };
            let found = matrix(format, rows, cols, room);
            prop_assert_eq!(found.map(|r| r.pes), brute_force(format, rows, cols, room));
            if let Some(r) = found {
                prop_assert!(r.weight_bytes <= r.pes * cap);
            }
        }
    }

    #[test]
    fn kv_cache_pes_hold_whole_head_vectors() {
        let (_, w) = crate::workload::presets()
            .unwrap()
            .into_iter()
            .find(|(_, w)| w.name == "llama2-70b")
            .unwrap();
        // 38,912 data bytes hold 152 f16 head vectors of 128; 4,096 tokens need 27 PEs per
        // (K or V, KV head): 2 x 8 x 27 = 432 PEs per layer.
        let (_, wse3) = crate::arch::presets()
            .unwrap()
            .into_iter()
            .find(|(_, a)| a.name == "cerebras-wse3")
            .unwrap();
        let crate::arch::Machine::CerebrasWse(m) = wse3.machine else {
            panic!("cerebras-wse3 is a WSE")
        };
        assert_eq!(m.wafer.pe_data_bytes(), 38_912);
        assert_eq!(kv_cache(&m, &w, u64::MAX).unwrap().pes, 432);
    }
}
