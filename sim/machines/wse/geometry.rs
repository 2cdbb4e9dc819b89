//! Where things are on a system of wafers: PEs, the links between routers, dimension-ordered
//! routes, and the I/O lanes joining wafers.
//!
//! Each router has six links it sends on: north, east, south, west, the ramp into its PE, and
//! the ramp out of its PE into itself. Wafers are joined by a switched I/O fabric modelled as
//! `io_lanes` links per wafer, each carrying one wavelet per cycle after `io_latency` cycles
//! (the lanes together carry the system's I/O bandwidth).

use crate::arch::WseSystem;

/// A PE (and its router) anywhere in the system: `(wafer * rows + row) * cols + col`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pe(pub u32);

impl Pe {
    /// The PE `offset` places further on in index order: a translation of a whole region, since
    /// the index is `(wafer * rows + row) * cols + col` and a region that is a translate of
    /// another never wraps a row or a wafer.
    pub fn translated(self, offset: i64) -> Pe {
        Pe((self.0 as i64 + offset) as u32)
    }
}

/// The smallest box holding a region: lowest and highest wafer, row and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub lo: [u32; 3],
    pub hi: [u32; 3],
}

/// A rigid move of a region, by whole wafers, rows and columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    pub wafers: i64,
    pub rows: i64,
    pub cols: i64,
}

/// A link, by index: `pe * 6 + port` for router ports, then the I/O lanes of each wafer.
pub type LinkId = u32;

/// Router ports a link leaves from.
pub const NORTH: u32 = 0;
pub const EAST: u32 = 1;
pub const SOUTH: u32 = 2;
pub const WEST: u32 = 3;
pub const RAMP_IN: u32 = 4;
pub const RAMP_OUT: u32 = 5;
/// Links per router: link ids of a translated region move by this much per PE.
pub const PORTS: u32 = 6;

/// The shape of the system and the latencies of its links.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    pub wafers: u32,
    pub rows: u32,
    pub cols: u32,
    /// Cycles per router hop (and per ramp).
    pub hop: u64,
    /// I/O links leaving each wafer.
    pub io_lanes: u32,
    /// Cycles from one wafer's edge to the next one's.
    pub io_latency: u64,
    /// Wavelets a router queues per color and input port (and a PE per input queue).
    pub queue: u64,
}

impl Geometry {
    /// The geometry of `wafers` wafers of `m`.
    pub fn new(m: &WseSystem, wafers: u32) -> Geometry {
        let w = &m.wafer;
        let wavelet_bytes = w.router.wavelet_bits as f64 / 8.0;
        let io_lanes = (m.system.io_bytes_per_s / w.clock_hz / wavelet_bytes).floor();
        Geometry {
            wafers,
            rows: w.fabric_rows as u32,
            cols: w.fabric_cols as u32,
            hop: w.router.hop_cycles,
            io_lanes: (io_lanes as u32).max(1),
            io_latency: (m.system.io_latency_ns * 1e-9 * w.clock_hz).ceil().max(1.0) as u64,
            queue: w.router.queue_wavelets,
        }
    }

    /// PEs per wafer.
    pub fn wafer_pes(&self) -> u32 {
        self.rows * self.cols
    }

    /// PEs in the system.
    pub fn pes(&self) -> usize {
        self.wafers as usize * self.wafer_pes() as usize
    }

    /// Links in the system, I/O lanes included.
    pub fn links(&self) -> usize {
        self.pes() * PORTS as usize + self.wafers as usize * self.io_lanes as usize
    }

    /// The PE at `row`, `col` of `wafer`.
    pub fn pe(&self, wafer: u32, row: u32, col: u32) -> Pe {
        Pe((wafer * self.rows + row) * self.cols + col)
    }

    /// `(wafer, row, col)` of a PE.
    pub fn coords(&self, pe: Pe) -> (u32, u32, u32) {
        let per = self.wafer_pes();
        let (w, i) = (pe.0 / per, pe.0 % per);
        (w, i / self.cols, i % self.cols)
    }

    /// The smallest box of wafers, rows and columns holding `pes` (`None` for none).
    pub fn bounds(&self, pes: impl IntoIterator<Item = Pe>) -> Option<Bounds> {
        pes.into_iter().fold(None, |b: Option<Bounds>, pe| {
            let (w, r, c) = self.coords(pe);
            let at = [w, r, c];
            Some(match b {
                None => Bounds { lo: at, hi: at },
                Some(b) => Bounds {
                    lo: std::array::from_fn(|i| b.lo[i].min(at[i])),
                    hi: std::array::from_fn(|i| b.hi[i].max(at[i])),
                },
            })
        })
    }

    /// How moving every PE of a region within `b`, `at` among them, `offset` places on in
    /// index order ([`Pe::translated`]) moves them, if it moves them all by the same wafers,
    /// rows and columns: it does when the box moved as `at` does stays in the system (no row
    /// wraps), since a PE's index is linear in its coordinates. Routes between PEs so moved
    /// move along unchanged.
    pub fn rigid_shift(&self, b: &Bounds, at: Pe, offset: i64) -> Option<Shift> {
        let to = at.0 as i64 + offset;
        if !(0..self.pes() as i64).contains(&to) {
            return None;
        }
        let (from, to) = (self.coords(at), self.coords(Pe(to as u32)));
        let d = [
            to.0 as i64 - from.0 as i64,
            to.1 as i64 - from.1 as i64,
            to.2 as i64 - from.2 as i64,
        ];
        let size = [self.wafers, self.rows, self.cols];
        (0..3)
            .all(|i| b.lo[i] as i64 + d[i] >= 0 && b.hi[i] as i64 + d[i] < size[i] as i64)
            .then_some(Shift {
                wafers: d[0],
                rows: d[1],
                cols: d[2],
            })
    }

    /// The link leaving `pe`'s router by `port`.
    pub fn link(&self, pe: Pe, port: u32) -> LinkId {
        pe.0 * PORTS + port
    }

    /// The router a link leaves from and its port, or `None` for an I/O lane.
    pub fn link_port(&self, link: LinkId) -> Option<(Pe, u32)> {
        (link < self.pes() as u32 * PORTS).then_some((Pe(link / PORTS), link % PORTS))
    }

    /// The wafer an I/O lane leaves from.
    pub fn io_wafer(&self, link: LinkId) -> u32 {
        (link - self.pes() as u32 * PORTS) / self.io_lanes
    }

    /// The first I/O lane: every link from here on is one.
    pub fn io_base(&self) -> LinkId {
        self.pes() as u32 * PORTS
    }

    /// Whether `link` is an I/O lane.
    pub fn is_io(&self, link: LinkId) -> bool {
        link as usize >= self.pes() * PORTS as usize
    }

    fn io_link(&self, wafer: u32, lane: u32) -> LinkId {
        self.pes() as u32 * PORTS + wafer * self.io_lanes + lane
    }
}

/// The links one message takes and where it is delivered: position `p` is the router reached
/// after `links[..p]` (position 0 is the sending PE itself, before its ramp out).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Route {
    /// Links in order, with their latency [cycles].
    pub links: Vec<(LinkId, u64)>,
    /// The router at each position (`links.len() + 1` of them; none when `skip_nodes`).
    pub nodes: Vec<Pe>,
    /// Leave `nodes` empty (the fast fidelity does not need them).
    pub skip_nodes: bool,
    /// The router the route has reached.
    head: Pe,
    /// Deliveries to PEs, by position, in increasing order.
    pub drops: Vec<(u32, Pe)>,
}

impl Route {
    /// Start a route at `src`'s PE: its ramp out into its own router.
    pub fn start(&mut self, g: &Geometry, src: Pe) {
        self.links.clear();
        self.nodes.clear();
        self.drops.clear();
        self.links.push((g.link(src, RAMP_OUT), g.hop));
        if !self.skip_nodes {
            self.nodes.push(src);
            self.nodes.push(src);
        }
        self.head = src;
    }

    /// The router the route has reached.
    pub fn head(&self) -> Pe {
        self.head
    }

    /// Extend the route to `to`'s router: rows first, then columns; across wafers through the
    /// east edge of the current row, an I/O lane, and the west edge of the same row.
    pub fn walk(&mut self, g: &Geometry, to: Pe) {
        let (tw, tr, tc) = g.coords(to);
        let (w, r, _) = g.coords(self.head());
        if w != tw {
            self.walk(g, g.pe(w, r, g.cols - 1));
            let lane = r % g.io_lanes;
            self.links.push((g.io_link(w, lane), g.io_latency));
            self.head = g.pe(tw, r, 0);
            if !self.skip_nodes {
                self.nodes.push(self.head);
            }
        }
        let (_, r, c) = g.coords(self.head());
        let (pe, cols, hop) = (self.head().0, g.cols, g.hop);
        // Rows first: one hop per row down (south) or up (north), then along the row.
        let rows = r.abs_diff(tr);
        let (port, step) = if r < tr {
            (SOUTH, cols as i64)
        } else {
            (NORTH, -(cols as i64))
        };
        let at = |pe: u32, k: u32, step: i64| (pe as i64 + k as i64 * step) as u32;
        self.links
            .extend((0..rows).map(|k| (at(pe, k, step) * PORTS + port, hop)));
        if !self.skip_nodes {
            self.nodes.extend((1..=rows).map(|k| Pe(at(pe, k, step))));
        }
        let pe = at(pe, rows, step);
        let along = c.abs_diff(tc);
        let (port, step) = if c < tc { (EAST, 1) } else { (WEST, -1) };
        self.links
            .extend((0..along).map(|k| (at(pe, k, step) * PORTS + port, hop)));
        if !self.skip_nodes {
            self.nodes.extend((1..=along).map(|k| Pe(at(pe, k, step))));
        }
        self.head = Pe(at(pe, along, step));
    }

    /// Deliver to the PE of the router the route has reached.
    pub fn drop_here(&mut self) {
        let pos = self.links.len() as u32;
        self.drops.push((pos, self.head()));
    }

    /// A route from `src` along `stops` in order, delivering at each.
    pub fn through(&mut self, g: &Geometry, src: Pe, stops: impl IntoIterator<Item = Pe>) {
        self.start(g, src);
        for pe in stops {
            self.walk(g, pe);
            self.drop_here();
        }
    }
}

/// PE columns handed out by sweeping the wafer's columns back and forth: each call takes a
/// vertical run of PEs at the top of what is free in the current column, then moves to the next
/// column (turning at the edges), so consecutive runs are neighbours and runs of one region line
/// up into rows a multicast can follow. A sweep may be confined to a rectangle: a band of rows
/// or a strip of columns.
#[derive(Clone, Debug)]
pub struct Sweep {
    rows: u32,
    cols: u32,
    wafer: u32,
    skyline: Vec<u32>,
    /// No run reaches this row (the band's bottom, or the wafer's).
    bottom: u32,
    /// The columns it hands out: `left..right`.
    left: u32,
    right: u32,
    cursor: u32,
    east: bool,
}

impl Sweep {
    /// An empty sweep starting at wafer 0.
    pub fn new(g: &Geometry) -> Sweep {
        Sweep::band(g, 0, 0, g.rows)
    }

    /// An empty sweep of rows `top..top + height` of `wafer`, cursor at column 0 heading east:
    /// it hands out the same runs, relative to `top`, wherever the band is, so regions laid out
    /// in fresh bands are exact translates of each other. Past the band it goes on with whole
    /// next wafers, as [`Sweep::new`] does.
    pub fn band(g: &Geometry, wafer: u32, top: u32, height: u32) -> Sweep {
        Sweep::rectangle(g, wafer, top, height, 0, g.cols)
    }

    /// An empty sweep of the full-height columns `left..left + width` of `wafer`: the
    /// counterpart of [`Sweep::band`] across the wafer (same runs relative to `left` wherever
    /// the strip is).
    pub fn strip(g: &Geometry, wafer: u32, left: u32, width: u32) -> Sweep {
        Sweep::rectangle(g, wafer, 0, g.rows, left, width)
    }

    fn rectangle(g: &Geometry, wafer: u32, top: u32, height: u32, left: u32, width: u32) -> Sweep {
        Sweep {
            rows: g.rows,
            cols: g.cols,
            wafer,
            skyline: vec![top; g.cols as usize],
            bottom: top + height,
            left,
            right: left + width,
            cursor: left,
            east: true,
        }
    }

    /// The wafer being filled.
    pub fn wafer(&self) -> u32 {
        self.wafer
    }

    /// The first row below every run handed out on the current wafer (or the band's top).
    pub fn depth(&self) -> u32 {
        self.skyline.iter().copied().max().unwrap_or(0)
    }

    /// Rows free below the skyline in the column the cursor is at (a fresh band's height).
    pub fn free_height(&self) -> u32 {
        self.bottom - self.skyline[self.cursor as usize].min(self.bottom)
    }

    /// Move on to an empty next wafer.
    pub fn next_wafer(&mut self) {
        self.wafer += 1;
        self.skyline.iter_mut().for_each(|s| *s = 0);
        self.bottom = self.rows;
        (self.left, self.right) = (0, self.cols);
        self.cursor = 0;
        self.east = true;
    }

    fn advance(&mut self) {
        if self.east {
            if self.cursor + 1 < self.right {
                self.cursor += 1
            } else {
                self.east = false
            }
        } else if self.cursor > self.left {
            self.cursor -= 1
        } else {
            self.east = true
        }
    }

    /// `(row, col)` on the current wafer of the top of a free run of `height` PEs, or `None`
    /// if no column has that much left.
    pub fn column(&mut self, height: u32) -> Option<(u32, u32)> {
        if self.left >= self.right {
            return None;
        }
        for _ in 0..=2 * (self.right - self.left) {
            let c = self.cursor;
            let top = self.skyline[c as usize];
            self.advance();
            if top + height <= self.bottom {
                self.skyline[c as usize] = top + height;
                return Some((top, c));
            }
        }
        None
    }
}
