//! Figures as PDF, for a paper's LaTeX (`\includegraphics` of a vector figure): the SVG that
//! plotters draws, converted by `svg2pdf` with the embedded font (DejaVu Sans) as the only font,
//! so text is real text, subset into the file, and the bytes do not depend on the machine's
//! fonts. The conversion is deterministic: the same SVG gives the same PDF.

use super::plot::SANS;
use std::sync::{Arc, OnceLock};
use svg2pdf::usvg::{self, fontdb};

/// The font database every conversion uses: the embedded font alone.
fn fonts() -> Arc<fontdb::Database> {
    static FONTS: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = fontdb::Database::new();
            db.load_font_data(SANS.to_vec());
            Arc::new(db)
        })
        .clone()
}

/// The PDF of `svg` (one page the size of the figure), or why it could not be made.
pub fn from_svg(svg: &str) -> Result<Vec<u8>, String> {
    let options = usvg::Options {
        fontdb: fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("reading the SVG: {e}"))?;
    svg2pdf::to_pdf(
        &tree,
        svg2pdf::ConversionOptions::default(),
        svg2pdf::PageOptions::default(),
    )
    .map_err(|e| format!("converting to PDF: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawing_with_text_becomes_a_pdf_with_the_font_embedded() {
        let svg = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="4" y="24" font-family="{}" font-size="14">10^3 tok/s</text></svg>"#,
            super::super::plot::FONT
        );
        let pdf = from_svg(&svg).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert_eq!(pdf, from_svg(&svg).unwrap(), "deterministic");
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("DejaVu"), "the font is embedded");
        assert!(from_svg("<svg").is_err());
    }
}
