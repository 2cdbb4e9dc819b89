//! The wafer program of one decode step, written into a [`Sink`] in program order.
//!
//! Data moves only as messages between PEs (see `layout.rs` for where regions sit):
//! - **GEMV** (MeshGEMV-like): each input block is gathered into the first PE of its row, which
//!   multicasts it along the row in chunks; every PE multiplies its tile by each arriving
//!   wavelet (`y += w x`, tasks activated by wavelet arrival); partial sums are reduced down each
//!   run of PEs, the run's last PE applying the element-wise tail (norm scale, residual, SwiGLU).
//!   The RMSNorm of an input is linear after the matmul, so its gains are folded into the
//!   weights and its sum of squares rides along the reduction as one more wavelet.
//! - **Batch**: the weights are stationary, so a step's sequences share every GEMV (a GEMM):
//!   each message of a GEMV (input chunk, partial sums, residual) carries all sequences,
//!   sequence-major (each sequence's elements padded to whole wavelets, so a wavelet's two
//!   values feed one sequence's accumulators and costs what it costs at batch 1), and the tails
//!   process one item per sequence.
//! - **Attention**: per sequence (each has its own KV PEs) and KV head, the query heads are
//!   multicast along the head's line of K PEs, each computes its tokens' scores and a local
//!   softmax and hands them to its V neighbour, which weights its values; the partial outputs
//!   merge down the line of V PEs (rescaled as in flash decoding). The new key and value are
//!   written to the PE owning their position. Each phase is emitted for every sequence before
//!   the next, so no sequence's message waits on a link behind another's later phase.
//! - The embedding row of the token is read where it is stored; the classifier's arg-max is
//!   reduced along its output blocks and the chosen token returns to the embedding.

use super::datapath::Datapath;
use super::geometry::{Bounds, Pe, Route};
use super::layout::{KvLine, Matrix, Plan};
use super::program::{Buffer, Receive, Sink};
use crate::engine::EngineError;
use crate::quant::Format;
use crate::workload::Workload;
use crate::workload::work::Step;

/// Element-wise operations per element of the GEMV tails.
mod ops {
    /// Norm scale (the folded RMSNorm's 1/rms) and the rotary embedding of Q and K.
    pub const NORM_ROPE: u64 = 5;
    /// Norm scale alone (V).
    pub const NORM: u64 = 1;
    /// Residual addition.
    pub const RESIDUAL: u64 = 1;
    /// Norm scale of gate and up, then SwiGLU: exp, add, divide, multiply, multiply.
    pub const SWIGLU: u64 = 6;
    /// Norm scale and the running arg-max of the classifier.
    pub const ARGMAX: u64 = 2;
    /// Softmax per score: subtract the max, exp, sum, and the rescale.
    pub const SOFTMAX: u64 = 5;
    /// Merging two flash-decoding partial outputs: two rescales and an add per element.
    pub const MERGE: u64 = 3;
}

/// A K PE and its V neighbour.
type KvPair = (Pe, Pe);

/// Elements of the vectors a PE holds after a task: output `lo..hi` of some vector, for `seqs`
/// sequences.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Src {
    pe: Pe,
    lo: u64,
    hi: u64,
    seqs: u64,
}

/// Whether `a` and `b` take the same input blocks on the same rows of PEs from the same first
/// run: matrices overlaid on one grid ([`super::overlay`]) over the same input.
fn same_rows(a: &Matrix, b: &Matrix) -> bool {
    !a.transposed
        && !b.transposed
        && a.runs[0] == b.runs[0]
        && (a.cols, a.tiles.tile_cols) == (b.cols, b.tiles.tile_cols)
}

/// `srcs` on PEs `offset` further on.
fn translated(srcs: &[Src], offset: i64) -> Vec<Src> {
    srcs.iter()
        .map(|s| Src {
            pe: s.pe.translated(offset),
            ..*s
        })
        .collect()
}

/// A layer written out while the sink recorded it: its index, input and output, and the box
/// holding the layer and its input.
struct Recorded {
    layer: usize,
    input: Vec<Src>,
    output: Vec<Src>,
    bounds: Bounds,
}

/// One sequence's share of `srcs`, which hold all of them.
fn one(srcs: &[Src]) -> Vec<Src> {
    srcs.iter().map(|s| Src { seqs: 1, ..*s }).collect()
}

/// A multicast of input elements `lo..hi` of `seqs` sequences, held by `stops[0]`, to the
/// other stops, which consume it at `costs[i]` cycles per wavelet; `chunk` elements of each
/// sequence at a time.
struct Cast {
    stops: Vec<Pe>,
    lo: u64,
    hi: u64,
    seqs: u64,
    chunk: u64,
    costs: Vec<u64>,
}

struct Emitter<'a, S: Sink> {
    sink: &'a mut S,
    dp: Datapath,
    per_wavelet: u64,
    /// Sequences decoded together.
    seqs: u64,
    route: Route,
    /// The tasks receiving the last message.
    received: Vec<S::Task>,
}

impl<'a, S: Sink> Emitter<'a, S> {
    fn new(sink: &'a mut S, dp: Datapath, per_wavelet: u64, seqs: u64) -> Self {
        let mut route = Route::default();
        route.skip_nodes = !sink.route_nodes();
        Emitter {
            sink,
            dp,
            per_wavelet,
            seqs,
            route,
            received: Vec::new(),
        }
    }

    fn wavelets(&self, elements: u64) -> u64 {
        elements.div_ceil(self.per_wavelet)
    }

    /// Send the items of `task` (on `from`) to `to`, received there at `service` cycles per
    /// wavelet from `buffer`; the receiving task.
    fn unicast(
        &mut self,
        task: &S::Task,
        (from, to): (Pe, Pe),
        service: u64,
        buffer: Buffer<S::Task>,
    ) -> Result<S::Task, EngineError> {
        let g = self.sink.geometry().clone();
        self.route.through(&g, from, [to]);
        let receive = [Receive { service, buffer }];
        (self.sink).message(task, &self.route, &receive, &mut self.received)?;
        Ok(self.received[0].clone())
    }

    /// Forward the items of `task` down `line` (pairs of PEs, `task` on the first), each next PE
    /// taking them from `buffer` at `service` cycles per wavelet and forwarding what it made of
    /// them; the last PE's task.
    fn relay(
        &mut self,
        mut task: S::Task,
        line: impl Iterator<Item = (Pe, Pe)>,
        service: u64,
        buffer: Buffer<S::Task>,
    ) -> Result<S::Task, EngineError> {
        for hop in line {
            task = self.unicast(&task, hop, service, buffer.clone())?;
        }
        Ok(task)
    }

    /// Move elements `lo..hi` of the vectors held by `srcs` into `to`'s memory.
    fn gather(&mut self, srcs: &[Src], lo: u64, hi: u64, to: Pe) -> Result<(), EngineError> {
        for s in srcs {
            let (a, b) = (s.lo.max(lo), s.hi.min(hi));
            if a >= b || s.pe == to {
                continue;
            }
            let n = s.seqs * self.wavelets(b - a);
            let t = self.sink.task(s.pe, n, 1)?;
            self.unicast(&t, (s.pe, to), 0, Buffer::Memory { after: None })?;
        }
        Ok(())
    }

    /// Multicast every cast, chunk by chunk: the first chunk of every row, then the second, so
    /// that messages enter the links they share in the order they become ready. Each entry
    /// consumes its own copy of a chunk behind the send of the next one (two chunks in flight).
    /// Every stop has two chunk buffers: chunk `i` lands in the one chunk `i - 2` used, once its
    /// task there is done. A cast's route is built once for all its chunks (their number grows
    /// with the batch).
    fn multicast(&mut self, casts: &[Cast]) -> Result<(), EngineError> {
        let g = self.sink.geometry().clone();
        let routes: Vec<Route> = casts
            .iter()
            .map(|c| {
                let mut r = self.route.clone();
                r.through(&g, c.stops[0], c.stops[1..].iter().copied());
                r
            })
            .collect();
        let chunks = |c: &Cast| (c.hi - c.lo).div_ceil(c.chunk);
        let rounds = casts.iter().map(chunks).max().unwrap_or(0);
        // Per cast, the tasks that received its last two chunks (the older first).
        let mut buffers: Vec<[Vec<S::Task>; 2]> = vec![[Vec::new(), Vec::new()]; casts.len()];
        let mut receives = Vec::new();
        for i in 0..=rounds {
            for ((c, route), used) in casts.iter().zip(&routes).zip(&mut buffers) {
                let entry = c.stops[0];
                let per = self.per_wavelet;
                let len = |i: u64| c.seqs * c.chunk.min(c.hi - c.lo - i * c.chunk).div_ceil(per);
                if i < chunks(c) {
                    let t = self.sink.task(entry, len(i), 1)?;
                    if c.stops.len() > 1 {
                        receives.clear();
                        for (j, &service) in c.costs[1..].iter().enumerate() {
                            let after = used[0].get(j).cloned();
                            let buffer = Buffer::Memory { after };
                            receives.push(Receive { service, buffer });
                        }
                        (self.sink).message(&t, route, &receives, &mut self.received)?;
                        used.swap(0, 1);
                        used[1].clone_from(&self.received);
                    }
                }
                if i >= 1 && i - 1 < chunks(c) {
                    self.sink.task(entry, len(i - 1), c.costs[0])?;
                }
            }
        }
        Ok(())
    }

    /// Cycles per input wavelet of `y += W x` for a tile with `rows` rows.
    fn axpy(&self, format: Format, rows: u64) -> u64 {
        self.per_wavelet * rows.div_ceil(self.dp.axpy_lanes(format))
    }

    /// Gather each input block of `m` into the first PE of its row.
    fn gemv_inputs(&mut self, m: &Matrix, srcs: &[Src]) -> Result<(), EngineError> {
        for a in 0..m.tiles.in_blocks {
            let (lo, hi) = m.input(a);
            let entry = m.pe(a, 0);
            self.gather(srcs, lo, hi, entry)?;
        }
        Ok(())
    }

    /// The row multicasts of one matrix, or of matrices sharing their rows ([`same_rows`]):
    /// along the most runs any of them has, each PE multiplying what arrives by its tile of
    /// every matrix reaching it.
    fn casts(&self, ms: &[&Matrix]) -> Vec<Cast> {
        let mut costs: Vec<u64> = Vec::new();
        for m in ms {
            for (j, &(lo, hi)) in m.outputs.iter().enumerate() {
                if j == costs.len() {
                    costs.push(0);
                }
                costs[j] += self.axpy(m.format, hi - lo);
            }
        }
        let widest = ms
            .iter()
            .max_by_key(|m| m.outputs.len())
            .expect("some matrix");
        let chunk = ms.iter().map(|m| m.chunk).min().unwrap_or(1);
        (0..widest.tiles.in_blocks)
            .map(|a| {
                let (lo, hi) = widest.input(a);
                Cast {
                    stops: (0..costs.len()).map(|j| widest.pe(a, j)).collect(),
                    lo,
                    hi,
                    seqs: self.seqs,
                    chunk,
                    costs: costs.clone(),
                }
            })
            .collect()
    }

    /// Reduce the partial sums of `m` down each tile column into its last PE, all sequences
    /// in one message per hop.
    fn gemv_reduce(&mut self, m: &Matrix) -> Result<(), EngineError> {
        if m.tiles.in_blocks < 2 {
            return Ok(());
        }
        for (j, &(lo, hi)) in m.outputs.iter().enumerate() {
            // The block's partial sums and the sum of squares for the folded norm.
            let n = self.seqs * (self.wavelets(hi - lo) + 1);
            let task = self.sink.task(m.pe(0, j), n, 1)?;
            let line = (1..m.tiles.in_blocks).map(|a| (m.pe(a - 1, j), m.pe(a, j)));
            self.relay(task, line, 1, Buffer::Queue)?;
        }
        Ok(())
    }

    /// `y = W x` for each matrix of `ms` side by side, `x` held by `srcs`. Matrices overlaid on
    /// one grid with the same input blocks share their gathers and row multicasts: each PE
    /// multiplies what arrives by its tile of each.
    fn gemv(&mut self, ms: &[&Matrix], srcs: &[Src]) -> Result<(), EngineError> {
        let shared = ms.windows(2).all(|p| same_rows(p[0], p[1]));
        let casts: Vec<Cast> = match (shared, ms) {
            (true, [first, ..]) => {
                self.gemv_inputs(first, srcs)?;
                self.casts(ms)
            }
            _ => {
                for m in ms {
                    self.gemv_inputs(m, srcs)?;
                }
                ms.iter()
                    .flat_map(|m| self.casts(std::slice::from_ref(m)))
                    .collect()
            }
        };
        self.multicast(&casts)?;
        for m in ms {
            self.gemv_reduce(m)?;
        }
        Ok(())
    }

    /// The last PE of each tile column of `m`, with the output elements it holds.
    fn outputs(&self, m: &Matrix, blocks: impl Iterator<Item = usize>) -> Vec<Src> {
        blocks
            .map(|j| {
                let (lo, hi) = m.outputs[j];
                Src {
                    pe: m.pe(m.tiles.in_blocks - 1, j),
                    lo,
                    hi,
                    seqs: self.seqs,
                }
            })
            .collect()
    }

    /// The element-wise tail on every output block: `ops` per element, one item per sequence.
    fn tail(&mut self, outs: &[Src], ops: u64) -> Result<(), EngineError> {
        for o in outs {
            let cycles = self.dp.elementwise(o.hi - o.lo, ops);
            self.sink.task(o.pe, o.seqs, cycles)?;
        }
        Ok(())
    }

    /// Bring elements of `srcs` to every output block of `outs` (residuals, gate values).
    fn scatter(&mut self, srcs: &[Src], outs: &[Src]) -> Result<(), EngineError> {
        for o in outs {
            self.gather(srcs, o.lo, o.hi, o.pe)?;
        }
        Ok(())
    }

    /// Input block `a` of `m` held by the first PE of its row, for every sequence.
    fn inputs(&self, m: &Matrix) -> Vec<Src> {
        (0..m.tiles.in_blocks)
            .map(|a| {
                let (lo, hi) = m.input(a);
                Src {
                    pe: m.pe(a, 0),
                    lo,
                    hi,
                    seqs: self.seqs,
                }
            })
            .collect()
    }

    /// Attention of every sequence for every KV head, `q`, `k` and `v` holding all sequences;
    /// the output blocks of each (sequence, head), one sequence each.
    fn attention(
        &mut self,
        (plan, w): (&Plan, &Workload),
        kv: &[KvLine],
        step: Step,
        (q, k, v): (&[Src], &[Src], &[Src]),
    ) -> Result<Vec<Src>, EngineError> {
        let m = &w.model;
        let (hd, group) = (m.head_dim, m.heads / m.kv_heads);
        let per_pe = plan.kv_per_pe;
        let attended = step.past + step.tokens;
        let (q, k, v) = (one(q), one(k), one(v));
        // Per sequence: its first cached position and the KV PE holding its new position.
        let seqs: Vec<(u64, usize)> = (0..self.seqs)
            .map(|s| {
                let first = s * w.scenario.context;
                (first, ((first + step.past) / per_pe) as usize)
            })
            .collect();
        // The new key and value of every head to the PEs owning their position.
        for &(_, owner) in &seqs {
            for (h, line) in kv.iter().enumerate() {
                let (kp, vp) = line.pairs[owner];
                let (lo, hi) = (h as u64 * hd, (h as u64 + 1) * hd);
                self.gather(&k, lo, hi, kp)?;
                self.gather(&v, lo, hi, vp)?;
            }
        }
        // Per sequence and head: the first PE index and the (K, V) pairs holding the sequence,
        // the query elements and the sequence's first position.
        let mut heads: Vec<(u64, &[KvPair], u64, u64, u64)> = Vec::new();
        for &(first, _) in &seqs {
            let (j0, j1) = (first / per_pe, (first + attended - 1) / per_pe);
            for (h, line) in kv.iter().enumerate() {
                let pairs = &line.pairs[j0 as usize..=j1 as usize];
                let (lo, hi) = (h as u64 * group * hd, (h as u64 + 1) * group * hd);
                heads.push((j0, pairs, lo, hi, first));
            }
        }
        // Each head's queries to its first K PE, then along its K PEs.
        let mut casts = Vec::new();
        for &(_, pairs, lo, hi, _) in &heads {
            self.gather(&q, lo, hi, pairs[0].0)?;
            casts.push(Cast {
                stops: pairs.iter().map(|p| p.0).collect(),
                lo,
                hi,
                seqs: 1,
                chunk: hi - lo,
                costs: vec![0; pairs.len()],
            });
        }
        self.multicast(&casts)?;
        for &(j0, pairs, _, _, first) in &heads {
            for (i, &(kp, vp)) in pairs.iter().enumerate() {
                let j = j0 + i as u64;
                let n = ((j + 1) * per_pe).min(first + attended) - (j * per_pe).max(first);
                let scores = (n * group * hd).div_ceil(self.dp.dot_lanes())
                    + self.dp.elementwise(n * group, ops::SOFTMAX);
                self.sink.task(kp, 1, scores)?;
                let p = self.sink.task(kp, self.wavelets(n * group) + group, 1)?;
                self.unicast(&p, (kp, vp), 0, Buffer::Memory { after: None })?;
                let weighted = (n * group * hd).div_ceil(self.dp.axpy_lanes(Format::F16));
                self.sink.task(vp, 1, weighted)?;
            }
        }
        // Partial outputs with each head's running max and sum, merged down the V line.
        let n = self.wavelets(group * hd) + group;
        let merge = self.dp.elementwise(self.per_wavelet, ops::MERGE);
        let mut outs = Vec::new();
        for &(_, pairs, lo, hi, _) in &heads {
            let task = self.sink.task(pairs[0].1, n, 1)?;
            let line = pairs.windows(2).map(|w| (w[0].1, w[1].1));
            self.relay(task, line, merge, Buffer::Memory { after: None })?;
            let last = pairs[pairs.len() - 1].1;
            outs.push(Src {
                pe: last,
                lo,
                hi,
                seqs: 1,
            });
        }
        self.tail(&outs, 1)?;
        Ok(outs)
    }

    /// One decoder layer for every sequence; the layer's output blocks.
    fn layer(
        &mut self,
        (plan, w): (&Plan, &Workload),
        l: usize,
        step: Step,
        x: &[Src],
    ) -> Result<Vec<Src>, EngineError> {
        let layer = &plan.layers[l];
        let all = |m: &Matrix| 0..m.outputs.len();
        let o_out = self.outputs(&layer.o, all(&layer.o));
        let down_out = self.outputs(&layer.down, all(&layer.down));
        self.gemv(&[&layer.q, &layer.k, &layer.v], x)?;
        self.scatter(x, &o_out)?;
        let q = self.outputs(&layer.q, all(&layer.q));
        let k = self.outputs(&layer.k, all(&layer.k));
        let v = self.outputs(&layer.v, all(&layer.v));
        self.tail(&q, ops::NORM_ROPE)?;
        self.tail(&k, ops::NORM_ROPE)?;
        self.tail(&v, ops::NORM)?;
        let attn = self.attention((plan, w), &layer.kv, step, (&q, &k, &v))?;
        self.gemv(&[&layer.o], &attn)?;
        self.tail(&o_out, ops::RESIDUAL)?;
        self.scatter(&o_out, &down_out)?;
        let gu = &layer.gate_up;
        self.gemv(&[gu], &o_out)?;
        let gate = self.outputs(gu, (0..gu.outputs.len()).step_by(2));
        let up = self.outputs(gu, (1..gu.outputs.len()).step_by(2));
        self.tail(&gate, ops::NORM)?;
        for (g, u) in gate.iter().zip(&up) {
            self.gather(std::slice::from_ref(g), g.lo, g.hi, u.pe)?;
        }
        self.tail(&up, ops::SWIGLU)?;
        self.gemv(&[&layer.down], &up)?;
        self.tail(&down_out, ops::RESIDUAL)?;
        Ok(down_out)
    }

    /// Layer `l`'s output if the sink replayed it from recording `slot` (layer `r.layer`), of
    /// which it and its input `x` are rigid translates.
    fn replayed(
        &mut self,
        plan: &Plan,
        l: usize,
        x: &[Src],
        (slot, r): (usize, &Recorded),
    ) -> Option<Vec<Src>> {
        let earlier = &plan.layers[r.layer];
        let offset = plan.layers[l].offset_from(earlier)?;
        let shift = (plan.geometry).rigid_shift(&r.bounds, earlier.q.runs[0], offset)?;
        (translated(&r.input, offset) == x && self.sink.replay(slot, offset, shift))
            .then(|| translated(&r.output, offset))
    }

    /// Every layer of `step` for every sequence, from the tokens' embedding rows: layer `l` is
    /// part `first_part + l`; the last layer's output blocks. Layers are recorded so that the
    /// sink may replay a later layer that is a translate of one rather than have it written out
    /// (the fast fidelity does where that is exact). Layers fed from their own wafer and layers
    /// fed over I/O lanes from the wafer before differ, so each kind has its recording slot.
    fn layers(
        &mut self,
        (plan, w): (&Plan, &Workload),
        step: Step,
        first_part: usize,
    ) -> Result<Vec<Src>, EngineError> {
        // The tokens' rows: tile row 0 of the embedding, one input block per PE.
        let mut x = self.inputs(&plan.embedding);
        let mut recorded: [Option<Recorded>; 2] = [None, None];
        for l in 0..plan.layers.len() {
            self.sink.part(first_part + l);
            let g = &plan.geometry;
            let slot = usize::from(x.iter().any(|s| g.coords(s.pe).0 != plan.part_wafer(l)));
            let replay = recorded[slot].as_ref().map(|r| (slot, r));
            if let Some(out) = replay.and_then(|r| self.replayed(plan, l, &x, r)) {
                x = out;
                continue;
            }
            // A layer is worth recording when layers are translates (bands, strips): the next
            // one tells. Recording costs a sort of everything the layer touched.
            let translates =
                (plan.layers.get(l + 1)).is_some_and(|n| n.offset_from(&plan.layers[l]).is_some());
            if translates {
                self.sink.record(slot);
            }
            let output = self.layer((plan, w), l, step, &x)?;
            let input = std::mem::replace(&mut x, output);
            // Only what the sink recorded may be replayed: an unrecorded layer leaves the
            // slot's earlier recording in place, on both sides.
            if translates {
                let pes = plan.layers[l].occupied().map(|(pe, _)| pe);
                let bounds = g.bounds(pes.chain(input.iter().map(|s| s.pe)));
                recorded[slot] = bounds.map(|bounds| Recorded {
                    layer: l,
                    input,
                    output: x.clone(),
                    bounds,
                });
            }
        }
        Ok(x)
    }

    /// The classifier on the last layer's output `x` (part `part`), the arg-max of every
    /// sequence along its output blocks, and the tokens back to the embedding rows they select.
    fn head(&mut self, plan: &Plan, x: &[Src], part: usize) -> Result<(), EngineError> {
        self.sink.part(part);
        let e = &plan.embedding;
        let c = plan.classifier.as_ref().unwrap_or(e);
        self.gemv(&[c], x)?;
        let logits = self.outputs(c, 0..c.outputs.len());
        self.tail(&logits, ops::ARGMAX)?;
        let task = self.sink.task(logits[0].pe, 2 * self.seqs, 1)?;
        let line = logits.windows(2).map(|w| (w[0].pe, w[1].pe));
        self.relay(task, line, 1, Buffer::Queue)?;
        let last = logits[logits.len() - 1].pe;
        let send = self.sink.task(last, self.seqs, 1)?;
        self.unicast(&send, (last, e.pe(0, 0)), 0, Buffer::Memory { after: None })?;
        Ok(())
    }
}

/// Write the program of one decode step of `w`, mapped as `plan`, into `sink`: the layers are
/// parts `0..layers`, the classifier part `layers`.
pub fn decode_step<S: Sink>(
    sink: &mut S,
    plan: &Plan,
    w: &Workload,
    dp: Datapath,
    per_wavelet: u64,
    step: Step,
) -> Result<(), EngineError> {
    let mut e = Emitter::new(sink, dp, per_wavelet, step.sequences);
    let x = e.layers((plan, w), step, 0)?;
    e.head(plan, &x, plan.layers.len())
}

/// Write the prefill of prompt positions `positions` of every sequence into `sink`, one
/// position after another: each is a group of one token per sequence (the decode step's shape,
/// attending to the position's own causal prefix), and program order pipelines the groups
/// through the layers, a layer taking the next group once it has passed the last. Group `i`'s
/// layer `l` is part `i x (layers + 1) + l`; only the last group goes on through the
/// classifier (part `i x (layers + 1) + layers`), and only when `classify_last`. Positions
/// differ in their attention, so a layer is replayed only from a translate for the same one.
pub fn prefill<S: Sink>(
    sink: &mut S,
    (plan, w): (&Plan, &Workload),
    (dp, per_wavelet): (Datapath, u64),
    positions: std::ops::Range<u64>,
    classify_last: bool,
) -> Result<(), EngineError> {
    let batch = w.scenario.batch;
    let mut e = Emitter::new(sink, dp, per_wavelet, batch);
    let parts = plan.layers.len() + 1;
    let last = positions.end.saturating_sub(1);
    for (i, past) in positions.enumerate() {
        let step = Step {
            sequences: batch,
            tokens: 1,
            past,
        };
        let x = e.layers((plan, w), step, i * parts)?;
        if classify_last && past == last {
            e.head(plan, &x, i * parts + plan.layers.len())?;
        }
    }
    Ok(())
}

#[cfg(test)]
/// Write `y = W x` for matrix `m` alone into `sink`, with `x[a]` held by the first PE of input
/// row `a`; the PE of each output block once reduced.
pub fn gemv<S: Sink>(
    sink: &mut S,
    m: &Matrix,
    dp: Datapath,
    per_wavelet: u64,
) -> Result<Vec<Pe>, EngineError> {
    let mut e = Emitter::new(sink, dp, per_wavelet, 1);
    let x = e.inputs(m);
    e.gemv(&[m], &x)?;
    Ok(e.outputs(m, 0..m.outputs.len())
        .iter()
        .map(|o| o.pe)
        .collect())
}
