//! `accsim run` end to end on the Groq TSP model: the record's keys, the roofline of every part,
//! the trace, the fit verdict, and bad input.

mod common;

const TSP: &str = "arch/groq-tsp.ron";
const STORIES: &str = "workloads/stories260k.ron";
const LLAMA2: &str = "workloads/llama2-70b.ron";

/// stories260k on the TSP, timing only, as JSON.
fn stories(extra: &[&str]) -> serde_json::Value {
    common::run_json(TSP, STORIES, extra)
}

#[test]
fn tsp_run_has_the_documented_keys_and_respects_the_roofline() {
    let r = stories(&[]);
    let (names, units) = common::check_run_record(&r);
    assert_eq!(r["arch"], "groq-tsp");
    assert_eq!(r["numerics"]["mode"], "off");
    assert_eq!(
        names,
        [
            "embedding",
            "layer 0",
            "layer 1",
            "layer 2",
            "layer 3",
            "layer 4",
            "head"
        ]
    );
    assert_eq!(units, ["mem", "mxm", "vxm", "sxm", "c2c"]);
    for u in r["unit_busy"].as_array().unwrap() {
        let v = u["utilization"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{u}");
    }
    assert!(r["ttft_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_trace_is_valid_chrome_json_with_tracks_per_unit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.json");
    stories(&["--trace", path.to_str().unwrap()]);
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let threads: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    for unit in ["mem", "mxm0.install", "mxm0.compute", "vxm0", "sxm"] {
        assert!(
            threads.iter().any(|t| t.starts_with(unit)),
            "no {unit} track in {threads:?}"
        );
    }
    assert!(events.iter().filter(|e| e["ph"] == "X").count() > 100);
}

#[test]
fn too_few_chips_are_reported_not_timed() {
    let r = common::run_json(TSP, LLAMA2, &["--chips", "100"]);
    assert_eq!(r["fits"], false);
    assert!(r["bytes_short"].as_u64().unwrap() > 0);
    assert!(r["decode_tokens_per_s"].is_null());
}

#[test]
fn bad_input_is_a_usage_error() {
    for (args, needle) in [
        (vec!["--chips", "0"], "at least 1"),
        (vec!["--gpus", "2"], "--gpus"),
        (vec!["--fidelity", "exact"], "--fidelity"),
        (vec!["--context", "0"], "context"),
    ] {
        common::run_refused(TSP, STORIES, &args, needle);
    }
}
