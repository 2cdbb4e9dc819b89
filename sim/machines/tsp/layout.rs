//! Where bytes live in MEM. A region stripes its vectors over consecutive MEM slices, a run of
//! consecutive addresses per slice (as the placement counts them: `ceil(vectors / slices)`
//! addresses in each slice). A weight shard is its packed bitstream (the exact bytes of the
//! format catalogue), reordered tile by tile: each 320-row by one-vector-wide tile is a
//! contiguous piece of the stream, followed by the per-row metadata of each row block.

use super::machine::Machine;
use crate::quant::Format;

/// Vectors striped over slices `first ..`, `per_slice` consecutive addresses each from `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub first: u64,
    pub slices: u64,
    pub base: u64,
    pub per_slice: u64,
    pub vectors: u64,
}

impl Region {
    /// The runs `(slice, address, count)` holding vectors `from .. to`.
    pub fn runs(&self, from: u64, to: u64) -> Vec<(u16, u32, u32)> {
        let mut out = Vec::new();
        let mut v = from;
        while v < to {
            let k = v / self.per_slice;
            let end = ((k + 1) * self.per_slice).min(to);
            out.push((
                (self.first + k) as u16,
                (self.base + v % self.per_slice) as u32,
                (end - v) as u32,
            ));
            v = end;
        }
        out
    }
}

/// Hands out MEM: weights and KV cache from address 0 up, striped over every slice; buffers
/// in a ring over the addresses left.
pub struct Alloc {
    slices: u64,
    addresses: u64,
    next: u64,
    ring_base: u64,
    ring_next: u64,
    ring_slice: u64,
}

/// Vectors a buffer keeps in one slice before spreading to the next.
const BUFFER_RUN: u64 = 64;

impl Alloc {
    pub fn new(m: &Machine) -> Self {
        Alloc {
            slices: m.slices,
            addresses: m.addresses,
            next: 0,
            ring_base: 0,
            ring_next: 0,
            ring_slice: 0,
        }
    }

    /// A region of `vectors` over every slice (weights, KV cache).
    pub fn stored(&mut self, vectors: u64) -> Region {
        let per_slice = vectors.div_ceil(self.slices).max(1);
        let r = Region {
            first: 0,
            slices: self.slices,
            base: self.next,
            per_slice,
            vectors,
        };
        self.next += per_slice;
        r
    }

    /// Start the buffer ring after the stored regions.
    pub fn seal(&mut self) {
        self.ring_base = self.next.min(self.addresses.saturating_sub(1));
        self.ring_next = self.ring_base;
    }

    /// A working buffer of `vectors`: a few slices, the next in turn, in the ring of addresses
    /// above the stored data. The ring is reused round robin; buffers are short-lived.
    pub fn buffer(&mut self, vectors: u64) -> Region {
        // A buffer stays in one hemisphere, so one stream direction reaches all of it from
        // the VXM.
        let half = (self.slices / 2).max(1);
        let slices = vectors.div_ceil(BUFFER_RUN).clamp(1, half);
        let per_slice = vectors.div_ceil(slices).max(1);
        if self.ring_next + per_slice > self.addresses {
            self.ring_next = self.ring_base;
        }
        let hemisphere_end = (self.ring_slice / half + 1) * half;
        let first = if self.ring_slice + slices > hemisphere_end {
            hemisphere_end % (2 * half)
        } else {
            self.ring_slice
        };
        self.ring_slice = (first + slices) % self.slices;
        let r = Region {
            first,
            slices,
            base: self.ring_next,
            per_slice,
            vectors,
        };
        self.ring_next += per_slice;
        r
    }
}

/// Data type the MXM multiplies a format in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MxmType {
    Int8,
    Fp16,
}

impl MxmType {
    /// Integer formats are unpacked to INT8; floating-point ones run in FP16.
    pub fn of(f: Format) -> Self {
        if f.is_integer() {
            MxmType::Int8
        } else {
            MxmType::Fp16
        }
    }

    /// Bytes of one element.
    pub fn bytes(self) -> u64 {
        match self {
            MxmType::Int8 => 1,
            MxmType::Fp16 => 2,
        }
    }
}

/// Bits of the codes of a `rows` x `cols` tile as a piece of the format's stream.
pub fn tile_bits(f: Format, rows: u64, cols: u64) -> u64 {
    match f {
        Format::Q35 | Format::Q35Opt => 7 * rows * cols.div_ceil(2),
        Format::Int3G64 | Format::Q3K256 => 3 * rows * cols,
        _ => 8 * f.code_bytes(rows, cols),
    }
}

/// One tile of a weight matrix in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub row_block: u32,
    pub k: u32,
    pub rows: u32,
    /// Vectors `[v0, v1)` of the region holding its codes.
    pub v0: u64,
    pub v1: u64,
}

/// A weight matrix (or KV-cache matrix) laid out for the MXM: tiles dealt out to the planes in
/// contiguous chunks of row-major tile order.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub format: Format,
    pub mxm: MxmType,
    pub rows: u64,
    pub cols: u64,
    /// Elements of one K-tile (one vector of the MXM type).
    pub k_width: u64,
    pub k_tiles: u64,
    pub region: Region,
    /// Tiles per plane, in stream order.
    pub planes: Vec<Vec<Tile>>,
    /// Metadata vectors `[v0, v1)` of each row block.
    pub meta: Vec<(u64, u64)>,
}

impl Matrix {
    /// Lay out a `rows` x `cols` matrix in `format` from `alloc`.
    pub fn new(m: &Machine, alloc: &mut Alloc, format: Format, rows: u64, cols: u64) -> Self {
        let mxm = MxmType::of(format);
        let vbits = 8 * m.vector_bytes;
        let k_width = m.vector_bytes / mxm.bytes();
        let (k_tiles, row_blocks) = (cols.div_ceil(k_width), rows.div_ceil(m.rows));
        let total = row_blocks * k_tiles;
        let per_plane = total.div_ceil(m.planes);
        let mut planes = vec![Vec::new(); m.planes as usize];
        let mut bit = 0;
        for t in 0..total {
            let (r, k) = (t / k_tiles, t % k_tiles);
            let tr = (rows - r * m.rows).min(m.rows);
            let tc = (cols - k * k_width).min(k_width);
            let bits = tile_bits(format, tr, tc);
            planes[(t / per_plane) as usize].push(Tile {
                row_block: r as u32,
                k: k as u32,
                rows: tr as u32,
                v0: bit / vbits,
                v1: (bit + bits).div_ceil(vbits),
            });
            bit += bits;
        }
        let mut byte = bit.div_ceil(8);
        let meta = (0..row_blocks)
            .map(|r| {
                let tr = (rows - r * m.rows).min(m.rows);
                let b = format.metadata_bytes(tr, cols);
                let span = (byte / m.vector_bytes, (byte + b).div_ceil(m.vector_bytes));
                byte += b;
                span
            })
            .collect();
        let vectors = byte.div_ceil(m.vector_bytes);
        Matrix {
            format,
            mxm,
            rows,
            cols,
            k_width,
            k_tiles,
            region: alloc.stored(vectors),
            planes,
            meta,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        let archs = crate::arch::presets().unwrap();
        let a = archs
            .into_iter()
            .find(|(_, a)| a.name == "groq-tsp")
            .unwrap();
        match a.1.machine {
            crate::arch::Machine::GroqTsp(t) => Machine::new(&t),
            _ => unreachable!(),
        }
    }

    #[test]
    fn tiles_hold_exactly_the_packed_bytes() {
        let m = machine();
        for f in Format::ALL {
            for (rows, cols) in [(1024, 8192), (320, 320), (64, 172), (33, 7)] {
                let mut a = Alloc::new(&m);
                let mx = Matrix::new(&m, &mut a, f, rows, cols);
                let codes: u64 = mx.planes.iter().flatten().map(|t| t.v1 - t.v0).sum();
                assert!(codes * 320 >= f.code_bytes(rows, cols), "{f} {rows}x{cols}");
                assert_eq!(
                    mx.region.vectors,
                    f.packed_bytes(rows, cols).div_ceil(320),
                    "{f} {rows}x{cols}"
                );
            }
        }
    }

    #[test]
    fn regions_split_into_runs_per_slice() {
        let r = Region {
            first: 2,
            slices: 3,
            base: 10,
            per_slice: 4,
            vectors: 12,
        };
        assert_eq!(r.runs(3, 9), [(2, 13, 1), (3, 10, 4), (4, 10, 1)]);
    }
}
