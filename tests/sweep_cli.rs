//! `accsim sweep` end to end: outputs, thread-count independence, bad specs (exit 2), shards
//! merged into the unsharded result, a killed sweep resumed, and refused resumes and merges.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
        "bound_tokens_per_s",
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

/// The CSV and JSON a sweep of `stem` wrote in `dir`, as bytes.
fn outputs(dir: &Path, stem: &str) -> (Vec<u8>, Vec<u8>) {
    let read = |ext: &str| std::fs::read(dir.join(format!("{stem}.{ext}"))).unwrap();
    (read("csv"), read("json"))
}

/// `accsim sweep SPEC --out OUT` with `extra` flags.
fn sweep_cmd(spec: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = accsim();
    cmd.arg("sweep").arg(spec).arg("--out").arg(out).args(extra);
    cmd
}

#[test]
fn merged_shards_are_byte_identical_to_the_unsharded_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, stem) = (
        Path::new("workloads/sweeps/h100-gpus-formats.ron"),
        "h100-gpus-formats",
    );
    let (whole, shards) = (dir.path().join("whole"), dir.path().join("shards"));
    sweep_cmd(spec, &whole, &[]).assert().success();
    for i in 0..3 {
        sweep_cmd(spec, &shards, &["--shard", &format!("{i}/3")])
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("shard {i}/3")));
    }
    // A shard keeps the points' global indices: shard 1/3 holds points 1, 4, 7, ...
    let journal =
        std::fs::read_to_string(shards.join(format!("{stem}.shard-1-of-3.jsonl"))).unwrap();
    let mut points: Vec<u64> = journal
        .lines()
        .skip(1)
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["point"]
                .as_u64()
                .unwrap()
        })
        .collect();
    points.sort();
    assert_eq!(points, (1..40).step_by(3).collect::<Vec<u64>>());
    let merged = dir.path().join("merged");
    accsim()
        .arg("sweep")
        .arg(spec)
        .arg("--merge")
        .arg(&shards)
        .arg("--out")
        .arg(&merged)
        .assert()
        .success()
        .stdout(predicate::str::contains("Pareto front"));
    assert!(
        outputs(&whole, stem) == outputs(&merged, stem),
        "merged output differs"
    );

    // The same shard twice, a missing shard, another split: refused, naming the problem.
    let merge = |dirs: &[&PathBuf]| {
        let mut cmd = accsim();
        cmd.arg("sweep")
            .arg(spec)
            .arg("--merge")
            .args(dirs)
            .arg("--out")
            .arg(dir.path().join("x"));
        cmd
    };
    let part = dir.path().join("part");
    std::fs::create_dir_all(&part).unwrap();
    let shard1 = format!("{stem}.shard-1-of-3.jsonl");
    std::fs::copy(shards.join(&shard1), part.join(&shard1)).unwrap();
    merge(&[&shards, &part])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("shard 1/3 is given twice"));
    merge(&[&part])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("shard 0/3 is missing"));
    sweep_cmd(spec, &part, &["--shard", "0/2"])
        .assert()
        .success();
    merge(&[&part])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("merge the shards of one split"));
}

/// Lines in the file at `path` (0 if it does not exist yet).
fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn a_sweep_killed_mid_way_resumes_to_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    // 24 TSP points of ~50 ms CPU each on one thread: long enough to kill between points.
    let (spec, stem) = (dir.path().join("tsp24.ron"), "tsp24");
    std::fs::write(
        &spec,
        r#"Sweep(arch: "groq-tsp", workload: "llama2-70b",
            grid: [Format(["q3.5", "int8"]), Units([160, 192, 288, 576]), Batch([1, 4, 8])])"#,
    )
    .unwrap();
    let spec = spec.as_path();
    let (reference, resumed) = (dir.path().join("reference"), dir.path().join("resumed"));
    let journal = resumed.join(format!("{stem}.shard-0-of-1.jsonl"));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("accsim"))
        .arg("sweep")
        .arg(spec)
        .args(["--threads", "1", "--out"])
        .arg(&resumed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while lines(&journal) < 2 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = lines(&journal) - 1;
    assert!(
        (2..12).contains(&kept),
        "{kept} points journaled before the kill"
    );
    assert!(!resumed.join(format!("{stem}.csv")).exists());
    // A line torn by a crash mid-write is dropped and its point runs again.
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text += "{\"point\":23,\"arch\":\"gro";
    std::fs::write(&journal, text).unwrap();
    sweep_cmd(spec, &resumed, &["--threads", "2"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("({kept} done before)")));
    assert_eq!(lines(&journal), 25);
    sweep_cmd(spec, &reference, &["--threads", "2"])
        .assert()
        .success();
    assert!(
        outputs(&reference, stem) == outputs(&resumed, stem),
        "resumed output differs"
    );
}

#[test]
fn resume_and_merge_refuse_another_spec_or_binary() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("small.ron");
    let write_spec = |batch: &str| {
        let text = format!(
            r#"Sweep(arch: "nvidia-h100", workload: "llama2-70b", grid: [Units([1, 2]), Batch([{batch}])])"#
        );
        std::fs::write(&spec, text).unwrap();
    };
    let out = dir.path().join("out");
    write_spec("1, 4");
    sweep_cmd(&spec, &out, &["--shard", "0/2"])
        .assert()
        .success();
    write_spec("1, 8");
    sweep_cmd(&spec, &out, &["--shard", "0/2"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("small.shard-0-of-2.jsonl")
                .and(predicate::str::contains("written for another spec")),
        );
    write_spec("1, 4");
    let journal = out.join("small.shard-0-of-2.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let other = text.replacen("\"binary\":\"accsim ", "\"binary\":\"accsim 0.0.1 ", 1);
    assert_ne!(text, other);
    std::fs::write(&journal, other).unwrap();
    sweep_cmd(&spec, &out, &["--shard", "0/2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("written by another accsim binary"));
    sweep_cmd(&spec, &out, &["--shard", "1/2"])
        .assert()
        .success();
    accsim()
        .arg("sweep")
        .arg(&spec)
        .arg("--merge")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("written by another accsim binary"));
}

#[test]
fn dry_run_prints_the_cost_and_a_split_and_checks_its_flags() {
    let spec = Path::new("workloads/sweeps/h100-gpus-formats.ron");
    accsim()
        .arg("sweep")
        .arg(spec)
        .args(["--dry-run", "--threads", "2", "--target-wall", "30m"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("points=40\n")
                .and(predicate::str::contains("\nshards=1\n"))
                .and(predicate::str::contains("target_wall_s=1800\n"))
                .and(predicate::str::contains("cpu_s_per_point=")),
        );
    for (flags, expected) in [
        (
            ["--target-wall", "soon"],
            "--target-wall: `soon` is not a positive duration",
        ),
        (
            ["--shard", "3/3"],
            "--shard: `3/3`: shards are numbered from 0 to 2",
        ),
    ] {
        accsim()
            .arg("sweep")
            .arg(spec)
            .arg("--dry-run")
            .args(flags)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(expected));
    }
}
