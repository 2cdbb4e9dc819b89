//! Bar panels: horizontal bars on a category axis (grouped when there are several series:
//! sizes and unit counts per format, the tornado of a sensitivity analysis) and vertical stacked
//! columns (the time of each part of a decode step, split into what bounds it).

use super::axis::{Axis, Scale};
use super::chart::{self, Drawn, Key, frame};
use super::style::{self, look};
use super::xy::Rule;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One series of bars: a value per category (`None`: no bar, the category says why).
#[derive(Clone, Debug, PartialEq)]
pub struct BarSeries {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// Horizontal bars, one slot per category, the series of a slot side by side.
#[derive(Clone, Debug, PartialEq)]
pub struct Bars {
    pub title: String,
    /// The value axis (x); bars start at `base`, or at the left edge of a log axis.
    pub value: Axis,
    pub base: f64,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
    /// Vertical reference lines (claims).
    pub rules: Vec<Rule>,
    /// Printed in the slot of a category with no bar at all (e.g. "does not fit").
    pub missing: String,
}

impl Bars {
    /// Legend entries: the series when there are several, then the reference lines.
    pub fn legend(&self) -> Vec<(String, Key)> {
        let series = self
            .series
            .iter()
            .enumerate()
            .filter(|_| self.series.len() > 1)
            .map(|(k, s)| (s.name.clone(), Key::Fill(look(k).color)));
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(k, r)| (r.label.clone(), Key::Rule(look(k + 1).dash)));
        series.chain(rules).collect()
    }

    /// Pixels the bars need.
    pub fn height(&self) -> u32 {
        let per = 10 + 12 * self.series.len().max(1) as u32;
        (110 + per * self.categories.len() as u32).max(style::PANEL_HEIGHT - 120)
    }

    /// Draw on `area` (legend drawn by the figure, see `figures`).
    pub fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        // Categories run top to bottom: the first one at the top.
        let n = self.categories.len();
        let names: Vec<String> = self.categories.iter().rev().cloned().collect();
        let cat = Axis::category("", names);
        let mut values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .chain(self.rules.iter().map(|r| r.value))
            .collect();
        match self.value.scale {
            // Bars on a log axis start at its left edge: half a decade or more below the
            // smallest value keeps every bar visible.
            Scale::Log => {
                let least = values
                    .iter()
                    .copied()
                    .filter(|v| *v > 0.0)
                    .fold(f64::INFINITY, f64::min);
                values.push(least / 3.0);
            }
            _ => values.push(self.base),
        }
        let mut chart = frame(area, &self.title, (&self.value, &values), (&cat, &[]))?;
        let left = chart.x_range().start;
        let base = match self.value.scale {
            Scale::Log => left,
            _ => self.base,
        };
        let groups = self.series.len().max(1) as f64;
        let slot = 0.8 / groups;
        for (k, s) in self.series.iter().enumerate() {
            let color = look(k).color;
            chart.draw_series(s.values.iter().enumerate().filter_map(|(i, v)| {
                let v = self.value.at((*v)?)?;
                let top = (n - 1 - i) as f64 + 0.4 - slot * k as f64;
                Some(Rectangle::new(
                    [(base, top), (v, top - slot * 0.9)],
                    color.filled(),
                ))
            }))?;
        }
        let empty: Vec<(f64, f64)> = (0..n)
            .filter(|&i| {
                self.series
                    .iter()
                    .all(|s| s.values.get(i).copied().flatten().is_none())
            })
            .map(|i| (left, (n - 1 - i) as f64))
            .collect();
        chart.draw_series(empty.into_iter().map(|(x, y)| {
            EmptyElement::at((x, y))
                + Text::new(
                    self.missing.clone(),
                    (8, -(style::LABEL as i32) / 2),
                    style::font(style::LABEL),
                )
        }))?;
        let y_range = chart.y_range();
        if !matches!(self.value.scale, Scale::Log) {
            let ends = [(base, y_range.start), (base, y_range.end)];
            chart::line(&mut chart, &ends, style::REFERENCE, look(0).dash, 1)?;
        }
        for (k, r) in self.rules.iter().enumerate() {
            if let Some(v) = self.value.at(r.value) {
                let ends = [(v, y_range.start), (v, y_range.end)];
                chart::line(&mut chart, &ends, style::REFERENCE, look(k + 1).dash, 2)?;
            }
        }
        Ok(())
    }
}

/// Vertical columns stacked from zero: one column per position on `x`, one layer per series.
#[derive(Clone, Debug, PartialEq)]
pub struct Columns {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    /// Column positions on x.
    pub positions: Vec<f64>,
    /// Layers from the bottom: name and height at each position.
    pub layers: Vec<(String, Vec<f64>)>,
}

impl Columns {
    /// Legend entries: one per layer.
    pub fn legend(&self) -> Vec<(String, Key)> {
        self.layers
            .iter()
            .enumerate()
            .map(|(k, (name, _))| (name.clone(), Key::Fill(look(k).color)))
            .collect()
    }

    /// Draw on `area` (legend drawn by the figure).
    pub fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        let tops: Vec<f64> = (0..self.positions.len())
            .map(|i| {
                self.layers
                    .iter()
                    .map(|l| l.1.get(i).copied().unwrap_or(0.0))
                    .sum()
            })
            .collect();
        // A column spans [p, p + 1) so that a count axis starts where the first column does.
        let xs: Vec<f64> = self.positions.iter().flat_map(|&p| [p, p + 1.0]).collect();
        let mut chart = frame(area, &self.title, (&self.x, &xs), (&self.y, &tops))?;
        let mut bottom = vec![0.0; self.positions.len()];
        for (k, (_, heights)) in self.layers.iter().enumerate() {
            let color = look(k).color;
            chart.draw_series(self.positions.iter().enumerate().map(|(i, &p)| {
                let h = heights.get(i).copied().unwrap_or(0.0);
                let r = Rectangle::new(
                    [(p + 0.1, bottom[i]), (p + 0.9, bottom[i] + h)],
                    color.filled(),
                );
                bottom[i] += h;
                r
            }))?;
        }
        Ok(())
    }
}
