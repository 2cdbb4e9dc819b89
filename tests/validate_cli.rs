//! `accsim validate` and `accsim sensitivity` end to end on small runs (stories260K, and a 70B
//! workload on one chip that does not fit and so is never simulated); the shipped validation
//! file takes about a minute and is timed by `cargo bench --bench validate` instead.

mod common;

use common::{accsim, stdout_json};
use predicates::prelude::*;
use std::path::Path;

/// A validation file with a point that runs and misses, and one that does not fit.
const POINTS: &str = r#"Validation(points: [
    (name: "small", system: "stories260K on TSP", arch: "groq-tsp", workload: "stories260k",
     format: "int8", units: None, batch: 1, context: None, prompt_tokens: None,
     metric: DecodeTokensPerSUser, published: 1e9, date: "2026-12",
     source: "https://example.org/small", undisclosed: "everything"),
    (name: "big", system: "LLaMA-2-70B on one chip", arch: "groq-tsp", workload: "llama2-70b",
     format: "int8", units: Some(1), batch: 1, context: Some(4096), prompt_tokens: None,
     metric: TimeToFirstTokenS, published: 0.3, date: "2026-12",
     source: "https://example.org/big", undisclosed: "everything"),
])"#;

fn file(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("points.ron");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn validate_prints_each_point_its_error_and_what_would_reproduce_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(dir.path(), POINTS);
    accsim()
        .args(["validate", "--file"])
        .arg(&p)
        .assert()
        .success()
        .stdout(predicate::str::contains("1 (fewest that fit)"))
        .stdout(predicate::str::contains("does not fit ("))
        .stdout(predicate::str::contains("bytes short)"))
        .stdout(predicate::str::contains(
            "chip.mxm.latency_cycles: none in range",
        ))
        .stdout(predicate::str::contains("not disclosed: everything"));
    let json = stdout_json(accsim().args(["validate", "--json", "--file"]).arg(&p));
    let points = json.as_array().unwrap();
    assert_eq!(points.len(), 2);
    for o in points {
        for k in [
            "name",
            "arch",
            "workload",
            "format",
            "units",
            "metric",
            "published",
            "predicted",
            "error",
            "source",
        ] {
            assert!(o.get(k).is_some(), "{k} missing from {o}");
        }
    }
    let (small, big) = (&points[0], &points[1]);
    let err = small["error"].as_f64().unwrap();
    let predicted = small["predicted"].as_f64().unwrap();
    assert!((err - (predicted / 1e9 - 1.0)).abs() < 1e-12);
    assert_eq!(small["within"], false);
    assert_eq!(
        small["reproduce"].as_array().unwrap().len(),
        10,
        "one per TSP estimate"
    );
    assert!(big["predicted"].is_null() && big["error"].is_null());
    assert!(big["bytes_short"].as_u64().unwrap() > 0);
}

#[test]
fn a_bad_validation_file_exits_2_naming_file_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        &POINTS.replace("published: 0.3", "published: 0.3, typo: 1"),
    );
    accsim()
        .args(["validate", "--file"])
        .arg(&p)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("points.ron:"))
        .stderr(predicate::str::contains("points[1]"))
        .stderr(predicate::str::contains("typo"));
    let p = file(
        dir.path(),
        &POINTS.replace("https://example.org/big", "somewhere"),
    );
    accsim()
        .args(["validate", "--file"])
        .arg(&p)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("points[1].source"));
}

#[test]
fn sensitivity_lists_every_estimate_and_refuses_zero_units() {
    let base = [
        "sensitivity",
        "--arch",
        "arch/groq-tsp.ron",
        "--workload",
        "workloads/stories260k.ron",
    ];
    let s = stdout_json(accsim().args(base).arg("--json"));
    let estimated = s["estimated_inputs"].as_array().unwrap().len();
    assert_eq!(s["rows"].as_array().unwrap().len(), 2 * estimated);
    assert!(s["calibrated_inputs"].as_array().unwrap().is_empty());
    accsim()
        .args(base)
        .assert()
        .success()
        .stdout(predicate::str::contains("not a valid description"))
        .stdout(predicate::str::contains("Estimated inputs of groq-tsp"));
    accsim()
        .args(base)
        .args(["--units", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--units"));
}
