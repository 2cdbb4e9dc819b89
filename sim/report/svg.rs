//! Self-contained SVG: plotters' SVG backend writes text as `<text font-family=...>`, which a
//! viewer renders with whatever fonts it has. Embedding the font as a base64 `@font-face` makes
//! every SVG render with DejaVu Sans on a machine without system fonts.

use super::plot::{FONT, SANS};

/// Base64 (RFC 4648, with padding) of `bytes`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `@font-face` rule that names the embedded font as the family every figure uses.
pub fn font_face() -> String {
    format!(
        "<defs><style>@font-face {{ font-family: \"{FONT}\"; src: url(data:font/ttf;base64,{}) format(\"truetype\"); }}</style></defs>\n",
        base64(SANS)
    )
}

/// Insert the font right after the opening `<svg ...>` tag.
pub fn embed_font(svg: &str) -> String {
    let open = svg
        .find("<svg")
        .and_then(|i| svg[i..].find('>').map(|j| i + j + 1))
        .unwrap_or(0);
    format!("{}\n{}{}", &svg[..open], font_face(), &svg[open..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn font_goes_inside_the_svg_element() {
        let svg = embed_font("<svg width=\"1\">\n<text>x</text>\n</svg>\n");
        assert!(svg.starts_with("<svg width=\"1\">\n<defs><style>@font-face"));
        assert!(svg.ends_with("<text>x</text>\n</svg>\n"));
    }
}
