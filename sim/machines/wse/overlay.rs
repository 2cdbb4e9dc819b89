//! Overlaid layers: every matrix of a layer cut over one grid of PEs, each PE holding a tile of
//! each (as WaferLLM lays a layer out), so that every GEMV of the layer runs on all of the
//! grid's PEs instead of a region of its own.
//!
//! A grid is `rows` x `cols` PEs: `cols` vertical runs side by side, `rows` deep. Each matrix
//! cuts its input into at most `rows` blocks (input block `a` multicast along grid row `a`) and
//! its output into at most `cols` blocks, one per run (partial sums reduced down the run), so
//! a matrix uses the grid's first runs and rows; gate and up, fused, alternate runs. A PE holds
//! the code once, then per matrix its tile, its tail buffers (partial sums, the tail's operand)
//! and two input chunks, every sequence of the batch each.

use super::place::{Room, Tiles};
use crate::quant::Format;
use crate::workload::{TensorClass, Workload};

/// One matrix of a layer: its shapes (`rows x cols`, several when fused side by side).
#[derive(Clone, Debug)]
pub struct Part {
    pub name: &'static str,
    pub class: TensorClass,
    pub format: Format,
    pub shapes: Vec<(u64, u64)>,
}

/// A layer's matrices in model order: Q, K, V, O, gate and up fused, down.
pub fn parts(w: &Workload) -> Vec<Part> {
    let m = &w.model;
    let (h, q, kv, ffn) = (m.hidden, m.q_dim(), m.kv_dim(), m.ffn);
    let part = |name, class, shapes: &[(u64, u64)]| Part {
        name,
        class,
        format: w.quant.format(class),
        shapes: shapes.to_vec(),
    };
    vec![
        part("attn_q", TensorClass::AttnQ, &[(q, h)]),
        part("attn_k", TensorClass::AttnK, &[(kv, h)]),
        part("attn_v", TensorClass::AttnV, &[(kv, h)]),
        part("attn_o", TensorClass::AttnO, &[(h, q)]),
        part("ffn_gate+up", TensorClass::FfnGate, &[(ffn, h), (ffn, h)]),
        part("ffn_down", TensorClass::FfnDown, &[(h, ffn)]),
    ]
}

/// How one matrix is cut on a grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cut {
    pub tiles: Tiles,
    /// Input elements per multicast chunk.
    pub chunk: u64,
    /// What it takes of each of its PEs' SRAM: tile, tail buffers, chunks [bytes].
    pub bytes: u64,
}

/// A layer's matrices cut for a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub rows: u64,
    /// Per part of [`parts`], in order.
    pub cuts: Vec<Cut>,
}

impl Grid {
    /// Per matrix: one PE's multiply-add work on its tile for `batch` sequences on
    /// `lanes(format)` lanes, and the runs its output takes (the stops of its row multicasts).
    pub fn work(
        &self,
        parts: &[Part],
        batch: u64,
        lanes: impl Fn(Format) -> u64,
    ) -> Vec<(u64, u64)> {
        (self.cuts.iter().zip(parts))
            .map(|(c, p)| {
                let t = &c.tiles;
                let work = (t.tile_rows * t.tile_cols * batch).div_ceil(lanes(p.format));
                (work, t.out_blocks * p.shapes.len() as u64)
            })
            .collect()
    }
}

/// Cut `parts` for a grid of `rows` x `cols` PEs with `room` on each; `None` when a PE cannot
/// hold its tiles (at most `room.cap` together) and their buffers (at least one input element
/// per sequence in each of two chunk buffers per matrix).
pub fn cut(parts: &[Part], room: Room, rows: u64, cols: u64) -> Option<Grid> {
    if rows == 0 || cols == 0 {
        return None;
    }
    let mut shapes = Vec::with_capacity(parts.len());
    for p in parts {
        let fused = p.shapes.len() as u64;
        let runs = cols / fused;
        let (out_rows, inputs) = p
            .shapes
            .iter()
            .fold((0, 0), |(r, c), &(a, b)| (r.max(a), c.max(b)));
        if runs == 0 {
            return None;
        }
        let tile_rows = out_rows.div_ceil(runs);
        let tile_cols = inputs.div_ceil(rows);
        let tiles = Tiles {
            tile_rows,
            tile_cols,
            out_blocks: out_rows.div_ceil(tile_rows),
            in_blocks: inputs.div_ceil(tile_cols),
        };
        let tile = p.format.packed_bytes(tile_rows, tile_cols);
        shapes.push((tiles, tile, room.of(p.class).tail_bytes(tile_rows)));
    }
    let tiles: u64 = shapes.iter().map(|s| s.1).sum();
    let tails: u64 = shapes.iter().map(|s| s.2).sum();
    // Two chunk buffers of f16 input elements per matrix, every sequence.
    let per_element = 4 * room.batch * parts.len() as u64;
    let left = room.beside_code.checked_sub(tiles + tails)?;
    if tiles > room.cap || left < per_element {
        return None;
    }
    let cuts = shapes
        .into_iter()
        .map(|(tiles, tile, tail)| {
            let chunk = tiles.tile_cols.min(left / per_element);
            Cut {
                tiles,
                chunk,
                bytes: tile + tail + 4 * room.batch * chunk,
            }
        })
        .collect();
    Some(Grid { rows, cuts })
}

/// The grid a band of `rows` rows and `cols` columns holds beside `kv_pes` KV-cache PEs: as
/// wide as the band leaves after the KV cache's columns (the band's PEs are the layer's either
/// way, and wider grids have smaller tiles: less work per PE).
pub fn in_band(parts: &[Part], room: Room, (rows, cols): (u64, u64), kv_pes: u64) -> Option<Grid> {
    let kv_cols = kv_pes.div_ceil(rows.max(1));
    cut(parts, room, rows, cols.checked_sub(kv_cols)?)
}

/// PEs of one layer's KV cache for `w` with `tokens` per PE.
pub fn kv_pes(w: &Workload, tokens: u64) -> u64 {
    let batch = w.scenario.batch.max(1);
    2 * w.model.kv_heads * (w.scenario.context * batch).div_ceil(tokens.max(1))
}

/// The fewest rows a layer's grid and KV cache need in bands of `cols` columns: at least what
/// its weights at `room.cap` bytes per PE and its KV PEs fill.
pub fn least_rows(parts: &[Part], room: Room, cols: u64, kv_pes: u64) -> u64 {
    let bytes: u64 = parts
        .iter()
        .flat_map(|p| p.shapes.iter().map(|&(r, c)| p.format.packed_bytes(r, c)))
        .sum();
    (bytes.div_ceil(room.cap.max(1)) + kv_pes).div_ceil(cols.max(1))
}
