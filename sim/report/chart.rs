//! What every panel is made of: a frame (axes from [`Axis`], light grid, tick labels from the
//! axis, never plotters' own number formatting), markers and dashed lines in a series' look,
//! labels placed where they overlap no other label, and a legend in its own strip below the
//! plot, so that it never covers data.

use super::axis::{Axis, Ticks};
use super::style::{self, Dash, Look, font, marker_polygons};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use std::ops::Range;

/// Result of drawing on backend `DB`.
pub type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A linear coordinate whose grid lines and labels sit exactly at the axis's ticks.
#[derive(Clone, Debug)]
pub struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(t: &Ticks) -> Self {
        Ticked {
            range: t.lo..t.hi,
            ticks: t.at.iter().map(|a| a.0).collect(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let share = (v - self.range.start) / (self.range.end - self.range.start);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// Coordinates of every chart: linear in both directions (log axes are drawn in log10 space).
pub type Coords = Cartesian2d<Ticked, Ticked>;

/// A chart ready for series.
pub type Frame<'a, DB> = ChartContext<'a, DB, Coords>;

/// Pixels for the tick labels of a category axis: the longest name, within bounds.
fn label_room(ticks: &Ticks, min: u32) -> u32 {
    let longest = ticks
        .at
        .iter()
        .map(|(_, s)| s.chars().count())
        .max()
        .unwrap_or(0) as u32;
    (longest * style::LABEL * 6 / 10 + 30).clamp(min, 260)
}

fn tick_name(ticks: &Ticks, v: f64) -> String {
    ticks
        .at
        .iter()
        .find(|(t, _)| (t - v).abs() < 1e-9 * t.abs().max(1.0))
        .map(|(_, s)| s.clone())
        .unwrap_or_default()
}

/// A frame for data `xs`, `ys` (data units) on `x`, `y`, titled `title`.
pub fn frame<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    (x, xs): (&Axis, &[f64]),
    (y, ys): (&Axis, &[f64]),
) -> Result<Frame<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (tx, ty) = (x.ticks(xs), y.ticks(ys));
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(style::PANEL_TITLE))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(label_room(&ty, 72))
        .build_cartesian_2d(Ticked::new(&tx), Ticked::new(&ty))?;
    let (fx, fy) = (|v: &f64| tick_name(&tx, *v), |v: &f64| tick_name(&ty, *v));
    chart
        .configure_mesh()
        .x_labels(tx.at.len() + 1)
        .y_labels(ty.at.len() + 1)
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .bold_line_style(style::GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK)
        .x_desc(&x.title)
        .y_desc(&y.title)
        .label_style(font(style::LABEL))
        .axis_desc_style(font(style::AXIS_TITLE))
        .draw()?;
    Ok(chart)
}

/// Markers of `look` at `points` (plot coordinates), `r` pixels in radius.
pub fn markers<DB: DrawingBackend>(
    chart: &mut Frame<DB>,
    points: &[(f64, f64)],
    look: Look,
    r: i32,
) -> Drawn<DB> {
    for poly in marker_polygons(look.marker, r) {
        chart.draw_series(
            points
                .iter()
                .map(|&p| EmptyElement::at(p) + Polygon::new(poly.clone(), look.color.filled())),
        )?;
    }
    Ok(())
}

/// A line through `points` in the colour and dash of `look`.
pub fn line<DB: DrawingBackend>(
    chart: &mut Frame<DB>,
    points: &[(f64, f64)],
    color: RGBColor,
    dash: Dash,
    width: u32,
) -> Drawn<DB> {
    let stroke = color.stroke_width(width);
    if dash.off == 0 {
        chart.draw_series(LineSeries::new(points.to_vec(), stroke))?;
    } else {
        chart.draw_series(DashedLineSeries::new(
            points.to_vec(),
            dash.on,
            dash.off,
            stroke,
        ))?;
    }
    Ok(())
}

/// A label's box [pixels]: left, top, right, bottom.
type Boxed = (i32, i32, i32, i32);

fn overlaps(a: Boxed, b: Boxed) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Estimated pixel size of `text` at the label size (DejaVu Sans averages 0.6 em a character).
fn text_size(text: &str) -> (i32, i32) {
    let size = style::LABEL as i32;
    (text.chars().count() as i32 * size * 6 / 10 + 2, size + 2)
}

/// Place each label beside its point where it overlaps no label placed before and stays inside
/// the plot; a label with no free place is left out (the legend or table still names the
/// point). Returns the labels drawn.
pub fn labels<DB: DrawingBackend>(
    chart: &Frame<DB>,
    labels: &[(f64, f64, String)],
) -> Result<usize, DrawingAreaErrorKind<DB::ErrorType>> {
    let area = chart.plotting_area();
    let (xr, yr) = area.get_pixel_range();
    let plain = area.strip_coord_spec();
    let mut placed: Vec<Boxed> = Vec::new();
    // Points themselves are obstacles, so a label does not cover another point's marker.
    let points: Vec<Boxed> = labels
        .iter()
        .map(|(x, y, _)| {
            let (px, py) = chart.backend_coord(&(*x, *y));
            (px - 4, py - 4, px + 4, py + 4)
        })
        .collect();
    for (k, (x, y, text)) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(*x, *y));
        let (w, h) = text_size(text);
        let offsets = [
            (7, -h / 2),
            (7, -h - 3),
            (7, 3),
            (-w - 7, -h / 2),
            (-w / 2, -h - 7),
            (-w / 2, 7),
            (-w - 7, -h - 3),
            (-w - 7, 3),
        ];
        let free = offsets
            .iter()
            .map(|&(dx, dy)| (px + dx, py + dy, px + dx + w, py + dy + h))
            .find(|b| {
                b.0 >= xr.start
                    && b.2 <= xr.end
                    && b.1 >= yr.start
                    && b.3 <= yr.end
                    && !placed.iter().any(|p| overlaps(*p, *b))
                    && !points
                        .iter()
                        .enumerate()
                        .any(|(j, p)| j != k && overlaps(*p, *b))
            });
        if let Some(b) = free {
            plain.draw(&Text::new(
                text.clone(),
                (b.0 - xr.start, b.1 - yr.start + 1),
                font(style::LABEL),
            ))?;
            placed.push(b);
        }
    }
    Ok(placed.len())
}

/// What a legend entry shows beside its text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Key {
    /// A line with markers.
    Line(Look),
    /// Markers alone.
    Points(Look),
    /// A filled box (bars).
    Fill(RGBColor),
    /// A reference line in black with this dash.
    Rule(Dash),
    /// A bound: a dotted line in this colour.
    Bound(RGBColor),
}

/// Height of a legend strip of `entries` in `width` pixels.
pub fn legend_height(entries: &[(String, Key)], width: u32) -> u32 {
    if entries.is_empty() {
        return 0;
    }
    legend_rows(entries, width as i32).len() as u32 * (style::LABEL + 8) + 6
}

fn entry_width(text: &str) -> i32 {
    36 + text_size(text).0 + 18
}

/// Entries per row, wrapped to `width`.
fn legend_rows(entries: &[(String, Key)], width: i32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0;
    for (i, (text, _)) in entries.iter().enumerate() {
        let w = entry_width(text);
        if used + w > width - 20 && !rows.last().is_some_and(Vec::is_empty) {
            rows.push(Vec::new());
            used = 0;
        }
        if let Some(r) = rows.last_mut() {
            r.push(i);
        }
        used += w;
    }
    rows
}

/// Draw the legend on `area`, rows centred.
pub fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, Key)],
) -> Drawn<DB> {
    let width = area.dim_in_pixel().0 as i32;
    let row_h = (style::LABEL + 8) as i32;
    for (r, row) in legend_rows(entries, width).iter().enumerate() {
        let total: i32 = row.iter().map(|&i| entry_width(&entries[i].0)).sum();
        let mut x = (width - total) / 2;
        let y = 3 + r as i32 * row_h + row_h / 2;
        for &i in row {
            let (text, key) = &entries[i];
            match *key {
                Key::Line(look) | Key::Points(look) => {
                    if matches!(key, Key::Line(_)) {
                        let pts: Vec<(i32, i32)> = (0..=4).map(|k| (x + 7 * k, y)).collect();
                        draw_dashed(area, &pts, look.color, look.dash)?;
                    }
                    for poly in marker_polygons(look.marker, 4) {
                        area.draw(&Polygon::new(
                            poly.iter()
                                .map(|(dx, dy)| (x + 14 + dx, y + dy))
                                .collect::<Vec<_>>(),
                            look.color.filled(),
                        ))?;
                    }
                }
                Key::Fill(c) => {
                    area.draw(&Rectangle::new([(x, y - 6), (x + 28, y + 6)], c.filled()))?;
                }
                Key::Rule(dash) => {
                    let pts: Vec<(i32, i32)> = (0..=4).map(|k| (x + 7 * k, y)).collect();
                    draw_dashed(area, &pts, style::REFERENCE, dash)?;
                }
                Key::Bound(color) => {
                    let pts: Vec<(i32, i32)> = (0..=4).map(|k| (x + 7 * k, y)).collect();
                    draw_dashed(area, &pts, color, Dash { on: 3, off: 4 })?;
                }
            }
            area.draw(&Text::new(
                text.clone(),
                (x + 36, y - (style::LABEL as i32) / 2),
                font(style::LABEL),
            ))?;
            x += entry_width(text);
        }
    }
    Ok(())
}

fn draw_dashed<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    pts: &[(i32, i32)],
    color: RGBColor,
    dash: Dash,
) -> Drawn<DB> {
    let (a, b) = (pts[0], pts[pts.len() - 1]);
    let stroke = color.stroke_width(2);
    if dash.off == 0 {
        area.draw(&PathElement::new(vec![a, b], stroke))
    } else {
        let mut x = a.0;
        while x < b.0 {
            let end = (x + dash.on as i32).min(b.0);
            area.draw(&PathElement::new(
                vec![(x, a.1), (end.max(x + 1), a.1)],
                stroke,
            ))?;
            x = end + dash.off as i32;
        }
        Ok(())
    }
}

/// A note under a panel, in the label font.
pub fn note<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str) -> Drawn<DB> {
    area.draw(&Text::new(text.to_owned(), (12, 4), font(style::LABEL)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_boxes_are_detected_and_touching_ones_are_not() {
        assert!(overlaps((0, 0, 10, 10), (5, 5, 15, 15)));
        assert!(!overlaps((0, 0, 10, 10), (10, 0, 20, 10)));
    }

    #[test]
    fn legend_rows_wrap_to_the_width() {
        let entries: Vec<(String, Key)> = (0..8)
            .map(|k| (format!("series number {k}"), Key::Fill(style::REFERENCE)))
            .collect();
        let rows = legend_rows(&entries, 700);
        assert!(rows.len() > 1);
        assert!(
            rows.iter()
                .all(|r| r.iter().map(|&i| entry_width(&entries[i].0)).sum::<i32>() <= 700)
        );
    }
}
