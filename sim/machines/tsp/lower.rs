//! The compiler: one pipeline stage of a LLaMA step lowered to the program its chips run.
//!
//! Tensor parallelism inside the stage follows the placement (Megatron split: q, k, v, gate and
//! up by output rows; o and down by input columns, then an all-reduce over C2C; the KV cache by
//! KV heads). Weights stream from MEM through the VXM (unpacking packed codes to INT8, or
//! converting to FP16) into the MXM planes, double-buffered: a plane installs the next tile
//! while the current one multiplies. Activations live in MEM buffers between operations.
//! Attention runs on the MXM in FP16 with the KV cache as the matrix; the softmax and norms on
//! the VXM with lane reductions on the SXM. The residual stream is replicated on every rank.

use super::layout::{Alloc, Matrix, MxmType, Region, Tile};
use super::machine::{Machine, Unit};
use super::place::Item;
use super::program::{Chip, Handoff, Kind, Program, Ref, VecOp};
use super::schedule::{Input, Member, Moves, Pick, Scheduler};
use crate::quant::Format;
use crate::workload::work::Step;
use crate::workload::{TensorClass, Workload};
use std::ops::Range;

/// An activation in MEM: `k_tiles` vectors per token position, laid out K-tile major.
#[derive(Clone, Copy, Debug)]
struct Act {
    region: Region,
    k_tiles: u64,
    n_act: u64,
    /// The write that finishes last.
    ready: Option<Ref>,
}

/// What one stage is asked to lower.
pub struct StageSpec<'a> {
    pub items: &'a [Item],
    pub tp: u64,
    pub first_chip: u64,
    pub has_next: bool,
    pub is_first: bool,
}

/// One GEMV being lowered: its output buffer, the partial sums of row blocks split over
/// planes, and the writes into the output.
struct Gemv<'x> {
    mx: &'x Matrix,
    x: &'x Act,
    what: &'static str,
    out: Region,
    /// Cycles between the activation vectors a matvec reads (an FP16 pass takes several).
    ii: u32,
    partials: Vec<(u32, Act)>,
    writes: Vec<u32>,
}

/// A weight tile installed in a plane: the buffer and the install instruction.
#[derive(Clone, Copy)]
struct Installed {
    buffer: u8,
    instr: u32,
}

/// What a matvec's results become.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Results {
    /// Nothing yet: the next tile on the plane continues the row block.
    Pending,
    /// The row block's whole sum (all its K-tiles ran on this plane), into the output.
    Output,
    /// A partial sum, added to the other planes' at the end.
    Partial,
}

/// The stored tensors of one decoder layer on one rank.
struct LayerWeights {
    index: u64,
    gains: [Region; 2],
    q: Matrix,
    k: Matrix,
    v: Matrix,
    o: Matrix,
    gate: Matrix,
    up: Matrix,
    down: Matrix,
    /// Keys (positions x head_dim) and transposed values per sequence and local KV head.
    kv: Vec<(Matrix, Matrix)>,
}

/// What a stage stores, item by item.
enum Stored {
    /// The embedding piece holding the token's row, or another piece.
    Embedding(Option<Matrix>),
    Layer(Box<LayerWeights>),
    /// The final norm's gain, and the classifier when it is the tied embedding: the token's
    /// logits are computed here, from a copy of the table's rows the stage serves.
    FinalNorm(Region, Option<Matrix>),
    Classifier(Matrix),
}

/// Lowers one stage, scheduling as it goes.
pub struct Lower<'a> {
    m: &'a Machine,
    w: &'a Workload,
    step: Step,
    tp: u64,
    sched: Scheduler,
    alloc: Alloc,
    prog: Program,
    prev: Option<&'a Handoff>,
    part: u16,
    /// Per plane: the next weight buffer, and the matvec that last read each buffer.
    buffers: Vec<(u8, [Option<u32>; 2])>,
    /// Bytes of a model activation element (the MXM type of the layer weights).
    act_bytes: u64,
}

/// Lower stage `spec` of `w`'s `step` on machine `m`, after the previous stage's program;
/// with how its schedule moves with its input, when it provably does.
pub fn stage(
    m: &Machine,
    w: &Workload,
    step: Step,
    spec: &StageSpec,
    prev: Option<&Handoff>,
) -> (Program, Option<Moves>) {
    let mut l = Lower {
        m,
        w,
        step,
        tp: spec.tp,
        sched: Scheduler::new(m),
        alloc: Alloc::new(m),
        prog: Program {
            tp: spec.tp,
            first_chip: spec.first_chip,
            ..Program::default()
        },
        prev,
        part: 0,
        buffers: vec![(0, [None, None]); m.planes as usize],
        act_bytes: MxmType::of(w.quant.format(TensorClass::FfnUp)).bytes(),
    };
    l.lower(spec);
    (l.prog, l.sched.moves())
}

impl<'a> Lower<'a> {
    fn vecs(&self, width: u64, bytes: u64) -> u64 {
        (width * bytes).div_ceil(self.m.vector_bytes)
    }

    fn part(&mut self, name: String) {
        self.part = match self.prog.parts.iter().position(|p| *p == name) {
            Some(i) => i as u16,
            None => {
                self.prog.parts.push(name);
                (self.prog.parts.len() - 1) as u16
            }
        };
    }

    fn chain(&mut self, members: &[Member], what: &'static str) -> Range<u32> {
        self.sched
            .chain(&mut self.prog, self.prev, members, self.part, what)
    }

    /// Read members for vectors `from .. to` of `region`, waiting for `ready`.
    fn reads(region: &Region, from: u64, to: u64, ready: Option<Ref>, m: &Machine) -> Vec<Member> {
        region
            .runs(from, to)
            .into_iter()
            .map(|(s, addr, n)| {
                let mut mb = Member::new(
                    Pick::Fixed(Unit::Mem(s)),
                    Kind::Read { addr },
                    0,
                    n,
                    m.read_latency as u32,
                );
                mb.after = ready;
                mb
            })
            .collect()
    }

    /// Write members storing the outputs of chain member `src` (n vectors) into `region`
    /// from vector `from`.
    fn writes(region: &Region, from: u64, n: u64, src: usize) -> Vec<Member> {
        let mut done = 0;
        region
            .runs(from, from + n)
            .into_iter()
            .map(|(s, addr, k)| {
                let mut mb = Member::new(Pick::Fixed(Unit::Mem(s)), Kind::Write { addr }, k, 0, 0);
                mb.inputs.push(Input {
                    from: src,
                    first: done,
                    offset: 0,
                    count: k,
                });
                done += k;
                mb
            })
            .collect()
    }

    /// The write among `ids` that finishes last.
    fn last_write(&self, ids: impl IntoIterator<Item = u32>) -> Option<Ref> {
        ids.into_iter()
            .filter(|&i| matches!(self.prog.instrs[i as usize].kind, Kind::Write { .. }))
            .max_by_key(|&i| self.prog.instrs[i as usize].done())
            .map(Ref::here)
    }

    /// Sources (whole activations) streamed into one VXM op whose output goes to a new buffer of
    /// `out_vectors` with `k_tiles` per position.
    fn vector_op(
        &mut self,
        op: VecOp,
        sources: &[(&Region, u64, u64, Option<Ref>)],
        out_vectors: u64,
        k_tiles: u64,
        n_act: u64,
        what: &'static str,
    ) -> Act {
        let mut members = Vec::new();
        let mut feeds = Vec::new();
        for &(region, from, to, ready) in sources {
            for r in Self::reads(region, from, to, ready, self.m) {
                feeds.push((members.len(), r.n_out));
                members.push(r);
            }
        }
        let vxm = members.len();
        members.push(vxm_over(op, &feeds, out_vectors, self.m));
        let region = self.alloc.buffer(out_vectors);
        members.extend(Self::writes(&region, 0, out_vectors, vxm));
        let ids = self.chain(&members, what);
        Act {
            region,
            k_tiles,
            n_act,
            ready: self.last_write(ids),
        }
    }

    fn whole(a: &Act) -> (&Region, u64, u64, Option<Ref>) {
        (&a.region, 0, a.region.vectors, a.ready)
    }

    /// `x · Wᵀ` for a laid-out matrix; returns the output activation.
    fn gemv(&mut self, mx: &Matrix, x: &Act, what: &'static str) -> Act {
        let m = self.m;
        let out_k = self.vecs(mx.rows, mx.mxm.bytes());
        let mut job = Gemv {
            mx,
            x,
            what,
            out: self.alloc.buffer(out_k * x.n_act),
            ii: match mx.mxm {
                MxmType::Int8 => 1,
                MxmType::Fp16 => {
                    (m.fp16_divisor * mx.k_width / m.vector_bytes * mx.mxm.bytes() / 2).max(1)
                }
            } as u32,
            partials: Vec::new(),
            writes: Vec::new(),
        };
        // Tiles are emitted round robin over the planes, so that emission follows time and
        // the planes run side by side.
        let longest = mx.planes.iter().map(Vec::len).max().unwrap_or(0);
        let mut job_first_k = vec![0; mx.planes.len()];
        for i in 0..longest {
            for (p, tiles) in mx.planes.iter().enumerate() {
                let Some(t) = tiles.get(i) else {
                    continue;
                };
                let installed = self.install_tile(&job, p, i, t);
                // Results leave with the job's last K-tile.
                if i == 0 || tiles[i - 1].row_block != t.row_block {
                    job_first_k[p] = t.k;
                }
                let results = if tiles.get(i + 1).is_some_and(|n| n.row_block == t.row_block) {
                    Results::Pending
                } else if job_first_k[p] == 0 && u64::from(t.k) + 1 == mx.k_tiles {
                    Results::Output
                } else {
                    Results::Partial
                };
                let mv = self.multiply_tile(&mut job, p, i, t, installed, results);
                self.note_matvec(p, installed.buffer, mv);
            }
        }
        self.add_partials(&mut job);
        Act {
            region: job.out,
            k_tiles: out_k,
            n_act: x.n_act,
            ready: self.last_write(job.writes),
        }
    }

    /// The weight stream of tile `t` (number `i` of plane `p`): read its codes, unpack them
    /// unless already one row per vector, install them into the plane's next buffer once the
    /// matvec that last read it is done.
    fn install_tile(&mut self, job: &Gemv, p: usize, i: usize, t: &Tile) -> Installed {
        let m = self.m;
        let (buf, last_user) = {
            let (next, users) = &self.buffers[p];
            (*next, users[*next as usize])
        };
        let direct = matches!(job.mx.format, Format::Int8 | Format::F16 | Format::Bf16);
        let mut members = Self::reads(&job.mx.region, t.v0, t.v1, None, m);
        let packed: u32 = members.iter().map(|r| r.n_out).sum();
        let feeds: Vec<(usize, u32)> = members
            .iter()
            .enumerate()
            .map(|(k, r)| (k, r.n_out))
            .collect();
        let mut install = Member::new(
            Pick::Fixed(Unit::Install(p as u8)),
            Kind::Install { buffer: buf },
            t.rows,
            0,
            0,
        );
        install.tile = i as u32;
        install.free = last_user.map(Ref::here);
        if direct && packed == t.rows {
            install = install.fed_by(&feeds);
        } else {
            let unpack = members.len();
            let mut u = Member::new(
                Pick::AnyVxm,
                Kind::Unpack,
                packed,
                t.rows,
                (m.vxm_latency + u64::from(packed.saturating_sub(t.rows))) as u32,
            )
            .fed_by(&feeds);
            u.tile = i as u32;
            members.push(u);
            install = install.fed_by(&[(unpack, t.rows)]);
        }
        members.push(install);
        let ids = self.chain(&members, job.what);
        Installed {
            buffer: buf,
            instr: ids.end - 1,
        }
    }

    /// The activations of tile `t`'s K-tile through plane `p` once `installed` is done; on the
    /// row block's last K-tile, the `results` dequantized with the row block's metadata.
    /// Returns the matvec.
    fn multiply_tile(
        &mut self,
        job: &mut Gemv,
        p: usize,
        i: usize,
        t: &Tile,
        installed: Installed,
        results: Results,
    ) -> u32 {
        let m = self.m;
        let (mx, x, what) = (job.mx, job.x, job.what);
        let ab = mx.mxm.bytes();
        let n_act = x.n_act;
        let k = u64::from(t.k);
        let (mut members, feeds) =
            Self::reads_feeding(&x.region, k * n_act, (k + 1) * n_act, x.ready, m);
        let mv = members.len();
        let mut matvec = Member::new(
            Pick::Fixed(Unit::Compute(p as u8)),
            Kind::MatVec {
                buffer: installed.buffer,
            },
            n_act as u32,
            if results == Results::Pending {
                0
            } else {
                n_act as u32
            },
            m.mxm_latency as u32,
        )
        .fed_by(&feeds);
        matvec.ii = job.ii;
        matvec.tile = i as u32;
        matvec.after = Some(Ref::here(installed.instr));
        members.push(matvec);
        if results == Results::Pending {
            return self.chain(&members, what).start + mv as u32;
        }
        let rb = t.row_block as usize;
        let (mv0, mv1) = mx.meta[rb];
        let meta = Self::reads(&mx.region, mv0, mv1, None, m);
        let mut feeds: Vec<(usize, u32)> = Vec::new();
        for r in meta {
            feeds.push((members.len(), r.n_out));
            members.push(r);
        }
        feeds.push((mv, n_act as u32));
        let rows = (mx.rows - u64::from(t.row_block) * m.rows).min(m.rows);
        let cnt = self.vecs(rows, ab) * n_act;
        let dq = members.len();
        members.push(vxm_over(VecOp::Dequant, &feeds, cnt, m));
        let from = u64::from(t.row_block) * (m.rows * ab / m.vector_bytes) * n_act;
        let ids = if results == Results::Output {
            members.extend(Self::writes(&job.out, from, cnt, dq));
            let ids = self.chain(&members, what);
            job.writes.extend(ids.clone());
            ids
        } else {
            let region = self.alloc.buffer(cnt);
            members.extend(Self::writes(&region, 0, cnt, dq));
            let ids = self.chain(&members, what);
            let ready = self.last_write(ids.clone());
            job.partials.push((
                t.row_block,
                Act {
                    region,
                    k_tiles: cnt / n_act,
                    n_act,
                    ready,
                },
            ));
            ids
        };
        ids.start + mv as u32
    }

    /// Row blocks split over planes: add their partial sums into the output.
    fn add_partials(&mut self, job: &mut Gemv) {
        let m = self.m;
        let ab = job.mx.mxm.bytes();
        let n_act = job.x.n_act;
        job.partials.sort_by_key(|(rb, _)| *rb);
        let mut i = 0;
        while i < job.partials.len() {
            let rb = job.partials[i].0;
            let group: Vec<Act> = job.partials[i..]
                .iter()
                .take_while(|(r, _)| *r == rb)
                .map(|(_, a)| *a)
                .collect();
            i += group.len();
            let cnt = group[0].region.vectors;
            let mut members = Vec::new();
            let mut feeds = Vec::new();
            for a in &group {
                for r in Self::reads(&a.region, 0, cnt, a.ready, m) {
                    feeds.push((members.len(), r.n_out));
                    members.push(r);
                }
            }
            let add = members.len();
            members.push(vxm_over(VecOp::Add, &feeds, cnt, m));
            let from = u64::from(rb) * (m.rows * ab / m.vector_bytes) * n_act;
            members.extend(Self::writes(&job.out, from, cnt, add));
            let ids = self.chain(&members, job.what);
            job.writes.extend(ids);
        }
    }

    fn note_matvec(&mut self, plane: usize, buf: u8, idx: u32) {
        let (next, users) = &mut self.buffers[plane];
        users[buf as usize] = Some(idx);
        *next = 1 - *next;
    }

    /// RMSNorm of `x` with its gain vector stored in `gain`.
    fn norm(&mut self, x: &Act, gain: &Region, what: &'static str) -> Act {
        let n = x.n_act;
        let sums = self.reduce(VecOp::SumSquares, x, what);
        self.vector_op(
            VecOp::Scale,
            &[
                Self::whole(x),
                (gain, 0, gain.vectors, None),
                Self::whole(&sums),
            ],
            x.region.vectors,
            x.k_tiles,
            n,
            what,
        )
    }

    /// Reads of all of `x`, with what each delivers (to feed one consumer).
    fn read_all(x: &Act, m: &Machine) -> (Vec<Member>, Vec<(usize, u32)>) {
        Self::reads_feeding(&x.region, 0, x.region.vectors, x.ready, m)
    }

    /// [`Lower::reads`] of vectors `from..to`, and what each feeds a single consumer.
    fn reads_feeding(
        region: &Region,
        from: u64,
        to: u64,
        ready: Option<Ref>,
        m: &Machine,
    ) -> (Vec<Member>, Vec<(usize, u32)>) {
        let members = Self::reads(region, from, to, ready, m);
        let feeds = members
            .iter()
            .enumerate()
            .map(|(k, r)| (k, r.n_out))
            .collect();
        (members, feeds)
    }

    /// A VXM pass over `x` followed by an SXM lane reduction: one vector per position.
    fn reduce(&mut self, op: VecOp, x: &Act, what: &'static str) -> Act {
        let m = self.m;
        let n = x.n_act;
        let (mut members, feeds) = Self::read_all(x, m);
        let v = members.len();
        members.push(vxm_over(op, &feeds, n, m));
        let sxm = members.len();
        let near = m.sxm_near(Unit::Mem(x.region.first as u16));
        members.push(
            Member::new(
                Pick::Fixed(near),
                Kind::Reduce,
                n as u32,
                n as u32,
                m.reduce_latency as u32,
            )
            .fed_by(&[(v, n as u32)]),
        );
        let region = self.alloc.buffer(n);
        members.extend(Self::writes(&region, 0, n, sxm));
        let ids = self.chain(&members, what);
        Act {
            region,
            k_tiles: 1,
            n_act: n,
            ready: self.last_write(ids),
        }
    }

    /// Send `x` to the chip `link` leads to; returns the send.
    fn send(&mut self, x: &Act, link: u8, latency: u64, what: &'static str) -> u32 {
        let m = self.m;
        let (mut members, feeds) = Self::read_all(x, m);
        let n: u32 = feeds.iter().map(|f| f.1).sum();
        let ser = m.link_cycles_per_vector as u32;
        let mut send = Member::new(Pick::Fixed(Unit::Tx(link)), Kind::Send, n, n, 0).fed_by(&feeds);
        send.ii = ser;
        send.oi = ser;
        send.lat = ser + latency as u32;
        members.push(send);
        self.chain(&members, what).end - 1
    }

    /// Receive what `from` sent over `link` into a new buffer shaped like `like`.
    fn recv(&mut self, from: Ref, link: u8, like: &Act, what: &'static str) -> Act {
        let n = like.region.vectors;
        let mut rx = Member::new(Pick::Fixed(Unit::Rx(link)), Kind::Recv, 0, n as u32, 0);
        rx.after = Some(from);
        let region = self.alloc.buffer(n);
        let mut members = vec![rx];
        members.extend(Self::writes(&region, 0, n, 0));
        let ids = self.chain(&members, what);
        Act {
            region,
            ready: self.last_write(ids),
            ..*like
        }
    }

    /// `x + Σ partials over the ranks` (an all-reduce of `y` when tensor parallel).
    fn residual(&mut self, x: &Act, y: &Act, what: &'static str) -> Act {
        let mut received = Vec::new();
        for d in 1..self.tp {
            let (link, latency) = self.m.link_to(0, d);
            let s = self.send(y, link, latency, what);
            received.push((s, link, d));
        }
        let parts: Vec<Act> = received
            .into_iter()
            .map(|(s, link, d)| {
                let from = Ref {
                    chip: Chip::Peer(d as u32),
                    idx: s,
                };
                self.recv(from, link, y, what)
            })
            .collect();
        let mut sources = vec![Self::whole(x), Self::whole(y)];
        sources.extend(parts.iter().map(Self::whole));
        self.vector_op(
            VecOp::Add,
            &sources,
            x.region.vectors,
            x.k_tiles,
            x.n_act,
            what,
        )
    }

    fn matrix(&mut self, class: TensorClass, rows: u64, cols: u64) -> Matrix {
        Matrix::new(
            self.m,
            &mut self.alloc,
            self.w.quant.format(class),
            rows,
            cols,
        )
    }

    /// Lower the items of `spec` in order, from the stage's input to its hand-off.
    fn lower(&mut self, spec: &StageSpec) {
        // Lay out every stored tensor of the stage first, as the placement counts them.
        let stored: Vec<Stored> = spec.items.iter().map(|&item| self.lay_out(item)).collect();
        self.alloc.seal();

        let mut x = (!spec.is_first).then(|| self.stage_input(spec));
        let mut handed_off = false;
        for s in &stored {
            if matches!(s, Stored::Classifier(_)) && !handed_off {
                handed_off = true;
                self.handoff(spec, x.as_ref());
            }
            match s {
                Stored::Embedding(None) => {}
                Stored::Embedding(Some(table)) => x = Some(self.embed(table)),
                Stored::Layer(l) => {
                    self.part(part_name(Item::Layer(l.index)));
                    let input = x.unwrap_or_else(|| self.hidden_buffer());
                    x = Some(self.decoder_layer(
                        &input,
                        &l.gains,
                        [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down],
                        &l.kv,
                    ));
                }
                Stored::FinalNorm(gain, tied) => {
                    self.part(part_name(Item::FinalNorm));
                    let input = x.unwrap_or_else(|| self.hidden_buffer());
                    let normed = self.norm(&input, gain, "final_norm");
                    if let Some(mx) = tied {
                        self.classify(mx, &normed);
                    }
                    x = Some(normed);
                }
                Stored::Classifier(mx) => {
                    self.part(part_name(Item::FinalNorm));
                    let input = x.unwrap_or_else(|| self.hidden_buffer());
                    self.classify(mx, &input);
                }
            }
        }
        if !handed_off {
            self.handoff(spec, x.as_ref());
        }
    }

    /// A fresh buffer for the residual stream of every position.
    fn hidden_buffer(&mut self) -> Act {
        let k_tiles = self.vecs(self.w.model.hidden, self.act_bytes);
        let n_act = self.step.positions();
        Act {
            region: self.alloc.buffer(k_tiles * n_act),
            k_tiles,
            n_act,
            ready: None,
        }
    }

    /// Lay out the tensors `item` stores on this rank.
    fn lay_out(&mut self, item: Item) -> Stored {
        let (m, w, tp) = (self.m, self.w, self.tp);
        let model = &w.model;
        let h = model.hidden;
        match item {
            Item::Embedding { piece, pieces } => {
                let f = w.quant.format(TensorClass::Embedding);
                let rows = model.vocab.div_ceil(tp * pieces);
                let mx = Matrix::new(m, &mut self.alloc, f, rows, h);
                Stored::Embedding((piece == 0).then_some(mx))
            }
            Item::Layer(index) => Stored::Layer(Box::new(self.lay_out_layer(index))),
            Item::FinalNorm => {
                let gain = self.alloc.stored(self.gain_vectors());
                let tied = model.tied_embedding.then(|| {
                    let rows = model.vocab.div_ceil(tp);
                    self.matrix(TensorClass::Embedding, rows, h)
                });
                Stored::FinalNorm(gain, tied)
            }
            Item::Classifier { pieces, .. } => {
                let class = if model.tied_embedding {
                    TensorClass::Embedding
                } else {
                    TensorClass::Classifier
                };
                let rows = model.vocab.div_ceil(tp * pieces);
                Stored::Classifier(self.matrix(class, rows, h))
            }
        }
    }

    /// Vectors of one stored norm gain.
    fn gain_vectors(&self) -> u64 {
        let norm_format = self.w.quant.format(TensorClass::Norm);
        norm_format
            .packed_bytes(1, self.w.model.hidden)
            .div_ceil(self.m.vector_bytes)
    }

    /// Lay out decoder layer `index`'s share of this rank: its gains, its matrices and the KV
    /// cache of its KV heads.
    fn lay_out_layer(&mut self, index: u64) -> LayerWeights {
        let (m, w, step, tp) = (self.m, self.w, self.step, self.tp);
        let model = &w.model;
        let h = model.hidden;
        let (heads, kv_heads) = (model.heads.div_ceil(tp), model.kv_heads.div_ceil(tp));
        let d = model.head_dim;
        let attended = step.past + step.tokens;
        let gain_vectors = self.gain_vectors();
        let gains = [
            self.alloc.stored(gain_vectors),
            self.alloc.stored(gain_vectors),
        ];
        let (q_rows, kv_rows) = (heads * d, kv_heads * d);
        let f = model.ffn.div_ceil(tp);
        let q = self.matrix(TensorClass::AttnQ, q_rows, h);
        let k = self.matrix(TensorClass::AttnK, kv_rows, h);
        let v = self.matrix(TensorClass::AttnV, kv_rows, h);
        let o = self.matrix(TensorClass::AttnO, h, q_rows);
        let gate = self.matrix(TensorClass::FfnGate, f, h);
        let up = self.matrix(TensorClass::FfnUp, f, h);
        let down = self.matrix(TensorClass::FfnDown, h, f);
        let kv = (0..step.sequences * kv_heads)
            .map(|_| {
                let keys = Matrix::new(m, &mut self.alloc, Format::F16, attended, d);
                let values = Matrix::new(m, &mut self.alloc, Format::F16, d, attended);
                (keys, values)
            })
            .collect();
        LayerWeights {
            index,
            gains,
            q,
            k,
            v,
            o,
            gate,
            up,
            down,
            kv,
        }
    }

    /// The residual stream received from the previous stage.
    fn stage_input(&mut self, spec: &StageSpec) -> Act {
        if let Some(&first) = spec.items.first() {
            self.part(part_name(first));
        }
        let (link, _) = self.m.link_to_next_stage();
        let like = self.hidden_buffer();
        let send = self.prev.map_or(0, |h| h.idx);
        let from = Ref {
            chip: Chip::PrevStage,
            idx: send,
        };
        self.recv(from, link, &like, "stage input")
    }

    /// The token's row of the embedding `table` (the first row stands for it), dequantized on
    /// the VXM; the rank holding it broadcasts it: each rank receives it over one link.
    fn embed(&mut self, table: &Matrix) -> Act {
        let (m, tp) = (self.m, self.tp);
        self.part(part_name(Item::Embedding {
            piece: 0,
            pieces: 1,
        }));
        let h = self.w.model.hidden;
        let n_act = self.step.positions();
        let row = table.format.packed_bytes(1, h).div_ceil(m.vector_bytes);
        let row_region = Region {
            vectors: row.min(table.region.vectors),
            ..table.region
        };
        let k_tiles = self.vecs(h, self.act_bytes);
        let e = self.vector_op(
            VecOp::Dequant,
            &[(&row_region, 0, row_region.vectors, None)],
            k_tiles * n_act,
            k_tiles,
            n_act,
            "embedding",
        );
        if tp == 1 {
            return e;
        }
        let (link, latency) = m.link_to(0, 1);
        let s = self.send(&e, link, latency, "embedding");
        let from = Ref {
            chip: Chip::Peer(1),
            idx: s,
        };
        self.recv(from, link, &e, "embedding")
    }

    /// Logits of the rows this rank holds, their best entry, and the exchange that picks the
    /// winner over the ranks.
    fn classify(&mut self, mx: &Matrix, x: &Act) {
        let logits = self.gemv(mx, x, "classifier");
        let best = self.reduce(VecOp::Argmax, &logits, "classifier");
        if self.tp > 1 {
            let (link, latency) = self.m.link_to(0, 1);
            let s = self.send(&best, link, latency, "classifier");
            let from = Ref {
                chip: Chip::Peer(1),
                idx: s,
            };
            self.recv(from, link, &best, "classifier");
        }
    }

    /// Send the residual stream to the same rank of the next stage.
    fn handoff(&mut self, spec: &StageSpec, x: Option<&Act>) {
        if let (true, Some(x)) = (spec.has_next, x) {
            let (link, latency) = self.m.link_to_next_stage();
            let s = self.send(x, link, latency, "stage output");
            self.prog.handoff = Some(s);
        }
    }

    /// One decoder layer: `x` in, the new residual stream out.
    fn decoder_layer(
        &mut self,
        x: &Act,
        gains: &[Region; 2],
        [q, k, v, o, gate, up, down]: [&Matrix; 7],
        kv: &[(Matrix, Matrix)],
    ) -> Act {
        let m = self.m;
        let model = &self.w.model;
        let step = self.step;
        let xn = self.norm(x, &gains[0], "attn_norm");
        let qa = self.gemv(q, &xn, "attn_q");
        let ka = self.gemv(k, &xn, "attn_k");
        let va = self.gemv(v, &xn, "attn_v");
        // Attention per sequence and local KV head, in FP16 on the MXM.
        let group = model.heads / model.kv_heads.max(1);
        let q_act = group * step.tokens;
        let d_vecs = self.vecs(model.head_dim, 2);
        let mut ctx_ready = Vec::new();
        let per_head_q = q_act * d_vecs;
        for (keys, values) in kv {
            let rot = self.vector_op(
                VecOp::Rotary,
                &[
                    (&qa.region, 0, per_head_q.min(qa.region.vectors), qa.ready),
                    (&ka.region, 0, d_vecs.min(ka.region.vectors), ka.ready),
                ],
                per_head_q,
                d_vecs,
                q_act,
                "attention",
            );
            // The step's new keys and values appended to the cache.
            let mut appended = None;
            for (new, cache) in [(&ka, keys), (&va, values)] {
                let n = (step.tokens * d_vecs)
                    .min(new.region.vectors)
                    .min(cache.region.vectors);
                let tail = cache.region.vectors - n;
                // One chain per hemisphere of the cache's tail: the VXM sends each half its
                // way. Keys get their rotary embedding on the way.
                let half = m.slices_per_hemisphere;
                let runs = cache.region.runs(tail, tail + n);
                let west: u64 = runs
                    .iter()
                    .filter(|r| u64::from(r.0) < half)
                    .map(|r| u64::from(r.2))
                    .sum();
                for (from, count) in [(0, west), (west, n - west)] {
                    if count == 0 {
                        continue;
                    }
                    let (mut members, feeds) =
                        Self::reads_feeding(&new.region, from, from + count, new.ready, m);
                    let reads = members.len();
                    members.push(
                        Member::new(
                            Pick::AnyVxm,
                            Kind::Vector(VecOp::Rotary),
                            count as u32,
                            count as u32,
                            m.vxm_latency as u32,
                        )
                        .fed_by(&feeds),
                    );
                    members.extend(Self::writes(&cache.region, tail + from, count, reads));
                    let ids = self.chain(&members, "kv_append");
                    appended = [appended, self.last_write(ids)]
                        .into_iter()
                        .flatten()
                        .max_by_key(|r: &Ref| self.prog.instrs[r.idx as usize].done());
                }
            }
            let q_in = Act {
                ready: [rot.ready, appended]
                    .into_iter()
                    .flatten()
                    .max_by_key(|r| self.prog.instrs[r.idx as usize].done()),
                ..rot
            };
            let scores = self.gemv(keys, &q_in, "attention");
            let sums = self.reduce(VecOp::Softmax, &scores, "attention");
            let probs = self.vector_op(
                VecOp::Scale,
                &[Self::whole(&scores), Self::whole(&sums)],
                scores.region.vectors,
                scores.k_tiles,
                q_act,
                "attention",
            );
            let ctx = self.gemv(values, &probs, "attention");
            ctx_ready.extend(ctx.ready);
        }
        let o_in = Act {
            region: self
                .alloc
                .buffer(self.vecs(o.cols, self.act_bytes) * x.n_act),
            k_tiles: self.vecs(o.cols, self.act_bytes),
            n_act: x.n_act,
            ready: ctx_ready
                .into_iter()
                .max_by_key(|r| self.prog.instrs[r.idx as usize].done()),
        };
        let y = self.gemv(o, &o_in, "attn_o");
        let x = self.residual(x, &y, "attn_residual");
        let xn = self.norm(&x, &gains[1], "ffn_norm");
        let g = self.gemv(gate, &xn, "ffn_gate");
        let u = self.gemv(up, &xn, "ffn_up");
        let hsw = self.vector_op(
            VecOp::Swiglu,
            &[Self::whole(&g), Self::whole(&u)],
            g.region.vectors,
            g.k_tiles,
            x.n_act,
            "swiglu",
        );
        let y = self.gemv(down, &hsw, "ffn_down");
        self.residual(&x, &y, "ffn_residual")
    }
}

/// A VXM operation over everything `feeds` delivers, writing `out` vectors: it streams its
/// inputs at one per cycle, so its last result leaves after the latency plus the inputs beyond
/// the outputs.
fn vxm_over(op: VecOp, feeds: &[(usize, u32)], out: u64, m: &Machine) -> Member {
    let n_in: u32 = feeds.iter().map(|f| f.1).sum();
    Member::new(
        Pick::AnyVxm,
        Kind::Vector(op),
        n_in,
        out as u32,
        (m.vxm_latency + u64::from(n_in).saturating_sub(out)) as u32,
    )
    .fed_by(feeds)
}

/// The report part an item's instructions count towards.
pub fn part_name(item: Item) -> String {
    match item {
        Item::Embedding { .. } => "embedding".to_owned(),
        Item::Layer(l) => format!("layer {l}"),
        Item::FinalNorm | Item::Classifier { .. } => "head".to_owned(),
    }
}

/// One `rows` x `cols` matrix-vector product of `w`'s FFN format on its own chip, for tests.
#[cfg(test)]
pub fn gemv_alone(m: &Machine, w: &Workload, rows: u64, cols: u64) -> Program {
    let mut l = Lower {
        m,
        w,
        step: Step::decode(w),
        tp: 1,
        sched: Scheduler::new(m),
        alloc: Alloc::new(m),
        prog: Program {
            tp: 1,
            ..Program::default()
        },
        prev: None,
        part: 0,
        buffers: vec![(0, [None, None]); m.planes as usize],
        act_bytes: 1,
    };
    l.part("gemv".to_owned());
    let mx = l.matrix(TensorClass::FfnUp, rows, cols);
    l.alloc.seal();
    let x = Act {
        region: l.alloc.buffer(cols.div_ceil(m.vector_bytes)),
        k_tiles: cols.div_ceil(m.vector_bytes),
        n_act: 1,
        ready: None,
    };
    l.gemv(&mx, &x, "gemv");
    l.prog
}
