//! `accsim report` end to end: every figure listed is written as a PNG of the stated size that
//! is not blank and as a well-formed SVG carrying its font; every table equals the JSON.

use accsim::report::doc::DocTable;
use accsim::study::tables;
use assert_cmd::Command;
use std::path::Path;

/// Check that tags open and close in order (a small well-formedness check: no XML crate).
fn well_formed(svg: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').ok_or("unterminated tag")? + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name = |t: &str| t.split_whitespace().next().unwrap_or("").to_owned();
        if let Some(closing) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or("closing tag without opening")?;
            if open != name(closing) {
                return Err(format!("<{open}> closed by </{closing}>"));
            }
        } else {
            stack.push(name(tag));
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed {stack:?}"))
    }
}

fn png_pixels(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let px = info.color_type.samples();
    let mut colours: Vec<&[u8]> = bytes.chunks(px).collect();
    colours.sort();
    colours.dedup();
    (info.width, info.height, colours.len())
}

#[test]
fn report_writes_every_figure_and_tables_equal_to_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    Command::cargo_bin("accsim")
        .unwrap()
        .args(["report", "--accuracy-paragraphs", "2", "--out"])
        .arg(out)
        .assert()
        .success()
        .stdout(predicates::str::contains("Claims of the source documents"))
        .stdout(predicates::str::contains("Published deployments: "));
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("index.json")).unwrap()).unwrap();
    let figures = index["figures"].as_array().unwrap();
    let names: Vec<&str> = figures
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for expected in [
        "memory",
        "units-groq-tsp",
        "units-cerebras-wse3",
        "accuracy",
        "bit-layouts",
        "validation",
        "sensitivity-groq-tsp-llama2-70b",
    ] {
        assert!(names.contains(&expected), "no figure {expected}: {names:?}");
    }
    // The GPU baseline always runs: its speed, Pareto, breakdown and roofline figures exist.
    for prefix in [
        "speed-",
        "pareto-",
        "breakdown-nvidia-h100",
        "roofline-nvidia-h100",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no {prefix} figure"
        );
    }
    for f in figures {
        let name = f["name"].as_str().unwrap();
        let (w, h, colours) = png_pixels(&out.join(format!("{name}.png")));
        assert_eq!(
            (u64::from(w), u64::from(h)),
            (f["width"].as_u64().unwrap(), f["height"].as_u64().unwrap()),
            "{name}"
        );
        assert!(colours > 3, "{name}.png is blank ({colours} colours)");
        let svg = std::fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
        well_formed(&svg).unwrap_or_else(|e| panic!("{name}.svg: {e}"));
        assert!(
            svg.contains("@font-face") && svg.contains("data:font/ttf;base64,"),
            "{name}.svg has no font"
        );
        assert!(
            !svg.contains("font-family=\"sans-serif\""),
            "{name}.svg uses a system font"
        );
        assert!(svg.contains(&format!("width=\"{}\"", f["width"])));
    }
    let study: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("study.json")).unwrap()).unwrap();
    let rebuilt: Vec<(&str, DocTable)> = tables::all(&study);
    assert_eq!(
        rebuilt.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [
            "memory",
            "fit",
            "performance",
            "accuracy",
            "validation",
            "claims"
        ]
    );
    for (name, t) in &rebuilt {
        assert!(!t.rows.is_empty(), "table {name} is empty");
        assert_eq!(
            std::fs::read_to_string(out.join(format!("{name}.md"))).unwrap(),
            t.markdown()
        );
        assert_eq!(
            std::fs::read_to_string(out.join(format!("{name}.tex"))).unwrap(),
            t.latex(name)
        );
    }
    // Spot check: the first memory row's weights are the JSON's bytes in GB.
    let first = &study["fits"][0];
    let memory = &rebuilt[0].1;
    let gb: f64 = memory.rows[0][3].parse().unwrap();
    assert!((gb - first["weight_bytes"].as_f64().unwrap() / 1e9).abs() <= 0.005);
    let validation = study["validation"].as_array().unwrap();
    assert_eq!(validation.len(), 4, "the shipped published points");
    assert!(
        validation
            .iter()
            .all(|o| o["reproduce"] == serde_json::json!([]))
    );
    // The validation figure's error bars: each analysed run names the points it serves, and its
    // range holds the prediction as estimated.
    let sensitivity = study["sensitivity"].as_array().unwrap();
    assert!(!sensitivity.is_empty());
    for s in sensitivity {
        assert!(!s["points"].as_array().unwrap().is_empty());
        assert!(s["analysis"]["rows"].as_array().unwrap().len() >= 2);
    }
    let claims = study["claims"].as_array().unwrap();
    for speed in [
        "110 tokens/s",
        "4,188 tokens/s",
        "200+ tokens/s",
        "under 2% accuracy",
    ] {
        let c = claims
            .iter()
            .find(|c| c["claim"].as_str().unwrap().contains(speed))
            .unwrap();
        assert!(["holds", "false", "not_judged"].contains(&c["verdict"].as_str().unwrap()));
        assert!(!c["criterion"].as_str().unwrap().is_empty());
    }
}

#[test]
fn report_rejects_zero_paragraphs() {
    Command::cargo_bin("accsim")
        .unwrap()
        .args(["report", "--accuracy-paragraphs", "0", "--out", "unused"])
        .assert()
        .code(2);
}
