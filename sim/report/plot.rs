//! Figure plumbing shared by every plot: the embedded font, so figures render identically on a
//! machine without system fonts.

use plotters::style::{FontStyle, register_font};
use std::sync::Once;

/// DejaVu Sans (Bitstream Vera license, see `fonts/LICENSE-DejaVu`), compiled into the binary.
pub(super) const SANS: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// Font family name every figure uses: the embedded font's own name, so that an SVG viewer
/// picks the copy embedded in the file (see `svg`).
pub const FONT: &str = "DejaVu Sans";

/// Register the embedded font with plotters once per process; every plotting function calls
/// this before drawing text.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font fixed at compile time, so registration cannot
        // fail at run time; a broken build would fail the test below.
        let _ = register_font(FONT, FontStyle::Normal, SANS);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    #[test]
    fn embedded_font_draws_text() {
        register_fonts();
        let (w, h) = (120u32, 40u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.draw(&Text::new("accsim", (5, 5), (FONT, 20).into_font()))
                .unwrap();
            root.present().unwrap();
        }
        assert!(
            buf.iter().any(|&b| b < 128),
            "no dark pixel: text was not drawn"
        );
    }
}
