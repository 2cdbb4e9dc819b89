//! The report's figures, each a value that draws itself on any plotters backend, saved as PNG
//! and as self-contained SVG. A figure is a title over panels laid out in a grid, one or two
//! columns wide (see `style`); each panel is an x-y plot, horizontal bars or stacked columns,
//! with its legend in a strip below it and an optional note.

use super::bars::{Bars, Columns};
use super::chart::{self, Key};
use super::plot::register_fonts;
use super::style::{self, font};
use super::svg;
use super::xy::Plot;
use crate::error::Error;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

pub use super::chart::Drawn;

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

/// One panel of a figure.
#[derive(Clone, Debug, PartialEq)]
pub enum Panel {
    Plot(Plot),
    Bars(Bars),
    Columns(Columns),
}

impl Panel {
    fn legend(&self) -> Vec<(String, Key)> {
        match self {
            Panel::Plot(p) => p.legend(),
            Panel::Bars(b) => b.legend(),
            Panel::Columns(c) => c.legend(),
        }
    }

    /// Height of the chart itself (legend and note come on top).
    fn chart_height(&self) -> u32 {
        match self {
            Panel::Bars(b) => b.height(),
            _ => style::PANEL_HEIGHT - 80,
        }
    }

    fn draw_chart<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        match self {
            Panel::Plot(p) => p.draw_on(area),
            Panel::Bars(b) => b.draw_on(area),
            Panel::Columns(c) => c.draw_on(area),
        }
    }
}

/// Panels under one title, `columns` to a row.
#[derive(Clone, Debug, PartialEq)]
pub struct Panels {
    pub title: String,
    pub columns: usize,
    /// Figure width: [`style::ONE_COLUMN`] or [`style::TWO_COLUMN`].
    pub width: u32,
    pub panels: Vec<Panel>,
    /// Caveats under the whole figure (skipped points, shortened texts).
    pub note: Option<String>,
}

const TITLE_ROOM: u32 = 34;
const NOTE_ROOM: u32 = 26;

impl Panels {
    /// A figure of one panel, one column wide.
    pub fn single(panel: Panel, note: Option<String>) -> Self {
        Panels {
            title: String::new(),
            columns: 1,
            width: style::ONE_COLUMN,
            panels: vec![panel],
            note,
        }
    }

    fn panel_width(&self) -> u32 {
        self.width / self.columns.max(1) as u32
    }

    /// Height of every row: its tallest chart plus its tallest legend.
    fn row_heights(&self) -> Vec<u32> {
        self.panels
            .chunks(self.columns.max(1))
            .map(|row| {
                row.iter()
                    .map(|p| {
                        p.chart_height() + chart::legend_height(&p.legend(), self.panel_width())
                    })
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    fn title_room(&self) -> u32 {
        if self.title.is_empty() { 0 } else { TITLE_ROOM }
    }

    fn note_room(&self) -> u32 {
        if self.note.is_some() { NOTE_ROOM } else { 0 }
    }
}

impl Figure for Panels {
    fn size(&self) -> (u32, u32) {
        let rows: u32 = self.row_heights().iter().sum();
        (self.width, self.title_room() + rows + self.note_room())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        let (w, h) = self.size();
        let (top, rest) = root.split_vertically(self.title_room());
        if !self.title.is_empty() {
            top.draw(&Text::new(self.title.clone(), (12, 8), font(style::TITLE)))?;
        }
        let (body, bottom) = rest.split_vertically(h - self.title_room() - self.note_room());
        if let Some(n) = &self.note {
            chart::note(&bottom, n)?;
        }
        let mut y = 0;
        let pw = self.panel_width();
        for (row, height) in self
            .panels
            .chunks(self.columns.max(1))
            .zip(self.row_heights())
        {
            for (c, p) in row.iter().enumerate() {
                let x = c as u32 * pw;
                let cell = body.clone().shrink((x, y), (pw.min(w - x), height));
                let legend = p.legend();
                let (plot, strip) =
                    cell.split_vertically(height - chart::legend_height(&legend, pw));
                p.draw_chart(&plot)?;
                chart::legend(&strip, &legend)?;
            }
            y += height;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::axis::Axis;
    use crate::report::bars::BarSeries;
    use crate::report::xy::{Along, Rule, Series, Style};

    /// Every kind of panel, with error bars, reference lines and labels.
    fn sample() -> Panels {
        let plot = Plot {
            title: "plot".to_owned(),
            x: Axis::count("units"),
            y: Axis::log("tokens/s"),
            series: vec![
                Series {
                    errors: vec![(5.0, 20.0), (50.0, 300.0)],
                    ..Series::new("speed", vec![(1.0, 10.0), (2.0, 100.0)], Style::Line)
                },
                Series::new("bound", vec![(1.0, 1e4), (2.0, 2e4)], Style::Bound),
            ],
            rules: vec![Rule {
                along: Along::Horizontal,
                value: 50.0,
                label: "claim".to_owned(),
            }],
            labels: vec![(1.0, 10.0, "a".to_owned()), (1.0, 10.0, "b".to_owned())],
            note: None,
        };
        let bars = Bars {
            title: "bars".to_owned(),
            value: Axis::linear("change (%)"),
            base: 0.0,
            categories: vec!["x".to_owned(), "y".to_owned()],
            series: vec![BarSeries {
                name: "x0.5".to_owned(),
                values: vec![Some(-20.0), None],
            }],
            rules: Vec::new(),
            missing: "none".to_owned(),
        };
        let columns = Columns {
            title: "columns".to_owned(),
            x: Axis::count("part"),
            y: Axis::from_zero("µs"),
            positions: vec![0.0, 1.0],
            layers: vec![
                ("a".to_owned(), vec![1.0, 2.0]),
                ("b".to_owned(), vec![3.0, 0.5]),
            ],
        };
        Panels {
            title: "sample".to_owned(),
            columns: 2,
            width: style::TWO_COLUMN,
            panels: vec![
                Panel::Plot(plot),
                Panel::Bars(bars),
                Panel::Columns(columns),
            ],
            note: Some("note".to_owned()),
        }
    }

    #[test]
    fn the_same_figure_is_the_same_bytes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let fig = sample();
        let first = save(&fig, a.path(), "f").unwrap();
        let second = save(&fig, b.path(), "f").unwrap();
        for (x, y) in first.iter().zip(&second) {
            assert_eq!(
                std::fs::read(x).unwrap(),
                std::fs::read(y).unwrap(),
                "{x:?}"
            );
        }
        let (w, h) = fig.size();
        assert_eq!(w, style::TWO_COLUMN);
        assert!(h > 2 * style::PANEL_HEIGHT - 200, "two rows of panels: {h}");
    }
}
