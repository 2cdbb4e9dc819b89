//! The one look every figure shares: sizes for a one- and a two-column layout, the embedded
//! font at fixed sizes, and a colour-blind-safe palette (Okabe-Ito) where every series also has
//! its own marker and dash pattern, so series stay apart in greyscale and for every reader.

use super::plot::FONT;
use plotters::prelude::*;

/// One column of a two-column paper at 200 dpi (3.5 in), and the full text width (7 in).
pub const ONE_COLUMN: u32 = 700;
pub const TWO_COLUMN: u32 = 1400;
/// Height of one row of panels [pixels].
pub const PANEL_HEIGHT: u32 = 460;

/// Font sizes [pixels]: figure title, panel title, axis titles, tick and legend labels.
pub const TITLE: u32 = 20;
pub const PANEL_TITLE: u32 = 17;
pub const AXIS_TITLE: u32 = 15;
pub const LABEL: u32 = 13;

/// The embedded font at `size` pixels.
pub fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font())
}

/// Okabe and Ito's eight colours, yellow last (weak on white), black for references.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(230, 159, 0),   // orange
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(240, 228, 66),  // yellow
];

/// References (claims, bounds, the 3.5-bit line): black, drawn dashed.
pub const REFERENCE: RGBColor = RGBColor(0, 0, 0);
/// Grid lines.
pub const GRID: RGBColor = RGBColor(225, 225, 225);

/// A marker shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
    Cross,
    Plus,
}

const MARKERS: [Marker; 7] = [
    Marker::Circle,
    Marker::Square,
    Marker::TriangleUp,
    Marker::Diamond,
    Marker::TriangleDown,
    Marker::Cross,
    Marker::Plus,
];

/// A line pattern: dash and gap lengths [pixels]; a zero gap is a solid line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dash {
    pub on: u32,
    pub off: u32,
}

const DASHES: [Dash; 4] = [
    Dash { on: 1, off: 0 },
    Dash { on: 9, off: 5 },
    Dash { on: 3, off: 4 },
    Dash { on: 14, off: 4 },
];

/// How series `k` of a figure is drawn: colour, marker and dash all change with `k`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    pub color: RGBColor,
    pub marker: Marker,
    pub dash: Dash,
}

/// The look of the `k`-th series.
pub fn look(k: usize) -> Look {
    Look {
        color: PALETTE[k % PALETTE.len()],
        marker: MARKERS[k % MARKERS.len()],
        dash: DASHES[k % DASHES.len()],
    }
}

/// The pixel outline of `marker` of radius `r` around the origin, as polygon vertices (the cross
/// and plus are drawn as two bars each).
pub fn marker_polygons(marker: Marker, r: i32) -> Vec<Vec<(i32, i32)>> {
    let t = (r / 3).max(1);
    match marker {
        Marker::Circle => {
            let n = 16;
            vec![
                (0..n)
                    .map(|i| {
                        let a = std::f64::consts::TAU * f64::from(i) / f64::from(n);
                        (
                            (f64::from(r) * a.cos()).round() as i32,
                            (f64::from(r) * a.sin()).round() as i32,
                        )
                    })
                    .collect(),
            ]
        }
        Marker::Square => vec![vec![(-r, -r), (r, -r), (r, r), (-r, r)]],
        Marker::TriangleUp => vec![vec![(0, -r - 1), (r + 1, r), (-r - 1, r)]],
        Marker::TriangleDown => vec![vec![(0, r + 1), (r + 1, -r), (-r - 1, -r)]],
        Marker::Diamond => vec![vec![(0, -r - 2), (r + 1, 0), (0, r + 2), (-r - 1, 0)]],
        Marker::Plus => vec![
            vec![(-r - 1, -t), (r + 1, -t), (r + 1, t), (-r - 1, t)],
            vec![(-t, -r - 1), (t, -r - 1), (t, r + 1), (-t, r + 1)],
        ],
        Marker::Cross => vec![
            vec![(-r, -r + t), (-r + t, -r), (r, r - t), (r - t, r)],
            vec![(r - t, -r), (r, -r + t), (-r + t, r), (-r, r - t)],
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_series_differ_in_colour_marker_and_dash() {
        for k in 0..6 {
            let (a, b) = (look(k), look(k + 1));
            assert_ne!(a.color, b.color);
            assert_ne!(a.marker, b.marker);
            assert_ne!(a.dash, b.dash);
        }
    }
}
