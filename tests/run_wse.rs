//! `accsim run` end to end on the Cerebras WSE model: the record, the fit verdict with too few
//! wafers, both fidelities, heat maps, and bad input.

mod common;

use common::accsim;

const WSE3: &str = "arch/cerebras-wse3.ron";

fn run_json(workload: &str, extra: &[&str]) -> serde_json::Value {
    common::run_json(WSE3, workload, extra)
}

#[test]
fn llama3_70b_runs_on_one_wafer_within_its_rooflines() {
    let r = run_json("workloads/llama3-70b.ron", &[]);
    let (parts, units) = common::check_run_record(&r);
    assert_eq!(r["units"], 1);
    assert_eq!(parts.len(), 81, "80 layers and the classifier");
    assert_eq!(units, ["pe", "router", "io"]);
    // One wafer: nothing crosses the system I/O.
    assert_eq!(r["network_bytes_per_token"], 0);
    let tps = r["decode_tokens_per_s"].as_f64().unwrap();
    assert!(tps > 1.0 && tps < 10_000.0, "{tps}");
    for k in ["compute", "memory", "network"] {
        let v = r["utilization"][k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{k} = {v}");
    }
}

#[test]
fn too_few_wafers_is_a_verdict_not_a_timing() {
    let r = run_json("workloads/llama3.1-405b.ron", &["--wafers", "2"]);
    assert_eq!(r["fits"], false);
    assert!(r["bytes_short"].as_u64().unwrap() > 0);
    assert!(r["decode_tokens_per_s"].is_null());
}

#[test]
fn fidelities_agree_end_to_end() {
    let at = |fidelity: &str| {
        run_json("workloads/stories260k.ron", &["--fidelity", fidelity])["cycles_per_token"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(at("fast"), at("detailed"));
}

#[test]
fn several_wafers_send_activations_over_the_system_io() {
    let r = run_json(
        "workloads/llama3-70b.ron",
        &["--format", "int8", "--wafers", "3"],
    );
    assert_eq!(r["fits"], true);
    assert!(r["network_bytes_per_token"].as_u64().unwrap() > 0);
}

/// Width and height of a PNG, and the distinct colours inside its map (10 pixels in, below the
/// 40-pixel title, left of the 110-pixel colour bar).
fn png_stats(path: &std::path::Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let (w, h) = (info.width as usize, info.height as usize);
    let mut colours: Vec<&[u8]> = (40..h - 10)
        .flat_map(|y| (10..w - 120).map(move |x| (y * w + x) * 3))
        .map(|i| &buf[i..i + 3])
        .collect();
    colours.sort();
    colours.dedup();
    (info.width, info.height, colours.len())
}

#[test]
fn heat_maps_are_written_per_wafer_and_trace_has_link_load() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("run.json");
    let maps = dir.path().join("maps");
    accsim()
        .args([
            "run",
            "--arch",
            WSE3,
            "--workload",
            "workloads/stories260k.ron",
        ])
        .args(["--numerics", "off", "--heatmap"])
        .arg(&maps)
        .arg("--trace")
        .arg(&trace)
        .assert()
        .success();
    for kind in ["memory", "links"] {
        let (w, h, colours) = png_stats(&maps.join(format!("wafer0-{kind}.png")));
        // 1172 x 762 PEs in blocks of 4, 2 pixels each, plus title and colour bar.
        assert_eq!((w, h), (2 * 191 + 130, 2 * 293 + 50), "{kind}");
        assert!(colours >= 2, "{kind} map is blank");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let events = json["traceEvents"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "X" && e["name"].as_str().unwrap().contains("wavelets")),
        "no link-load span in the trace"
    );
}

#[test]
fn bad_input_is_a_usage_error() {
    for (arch, args, needle) in [
        (WSE3, vec!["--gpus", "8"], "--gpus"),
        (WSE3, vec!["--wafers", "0"], "at least 1"),
        (
            "arch/nvidia-h100.ron",
            vec!["--heatmap", "maps"],
            "--heatmap",
        ),
    ] {
        common::run_refused(arch, "workloads/stories260k.ron", &args, needle);
    }
}
