//! Where each region of the model sits on the wafers.
//!
//! Regions come in model order along a [`Sweep`]: the embedding, then per layer the Q, K and V
//! matrices, the KV cache of each KV head, O, the gate and up matrices (their tile columns
//! interleaved, so each gate block sits next to the up block it multiplies), and down; then the
//! classifier. A matrix of `out_blocks` x `in_blocks` tiles (as [`super::place`] cut it) takes
//! one vertical run of `in_blocks` PEs per output block: partial sums are reduced down that run,
//! and input block `a` is multicast along row `a` of the runs. The KV cache of one head is a line
//! of PEs, K and V alternating. A layer never straddles two wafers; the embedding and the
//! classifier may. The final norm's gains are folded into the classifier's weights.
//!
//! Layers go into bands of rows, one layer per band, each laid out by a fresh sweep confined to
//! its band ([`Sweep::band`]), so every layer on a wafer is an exact translate of the one before
//! ([`Layer::offset_from`]) and the fast fidelity can reuse a layer's timing for the next. When
//! the bands need more wafers than given, the layers go into full-height strips of columns
//! instead ([`Sweep::strip`]: translates too, and a tall strip leaves little of its columns'
//! ends empty), and when those do not fit either, one sweep runs on through every layer (it
//! packs the ragged ends that bands and strips leave empty). See [`Arrangement`].
//!
//! Every PE's SRAM is checked: code, its tile or cache, and the buffers its tasks need. Input
//! blocks are streamed in chunks small enough for two to sit in a PE beside its partial sums;
//! a step's sequences share every message of a GEMV, so both buffers hold every sequence and
//! the chunks shrink with the batch.

use super::geometry::{Geometry, Pe, Sweep};
use super::overlay::{self, Part};
use super::place::{Room, Spread, Tiles, kv_tokens_per_pe, tiles};
use crate::arch::WseSystem;
use crate::quant::Format;
use crate::workload::{QuantPolicy, TensorClass, Workload};

/// A matrix on PEs: tile `(a, j)` (input block `a`, output block `j`) sits in a vertical run of
/// PEs. Runs hold one output block each (`a` down the run; partial sums reduce down it, inputs
/// multicast across runs), or, when a matrix has more input than output blocks, one input block
/// each (`j` down the run; inputs multicast down it, partial sums reduce across runs), so runs
/// stay short whichever way the tiles were cut.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub name: &'static str,
    pub format: Format,
    pub tiles: Tiles,
    /// Input length.
    pub cols: u64,
    /// Output elements of each output block, in run order (gate and up alternate when fused).
    pub outputs: Vec<(u64, u64)>,
    /// Top PE of each run, in sweep order.
    pub runs: Vec<Pe>,
    /// Runs hold input blocks rather than output blocks.
    pub transposed: bool,
    /// Input elements per multicast chunk.
    pub chunk: u64,
    /// SRAM in use on each of its PEs [bytes].
    pub pe_bytes: u64,
    /// Columns of the wafer, to step down a run.
    pub(super) cols_per_row: u32,
}

impl Matrix {
    /// Input elements of input block `a`.
    pub fn input(&self, a: u64) -> (u64, u64) {
        let lo = a * self.tiles.tile_cols;
        (lo, (lo + self.tiles.tile_cols).min(self.cols))
    }

    /// The PE of tile (input block `a`, output block `j`).
    pub fn pe(&self, a: u64, j: usize) -> Pe {
        let (run, down) = if self.transposed {
            (a as usize, j as u64)
        } else {
            (j, a)
        };
        Pe(self.runs[run].0 + down as u32 * self.cols_per_row)
    }

    /// PEs it occupies.
    pub fn pes(&self) -> u64 {
        self.outputs.len() as u64 * self.tiles.in_blocks
    }

    /// Every PE it occupies, with its SRAM in use.
    pub fn occupied(&self) -> impl Iterator<Item = (Pe, u64)> + '_ {
        (0..self.outputs.len()).flat_map(move |j| {
            (0..self.tiles.in_blocks).map(move |a| (self.pe(a, j), self.pe_bytes))
        })
    }

    /// The same matrix on PEs `offset` further on ([`Pe::translated`]).
    #[cfg(test)]
    pub fn translated(&self, offset: i64) -> Matrix {
        Matrix {
            runs: self.runs.iter().map(|p| p.translated(offset)).collect(),
            ..self.clone()
        }
    }

    /// Whether it is `earlier` on PEs `offset` further on (compared in place: layers are
    /// compared for every replay).
    fn translates(&self, earlier: &Matrix, offset: i64) -> bool {
        let Matrix {
            name,
            format,
            tiles,
            cols,
            outputs,
            runs,
            transposed,
            chunk,
            pe_bytes,
            cols_per_row,
        } = earlier;
        (
            self.name,
            self.format,
            &self.tiles,
            self.cols,
            &self.outputs,
        ) == (*name, *format, tiles, *cols, outputs)
            && (
                self.transposed,
                self.chunk,
                self.pe_bytes,
                self.cols_per_row,
            ) == (*transposed, *chunk, *pe_bytes, *cols_per_row)
            && same_translated(&self.runs, runs, offset, |&p| [p])
    }
}

/// Whether `now` is `earlier` with every PE (by `pes`) `offset` further on.
fn same_translated<T, const N: usize>(
    now: &[T],
    earlier: &[T],
    offset: i64,
    pes: impl Fn(&T) -> [Pe; N],
) -> bool {
    now.len() == earlier.len()
        && (now.iter().zip(earlier)).all(|(a, b)| pes(a) == pes(b).map(|p| p.translated(offset)))
}

/// The KV cache of one KV head: PE pairs (K, V), each holding `per_pe` tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct KvLine {
    pub pairs: Vec<(Pe, Pe)>,
    /// SRAM in use on each of its PEs [bytes].
    pub pe_bytes: u64,
}

/// One decoder layer's regions.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub q: Matrix,
    pub k: Matrix,
    pub v: Matrix,
    pub kv: Vec<KvLine>,
    pub o: Matrix,
    /// Gate and up, tile columns alternating gate, up.
    pub gate_up: Matrix,
    pub down: Matrix,
    /// PEs of the grid its matrices share, when they are overlaid ([`overlay`]).
    pub grid: Option<u64>,
}

impl Layer {
    /// The same layer on PEs `offset` further on ([`Pe::translated`]).
    #[cfg(test)]
    pub fn translated(&self, offset: i64) -> Layer {
        let kv = self
            .kv
            .iter()
            .map(|line| KvLine {
                pairs: (line.pairs.iter())
                    .map(|&(k, v)| (k.translated(offset), v.translated(offset)))
                    .collect(),
                pe_bytes: line.pe_bytes,
            })
            .collect();
        Layer {
            q: self.q.translated(offset),
            k: self.k.translated(offset),
            v: self.v.translated(offset),
            kv,
            o: self.o.translated(offset),
            gate_up: self.gate_up.translated(offset),
            down: self.down.translated(offset),
            grid: self.grid,
        }
    }

    /// How many PEs further on `self` lies than `earlier`, when it is an exact translate of it.
    pub fn offset_from(&self, earlier: &Layer) -> Option<i64> {
        let offset = self.q.runs.first()?.0 as i64 - earlier.q.runs.first()?.0 as i64;
        let matrices =
            (self.matrices().iter().zip(earlier.matrices())).all(|(m, e)| m.translates(e, offset));
        let kv = self.kv.len() == earlier.kv.len()
            && self.kv.iter().zip(&earlier.kv).all(|(l, e)| {
                l.pe_bytes == e.pe_bytes
                    && same_translated(&l.pairs, &e.pairs, offset, |&(k, v)| [k, v])
            });
        (matrices && kv && self.grid == earlier.grid).then_some(offset)
    }

    /// Its matrices, in model order.
    pub fn matrices(&self) -> [&Matrix; 6] {
        [
            &self.q,
            &self.k,
            &self.v,
            &self.o,
            &self.gate_up,
            &self.down,
        ]
    }

    /// Every PE it occupies, KV cache included, with its SRAM in use (a PE of an overlaid grid
    /// once per matrix, with that matrix's share).
    pub fn occupied(&self) -> impl Iterator<Item = (Pe, u64)> + '_ {
        let kv = self.kv.iter().flat_map(|line| {
            (line.pairs.iter()).flat_map(|&(k, v)| [(k, line.pe_bytes), (v, line.pe_bytes)])
        });
        self.matrices()
            .into_iter()
            .flat_map(Matrix::occupied)
            .chain(kv)
    }

    /// PEs it occupies, KV cache included.
    pub fn pes(&self) -> u64 {
        let kv: u64 = self.kv.iter().map(|k| 2 * k.pairs.len() as u64).sum();
        let matrices = self.matrices().iter().map(|m| m.pes()).sum::<u64>();
        self.grid.unwrap_or(matrices) + kv
    }
}

/// The whole mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub geometry: Geometry,
    pub embedding: Matrix,
    pub layers: Vec<Layer>,
    /// `None` when tied to the embedding.
    pub classifier: Option<Matrix>,
    /// Tokens per KV PE.
    pub kv_per_pe: u64,
    /// How far tiles and KV slices were allowed to fill a PE.
    pub spread: Spread,
    /// Wafers holding something: the ones [`Plan::geometry`] has.
    pub wafers_used: u32,
    /// How the layers sit.
    pub arrangement: Arrangement,
}

/// How the layers sit on the wafers, in the order the mapper tries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrangement {
    /// Each layer in a band of this many rows, bands one under another: layers are translates.
    Bands(u32),
    /// Each layer in a full-height strip of this many columns, strips side by side after the
    /// embedding's strip: layers are translates, and columns are filled to within a few
    /// percent, where bands leave ragged ends.
    Strips(u32),
    /// One sweep running on through every layer: packs tightest, layers are not translates.
    Continuous,
    /// Each layer in a band of this many rows, as [`Arrangement::Bands`], its matrices overlaid
    /// on one grid of PEs ([`overlay`]), its KV cache beside the grid: every GEMV of the layer
    /// runs on the whole grid.
    Overlaid(u32),
}

impl std::fmt::Display for Arrangement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arrangement::Bands(h) => write!(f, "layers in bands of {h} rows"),
            Arrangement::Strips(w) => write!(f, "layers in strips of {w} columns"),
            Arrangement::Continuous => write!(f, "layers along one continuous sweep"),
            Arrangement::Overlaid(h) => write!(
                f,
                "layers in bands of {h} rows, each layer's matrices overlaid on one grid"
            ),
        }
    }
}

/// Why a mapping cannot be built.
#[derive(Clone, Debug, PartialEq)]
pub enum Misfit {
    /// A PE's SRAM overflows.
    Sram {
        pe: (u32, u32, u32),
        what: String,
        needs: u64,
        has: u64,
    },
    /// The regions need more wafers than given.
    Wafers { needed: String, given: u32 },
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Misfit::Sram {
                pe: (w, r, c),
                what,
                needs,
                has,
            } => write!(
                f,
                "SRAM overflow: PE (row {r}, col {c}) of wafer {w} holding {what} needs {needs} bytes, has {has}: {} bytes short",
                needs - has
            ),
            Misfit::Wafers { needed, given } => {
                write!(f, "the wafer program needs {needed}; {given} given")
            }
        }
    }
}

/// The output elements of each output block of `tiles` over fused `shapes`, block by block,
/// the shapes' blocks side by side.
fn output_blocks(shapes: &[(u64, u64)], tiles: &Tiles) -> Vec<(u64, u64)> {
    let mut outputs = Vec::new();
    for b in 0..tiles.out_blocks {
        for &(rows, _) in shapes {
            let lo = b * tiles.tile_rows;
            outputs.push((lo, (lo + tiles.tile_rows).min(rows)));
        }
    }
    outputs
}

/// A sweep of `n` rows from row `at` (`bands`), or of `n` full-height columns from column `at`,
/// of `wafer`.
fn region(g: &Geometry, bands: bool, wafer: u32, at: u32, n: u32) -> Sweep {
    match bands {
        true => Sweep::band(g, wafer, at, n),
        false => Sweep::strip(g, wafer, at, n),
    }
}

struct Builder<'a> {
    m: &'a WseSystem,
    g: Geometry,
    sweep: Sweep,
    /// What a PE has for a weight tile.
    room: Room,
    /// The formats of the workload's tensors.
    quant: &'a QuantPolicy,
    /// Lay layers out overlaid ([`Arrangement::Overlaid`]).
    overlaid: bool,
}

impl Builder<'_> {
    /// The regions need more wafers than given: `needed`.
    fn too_many(&self, needed: String) -> Misfit {
        Misfit::Wafers {
            needed,
            given: self.g.wafers,
        }
    }

    fn check(&self, pe: Pe, what: impl FnOnce() -> String, needs: u64) -> Result<(), Misfit> {
        let has = self.m.wafer.pe.sram_bytes;
        if needs > has {
            return Err(Misfit::Sram {
                pe: self.g.coords(pe),
                what: what(),
                needs,
                has,
            });
        }
        Ok(())
    }

    /// A vertical run of `height` PEs; `None` when the current wafer is full.
    fn run(&mut self, height: u64) -> Option<Pe> {
        let (r, c) = self.sweep.column(height as u32)?;
        Some(self.g.pe(self.sweep.wafer(), r, c))
    }

    /// Next run, spilling to the next wafer when this one is full (regions that may straddle).
    fn run_spilling(&mut self, height: u64) -> Result<Pe, Misfit> {
        if let Some(pe) = self.run(height) {
            return Ok(pe);
        }
        let wafers = self.g.wafers;
        let full = || Misfit::Wafers {
            needed: format!("more than {wafers} wafer(s)"),
            given: wafers,
        };
        if self.sweep.wafer() + 1 >= self.g.wafers {
            return Err(full());
        }
        self.sweep.next_wafer();
        self.run(height).ok_or_else(full)
    }

    fn matrix(
        &mut self,
        name: &'static str,
        class: TensorClass,
        shapes: &[(u64, u64)],
        spill: bool,
    ) -> Result<Option<Matrix>, Misfit> {
        let (rows, cols) = shapes[0];
        let format = self.quant.format(class);
        let room = self.room.of(class);
        let Some(t) = tiles(format, rows, cols, room) else {
            return Err(Misfit::Sram {
                pe: (0, 0, 0),
                what: format!("one weight of {name}"),
                needs: format.packed_bytes(1, 1) + self.m.wafer.pe.code_reserve_bytes,
                has: self.m.wafer.pe.sram_bytes,
            });
        };
        let pe = &self.m.wafer.pe;
        let tile_bytes = format.packed_bytes(t.tile_rows, t.tile_cols);
        // Beside the tile: its partial sums, its tail's second operand (residual or gate
        // values, for the matrices whose tail has one) and two input chunks, f16, of every
        // sequence. Partial sums arriving from the PE above are added as each wavelet lands,
        // so they need no block of their own.
        let b = room.batch;
        let left = room.chunk_bytes(tile_bytes, t.tile_rows).unwrap_or(0);
        let chunk = t.tile_cols.min(left / (4 * b));
        let fixed = pe.code_reserve_bytes + tile_bytes + room.tail_bytes(t.tile_rows);
        let needs = fixed + 4 * b * chunk.max(1);
        let outputs = output_blocks(shapes, &t);
        let transposed = t.in_blocks > outputs.len() as u64;
        let (runs, height) = if transposed {
            (t.in_blocks, outputs.len() as u64)
        } else {
            (outputs.len() as u64, t.in_blocks)
        };
        let mut tops = Vec::new();
        for _ in 0..runs {
            let top = match (spill, self.run(height)) {
                (_, Some(pe)) => pe,
                (true, None) => self.run_spilling(height)?,
                (false, None) => return Ok(None),
            };
            if chunk == 0 {
                let what = || match b {
                    1 => format!("a {}x{} {name} tile", t.tile_rows, t.tile_cols),
                    _ => format!("a {}x{} {name} tile at batch {b}", t.tile_rows, t.tile_cols),
                };
                self.check(top, what, needs)?;
            }
            tops.push(top);
        }
        Ok(Some(Matrix {
            name,
            format,
            tiles: t,
            cols,
            outputs,
            runs: tops,
            transposed,
            chunk,
            pe_bytes: needs,
            cols_per_row: self.g.cols,
        }))
    }

    /// The embedding along the sweep, spilling over wafers when `spill`.
    fn embedding(&mut self, w: &Workload, spill: bool) -> Result<Option<Matrix>, Misfit> {
        let m = &w.model;
        self.matrix(
            "embedding",
            TensorClass::Embedding,
            &[(m.vocab, m.hidden)],
            spill,
        )
    }

    fn kv(&mut self, w: &Workload, per_pe: u64) -> Result<Option<Vec<KvLine>>, Misfit> {
        let m = &w.model;
        let tokens = w.scenario.context * w.scenario.batch;
        let pes = tokens.div_ceil(per_pe);
        let pe = &self.m.wafer.pe;
        let vector = m.head_dim * w.scenario.kv_cache.bytes();
        // Beside its vectors, a PE works on one query head at a time as the heads stream in:
        // that head's query (K) or partial output (V) and its incoming copy, f16, and the
        // head's scores over its tokens.
        let held = per_pe.min(tokens);
        let needs = pe.code_reserve_bytes + held * vector + 4 * m.head_dim + 2 * held;
        let mut lines = Vec::new();
        for _ in 0..m.kv_heads {
            let mut pairs = Vec::new();
            for _ in 0..pes {
                let (Some(k), Some(v)) = (self.run(1), self.run(1)) else {
                    return Ok(None);
                };
                self.check(k, || "a KV-cache slice".to_owned(), needs)?;
                pairs.push((k, v));
            }
            lines.push(KvLine {
                pairs,
                pe_bytes: needs,
            });
        }
        Ok(Some(lines))
    }

    fn layer(&mut self, w: &Workload, per_pe: u64) -> Result<Option<Layer>, Misfit> {
        if self.overlaid {
            return self.overlaid_layer(w, per_pe);
        }
        let m = &w.model;
        let (h, q, kv, ffn) = (m.hidden, m.q_dim(), m.kv_dim(), m.ffn);
        macro_rules! region {
            ($e:expr) => {
                match $e? {
                    Some(r) => r,
                    None => return Ok(None),
                }
            };
        }
        let q_m = region!(self.matrix("attn_q", TensorClass::AttnQ, &[(q, h)], false));
        let k_m = region!(self.matrix("attn_k", TensorClass::AttnK, &[(kv, h)], false));
        let v_m = region!(self.matrix("attn_v", TensorClass::AttnV, &[(kv, h)], false));
        let kv_lines = region!(self.kv(w, per_pe));
        let o_m = region!(self.matrix("attn_o", TensorClass::AttnO, &[(h, q)], false));
        let gu = region!(self.matrix(
            "ffn_gate+up",
            TensorClass::FfnGate,
            &[(ffn, h), (ffn, h)],
            false
        ));
        let down = region!(self.matrix("ffn_down", TensorClass::FfnDown, &[(h, ffn)], false));
        Ok(Some(Layer {
            q: q_m,
            k: k_m,
            v: v_m,
            kv: kv_lines,
            o: o_m,
            gate_up: gu,
            down,
            grid: None,
        }))
    }

    /// One layer with its matrices overlaid on a grid as tall as the rows free in the sweep's
    /// column (a fresh band's height) and as wide as its KV cache leaves the band
    /// ([`overlay::in_band`]), the KV cache beside it.
    fn overlaid_layer(&mut self, w: &Workload, per_pe: u64) -> Result<Option<Layer>, Misfit> {
        let parts = overlay::parts(w);
        let rows = u64::from(self.sweep.free_height());
        let kv_pes = overlay::kv_pes(w, per_pe);
        let band = (rows, u64::from(self.g.cols));
        let Some(grid) = overlay::in_band(&parts, self.room, band, kv_pes) else {
            return Ok(None);
        };
        // Runs no matrix reaches stay free (small models on wide bands).
        let blocks: Vec<Vec<(u64, u64)>> = (parts.iter().zip(&grid.cuts))
            .map(|(p, c)| output_blocks(&p.shapes, &c.tiles))
            .collect();
        let runs = blocks.iter().map(Vec::len).max().unwrap_or(0);
        // PEs in use: per run, as deep as the deepest matrix reaching it.
        let used: u64 = (0..runs)
            .map(|j| {
                let depth = (blocks.iter().zip(&grid.cuts)).filter(|(b, _)| j < b.len());
                depth.map(|(_, c)| c.tiles.in_blocks).max().unwrap_or(0)
            })
            .sum();
        let mut tops = Vec::new();
        for _ in 0..runs {
            match self.run(rows) {
                Some(pe) => tops.push(pe),
                None => return Ok(None),
            }
        }
        let Some(kv) = self.kv(w, per_pe)? else {
            return Ok(None);
        };
        // The code is on every grid PE once: counted with the first matrix.
        let code = self.m.wafer.pe.code_reserve_bytes;
        let mut ms =
            (parts.iter().zip(&grid.cuts).zip(blocks).enumerate()).map(|(i, ((p, c), outputs))| {
                let tops = &tops[..outputs.len()];
                self.overlaid_matrix(p, c, tops, outputs, u64::from(i == 0) * code)
            });
        let mut next = || ms.next().expect("six parts");
        Ok(Some(Layer {
            q: next(),
            k: next(),
            v: next(),
            kv,
            o: next(),
            gate_up: next(),
            down: next(),
            grid: Some(used),
        }))
    }

    /// Matrix `p`, cut as `c`, on the grid runs `tops`, with `extra` bytes on each PE beside
    /// its share.
    fn overlaid_matrix(
        &self,
        p: &Part,
        c: &overlay::Cut,
        tops: &[Pe],
        outputs: Vec<(u64, u64)>,
        extra: u64,
    ) -> Matrix {
        Matrix {
            name: p.name,
            format: p.format,
            tiles: c.tiles,
            cols: p.shapes[0].1,
            outputs,
            runs: tops.to_vec(),
            transposed: false,
            chunk: c.chunk,
            pe_bytes: c.bytes + extra,
            cols_per_row: self.g.cols,
        }
    }

    /// One layer laid out by `sweep`.
    fn layer_in(
        &mut self,
        sweep: Sweep,
        w: &Workload,
        per_pe: u64,
    ) -> Result<Option<Layer>, Misfit> {
        self.sweep = sweep;
        self.layer(w, per_pe)
    }

    /// The fewest of `least..=most` rows or columns for which `fits` holds.
    fn fewest(
        &mut self,
        least: u32,
        most: u32,
        mut fits: impl FnMut(&mut Self, u32) -> Result<bool, Misfit>,
    ) -> Result<Option<u32>, Misfit> {
        for n in least.max(1)..=most {
            if fits(self, n)? {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    /// The fewest rows (`bands`) or columns of a rectangle of wafer 0 that hold one layer,
    /// trying upwards from what its PEs would fill whole; `None` when not even the whole
    /// fabric does.
    fn layer_extent(
        &mut self,
        w: &Workload,
        per_pe: u64,
        bands: bool,
    ) -> Result<Option<u32>, Misfit> {
        let g = self.g.clone();
        let (across, most) = if bands {
            (g.cols, g.rows)
        } else {
            (g.rows, g.cols)
        };
        let least = if self.overlaid {
            let (parts, kv_pes) = (overlay::parts(w), overlay::kv_pes(w, per_pe));
            overlay::least_rows(&parts, self.room, across.into(), kv_pes) as u32
        } else {
            let Some(layer) = self.layer_in(Sweep::new(&g), w, per_pe)? else {
                return Ok(None);
            };
            layer.pes().div_ceil(across as u64) as u32
        };
        self.fewest(least, most, |b, n| {
            Ok(b.layer_in(region(&g, bands, 0, 0, n), w, per_pe)?.is_some())
        })
    }

    /// The embedding in the narrowest full-height strip of wafer 0 that holds it; `None` when
    /// it needs more than a wafer.
    fn embedding_strip(&mut self, w: &Workload) -> Result<Option<(Matrix, u32)>, Misfit> {
        let g = self.g.clone();
        self.sweep = Sweep::new(&g);
        let Some(whole) = self.embedding(w, false)? else {
            return Ok(None);
        };
        let least = whole.pes().div_ceil(g.rows as u64) as u32;
        let Some(width) = self.fewest(least, g.cols, |b, n| {
            b.sweep = Sweep::strip(&g, 0, 0, n);
            Ok(b.embedding(w, false)?.is_some())
        })?
        else {
            return Ok(None);
        };
        self.sweep = Sweep::strip(&g, 0, 0, width);
        Ok(self.embedding(w, false)?.map(|e| (e, width)))
    }

    /// Every layer in a band (`bands`) or full-height strip of its own, one after another
    /// from row or column `at` of `wafer`, one that passes the wafer's edge moved to the next
    /// wafer; the sweep then goes on past the last one. Returns the layers and their rows or
    /// columns.
    fn tiled_layers(
        &mut self,
        w: &Workload,
        per_pe: u64,
        bands: bool,
        (mut wafer, mut at): (u32, u32),
    ) -> Result<(Vec<Layer>, u32), Misfit> {
        let g = self.g.clone();
        let n = self.layer_extent(w, per_pe, bands)?.ok_or_else(|| {
            self.too_many("a wafer larger than the fabric for a layer".to_owned())
        })?;
        let (edge, kind, unit) = match bands {
            true => (g.rows, "band", "rows"),
            false => (g.cols, "strip", "columns"),
        };
        // One layer per band (strip): the wafers hold those from `at` on on this one and the
        // whole of the rest; count them before laying any out (a layout that falls short is
        // tried first on tight wafers, and would otherwise lay out all but the last layers).
        let held =
            u64::from((edge - at) / n) + u64::from(g.wafers - 1 - wafer) * u64::from(edge / n);
        if held < w.model.layers {
            return Err(self.too_many(format!(
                "more than {} wafer(s) for layers in {kind}s of {n} {unit}: layer {held} does not fit",
                g.wafers
            )));
        }
        let mut layers = Vec::new();
        for l in 0..w.model.layers {
            if at + n > edge {
                (wafer, at) = (wafer + 1, 0);
            }
            let layer = self.layer_in(region(&g, bands, wafer, at, n), w, per_pe)?;
            layers.push(layer.ok_or_else(|| {
                self.too_many(format!("a {kind} of more than {n} {unit} for layer {l}"))
            })?);
            at += n;
        }
        self.sweep = region(&g, bands, wafer, at, edge - at);
        Ok((layers, n))
    }

    /// Every layer along the sweep, a layer that does not fit the rest of a wafer moved to the
    /// next one.
    fn continuous_layers(&mut self, w: &Workload, per_pe: u64) -> Result<Vec<Layer>, Misfit> {
        let wafers = self.g.wafers;
        let mut layers = Vec::new();
        for l in 0..w.model.layers {
            let sweep = self.sweep.clone();
            let layer = match self.layer(w, per_pe)? {
                Some(layer) => layer,
                None => {
                    self.sweep = sweep;
                    self.sweep.next_wafer();
                    if self.sweep.wafer() >= wafers {
                        return Err(self.too_many(format!(
                            "more than {wafers} wafer(s): layer {l} does not fit"
                        )));
                    }
                    self.layer(w, per_pe)?.ok_or_else(|| {
                        self.too_many(format!("a wafer larger than the fabric for layer {l}"))
                    })?
                }
            };
            layers.push(layer);
        }
        Ok(layers)
    }
}

/// Lay `w` out on `wafers` wafers of `m`: layers in bands when they fit, else in strips, else
/// along one continuous sweep, so every workload the continuous layout fits still fits (and a
/// misfit is reported as the continuous layout finds it). Bands come first: their layers' rows
/// of tiles are wide and their reductions short, which runs a few percent faster than strips.
pub fn layout(m: &WseSystem, w: &Workload, wafers: u32, spread: Spread) -> Result<Plan, Misfit> {
    plan(m, w, wafers, spread, Arrangement::Bands(0))
        .or_else(|_| plan(m, w, wafers, spread, Arrangement::Strips(0)))
        .or_else(|_| plan(m, w, wafers, spread, Arrangement::Continuous))
}

/// Lay `w` out with its layers arranged as `arrangement` says (the extent is searched). The
/// plan depends on `wafers` only through whether it fits (tested), so the mapping search can
/// weigh every arrangement on the wafers given and find each one fewer wafers would have had.
pub fn plan(
    m: &WseSystem,
    w: &Workload,
    wafers: u32,
    spread: Spread,
    arrangement: Arrangement,
) -> Result<Plan, Misfit> {
    let g = Geometry::new(m, wafers);
    let mut b = Builder {
        m,
        sweep: Sweep::new(&g),
        g,
        room: Room::new(m, w.scenario.batch, spread),
        quant: &w.quant,
        overlaid: matches!(arrangement, Arrangement::Overlaid(_)),
    };
    let model = &w.model;
    let per_pe = kv_tokens_per_pe(m, w, spread.kv_tokens).ok_or_else(|| Misfit::Sram {
        pe: (0, 0, 0),
        what: "one cached key vector".to_owned(),
        needs: model.head_dim * w.scenario.kv_cache.bytes() + m.wafer.pe.code_reserve_bytes,
        has: m.wafer.pe.sram_bytes,
    })?;
    let more_for_embedding = || "more wafers for the embedding".to_owned();
    let (embedding, layers, arrangement) = match arrangement {
        Arrangement::Strips(_) => {
            let (embedding, left) = b
                .embedding_strip(w)?
                .ok_or_else(|| b.too_many("a wafer for the embedding's strip".to_owned()))?;
            let (layers, width) = b.tiled_layers(w, per_pe, false, (0, left))?;
            (embedding, layers, Arrangement::Strips(width))
        }
        Arrangement::Bands(_) | Arrangement::Overlaid(_) => {
            let embedding = b
                .embedding(w, true)?
                .ok_or_else(|| b.too_many(more_for_embedding()))?;
            let start = (b.sweep.wafer(), b.sweep.depth());
            let (layers, h) = b.tiled_layers(w, per_pe, true, start)?;
            match b.overlaid {
                true => (embedding, layers, Arrangement::Overlaid(h)),
                false => (embedding, layers, Arrangement::Bands(h)),
            }
        }
        Arrangement::Continuous => {
            let embedding = b
                .embedding(w, true)?
                .ok_or_else(|| b.too_many(more_for_embedding()))?;
            (
                embedding,
                b.continuous_layers(w, per_pe)?,
                Arrangement::Continuous,
            )
        }
    };
    let classifier = if model.tied_embedding {
        None
    } else {
        Some(
            b.matrix(
                "classifier",
                TensorClass::Classifier,
                &[(model.vocab, model.hidden)],
                true,
            )?
            .ok_or_else(|| b.too_many("more wafers for the classifier".to_owned()))?,
        )
    };
    let wafers_used = b.sweep.wafer() + 1;
    if wafers_used > wafers {
        return Err(b.too_many(format!("{wafers_used} wafers")));
    }
    // The system as simulated: the wafers in use (the rest stay idle; their PEs and links are
    // the tail of every index, so dropping them saves clearing and walking their state).
    Ok(Plan {
        geometry: Geometry::new(m, wafers_used),
        embedding,
        layers,
        classifier,
        kv_per_pe: per_pe,
        spread,
        wafers_used,
        arrangement,
    })
}

impl Plan {
    /// The wafer part `i` of the step (a layer, or the classifier) runs on.
    pub fn part_wafer(&self, i: usize) -> u32 {
        let m = match self.layers.get(i) {
            Some(l) => &l.q,
            None => self.classifier.as_ref().unwrap_or(&self.embedding),
        };
        self.geometry.coords(m.pe(0, 0)).0
    }

    /// Every PE a region occupies, with the SRAM it uses there, region by region.
    pub fn occupied(&self) -> impl Iterator<Item = (Pe, u64)> {
        let ends = std::iter::once(&self.embedding).chain(self.classifier.iter());
        (ends.flat_map(Matrix::occupied)).chain(self.layers.iter().flat_map(Layer::occupied))
    }

    /// SRAM bytes in use per PE, summed over the regions sharing it (for the heat map only: a
    /// whole-system array).
    pub fn pe_memory(&self) -> Vec<u32> {
        let mut memory = vec![0; self.geometry.pes()];
        for (pe, bytes) in self.occupied() {
            memory[pe.0 as usize] += bytes as u32;
        }
        memory
    }
}
