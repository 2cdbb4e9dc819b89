//! `accsim quant` end to end: table, JSON records, and exit code 2 with a clear message on bad
//! input.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn quant() -> Command {
    let mut cmd = Command::cargo_bin("accsim").unwrap();
    cmd.arg("quant");
    cmd
}

#[test]
fn table_lists_every_format() {
    let out = quant()
        .args(["--rows", "64", "--cols", "257"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for name in [
        "f32",
        "bf16",
        "int8",
        "int4-g128",
        "int3-g64",
        "q3.5",
        "q3.5-byte",
        "q3.5-opt",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing:\n{text}"
        );
    }
    assert!(text.contains("sqnr_dB"));
}

#[test]
fn json_records_have_the_promised_keys() {
    let out = quant()
        .args([
            "--format", "q3.5", "--rows", "8", "--cols", "64", "--dist", "llama", "--json",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let r = &v[0];
    for key in [
        "format",
        "bits_per_weight",
        "bytes",
        "rel_error",
        "sqnr_db",
        "cosine",
        "gemv_gbps",
    ] {
        assert!(!r[key].is_null(), "{key} missing in {r}");
    }
    assert_eq!(r["format"], "q3.5");
    assert_eq!(r["bytes"], 8 * 28 + 8 * 4);
}

#[test]
fn int8_activation_throughput_for_the_formats_that_have_it() {
    for (format, has) in [
        ("q3.5", true),
        ("q3.5-byte", true),
        ("q3.5-opt", true),
        ("int8", true),
        ("int4-g128", true),
        ("int3-g64", true),
        ("f32", false),
    ] {
        let out = quant()
            .args([
                "--format", format, "--rows", "16", "--cols", "130", "--json",
            ])
            .assert()
            .success();
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let g = &v[0]["gemv_i8_gbps"];
        if has {
            assert!(g.as_f64().is_some_and(|g| g > 0.0), "{format}: {v}");
        } else {
            assert!(g.is_null(), "{format}: {v}");
        }
    }
    let out = quant()
        .args(["--rows", "8", "--cols", "64"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("i8_GB/s"), "{text}");
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .to_owned()
    };
    assert!(row("f16").trim_end().ends_with('-'), "{text}");
    assert!(!row("int4-g128").trim_end().ends_with('-'), "{text}");
    assert!(!row("q3.5").trim_end().ends_with('-'), "{text}");
}

#[test]
fn exact_format_reports_null_sqnr() {
    let out = quant()
        .args(["--format", "f32", "--rows", "4", "--cols", "64", "--json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(v[0]["sqnr_db"].is_null(), "{v}");
    assert!(v[0]["gemv_gbps"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn reads_a_checkpoint_tensor() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/models/stories260K/stories260K.bin"
    );
    quant()
        .args(["--format", "int8", "--dist", &format!("{file}:w2.1")])
        .assert()
        .success()
        .stdout(contains("64 x 172"));
}

#[test]
fn unknown_format_exits_2_naming_the_choices() {
    quant()
        .args(["--format", "q2"])
        .assert()
        .code(2)
        .stderr(contains("unknown format `q2`").and(contains("q3.5-opt")));
}

#[test]
fn bad_shapes_and_sources_exit_2() {
    quant()
        .args(["--rows", "0"])
        .assert()
        .code(2)
        .stderr(contains("--rows/--cols"));
    quant().args(["--cols", "-3"]).assert().code(2);
    quant()
        .args(["--dist", "uniform"])
        .assert()
        .code(2)
        .stderr(contains("--dist"));
    quant()
        .args(["--dist", "/nonexistent.bin:w1"])
        .assert()
        .code(2)
        .stderr(contains("cannot read"));
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/models/stories260K/stories260K.bin"
    );
    quant()
        .args(["--dist", &format!("{file}:w7")])
        .assert()
        .code(2)
        .stderr(contains("unknown tensor"));
}
