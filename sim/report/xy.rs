//! x-y panels: series as lines with markers or as markers alone, optional error bars, reference
//! lines (claims, bounds, the 3.5-bit line) named in the legend, and point labels that never
//! overlap.

use super::axis::Axis;
use super::chart::{self, Drawn, Key, frame};
use super::style::{self, Dash, Look, look};
use plotters::coord::Shift;
use plotters::prelude::*;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Markers joined by a line.
    Line,
    /// Markers alone.
    Dots,
    /// A bound or roof: a dotted line without markers.
    Bound,
}

/// The dash of [`Style::Bound`] lines.
pub const BOUND_DASH: Dash = Dash { on: 3, off: 4 };

/// One named series.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
    /// Low and high end of each point's error bar (empty: no bars).
    pub errors: Vec<(f64, f64)>,
    /// Colour and marker; `None`: the series' position in the plot chooses them.
    pub look: Option<Look>,
}

impl Series {
    /// A series without error bars.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, style: Style) -> Self {
        Series {
            name: name.into(),
            points,
            style,
            errors: Vec::new(),
            look: None,
        }
    }

    fn look(&self, k: usize) -> Look {
        self.look.unwrap_or_else(|| look(k))
    }
}

/// Which way a reference line runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Along {
    /// A horizontal line at a y value.
    Horizontal,
    /// A vertical line at an x value.
    Vertical,
}

/// A reference line, black and dashed, named in the legend.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub along: Along,
    pub value: f64,
    pub label: String,
}

/// An x-y panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    pub rules: Vec<Rule>,
    /// Text beside points (data coordinates).
    pub labels: Vec<(f64, f64, String)>,
    /// Caveats printed under the panel.
    pub note: Option<String>,
}

/// Dash of the `k`-th reference line (solid lines are for series).
fn rule_dash(k: usize) -> Dash {
    look(k + 1).dash
}

impl Plot {
    /// The legend's entries: series, then reference lines.
    pub fn legend(&self) -> Vec<(String, Key)> {
        let series = self.series.iter().enumerate().map(|(k, s)| {
            let key = match s.style {
                Style::Line => Key::Line(s.look(k)),
                Style::Dots => Key::Points(s.look(k)),
                Style::Bound => Key::Bound(s.look(k).color),
            };
            (s.name.clone(), key)
        });
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(k, r)| (r.label.clone(), Key::Rule(rule_dash(k))));
        series.chain(rules).collect()
    }

    /// Draw on `area` (legend and note are drawn by the caller, see `figures`).
    pub fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        let project = |axis: &Axis, v: f64| axis.at(v);
        let pts = |s: &Series| -> Vec<(f64, f64)> {
            s.points
                .iter()
                .filter_map(|&(x, y)| Some((project(&self.x, x)?, project(&self.y, y)?)))
                .collect()
        };
        let mut xs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .collect();
        let mut ys: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .collect();
        ys.extend(
            self.series
                .iter()
                .flat_map(|s| s.errors.iter().flat_map(|e| [e.0, e.1])),
        );
        for r in &self.rules {
            match r.along {
                Along::Horizontal => ys.push(r.value),
                Along::Vertical => xs.push(r.value),
            }
        }
        let mut chart = frame(area, &self.title, (&self.x, &xs), (&self.y, &ys))?;
        let (x0, x1) = {
            let r = chart.x_range();
            (r.start, r.end)
        };
        let (y0, y1) = {
            let r = chart.y_range();
            (r.start, r.end)
        };
        for (k, r) in self.rules.iter().enumerate() {
            let ends = match r.along {
                Along::Horizontal => self.y.at(r.value).map(|v| [(x0, v), (x1, v)]),
                Along::Vertical => self.x.at(r.value).map(|v| [(v, y0), (v, y1)]),
            };
            if let Some(ends) = ends {
                chart::line(&mut chart, &ends, style::REFERENCE, rule_dash(k), 1)?;
            }
        }
        for (k, s) in self.series.iter().enumerate() {
            let l = s.look(k);
            let points = pts(s);
            for (&(x, _), &(lo, hi)) in s.points.iter().zip(&s.errors) {
                if let (Some(x), Some(lo), Some(hi)) = (self.x.at(x), self.y.at(lo), self.y.at(hi))
                {
                    chart.draw_series([PathElement::new(
                        vec![(x, lo), (x, hi)],
                        l.color.stroke_width(2),
                    )])?;
                    chart.draw_series([lo, hi].map(|y| {
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(-6, 0), (6, 0)], l.color.stroke_width(2))
                    }))?;
                }
            }
            match s.style {
                Style::Line => {
                    chart::line(&mut chart, &points, l.color, l.dash, 2)?;
                    chart::markers(&mut chart, &points, l, 5)?;
                }
                Style::Dots => chart::markers(&mut chart, &points, l, 5)?,
                Style::Bound => chart::line(&mut chart, &points, l.color, BOUND_DASH, 2)?,
            }
        }
        let labels: Vec<(f64, f64, String)> = self
            .labels
            .iter()
            .filter_map(|(x, y, t)| Some((self.x.at(*x)?, self.y.at(*y)?, t.clone())))
            .collect();
        chart::labels(&chart, &labels)?;
        Ok(())
    }
}
