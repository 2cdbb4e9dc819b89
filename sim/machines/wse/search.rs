//! The WSE mapping search: how far weight tiles and KV slices may fill a PE.
//!
//! The densest spread (whole PEs) needs the fewest wafers, and runs each layer's matrices on the
//! fewest PEs, one matrix after another: most of the wafers given stay idle. Smaller tiles and
//! KV slices spread a layer over more PEs, so each does less work, at the price of longer
//! multicasts and reductions. The candidates are a ladder of tile and slice sizes; those that
//! fit the wafers given are ranked by a lower bound on their decode step (the per-PE work of
//! each phase of a layer, which run one after another) and simulated at the fast fidelity in
//! that order until the next bound cannot beat the best step found (branch and bound: the best
//! over every candidate, so more wafers, which only add candidates, never give a slower step).

use super::datapath::Datapath;
use super::overlay;
use super::place::{self, Room, Spread};
use crate::arch::WseSystem;
use crate::mapping::Pins;
use crate::workload::{TensorClass, Workload};

/// Fractions of a PE's data bytes a tile may take: whole, half, a third, ...
const TILE_DIVISORS: [u64; 10] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32];
/// Tokens of one KV head per PE, besides as many as fit.
const KV_TOKENS: [u64; 7] = [64, 32, 16, 8, 4, 2, 1];
/// A spread that fits the wafers given, with a lower bound on its decode step.
#[derive(Clone, Copy, Debug)]
pub struct Ranked {
    pub spread: Spread,
    /// Each layer's matrices overlaid on one grid ([`overlay`]) rather than in regions of
    /// their own.
    pub overlaid: bool,
    pub bound: StepBound,
}

/// A lower bound on a decode step, part by part: the layers one after another, then the
/// classifier. Per part, so that a simulation can be abandoned part way once what it has
/// measured plus what the parts left take at least cannot beat the best step found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepBound {
    pub layers: u64,
    /// Each layer [cycles].
    pub layer: u64,
    /// The classifier [cycles].
    pub classifier: u64,
}

impl StepBound {
    /// The whole step [cycles].
    pub fn cycles(&self) -> u64 {
        self.rest(0)
    }

    /// Parts `part..` (layers `0..layers` then the classifier) [cycles].
    pub fn rest(&self, part: usize) -> u64 {
        let layers = self.layers.saturating_sub(part as u64);
        let classifier = if part as u64 <= self.layers {
            self.classifier
        } else {
            0
        };
        layers * self.layer + classifier
    }
}

/// The spreads the search weighs for `w` on `wafers` wafers: pinned values alone where pinned,
/// those that fit (by the fit verdict's count), smallest bound first.
pub fn candidates(m: &WseSystem, w: &Workload, wafers: u64, pins: &Pins) -> Vec<Ranked> {
    let cap = m.wafer.pe_data_bytes();
    let tiles: Vec<u64> = match pins.tile_bytes {
        Some(b) => vec![b],
        None => TILE_DIVISORS.iter().map(|d| cap / d).collect(),
    };
    let slices: Vec<u64> = match pins.kv_tokens_per_pe {
        Some(n) => vec![n],
        None => std::iter::once(u64::MAX).chain(KV_TOKENS).collect(),
    };
    let spreads = tiles.iter().flat_map(|&tile_bytes| {
        slices.iter().map(move |&kv_tokens| Spread {
            tile_bytes,
            kv_tokens,
        })
    });
    let mut ranked: Vec<Ranked> = Vec::new();
    for spread in spreads {
        let families = pins.overlaid.map_or([true, true], |o| [!o, o]);
        if families[0]
            && place::place_spread(m, w, Some(wafers), spread).fits
            && let Some(bound) = bound(m, w, spread)
        {
            ranked.push(Ranked {
                spread,
                overlaid: false,
                bound,
            });
        }
        if let (true, Some(bound)) = (families[1], overlaid_bound(m, w, wafers, spread)) {
            ranked.push(Ranked {
                spread,
                overlaid: true,
                bound,
            });
        }
    }
    // Ties go to the denser spread (listed first): fewer PEs for the same time.
    ranked.sort_by_key(|r| r.bound.cycles());
    ranked
}

/// Cycles a decode step with `spread` takes at least: per layer, the phases run one after
/// another (Q, K and V side by side, attention, O, gate and up, down), each GEMV at least
/// [`gemv_bound`], attention at least a K PE's scores over its tokens for every query head of
/// its group; the classifier alike.
fn bound(m: &WseSystem, w: &Workload, spread: Spread) -> Option<StepBound> {
    let model = &w.model;
    let room = Room::new(m, w.scenario.batch.max(1), spread);
    let gemv = |class, rows, cols, fused| gemv_bound(m, w, room, (class, rows, cols, fused));
    let (h, f) = (model.hidden, model.ffn);
    let qkv = gemv(TensorClass::AttnQ, model.q_dim(), h, 1)?
        .max(gemv(TensorClass::AttnK, model.kv_dim(), h, 1)?)
        .max(gemv(TensorClass::AttnV, model.kv_dim(), h, 1)?);
    let o = gemv(TensorClass::AttnO, h, model.q_dim(), 1)?;
    let up = gemv(TensorClass::FfnUp, f, h, 2)?.max(gemv(TensorClass::FfnGate, f, h, 2)?);
    let down = gemv(TensorClass::FfnDown, h, f, 1)?;
    let attention = attention(m, w, spread)?;
    Some(StepBound {
        layers: model.layers,
        layer: qkv + o + up + down + attention,
        classifier: gemv(TensorClass::Classifier, model.vocab, h, 1)?,
    })
}

/// Cycles a GEMV of `class` (`rows` x `cols`, `fused` matrices side by side) with tiles cut for
/// `room` takes at least: its busiest PE's multiply-adds ([`after_multicast`]).
fn gemv_bound(
    m: &WseSystem,
    w: &Workload,
    room: Room,
    (class, rows, cols, fused): (TensorClass, u64, u64, u64),
) -> Option<u64> {
    let format = w.quant.format(class);
    let t = place::tiles(format, rows, cols, room.of(class))?;
    let lanes = Datapath::new(&m.wafer.pe).axpy_lanes(format);
    let work = (t.tile_rows * t.tile_cols * room.batch).div_ceil(lanes);
    Some(after_multicast(m, work, fused * t.out_blocks))
}

/// A GEMV's `work` on its PE after its row multicast has reached the last of its `stops`: one
/// hop per stop but the first (the stops are distinct PEs).
fn after_multicast(m: &WseSystem, work: u64, stops: u64) -> u64 {
    work + stops.saturating_sub(1) * m.wafer.router.hop_cycles
}

/// Cycles a K PE takes at least to score its tokens for every query head of its group, every
/// sequence, plus one hop per PE of the longest KV line.
fn attention(m: &WseSystem, w: &Workload, spread: Spread) -> Option<u64> {
    let model = &w.model;
    let batch = w.scenario.batch.max(1);
    let dp = Datapath::new(&m.wafer.pe);
    let tokens = place::kv_tokens_per_pe(m, w, spread.kv_tokens)?.min(w.scenario.context);
    let line = w.scenario.context.div_ceil(tokens);
    let group = model.heads / model.kv_heads.max(1);
    Some(batch * group * (tokens * model.head_dim).div_ceil(dp.dot_lanes()) + 2 * line)
}

/// The same bound with each layer's matrices overlaid ([`overlay`]) in bands as the layout
/// cuts them: the fewest rows whose grid fits beside the KV PEs ([`overlay::in_band`]). Every
/// grid PE works on each matrix in turn, so Q, K and V together last at least the sum of one
/// PE's three tiles; each GEMV also waits for its multicast's last stop, as in [`bound`].
/// `None` when no band of a wafer holds a layer, or the layers need more bands than `wafers`
/// wafers have.
fn overlaid_bound(m: &WseSystem, w: &Workload, wafers: u64, spread: Spread) -> Option<StepBound> {
    let model = &w.model;
    let batch = w.scenario.batch.max(1);
    let dp = Datapath::new(&m.wafer.pe);
    let room = Room::new(m, batch, spread);
    let parts = overlay::parts(w);
    let tokens = place::kv_tokens_per_pe(m, w, spread.kv_tokens)?;
    let kv_pes = overlay::kv_pes(w, tokens);
    let (rows, cols) = (m.wafer.fabric_rows, m.wafer.fabric_cols);
    let least = overlay::least_rows(&parts, room, cols, kv_pes).max(1);
    let grid = (least..=rows).find_map(|n| overlay::in_band(&parts, room, (n, cols), kv_pes))?;
    if wafers * (rows / grid.rows) < model.layers {
        return None;
    }
    let work = grid.work(&parts, batch, |f| dp.axpy_lanes(f));
    let reach = |(work, stops): (u64, u64)| after_multicast(m, work, stops);
    let qkv = (work[0].0 + work[1].0 + work[2].0).max(reach(work[0]));
    let gemvs: u64 = qkv + work[3..].iter().map(|&p| reach(p)).sum::<u64>();
    let classifier = (TensorClass::Classifier, model.vocab, model.hidden, 1);
    Some(StepBound {
        layers: model.layers,
        layer: gemvs + attention(m, w, spread)?,
        classifier: gemv_bound(m, w, room, classifier)?,
    })
}
