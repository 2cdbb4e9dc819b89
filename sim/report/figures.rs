//! The report's figures, each a value that draws itself on any plotters backend, saved as PNG
//! and as self-contained SVG. Three chart shapes cover them all: horizontal bars on a log axis
//! (sizes, unit counts), x-y plots of lines and dots (speeds, rooflines, accuracy, Pareto), and
//! the bit layout of each packed format.

use super::plot::{FONT, register_fonts};
use super::svg;
use crate::error::Error;
use crate::quant::Format;
use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Result of drawing on backend `DB`.
pub type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Something that can be drawn at a fixed pixel size.
pub trait Figure {
    /// Width and height [pixels].
    fn size(&self) -> (u32, u32);
    /// Draw on a white `root` of [`Figure::size`].
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB>;
}

fn write_error(path: &Path, reason: impl ToString) -> Error {
    Error::Write {
        path: path.to_owned(),
        source: std::io::Error::other(reason.to_string()),
    }
}

/// Save `fig` as `dir/name.png` and `dir/name.svg` (font embedded); returns both paths.
pub fn save(fig: &impl Figure, dir: &Path, name: &str) -> Result<[PathBuf; 2], Error> {
    register_fonts();
    let png = dir.join(format!("{name}.png"));
    let svg_path = dir.join(format!("{name}.svg"));
    {
        let root = BitMapBackend::new(&png, fig.size()).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|()| fig.draw(&root))
            .and_then(|()| root.present())
            .map_err(|e| write_error(&png, e))?;
    }
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, fig.size()).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|()| fig.draw(&root))
            .and_then(|()| root.present())
            .map_err(|e| write_error(&svg_path, e))?;
    }
    std::fs::write(&svg_path, svg::embed_font(&text)).map_err(|source| Error::Write {
        path: svg_path.clone(),
        source,
    })?;
    Ok([png, svg_path])
}

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font())
}

/// One panel of horizontal bars on a log axis, with labelled vertical reference lines.
#[derive(Clone, Debug, PartialEq)]
pub struct Bars {
    pub title: String,
    pub x_label: String,
    /// Label and value of each bar; `None` is drawn as the word "none".
    pub bars: Vec<(String, Option<f64>)>,
    /// Reference lines: value and label (the claimed figures).
    pub marks: Vec<(f64, String)>,
}

fn bars_on<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Bars) -> Drawn<DB> {
    let values: Vec<f64> = p
        .bars
        .iter()
        .filter_map(|b| b.1)
        .chain(p.marks.iter().map(|m| m.0))
        .filter(|v| *v > 0.0)
        .collect();
    let lo = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(1.0)
        / 2.0;
    let hi = values.iter().copied().fold(lo * 4.0, f64::max) * 3.0;
    let n = p.bars.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, font(16))
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())?;
    let names: Vec<String> = p.bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc(&p.x_label)
        .label_style(font(12))
        .axis_desc_style(font(13))
        .draw()?;
    chart.draw_series(p.bars.iter().enumerate().filter_map(|(i, (_, v))| {
        v.map(|v| {
            let mut r = Rectangle::new(
                [
                    (lo, SegmentValue::Exact(i)),
                    (v, SegmentValue::Exact(i + 1)),
                ],
                Palette99::pick(i).filled(),
            );
            r.set_margin(3, 3, 0, 0);
            r
        })
    }))?;
    chart.draw_series(
        p.bars
            .iter()
            .enumerate()
            .filter(|(_, b)| b.1.is_none())
            .map(|(i, _)| Text::new("none", (lo * 1.2, SegmentValue::CenterOf(i)), font(12))),
    )?;
    for (v, label) in &p.marks {
        chart.draw_series(LineSeries::new(
            [(*v, SegmentValue::Exact(0)), (*v, SegmentValue::Exact(n))],
            RED.stroke_width(2),
        ))?;
        chart.draw_series([Text::new(
            label.clone(),
            (*v * 1.1, SegmentValue::Exact(n)),
            font(12).color(&RED),
        )])?;
    }
    Ok(())
}

/// Panels of bars side by side under one title.
#[derive(Clone, Debug, PartialEq)]
pub struct BarPanels {
    pub title: String,
    pub panels: Vec<Bars>,
}

impl Figure for BarPanels {
    fn size(&self) -> (u32, u32) {
        (420 * self.panels.len().max(1) as u32, 460)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        let root = root.titled(&self.title, font(18))?;
        let areas = root.split_evenly((1, self.panels.len().max(1)));
        for (area, p) in areas.iter().zip(&self.panels) {
            bars_on(area, p)?;
        }
        Ok(())
    }
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Points joined by a line.
    Line,
    /// Points alone.
    Dots,
    /// Points alone, large and red (highlighted: the Pareto front).
    Highlight,
}

/// One named series of an x-y plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
}

/// An x-y plot: lines and dots, optional point labels, an optional note under the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Text placed at data coordinates (names of points).
    pub labels: Vec<(f64, f64, String)>,
    /// Caveats (skipped families, shortened texts), printed under the plot.
    pub note: Option<String>,
}

fn bounds(points: impl Iterator<Item = (f64, f64)>) -> (f64, f64, f64, f64) {
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for (x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    let pad = |a: f64, b: f64| {
        let d = if b > a {
            (b - a) * 0.08
        } else {
            a.abs().max(1.0) * 0.1
        };
        (a - d, b + d)
    };
    let (x0, x1) = pad(x0, x1);
    let (y0, y1) = pad(y0, y1);
    (x0, x1, y0, y1)
}

fn plot_on<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Plot) -> Drawn<DB> {
    let (plot_area, note_area) = area.split_vertically(area.dim_in_pixel().1 - 30);
    let all = p.series.iter().flat_map(|s| s.points.iter().copied());
    let (x0, x1, y0, y1) = bounds(all);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(&p.title, font(16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .label_style(font(12))
        .axis_desc_style(font(13))
        .draw()?;
    for (k, s) in p.series.iter().enumerate() {
        let color = if s.style == Style::Highlight {
            RED.to_rgba()
        } else {
            Palette99::pick(k + 1).to_rgba()
        };
        let pts = s.points.clone();
        let drawn = match s.style {
            Style::Line => {
                chart.draw_series(LineSeries::new(pts, color.stroke_width(2)).point_size(3))?
            }
            Style::Dots | Style::Highlight => {
                let r = if s.style == Style::Highlight { 5 } else { 3 };
                chart.draw_series(
                    pts.into_iter()
                        .map(move |c| Circle::new(c, r, color.filled())),
                )?
            }
        };
        drawn
            .label(&s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 12, y + 4)], color.filled()));
    }
    chart.draw_series(
        p.labels
            .iter()
            .map(|(x, y, t)| Text::new(t.clone(), (*x, *y), font(11))),
    )?;
    if !p.series.is_empty() {
        chart
            .configure_series_labels()
            .label_font(font(12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
    }
    if let Some(note) = &p.note {
        note_area.draw(&Text::new(note.clone(), (10, 5), font(12)))?;
    }
    Ok(())
}

impl Figure for Plot {
    fn size(&self) -> (u32, u32) {
        (900, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        plot_on(root, self)
    }
}

/// Plots side by side.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotPair(pub Plot, pub Plot);

impl Figure for PlotPair {
    fn size(&self) -> (u32, u32) {
        (1400, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        let (left, right) = root.split_horizontally(700);
        plot_on(&left, &self.0)?;
        plot_on(&right, &self.1)
    }
}

/// The first 32 bits of each format's codes section, field by field.
#[derive(Clone, Debug, PartialEq)]
pub struct BitLayouts {
    pub formats: Vec<Format>,
}

/// Bits shown per format.
const SHOWN_BITS: u32 = 32;

/// The repeating pattern of code fields: (width in bits, whether it holds a weight, not padding).
/// Mirrors docs/formats.md; the test checks it against the catalogue's bits per code.
fn pattern(f: Format) -> &'static [(u32, bool)] {
    match f {
        Format::F32 => &[(32, true)],
        Format::F16 | Format::Bf16 => &[(16, true)],
        Format::Int8 => &[(8, true)],
        Format::Int4G128 => &[(4, true)],
        Format::Int3G64 | Format::Q3K256 => &[(3, true)],
        Format::Q35 | Format::Q35Opt => &[(4, true), (3, true)],
        Format::Q35Byte => &[(4, true), (3, true), (1, false)],
    }
}

/// What a format stores besides its codes.
fn metadata(f: Format) -> &'static str {
    match f {
        Format::F32 | Format::F16 | Format::Bf16 => "no metadata",
        Format::Int8 => "+ f16 scale per row",
        Format::Int4G128 => "+ f16 scale, f16 zero per 128 weights",
        Format::Int3G64 => "+ f16 scale, f16 zero per 64 weights",
        Format::Q35 | Format::Q35Byte | Format::Q35Opt => "+ f16 scale, f16 offset per row",
        Format::Q3K256 => "+ f16 scale, f16 min per 256, 6-bit scale, min per 32",
    }
}

impl Figure for BitLayouts {
    fn size(&self) -> (u32, u32) {
        (1200, 70 + 50 * self.formats.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        let root = root.titled(
            "Codes section, stream bits 0-31 (bit 0 = LSB of byte 0); colour = weight, grey = padding",
            font(16),
        )?;
        let (x0, cell, h) = (110, 22, 30);
        for (row, &f) in self.formats.iter().enumerate() {
            let y = 10 + 50 * row as i32;
            root.draw(&Text::new(f.name(), (5, y + 8), font(14)))?;
            let (mut bit, mut weight) = (0u32, 0usize);
            'fields: for &(width, holds) in pattern(f).iter().cycle() {
                let left = x0 + (bit * cell) as i32;
                let shown = width.min(SHOWN_BITS - bit);
                let color = if holds {
                    Palette99::pick(weight).mix(0.6)
                } else {
                    BLACK.mix(0.2)
                };
                root.draw(&Rectangle::new(
                    [(left, y), (left + (shown * cell) as i32, y + h)],
                    color.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(left, y), (left + (shown * cell) as i32, y + h)],
                    BLACK.stroke_width(1),
                ))?;
                let label = if holds {
                    format!("w{weight}")
                } else {
                    "pad".to_owned()
                };
                root.draw(&Text::new(label, (left + 3, y + 8), font(12)))?;
                weight += usize::from(holds);
                bit += width;
                if bit >= SHOWN_BITS {
                    break 'fields;
                }
            }
            root.draw(&Text::new(
                metadata(f),
                (x0 + (SHOWN_BITS * cell) as i32 + 10, y + 8),
                font(12),
            ))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_patterns_match_the_catalogue() {
        for f in Format::ALL {
            let p = pattern(f);
            let bits: u32 = p.iter().map(|x| x.0).sum();
            let weights = p.iter().filter(|x| x.1).count();
            assert_eq!(bits as f64 / weights as f64, f.code_bits(), "{f}");
        }
    }
}
