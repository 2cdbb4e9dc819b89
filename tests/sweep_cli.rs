//! `accsim sweep` end to end: outputs, thread-count independence, and bad specs (exit 2).

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn accsim() -> Command {
    Command::cargo_bin("accsim").unwrap()
}

/// Run a sweep of `spec` into `out` with `threads` threads; returns (csv, json).
fn sweep(spec: &Path, out: &Path, threads: &str) -> (String, String) {
    accsim()
        .args(["sweep", "--threads", threads, "--out"])
        .arg(out)
        .arg(spec)
        .assert()
        .success()
        .stdout(predicate::str::contains("Pareto front"));
    let stem = spec.file_stem().unwrap().to_string_lossy().into_owned();
    let read = |ext: &str| std::fs::read_to_string(out.join(format!("{stem}.{ext}"))).unwrap();
    (read("csv"), read("json"))
}

#[test]
fn shipped_gpu_sweep_writes_identical_results_on_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Path::new("workloads/sweeps/h100-gpus-formats.ron");
    let one = sweep(spec, &dir.path().join("one"), "1");
    let two = sweep(spec, &dir.path().join("two"), "2");
    assert_eq!(one, two);
    let rows: serde_json::Value = serde_json::from_str(&one.1).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 40);
    assert_eq!(one.0.lines().count(), 41);
    for key in [
        "units",
        "format",
        "batch",
        "fits",
        "tokens_per_s_per_user",
        "tokens_per_s",
        "ttft_s",
        "energy_j_per_token",
        "bits_per_weight",
        "rel_error",
        "error",
        "pareto",
    ] {
        assert!(rows[0].get(key).is_some(), "missing {key}");
    }
    assert!(rows.iter().any(|r| r["pareto"] == true));
}

#[test]
fn bad_specs_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown.ron",
            r#"Sweep(arch: "nvidia-h100", workload: "llama2-70b", grid: [Units([1])], speed: 1)"#,
            "unknown.ron:1:",
        ),
        (
            "empty.ron",
            r#"Sweep(arch: "nvidia-h100", workload: "llama2-70b", grid: [Units([])])"#,
            "field `grid[0]`: empty axis",
        ),
        (
            "nan.ron",
            r#"Sweep(arch: "nvidia-h100", workload: "llama2-70b", grid: [LinkBytesPerS([NaN])])"#,
            "field `grid[0].LinkBytesPerS[0]`: must be a finite number > 0, got NaN",
        ),
        (
            "zero.ron",
            r#"Sweep(arch: "nvidia-h100", workload: "llama2-70b", points: [[Units(0)]])"#,
            "field `points[0][0]`: must be at least 1",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        accsim()
            .args(["sweep", "--out"])
            .arg(dir.path())
            .arg(&path)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(expected).and(predicate::str::contains(name)));
    }
}
