//! End-to-end checks of `accsim accuracy` and `accsim generate` on the shipped stories260K.

mod common;

use common::{accsim, stdout_json};
use predicates::prelude::*;

const WORKLOAD: &str = "workloads/stories260k.ron";

/// A short text so the test stays quick.
fn short_text(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("text.txt");
    std::fs::write(
        &p,
        "Once upon a time, there was a little dog.\n\nThe sun was hot. Tom ran to the park.\n",
    )
    .unwrap();
    p
}

/// `accsim accuracy` of the shipped workload in `formats` on `text`.
fn accuracy_on(text: &std::path::Path, formats: &str) -> assert_cmd::Command {
    let mut cmd = accsim();
    cmd.args([
        "accuracy",
        "--workload",
        WORKLOAD,
        "--formats",
        formats,
        "--text",
    ])
    .arg(text);
    cmd
}

#[test]
fn generate_tells_the_story() {
    accsim()
        .args(["generate", "--workload", WORKLOAD, "--tokens", "30"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "Once upon a time, there was a little girl named Lily.",
        ));
}

#[test]
fn accuracy_json_has_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let text = short_text(dir.path());
    let csv = dir.path().join("out.csv");
    let v = stdout_json(
        accuracy_on(&text, "f32")
            .arg("--json")
            .arg("--csv")
            .arg(&csv),
    );
    assert_eq!(v["model"], "stories260k");
    assert!(v["tokens_scored"].as_u64().unwrap() > 10);
    let r = &v["results"][0];
    assert_eq!(r["format"], "f32");
    assert_eq!(r["bits_per_weight"], 32.0);
    assert_eq!(r["kl_mean"], 0.0);
    assert_eq!(r["top1_agreement"], 1.0);
    assert!(r["ppl"].as_f64().unwrap() > 1.0);
    let csv = std::fs::read_to_string(csv).unwrap();
    assert!(
        csv.starts_with("model,format,calibrated,bits_per_weight,ppl"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2);
}

#[test]
fn bad_inputs_exit_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let ron = std::fs::read_to_string(WORKLOAD).unwrap();
    let abs = std::fs::canonicalize("workloads/models/stories260K").unwrap();
    let truncated = dir.path().join("short.bin");
    let bin = std::fs::read(abs.join("stories260K.bin")).unwrap();
    std::fs::write(&truncated, &bin[..bin.len() / 2]).unwrap();
    let broken = ron
        .replace(
            "models/stories260K/stories260K.bin",
            truncated.to_str().unwrap(),
        )
        .replace(
            "models/stories260K/tok512.bin",
            abs.join("tok512.bin").to_str().unwrap(),
        );
    let wl = dir.path().join("broken.ron");
    std::fs::write(&wl, broken).unwrap();
    accsim()
        .args(["accuracy", "--formats", "f32", "--workload"])
        .arg(&wl)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("truncated"));
    accsim()
        .args(["generate", "--workload"])
        .arg(&wl)
        .assert()
        .code(2);
    accsim()
        .args(["accuracy", "--workload", WORKLOAD, "--formats", "q9"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown format"));
}

#[test]
fn generate_runs_a_packed_format_and_flags_are_checked() {
    accsim()
        .args([
            "generate",
            "--workload",
            WORKLOAD,
            "--format",
            "int8",
            "--tokens",
            "12",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("Once upon a time"));
    accsim()
        .args(["generate", "--workload", WORKLOAD, "--format", "q7"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format"));
    accsim()
        .args(["accuracy", "--synthetic", "--workload", WORKLOAD])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
    accsim().args(["accuracy"]).assert().code(2);
}

#[test]
fn calibrated_variants_are_scored_on_disjoint_text_only() {
    let dir = tempfile::tempdir().unwrap();
    let text = short_text(dir.path());
    let cal = dir.path().join("cal.txt");
    std::fs::write(
        &cal,
        "Lily saw a big red ball.\n\nShe was happy and ran home.\n",
    )
    .unwrap();
    let v = stdout_json(
        accuracy_on(&text, "f16,q3-k256")
            .arg("--json")
            .arg("--calibrate")
            .arg(&cal),
    );
    let labels: Vec<(String, bool)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["format"].as_str().unwrap().to_owned(),
                r["calibrated"].as_bool().unwrap(),
            )
        })
        .collect();
    let want = [("f16", false), ("q3-k256", false), ("q3-k256", true)];
    assert_eq!(labels, want.map(|(f, c)| (f.to_owned(), c)));
    assert_eq!(v["calibration"]["paragraphs"], 2);
    assert!(v["calibration"]["tokens"].as_u64().unwrap() > 10);
    // Calibrating on the scored text itself is refused.
    accuracy_on(&text, "q3-k256")
        .arg("--calibrate")
        .arg(&text)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("shares 2 paragraphs"));
}
