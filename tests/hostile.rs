//! Hostile input, class by class (issue 18): each case must exit with code 2, a message that
//! names the file (with line:column where it is a description), the field or flag and the
//! reason, and never panic, abort on allocation or hang.

mod common;

use accsim::ranges::{self, Range};
use accsim::{arch, describe, workload};
use common::accsim;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shipped(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A shipped file with `from` replaced by `to`, written into `dir` as `name`.
fn edited(dir: &Path, relative: &str, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(shipped(relative)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{relative} has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Run accsim with `args`; insist on exit code 2 with every `needle` in the error, and return it.
fn refused(args: &[&str], needles: &[&str]) -> String {
    refused_with(&mut accsim(), args, needles)
}

fn refused_with(cmd: &mut assert_cmd::Command, args: &[&str], needles: &[&str]) -> String {
    let out = cmd
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    // Refused before any work: nothing was printed.
    assert!(out.stdout.is_empty(), "{args:?} printed before failing");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: `{n}` missing from: {stderr}");
    }
    stderr
}

/// `path` as an argument.
fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

const STORIES: &str = "workloads/stories260k.ron";

/// Class 1: sums of input values are checked, not wrapped.
#[test]
fn token_counts_that_would_wrap_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = edited(
        dir.path(),
        STORIES,
        "w.ron",
        &[(
            "generated_tokens: 256",
            "generated_tokens: 18446744073709551615",
        )],
    );
    let e = refused(
        &["fit", "--workload", s(&w)],
        &["scenario.generated_tokens", "between 1 and 2^24"],
    );
    let line = std::fs::read_to_string(&w)
        .unwrap()
        .lines()
        .position(|l| l.contains("generated_tokens:"))
        .unwrap()
        + 1;
    assert!(e.contains(&format!("w.ron:{line}:")), "not located: {e}");
    // Each in range, their sum beyond the context: the relation is checked without wrapping.
    let w = edited(
        dir.path(),
        STORIES,
        "v.ron",
        &[
            ("generated_tokens: 256", "generated_tokens: 16777216"),
            ("prompt_tokens: 256", "prompt_tokens: 16777216"),
        ],
    );
    refused(
        &["fit", "--workload", s(&w)],
        &[
            "scenario.context",
            "cannot hold prompt_tokens 16777216 + generated_tokens 16777216",
        ],
    );
}

/// Class 2: fields that size an allocation or divide are bounded.
#[test]
fn fields_that_size_allocations_or_divide_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wse3 = "arch/cerebras-wse3.ron";
    let cases = [
        (
            wse3,
            vec![("clock_hz: 1.1e9", "clock_hz: 10.0")],
            "wafer.clock_hz",
        ),
        (
            wse3,
            vec![("io_bytes_per_s: 150e9", "io_bytes_per_s: 1e20")],
            "system.io_bytes_per_s",
        ),
        (
            wse3,
            vec![
                ("fabric_rows: 1172", "fabric_rows: 65536"),
                ("fabric_cols: 762", "fabric_cols: 65536"),
            ],
            "wafer.fabric_rows",
        ),
        (
            "arch/groq-tsp.ron",
            vec![("links_per_chip: 4", "links_per_chip: 0")],
            "system.levels[1].links_per_chip",
        ),
    ];
    for (i, (file, edits, field)) in cases.into_iter().enumerate() {
        let a = edited(d, file, &format!("a{i}.ron"), &edits);
        let e = refused(
            &[
                "run",
                "--arch",
                s(&a),
                "--workload",
                STORIES,
                "--numerics",
                "off",
            ],
            &[field, "must be", "got"],
        );
        assert!(e.contains(&format!("a{i}.ron:")), "{e}");
    }
    // A sweep line on the shipped WSE-3 reaching a 1 Hz clock is refused at its setting.
    let spec = d.join("clock.ron");
    std::fs::write(
        &spec,
        "Sweep(\n    arch: \"cerebras-wse3\",\n    workload: \"stories260k\",\n    grid: [ClockHz([1.0])],\n)\n",
    )
    .unwrap();
    let out = d.join("out");
    refused(
        &["sweep", s(&spec), "--out", s(&out)],
        &["clock.ron:4:", "grid[0].ClockHz[0]", "wafer.clock_hz"],
    );
    for (flag, arch, n) in [
        ("--gpus", "arch/nvidia-h100.ron", "1000000000"),
        ("--chips", "arch/groq-tsp.ron", "18446744073709551615"),
        ("--wafers", "arch/cerebras-wse3.ron", "4294967295"),
    ] {
        let fit = ["fit", "--arch", arch, "--workload", STORIES, flag, n];
        let needles = [flag, "more than this system can have"];
        refused(&fit, &needles);
        let run = [&["run"][..], &fit[1..], &["--numerics", "off"]].concat();
        refused(&run, &needles);
    }
}

/// Class 3: nonsense values are refused, not turned into numbers.
#[test]
fn nonsense_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let latency = edited(
        d,
        "arch/groq-tsp.ron",
        "tsp.ron",
        &[(
            "latency_cycles: 216",
            "latency_cycles: 18446744073709551615",
        )],
    );
    refused(
        &[
            "fit",
            "--arch",
            s(&latency),
            "--workload",
            "workloads/llama2-70b.ron",
        ],
        &["tsp.ron:", "chip.c2c.latency_cycles"],
    );
    let hbm = edited(
        d,
        "arch/nvidia-h100.ron",
        "gpu.ron",
        &[("hbm_bytes_per_s: 3.35e12", "hbm_bytes_per_s: 1e-300")],
    );
    refused(
        &["fit", "--arch", s(&hbm), "--workload", STORIES],
        &["gpu.hbm_bytes_per_s"],
    );
    // Dimensions each within bounds whose product overflows 64 bits.
    let params = edited(
        d,
        STORIES,
        "huge.ron",
        &[
            ("layers: 5", "layers: 10000"),
            ("hidden: 64", "hidden: 16777216"),
            ("ffn: 172", "ffn: 16777216"),
            ("heads: 8", "heads: 8192"),
            ("kv_heads: 4", "kv_heads: 8192"),
            ("head_dim: 8", "head_dim: 2048"),
        ],
    );
    refused(
        &["fit", "--workload", s(&params)],
        &["huge.ron:", "model.layers", "parameters"],
    );
    // A prompt longer than the model's context would generate nothing, silently.
    let prompt = "once upon a time ".repeat(300);
    refused(
        &["generate", "--workload", STORIES, "--prompt", &prompt],
        &["--prompt", "do not fit the model's context of 512"],
    );
}

/// Class 4: memory is asked for before it is taken.
#[test]
fn large_allocations_are_checked_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A valid workload whose sampled numerics would need hundreds of GB.
    let mut w: accsim::workload::Workload =
        accsim::describe::load::<accsim::workload::Workload>(&shipped(STORIES)).unwrap();
    w.model.vocab = 1 << 24;
    w.model.hidden = 8192;
    w.model.heads = 64;
    w.model.kv_heads = 8;
    w.model.head_dim = 128;
    w.model.layers = 1;
    // Synthetic weights are streamed: what numerics hold is one layer's packed weights.
    w.model.ffn = 1 << 22;
    w.checkpoint = None;
    w.published_params = w.model.params();
    let big = d.join("big.ron");
    std::fs::write(&big, ron::to_string(&w).unwrap()).unwrap();
    refused_with(
        accsim().env("ACCSIM_MEMORY_BYTES", "4000000000"),
        &[
            "run",
            "--arch",
            "arch/nvidia-h100.ron",
            "--workload",
            s(&big),
        ],
        &["--numerics sampled", "needs", "GB of memory"],
    );
    // The fabric state of many wafers.
    refused_with(
        accsim().env("ACCSIM_MEMORY_BYTES", "1000000000"),
        &[
            "run",
            "--arch",
            "arch/cerebras-wse3.ron",
            "--workload",
            STORIES,
            "--wafers",
            "300",
            "--numerics",
            "off",
        ],
        &["fabric state of 300 wafer(s) needs"],
    );
    // A llama2.c header promising 2^30 x 32 embeddings in a file of 40 bytes.
    let ck = d.join("ck.bin");
    let header: Vec<u8> = [32i32, 64, 1, 4, 4, 1 << 30, 16]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .chain([0u8; 12])
        .collect();
    std::fs::write(&ck, header).unwrap();
    refused(
        &[
            "quant",
            "--format",
            "int8",
            "--dist",
            &format!("{}:tok", s(&ck)),
        ],
        &["ck.bin", "truncated"],
    );
    refused_with(
        accsim().env("ACCSIM_MEMORY_BYTES", "1000000"),
        &[
            "quant", "--format", "int8", "--rows", "4096", "--cols", "4096",
        ],
        &["--rows 4096 --cols 4096 needs"],
    );
}

/// Class 5: NaN and infinite weights are refused on every format's path.
#[test]
fn non_finite_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let models = d.join("models/stories260K");
    std::fs::create_dir_all(&models).unwrap();
    let mut bin = std::fs::read(shipped("workloads/models/stories260K/stories260K.bin")).unwrap();
    // Weight 100 of the embedding table.
    bin[28 + 400..28 + 404].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(models.join("stories260K.bin"), &bin).unwrap();
    std::fs::copy(
        shipped("workloads/models/stories260K/tok512.bin"),
        models.join("tok512.bin"),
    )
    .unwrap();
    let w = edited(d, STORIES, "stories260k.ron", &[]);
    for format in ["f32", "q3.5"] {
        refused(
            &[
                "generate",
                "--workload",
                s(&w),
                "--format",
                format,
                "--tokens",
                "2",
            ],
            &["stories260K.bin", "Embedding", "NaN", "must be finite"],
        );
    }
    let mut inf = bin.clone();
    inf[28 + 400..28 + 404].copy_from_slice(&f32::INFINITY.to_le_bytes());
    std::fs::write(models.join("stories260K.bin"), &inf).unwrap();
    refused(
        &[
            "quant",
            "--format",
            "f32",
            "--dist",
            &format!("{}:tok", s(&models.join("stories260K.bin"))),
        ],
        &["must be finite"],
    );
}

/// Class 6: `fit` and `run` agree, and a refusal never blames a flag that was not given.
#[test]
fn fit_and_run_agree_on_stories260k_at_large_batch() {
    for batch in ["5", "8", "64"] {
        let args = [
            "--arch",
            "arch/cerebras-wse3.ron",
            "--workload",
            STORIES,
            "--batch",
            batch,
        ];
        let fit = common::stdout_json(
            accsim()
                .arg("fit")
                .args(args)
                .args(["--format", "q3.5", "--json"]),
        );
        let run = common::run_json("arch/cerebras-wse3.ron", STORIES, &["--batch", batch]);
        assert_eq!(fit[0]["fits"], run["fits"], "batch {batch}");
        assert_eq!(run["fits"], true, "batch {batch}");
    }
}

/// Class 6: a workload needing more units than the system can have does not fit, in `fit` and
/// in `run` alike.
#[test]
fn more_units_than_a_system_can_have_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let tsp = edited(
        dir.path(),
        "arch/groq-tsp.ron",
        "small.ron",
        &[("max_chips: 10440", "max_chips: 8")],
    );
    let args = ["--arch", s(&tsp), "--workload", "workloads/llama2-70b.ron"];
    let fit = common::stdout_json(
        accsim()
            .arg("fit")
            .args(args)
            .args(["--format", "q3.5", "--json"]),
    );
    assert_eq!(fit[0]["fits"], false, "{fit}");
    let run = common::run_json(s(&tsp), "workloads/llama2-70b.ron", &[]);
    assert_eq!(run["fits"], false, "{run}");
    assert!(run["cycles_per_token"].is_null());
}

/// Class 7: a long paragraph tokenizes (its speed is in `benches/tokenizer.rs`).
#[test]
fn a_64_kb_paragraph_tokenizes() {
    let tok =
        accsim::model::Tokenizer::from_llama2c(&shipped("workloads/models/stories260K/tok512.bin"))
            .unwrap();
    let text = std::fs::read_to_string(shipped("workloads/text/tinystories_valid_excerpt64k.txt"))
        .unwrap()
        .replace('\n', " ");
    let ids = tok.encode(&text);
    assert!(
        ids.len() > 10_000 && ids.len() < text.len(),
        "{}",
        ids.len()
    );
    assert_eq!(tok.decode(&ids), text);
}

/// Class 8: output paths are checked before the work starts.
#[test]
fn unwritable_outputs_are_reported_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let under = file.join("sub");
    refused(
        &["report", "--out", s(&under)],
        &["a-file/sub", "cannot write"],
    );
    refused(
        &[
            "sweep",
            "workloads/sweeps/wse-wafers-formats.ron",
            "--out",
            s(&under),
        ],
        &["a-file/sub", "cannot write"],
    );
    refused(
        &[
            "run",
            "--arch",
            "arch/groq-tsp.ron",
            "--workload",
            "workloads/llama2-70b.ron",
            "--trace",
            s(&under.join("t.json")),
        ],
        &["a-file/sub/t.json", "cannot write"],
    );
    refused(
        &[
            "accuracy",
            "--workload",
            STORIES,
            "--csv",
            s(&under.join("a.csv")),
        ],
        &["a-file/sub/a.csv", "cannot write"],
    );
}

// Ranges stated in three places (validators, file comments, docs) must not drift.

/// A shipped description: its path, text, tree of values and range tables.
struct Shipped {
    path: String,
    text: String,
    tree: Value,
    tables: Vec<(&'static str, &'static [Range])>,
}

fn read_shipped(relative: &str) -> String {
    std::fs::read_to_string(shipped(relative)).unwrap()
}

fn shipped_descriptions() -> Vec<Shipped> {
    let mut out = Vec::new();
    for p in arch::PRESETS {
        let a: arch::Arch = describe::parse(Path::new(p.path), p.text).unwrap();
        let machine = serde_json::to_value(&a.machine).unwrap();
        let (family, tree) = machine.as_object().unwrap().iter().next().unwrap();
        let (_, table) = arch::RANGES.iter().find(|(f, _)| f == family).unwrap();
        out.push(Shipped {
            path: p.path.to_owned(),
            text: p.text.to_owned(),
            tree: tree.clone(),
            tables: vec![("", table)],
        });
    }
    let mut workloads: Vec<String> = workload::PRESETS
        .iter()
        .map(|p| p.path.to_owned())
        .collect();
    workloads.push("workloads/llama3.1-70b.ron".to_owned());
    for path in workloads {
        let text = read_shipped(&path);
        let w: workload::Workload = describe::parse(Path::new(&path), &text).unwrap();
        out.push(Shipped {
            path,
            text,
            tree: serde_json::to_value(&w).unwrap(),
            tables: workload::RANGE_TABLES.to_vec(),
        });
    }
    out
}

/// Every number of every shipped description has a range, and the comment beside it states
/// that range as the validator checks it; every range governs some shipped field.
#[test]
fn the_shipped_files_state_each_fields_range_beside_it() {
    let mut wrong = Vec::new();
    let mut used = Vec::new();
    for s in shipped_descriptions() {
        for (path, _) in ranges::leaves(&s.tree) {
            let Some(range) = ranges::governing_in(&s.tables, &path) else {
                wrong.push(format!("{}: `{path}` has no range", s.path));
                continue;
            };
            used.push(range.field);
            let (line, _) = describe::locate(&s.text, &path).unwrap();
            let stated = format!("allowed {}", range.text());
            let written = s.text.lines().nth(line - 1).unwrap();
            let comment = written.split_once("//").map_or("", |(_, c)| c);
            if !comment.contains(&stated) {
                wrong.push(format!("{}:{line}: `{path}` must say `{stated}`", s.path));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let tables = arch::RANGES.iter().chain(&workload::RANGE_TABLES);
    for (_, table) in tables {
        for r in *table {
            assert!(
                used.contains(&r.field),
                "`{}` governs no shipped field",
                r.field
            );
        }
    }
}

/// `docs/ranges.md` holds each family's table as the validators use it.
#[test]
fn the_docs_state_the_ranges_the_validators_check() {
    let docs = read_shipped("docs/ranges.md");
    type Family = (&'static str, Vec<(&'static str, &'static [Range])>);
    let mut families: Vec<Family> = arch::RANGES
        .iter()
        .map(|(family, table)| (*family, vec![("", *table)]))
        .collect();
    families.push(("Workload", workload::RANGE_TABLES.to_vec()));
    let missing: Vec<String> = families
        .into_iter()
        .map(|(family, tables)| (family, ranges::markdown(&tables)))
        .filter(|(_, table)| !docs.contains(table))
        .map(|(family, table)| format!("{family}:\n{table}"))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/ranges.md lacks\n{}",
        missing.join("\n")
    );
}
