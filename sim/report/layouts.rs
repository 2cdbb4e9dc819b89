//! The bit layout of each packed format: the first 32 bits of its codes section, field by
//! field, and what it stores besides (docs/formats.md draws the same).

use super::chart::Drawn;
use super::figures::Figure;
use super::style::{self, font};
use crate::quant::Format;
use plotters::coord::Shift;
use plotters::prelude::*;

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
            font(style::PANEL_TITLE),
        )?;
        let (x0, cell, h) = (110, 22, 30);
        for (row, &f) in self.formats.iter().enumerate() {
            let y = 10 + 50 * row as i32;
            root.draw(&Text::new(f.name(), (5, y + 8), font(style::AXIS_TITLE)))?;
            let (mut bit, mut weight) = (0u32, 0usize);
            'fields: for &(width, holds) in pattern(f).iter().cycle() {
                let left = x0 + (bit * cell) as i32;
                let shown = width.min(SHOWN_BITS - bit);
                let color = if holds {
                    style::look(weight).color.mix(0.55)
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
                root.draw(&Text::new(label, (left + 3, y + 8), font(style::LABEL)))?;
                weight += usize::from(holds);
                bit += width;
                if bit >= SHOWN_BITS {
                    break 'fields;
                }
            }
            root.draw(&Text::new(
                metadata(f),
                (x0 + (SHOWN_BITS * cell) as i32 + 10, y + 8),
                font(style::LABEL),
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
