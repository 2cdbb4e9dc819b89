//! Heat maps of each wafer: SRAM in use per PE, and wavelets per router over one decode step
//! (the sum over its links, ramps included), averaged over blocks of PEs so the image stays a
//! few hundred pixels across.

use super::geometry::Geometry;
use crate::arch::WseSystem;
use crate::error::Error;
use crate::mapping::SimOptions;
use crate::quant::Format;
use crate::report::plot::{FONT, register_fonts};
use crate::workload::Workload;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Cells along the longer side of a wafer's map.
const CELLS: u32 = 300;
/// Pixels per cell.
const PIXELS: u32 = 2;
/// Room around the map for the title and the colour bar [pixels].
const TOP: u32 = 40;
const RIGHT: u32 = 110;
const MARGIN: u32 = 10;

/// The maps written for one wafer.
#[derive(Clone, Debug, PartialEq)]
pub struct WaferMaps {
    pub wafer: u32,
    pub memory: PathBuf,
    pub links: PathBuf,
}

/// Viridis, by its five quartile colours, linearly interpolated.
fn colour(x: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [
        (68, 1, 84),
        (59, 82, 139),
        (33, 145, 140),
        (94, 201, 98),
        (253, 231, 37),
    ];
    let x = x.clamp(0.0, 1.0) * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + f * (q as f64 - p as f64)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn draw_error(path: &Path, reason: impl ToString) -> Error {
    Error::Write {
        path: path.to_owned(),
        source: std::io::Error::other(reason.to_string()),
    }
}

/// Size of the image of one wafer [pixels], and PEs per cell side.
pub fn image_size(g: &Geometry) -> (u32, u32, u32) {
    let block = g.rows.max(g.cols).div_ceil(CELLS).max(1);
    let (cr, cc) = (g.rows.div_ceil(block), g.cols.div_ceil(block));
    (
        cc * PIXELS + RIGHT + 2 * MARGIN,
        cr * PIXELS + TOP + MARGIN,
        block,
    )
}

/// Draw `value(pe index within the wafer)` averaged over blocks, with a colour bar in `unit`.
fn draw(
    path: &Path,
    g: &Geometry,
    title: &str,
    unit: &str,
    value: &dyn Fn(u32) -> f64,
) -> Result<(), Error> {
    let (w, h, block) = image_size(g);
    let (cr, cc) = (g.rows.div_ceil(block), g.cols.div_ceil(block));
    let mut cells = vec![0.0; (cr * cc) as usize];
    for r in 0..g.rows {
        for c in 0..g.cols {
            cells[((r / block) * cc + c / block) as usize] += value(r * g.cols + c);
        }
    }
    for (i, v) in cells.iter_mut().enumerate() {
        let (r, c) = (i as u32 / cc, i as u32 % cc);
        let n =
            (g.rows.min((r + 1) * block) - r * block) * (g.cols.min((c + 1) * block) - c * block);
        *v /= n as f64;
    }
    let max = cells.iter().copied().fold(0.0, f64::max);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| draw_error(path, e);
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let font = |size| TextStyle::from((FONT, size).into_font());
    root.draw(&Text::new(title.to_owned(), (MARGIN as i32, 10), font(16)))
        .map_err(|e| err(&e))?;
    for (i, &v) in cells.iter().enumerate() {
        let (r, c) = (i as u32 / cc, i as u32 % cc);
        let (x, y) = ((MARGIN + c * PIXELS) as i32, (TOP + r * PIXELS) as i32);
        let fill = colour(if max > 0.0 { v / max } else { 0.0 }).filled();
        root.draw(&Rectangle::new(
            [(x, y), (x + PIXELS as i32, y + PIXELS as i32)],
            fill,
        ))
        .map_err(|e| err(&e))?;
    }
    // Colour bar: top is the largest cell's value.
    let x = (MARGIN + cc * PIXELS + 15) as i32;
    let height = (cr * PIXELS) as i32;
    for y in 0..height {
        let c = colour(1.0 - y as f64 / height.max(1) as f64).filled();
        let y0 = TOP as i32 + y;
        root.draw(&Rectangle::new([(x, y0), (x + 15, y0 + 1)], c))
            .map_err(|e| err(&e))?;
    }
    let label = |v: f64| format!("{v:.0} {unit}");
    root.draw(&Text::new(label(max), (x + 20, TOP as i32), font(12)))
        .map_err(|e| err(&e))?;
    root.draw(&Text::new(
        label(0.0),
        (x + 20, TOP as i32 + height - 12),
        font(12),
    ))
    .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// Simulate `w`'s decode step at the fast fidelity and write, per wafer, `wafer{i}-memory.png`
/// and `wafer{i}-links.png` into `dir`.
pub fn heatmaps(
    m: &WseSystem,
    w: &Workload,
    format: Format,
    opts: &SimOptions,
    dir: &Path,
) -> crate::Result<Vec<WaferMaps>> {
    register_fonts();
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_owned(),
        source,
    })?;
    let mut w = w.clone();
    w.quant = w.quant.with_matrices_as(format);
    let placement = super::place(m, &w, opts.units);
    let wafers = super::wafers(&placement, opts)?;
    let plan = super::choose(m, &w, wafers, opts)?.plan;
    let f = super::run_fast(m, &w, &plan, (true, None))?;
    let g = &plan.geometry;
    let per = g.wafer_pes();
    let pe_memory = plan.pe_memory();
    let mut out = Vec::new();
    for wafer in 0..g.wafers {
        let base = wafer * per;
        let memory = dir.join(format!("wafer{wafer}-memory.png"));
        let title = format!("{} wafer {wafer}: SRAM in use per PE", w.name);
        let sram = m.wafer.pe.sram_bytes as f64;
        draw(&memory, g, &title, "% SRAM", &|i| {
            100.0 * pe_memory[(base + i) as usize] as f64 / sram
        })?;
        let links = dir.join(format!("wafer{wafer}-links.png"));
        let title = format!(
            "{} wafer {wafer}: wavelets per router, one decode step",
            w.name
        );
        draw(&links, g, &title, "wavelets", &|i| {
            let pe = super::geometry::Pe(base + i);
            (0..6).map(|p| f.link_load(g.link(pe, p)) as f64).sum()
        })?;
        out.push(WaferMaps {
            wafer,
            memory,
            links,
        });
    }
    Ok(out)
}
