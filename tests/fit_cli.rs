//! `accsim fit` end to end: every shipped file, the claims, and every kind of bad input.

mod common;

use common::{accsim, stdout_json};
use predicates::prelude::*;
use std::path::{Path, PathBuf};

const ARCHS: [&str; 4] = [
    "arch/groq-tsp.ron",
    "arch/cerebras-wse2.ron",
    "arch/cerebras-wse3.ron",
    "arch/nvidia-h100.ron",
];
const WORKLOADS: [&str; 4] = [
    "workloads/llama2-70b.ron",
    "workloads/llama3-70b.ron",
    "workloads/llama3.1-405b.ron",
    "workloads/stories260k.ron",
];

fn json(args: &[&str]) -> serde_json::Value {
    stdout_json(accsim().args(args).arg("--json"))
}

#[test]
fn every_shipped_pair_gives_a_record_with_the_documented_keys() {
    for arch in ARCHS {
        for workload in WORKLOADS {
            let records = json(&[
                "fit",
                "--arch",
                arch,
                "--workload",
                workload,
                "--format",
                "q3.5",
            ]);
            let r = &records[0];
            for key in [
                "arch",
                "workload",
                "format",
                "params",
                "bits_per_weight",
                "weight_bytes",
                "kv_cache_bytes",
                "total_bytes",
                "unit",
                "units_needed",
                "fits",
                "claims",
            ] {
                assert!(r.get(key).is_some(), "{arch} {workload}: no `{key}`");
            }
        }
    }
}

#[test]
fn no_arguments_cover_all_pairs_and_formats() {
    let records = json(&["fit"]);
    assert_eq!(
        records.as_array().unwrap().len(),
        4 * 4 * accsim::quant::Format::ALL.len()
    );
}

#[test]
fn claims_are_judged_with_measured_figures() {
    let records = json(&[
        "fit",
        "--arch",
        "arch/cerebras-wse3.ron",
        "--workload",
        "workloads/llama3.1-405b.ron",
        "--format",
        "q3.5",
    ]);
    let claims = records[0]["claims"].as_array().unwrap();
    let size = claims
        .iter()
        .find(|c| c["claim"].as_str().unwrap().contains("177 GB"))
        .unwrap();
    assert_eq!(size["claimed"], 177.0);
    // 405,853,388,800 weights x 3.5 bits plus per-row metadata.
    let measured = size["measured"].as_f64().unwrap();
    assert!((177.56..177.7).contains(&measured), "{measured}");
    for c in claims {
        for key in ["claim", "claimed", "measured", "holds"] {
            assert!(c.get(key).is_some());
        }
    }
}

#[test]
fn given_units_decide_the_fit() {
    let args = [
        "fit",
        "--arch",
        "arch/groq-tsp.ron",
        "--workload",
        "workloads/llama2-70b.ron",
        "--format",
        "q3.5",
    ];
    let needed = json(&args)[0]["units_needed"].as_u64().unwrap();
    let at = |n: u64| json(&[&args[..], &["--chips", &n.to_string()]].concat())[0].clone();
    assert_eq!(at(needed)["fits"], true);
    let short = at(needed - 1);
    assert_eq!(short["fits"], false);
    assert!(short["placement"]["bytes_short"].as_u64().unwrap() > 0);
}

#[test]
fn tables_print_verdicts_and_estimates() {
    accsim()
        .args([
            "fit",
            "--arch",
            "arch/cerebras-wse3.ron",
            "--workload",
            "workloads/llama3-70b.ron",
            "--format",
            "q3.5",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("fits one wafer with headroom"))
        .stdout(predicate::str::contains(
            "Estimated inputs of cerebras-wse3",
        ));
}

/// Write `file` with `from` replaced by `to` into a temporary directory; return its path.
fn mutated(dir: &Path, file: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    let path = dir.join(Path::new(file).file_name().unwrap());
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

/// Run `fit` on a bad file and check exit code 2 and every expected fragment of the message.
fn rejects(kind: &str, file: &str, from: &str, to: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = mutated(dir.path(), file, from, to);
    let flag = if kind == "arch" {
        "--arch"
    } else {
        "--workload"
    };
    let out = accsim().args(["fit", flag]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{from} -> {to}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "{from} -> {to}: `{e}` not in: {stderr}");
    }
}

#[test]
fn malformed_ron_names_file_line_and_column() {
    rejects(
        "arch",
        ARCHS[0],
        "clock_hz: 900e6,",
        "clock_hz: 900e6,,",
        &[
            "groq-tsp.ron:27:",
            "machine.GroqTsp.chip",
            "Expected identifier",
        ],
    );
    rejects(
        "workload",
        WORKLOADS[0],
        "layers: 80,",
        "layers: 80",
        &["llama2-70b.ron:", ":"],
    );
}

#[test]
fn unknown_and_missing_fields_are_named() {
    rejects(
        "arch",
        ARCHS[1],
        "dies: 84,",
        "dies: 84, dyes: 84,",
        &["cerebras-wse2.ron:", "dyes"],
    );
    rejects(
        "workload",
        WORKLOADS[1],
        "ffn: 28672,",
        "",
        &["llama3-70b.ron:", "ffn"],
    );
}

#[test]
fn impossible_values_are_rejected_with_their_field() {
    rejects(
        "arch",
        ARCHS[0],
        "addresses_per_slice: 8192,",
        "addresses_per_slice: 0,",
        &["chip.mem.addresses_per_slice", "must be between 1 and"],
    );
    rejects(
        "arch",
        ARCHS[0],
        "sram_bytes: 230686720,",
        "sram_bytes: 230686721,",
        &["chip.mem.sram_bytes", "230686720"],
    );
    rejects(
        "arch",
        ARCHS[2],
        "clock_hz: 1.1e9,",
        "clock_hz: -1.1e9,",
        &["wafer.clock_hz", "must be between 1e6 and 1e11 Hz"],
    );
    rejects(
        "arch",
        ARCHS[2],
        "clock_hz: 1.1e9,",
        "clock_hz: NaN,",
        &["wafer.clock_hz", "NaN"],
    );
    rejects(
        "arch",
        ARCHS[1],
        "fabric_rows: 996,",
        "fabric_rows: 9960,",
        &["wafer.fabric_rows", "exceeds"],
    );
    rejects(
        "arch",
        ARCHS[3],
        "hbm_bytes: 80000000000,",
        "hbm_bytes: -80,",
        &["gpu.hbm_bytes"],
    );
    rejects(
        "arch",
        ARCHS[0],
        "\"chip.power_w\",",
        "\"chip.power_watts\",",
        &["estimated[7]", "chip.power_watts"],
    );
}

#[test]
fn inconsistent_workloads_are_rejected_with_their_field() {
    rejects(
        "workload",
        WORKLOADS[0],
        "heads: 64,",
        "heads: 60,",
        &["model.heads", "do not divide hidden"],
    );
    rejects(
        "workload",
        WORKLOADS[0],
        "kv_heads: 8,",
        "kv_heads: 6,",
        &["model.kv_heads"],
    );
    rejects(
        "workload",
        WORKLOADS[0],
        "vocab: 32000,",
        "vocab: 32001,",
        &["published_params"],
    );
    rejects(
        "workload",
        WORKLOADS[0],
        "layers: 80,",
        "layers: 99999999999999999999999,",
        &["llama2-70b.ron:", "model.layers"],
    );
    rejects(
        "workload",
        WORKLOADS[0],
        "batch: 1,",
        "batch: 100000000000,",
        &["scenario.batch", "between 1 and 2^20"],
    );
    rejects(
        "workload",
        WORKLOADS[0],
        "\n        context: 4096,",
        "\n        context: 40960,",
        &["scenario.context", "max_context"],
    );
    rejects(
        "workload",
        WORKLOADS[0],
        "attn_q: \"q3.5\"",
        "attn_q: \"q3.6\"",
        &["quant.attn_q", "unknown format `q3.6`"],
    );
    rejects(
        "workload",
        WORKLOADS[0],
        "norms: \"f16\"",
        "norms: \"int8\"",
        &["quant.norms", "floating point"],
    );
}

#[test]
fn bad_flags_and_missing_files_exit_2() {
    let cases: [&[&str]; 5] = [
        &["fit", "--arch", "arch/no-such-file.ron"],
        &["fit", "--format", "q3.6"],
        &["fit", "--arch", "arch/groq-tsp.ron", "--wafers", "5"],
        &["fit", "--arch", "arch/groq-tsp.ron", "--chips", "0"],
        &[
            "fit",
            "--workload",
            "workloads/llama2-70b.ron",
            "--context",
            "999999",
        ],
    ];
    for args in cases {
        let out = accsim().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
}
