//! Fuzzing on stable Rust: proptest drives structure-aware and byte-level mutations of the
//! shipped description files, model files and tokenizer, and random command lines, and checks
//! that accsim never panics, never hangs (each input is bounded work) and reports invalid input
//! as a located error. The default case count keeps the suite fast; `scripts/fuzz.sh` runs the
//! same targets with many more cases (`PROPTEST_CASES`).

mod common;

use accsim::arch::{self, Arch};
use accsim::describe::{self, Validate};
use accsim::model::gguf::Gguf;
use accsim::model::llama2c::Llama2c;
use accsim::model::safetensors::HfSafetensors;
use accsim::model::{Checkpoint, Tensor, Tokenizer};
use accsim::quant::Format;
use accsim::run::{self, NumericsMode, RunOptions};
use accsim::sweep::{self, spec::Spec};
use accsim::workload::{self, Workload};
use accsim::{Error, fit};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Whether this is a long fuzz run (`PROPTEST_CASES` set, as the fuzz script does) rather
/// than the test suite.
fn fuzzing() -> bool {
    std::env::var_os("PROPTEST_CASES").is_some()
}

/// Cases per target: `PROPTEST_CASES` if set (the fuzz script sets it high), else a few.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(12);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn shipped(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// One byte-level edit: where (a fraction of the length), what, and the byte or span it uses.
#[derive(Clone, Debug)]
enum Edit {
    Replace(f64, u8),
    Insert(f64, u8),
    Delete(f64, usize),
    Duplicate(f64, usize),
    Truncate(f64),
    /// A digit string written over a number: the structure-aware part of the byte mutations.
    Number(f64, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = 0.0..1.0f64;
    let number = prop_oneof![
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("1e300".to_owned()),
        Just("1e-300".to_owned()),
        Just("NaN".to_owned()),
        Just("inf".to_owned()),
        Just("65536".to_owned()),
        (0u64..u64::MAX).prop_map(|n| n.to_string()),
    ];
    prop_oneof![
        (at.clone(), any::<u8>()).prop_map(|(a, b)| Edit::Replace(a, b)),
        (at.clone(), any::<u8>()).prop_map(|(a, b)| Edit::Insert(a, b)),
        (at.clone(), 1usize..64).prop_map(|(a, n)| Edit::Delete(a, n)),
        (at.clone(), 1usize..256).prop_map(|(a, n)| Edit::Duplicate(a, n)),
        at.clone().prop_map(Edit::Truncate),
        (at, number).prop_map(|(a, n)| Edit::Number(a, n)),
    ]
}

/// `bytes` with `edits` applied in order.
fn mutate(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let pos = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
        let len = bytes.len();
        match e {
            Edit::Replace(f, b) if len > 0 => {
                let i = pos(*f, len - 1);
                bytes[i] = *b;
            }
            Edit::Replace(..) => {}
            Edit::Insert(f, b) => bytes.insert(pos(*f, len), *b),
            Edit::Delete(f, n) => {
                let i = pos(*f, len);
                bytes.drain(i..(i + n).min(len));
            }
            Edit::Duplicate(f, n) => {
                let i = pos(*f, len);
                let span: Vec<u8> = bytes[i..(i + n).min(len)].to_vec();
                bytes.splice(i..i, span);
            }
            Edit::Truncate(f) => bytes.truncate(pos(*f, len)),
            Edit::Number(f, digits) => {
                // Overwrite the next run of digits at or after the position.
                let start = (pos(*f, len)..len).find(|&i| bytes[i].is_ascii_digit());
                if let Some(s) = start {
                    let end = (s..len)
                        .find(|&i| !(bytes[i].is_ascii_digit() || bytes[i] == b'.'))
                        .unwrap_or(len);
                    bytes.splice(s..end, digits.bytes());
                }
            }
        }
    }
    bytes
}

/// A description error must name the file it came from.
fn assert_located(e: &Error, path: &str) {
    let msg = e.to_string();
    assert!(msg.starts_with(path), "error not located in {path}: {msg}");
}

/// One kind of description and its seeds, as (path an error must name, text).
type KindSeeds = (&'static str, Vec<(String, String)>);

/// What a description target mutates, by kind (`arch`, `workload`, `sweep`): the shipped files
/// and the corpus's hostile ones (`tests/fuzz-corpus/KIND/`, each a shipped file with one defect
/// a campaign found), as (path an error must name, text); read once per process.
fn seeds(kind: &str) -> &'static [(String, String)] {
    static SEEDS: OnceLock<Vec<KindSeeds>> = OnceLock::new();
    let all = SEEDS.get_or_init(|| {
        [
            ("arch", &arch::PRESETS[..]),
            ("workload", &workload::PRESETS[..]),
            ("sweep", &sweep::PRESETS[..]),
        ]
        .into_iter()
        .map(|(kind, presets)| {
            let mut out: Vec<(String, String)> = presets
                .iter()
                .map(|p| (p.path.to_owned(), p.text.to_owned()))
                .collect();
            out.extend(corpus(kind));
            (kind, out)
        })
        .collect()
    });
    &all.iter().find(|(k, _)| *k == kind).unwrap().1
}

/// The corpus files of one kind, in name order.
fn corpus(kind: &str) -> Vec<(String, String)> {
    let dir = shipped("tests/fuzz-corpus").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f.display().to_string(), text)
        })
        .collect()
}

/// The shipped architectures and workloads, parsed once per process (the fuzz script runs
/// many cases).
fn shipped_descriptions() -> &'static (Vec<Arch>, Vec<Workload>) {
    static PARSED: OnceLock<(Vec<Arch>, Vec<Workload>)> = OnceLock::new();
    PARSED.get_or_init(|| {
        (
            values(arch::presets().unwrap()),
            values(workload::presets().unwrap()),
        )
    })
}

/// The descriptions of a parsed list, without their paths.
fn values<T>(described: Vec<(PathBuf, T)>) -> Vec<T> {
    described.into_iter().map(|(_, d)| d).collect()
}

fn shipped_archs() -> &'static [Arch] {
    &shipped_descriptions().0
}

fn shipped_workloads() -> &'static [Workload] {
    &shipped_descriptions().1
}

fn stories() -> &'static Workload {
    shipped_workloads()
        .iter()
        .find(|w| w.name == "stories260k")
        .unwrap()
}

fn timing_only(format: Format, units: Option<u64>) -> RunOptions {
    RunOptions {
        format,
        units,
        numerics: NumericsMode::Off,
        ..RunOptions::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Architecture files: parsed and validated, or refused with the file named; an accepted
    /// one is placed without panicking.
    #[test]
    fn arch_descriptions(which in 0..seeds("arch").len(), edits in prop::collection::vec(edit(), 1..6)) {
        let (path, text) = &seeds("arch")[which];
        let text = String::from_utf8_lossy(&mutate(text.as_bytes().to_vec(), &edits)).into_owned();
        match describe::parse::<Arch>(Path::new(path), &text) {
            Ok(a) => {
                for f in [Format::Q35, Format::F16] {
                    let _ = fit::fit(&a, stories(), f, None);
                }
            }
            Err(e) => assert_located(&e, path),
        }
    }

    /// Workload files: refused with the file named, or fitted on every shipped architecture.
    #[test]
    fn workload_descriptions(which in 0..seeds("workload").len(), edits in prop::collection::vec(edit(), 1..6)) {
        let (path, text) = &seeds("workload")[which];
        let text = String::from_utf8_lossy(&mutate(text.as_bytes().to_vec(), &edits)).into_owned();
        match describe::parse::<Workload>(Path::new(path), &text) {
            Ok(w) => {
                for a in shipped_archs() {
                    let _ = fit::fit(a, &w, Format::Q35, None);
                }
            }
            Err(e) => assert_located(&e, path),
        }
    }

    /// Sweep specs: refused with the file named, or every point prepared (not run).
    #[test]
    fn sweep_specs(which in 0..seeds("sweep").len(), edits in prop::collection::vec(edit(), 1..6)) {
        let (_, text) = &seeds("sweep")[which];
        let path = write_temp("spec.ron", &mutate(text.as_bytes().to_vec(), &edits));
        let shown = path.display().to_string();
        match sweep::load(&path) {
            Ok(spec) => {
                if let Err(e) = sweep::prepare(&path, &spec, None) {
                    assert!(e.to_string().contains(&shown) || e.to_string().contains(".ron"), "{e}");
                }
            }
            Err(e) => assert_located(&e, &shown),
        }
    }

    /// Numbers of an architecture scaled far out of range, structure kept: refused at the
    /// field, or placed and (for machines of a bounded size) timed.
    #[test]
    fn arch_numbers(which in 0..arch::PRESETS.len(), picks in prop::collection::vec((0usize..200, 0usize..8), 1..4)) {
        let a = &shipped_archs()[which];
        let mut tree = serde_json::to_value(a).unwrap();
        let mut numbers = Vec::new();
        collect_numbers(&mut tree, &mut numbers);
        let factors = [0.0, 1e-12, 0.5, 2.0, 1e12, -1.0, 1e30, 3.0];
        let mut changed = Vec::new();
        for (n, f) in &picks {
            changed.push((*n % numbers.len(), factors[*f]));
        }
        let mut i = 0;
        scale_numbers(&mut tree, &changed, &mut i);
        let Ok(b) = serde_json::from_value::<Arch>(tree) else { return Ok(()) };
        if b.validate().is_err() {
            return Ok(());
        }
        let w = stories();
        let f = fit::fit(&b, w, Format::Q35, None);
        let small = match &b.machine {
            arch::Machine::CerebrasWse(m) => m.wafer.fabric_pes() <= 1 << 21,
            _ => true,
        };
        if f.fits && small {
            let r = run::run(&b, w, &timing_only(Format::Q35, None));
            if let Err(e) = r {
                prop_assert!(!e.to_string().contains("--wafers"), "{}: {e}", a.name);
            }
        }
    }

    /// llama2.c checkpoints, byte-mutated and truncated: refused as data errors, or every
    /// tensor reads (finite) without panicking.
    #[test]
    fn llama2c_files(edits in prop::collection::vec(edit(), 1..6)) {
        let bytes = shipped_bytes("workloads/models/stories260K/stories260K.bin").to_vec();
        let path = write_temp("ck.bin", &mutate(bytes, &header_biased(&edits)));
        if let Ok(ck) = Llama2c::open(&path) {
            read_all(&ck);
        }
    }

    /// GGUF checkpoints with their embedded tokenizer.
    #[test]
    fn gguf_files(edits in prop::collection::vec(edit(), 1..6)) {
        let bytes = shipped_bytes("workloads/models/stories260K/stories260K.gguf").to_vec();
        let path = write_temp("ck.gguf", &mutate(bytes, &header_biased(&edits)));
        if let Ok(ck) = Gguf::open(&path) {
            read_all(&ck);
            if let Ok(tok) = ck.tokenizer() {
                let ids = tok.encode("Once upon a time");
                let _ = tok.decode(&ids);
            }
        }
    }

    /// safetensors checkpoints (a small model written here, config.json beside it).
    #[test]
    fn safetensors_files(edits in prop::collection::vec(edit(), 1..6), nan in any::<bool>()) {
        let path = write_small_safetensors(&scratch(), nan);
        let bytes = mutate(std::fs::read(&path).unwrap(), &header_biased(&edits));
        std::fs::write(&path, bytes).unwrap();
        if let Ok(ck) = HfSafetensors::open(&path) {
            read_all(&ck);
        }
    }

    /// Tokenizer files, and any text through the shipped tokenizer.
    #[test]
    fn tokenizers(edits in prop::collection::vec(edit(), 1..6), text in "\\PC{0,200}") {
        let bytes = shipped_bytes("workloads/models/stories260K/tok512.bin").to_vec();
        let path = write_temp("tok.bin", &mutate(bytes, &edits));
        if let Ok(tok) = Tokenizer::from_llama2c(&path) {
            let _ = tok.decode(&tok.encode(&text));
        }
    }

    /// `fit` says fits exactly when `run` runs, on random scenarios around the shipped files
    /// (every architecture, every workload, timing only); a refusal names its real cause, never
    /// a flag the user did not give.
    #[test]
    fn fit_and_run_agree(
        which_arch in 0..arch::PRESETS.len(),
        which_workload in 0..workload::PRESETS.len(),
        format in prop::sample::select(Format::ALL.to_vec()),
        batch in prop_oneof![Just(1u64), 1u64..=8, 1u64..=1024],
        extra_context in prop_oneof![Just(0u64), 0u64..=64, 0u64..=1 << 17],
        units in 0usize..7,
    ) {
        let a = &shipped_archs()[which_arch];
        let w = &shipped_workloads()[which_workload];
        // Many more units than needed, or the WSE with a 70B-class model or a large batch, take
        // seconds per run: only the fuzz script's long runs draw those.
        let wse = matches!(a.machine, arch::Machine::CerebrasWse(_));
        if (units >= 5 || wse && (w.name != "stories260k" || batch > 64)) && !fuzzing() {
            return Ok(());
        }
        let s = &w.scenario;
        let context = (s.prompt_tokens + s.generated_tokens + extra_context).min(w.model.max_context);
        let Ok(w) = w.with_scenario(Some(batch), Some(context)) else { return Ok(()) };
        let needed = fit::fit(a, &w, format, None).units_needed.unwrap_or(1);
        let units = [None, Some(1), Some(needed.saturating_sub(1).max(1)), Some(needed), Some(needed + 1), Some(2 * needed), Some(a.machine.max_units())][units]
            .filter(|&n| n <= a.machine.max_units());
        let f = fit::fit(a, &w, format, units);
        let case = format!("{} {} {format} batch {batch} context {context} units {units:?}", a.name, w.name);
        match run::run(a, &w, &timing_only(format, units)) {
            Ok(r) => prop_assert_eq!(r.record.fits, f.fits, "{}", case),
            Err(e) => {
                prop_assert!(!f.fits, "{case}: fit says fits, run fails: {e}");
                let given = units.map(|_| format!("--{}s", a.machine.unit().name()));
                let msg = e.to_string();
                for flag in msg.split_whitespace().filter(|t| t.starts_with("--")) {
                    let flag = flag.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
                    prop_assert!(given.as_deref() == Some(flag), "{case}: blames {flag}, not given: {msg}");
                }
            }
        }
    }

    /// Random command lines: exit 0 or 2 with one `error:` line, never a panic or exit 1.
    /// `validate` reads a one-point stories260K file (`tests/fuzz-inputs/`) unless the line
    /// names another, so each case stays cheap.
    #[test]
    fn command_lines(args in prop::collection::vec(cli_token(), 0..8), command in prop::sample::select(vec!["fit", "run", "quant", "sweep", "validate", "sensitivity"])) {
        let mut cmd = common::accsim();
        cmd.arg(command).env("ACCSIM_MEMORY_BYTES", "2000000000");
        match command {
            "run" => cmd.args(["--numerics", "off"]),
            "quant" => cmd.args(["--rows", "16", "--cols", "64"]),
            "validate" if !args.iter().any(|a| a == "--file") => cmd.args(["--file".to_owned(), shipped("tests/fuzz-inputs/validation-stories.ron").display().to_string()]),
            _ => &mut cmd,
        };
        let out = cmd.args(&args).timeout(std::time::Duration::from_secs(60)).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        prop_assert!(!stderr.contains("panicked"), "{command} {args:?}: {stderr}");
        prop_assert!(matches!(out.status.code(), Some(0 | 2)), "{command} {args:?}: {:?} {stderr}", out.status);
        if out.status.code() == Some(2) {
            prop_assert!(stderr.lines().filter(|l| l.starts_with("error:")).count() == 1, "{command} {args:?}: {stderr}");
        }
    }
}

/// Flags and values a hostile user might type.
fn cli_token() -> impl Strategy<Value = String> {
    let arch = shipped("arch/groq-tsp.ron").display().to_string();
    let wse = shipped("arch/cerebras-wse3.ron").display().to_string();
    let gpu = shipped("arch/nvidia-h100.ron").display().to_string();
    let stories = shipped("workloads/stories260k.ron").display().to_string();
    let bin = shipped("workloads/models/stories260K/stories260K.bin")
        .display()
        .to_string();
    prop::sample::select(vec![
        "--arch".to_owned(),
        arch,
        wse,
        gpu,
        "--workload".to_owned(),
        stories,
        "--batch".to_owned(),
        "--context".to_owned(),
        "--chips".to_owned(),
        "--wafers".to_owned(),
        "--gpus".to_owned(),
        "--format".to_owned(),
        "q3.5".to_owned(),
        "--dist".to_owned(),
        format!("{bin}:w1.3"),
        format!("{bin}:tok.9"),
        "0".to_owned(),
        "1".to_owned(),
        "7".to_owned(),
        "-1".to_owned(),
        "18446744073709551615".to_owned(),
        "99999999999999999999999".to_owned(),
        "nan".to_owned(),
        String::new(),
        "/nonexistent/x.ron".to_owned(),
        "--json".to_owned(),
        "--file".to_owned(),
        "--units".to_owned(),
        "--fidelity".to_owned(),
        "fast".to_owned(),
    ])
}

/// Edits concentrated on the first bytes, where the headers are.
fn header_biased(edits: &[Edit]) -> Vec<Edit> {
    let squeeze = |f: f64| f * f * f * f;
    edits
        .iter()
        .map(|e| match e.clone() {
            Edit::Replace(f, b) => Edit::Replace(squeeze(f), b),
            Edit::Insert(f, b) => Edit::Insert(squeeze(f), b),
            Edit::Delete(f, n) => Edit::Delete(squeeze(f), n),
            Edit::Duplicate(f, n) => Edit::Duplicate(squeeze(f), n),
            other => other,
        })
        .collect()
}

/// `bytes` written to `name` in this thread's scratch folder (one per thread, reused, so a
/// case costs a write, not a folder). The folder is in memory (`/dev/shm`) where there is one:
/// on ext4, rewriting a file in place flushes it to disk, twenty times the cost of the case.
fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// This thread's scratch folder.
fn scratch() -> PathBuf {
    thread_local! {
        static DIR: tempfile::TempDir = {
            let shm = Path::new("/dev/shm");
            if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap()
        };
    }
    DIR.with(|d| d.path().to_owned())
}

/// A shipped file's bytes, read once per process.
fn shipped_bytes(relative: &'static str) -> &'static [u8] {
    static FILES: std::sync::Mutex<Vec<(&str, &'static [u8])>> = std::sync::Mutex::new(Vec::new());
    let mut files = FILES.lock().unwrap();
    if let Some((_, b)) = files.iter().find(|(r, _)| *r == relative) {
        return b;
    }
    let bytes: &'static [u8] = std::fs::read(shipped(relative)).unwrap().leak();
    files.push((relative, bytes));
    bytes
}

/// Every tensor of `ck`: each is refused or has its shape's length of finite values.
fn read_all(ck: &dyn Checkpoint) {
    let c = ck.config().clone();
    let mut all = vec![Tensor::Embedding, Tensor::FinalNorm, Tensor::Classifier];
    for l in 0..c.layers.min(64) {
        all.extend(Tensor::of_layer(l));
    }
    for t in all {
        if let Ok(Some(v)) = ck.tensor(t) {
            assert!(
                v.iter().all(|x| x.is_finite()),
                "{t:?} holds a non-finite value"
            );
        }
    }
}

/// A one-layer model in the HF safetensors layout, one weight NaN if `nan`.
fn write_small_safetensors(dir: &Path, nan: bool) -> PathBuf {
    use safetensors::tensor::{Dtype, TensorView};
    let (dim, hidden, vocab) = (8usize, 16usize, 8usize);
    let shapes: Vec<(String, Vec<usize>)> = [
        ("model.embed_tokens.weight", vec![vocab, dim]),
        ("model.norm.weight", vec![dim]),
        ("model.layers.0.input_layernorm.weight", vec![dim]),
        ("model.layers.0.self_attn.q_proj.weight", vec![dim, dim]),
        ("model.layers.0.self_attn.k_proj.weight", vec![dim, dim]),
        ("model.layers.0.self_attn.v_proj.weight", vec![dim, dim]),
        ("model.layers.0.self_attn.o_proj.weight", vec![dim, dim]),
        ("model.layers.0.post_attention_layernorm.weight", vec![dim]),
        ("model.layers.0.mlp.gate_proj.weight", vec![hidden, dim]),
        ("model.layers.0.mlp.up_proj.weight", vec![hidden, dim]),
        ("model.layers.0.mlp.down_proj.weight", vec![dim, hidden]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_owned(), s))
    .collect();
    let blobs: Vec<Vec<u8>> = shapes
        .iter()
        .enumerate()
        .map(|(k, (_, s))| {
            let n: usize = s.iter().product();
            (0..n)
                .map(|i| {
                    if nan && k == 3 && i == 5 {
                        f32::NAN
                    } else {
                        (i % 7) as f32 * 0.1
                    }
                })
                .flat_map(f32::to_le_bytes)
                .collect()
        })
        .collect();
    let views = shapes.iter().zip(&blobs).map(|((n, s), b)| {
        (
            n.clone(),
            TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
        )
    });
    let path = dir.join("model.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let config = serde_json::json!({
        "hidden_size": dim, "intermediate_size": hidden, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": vocab,
        "max_position_embeddings": 16, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": true
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    path
}

/// Every number in `v`, depth first.
fn collect_numbers(v: &mut serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Number(n) => out.push(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| collect_numbers(x, out)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| collect_numbers(x, out)),
        _ => {}
    }
}

/// Multiply the numbers picked in `changed` (by depth-first index) by their factors, keeping
/// integers integral (saturated to u64) so the structure still deserializes.
fn scale_numbers(v: &mut serde_json::Value, changed: &[(usize, f64)], i: &mut usize) {
    match v {
        serde_json::Value::Number(n) => {
            for &(k, f) in changed {
                if k == *i {
                    *n = if n.is_u64() {
                        let x = (n.as_f64().unwrap_or(0.0) * f).clamp(0.0, u64::MAX as f64);
                        serde_json::Number::from(x as u64)
                    } else {
                        let x = n.as_f64().unwrap_or(0.0) * f;
                        serde_json::Number::from_f64(x)
                            .unwrap_or_else(|| serde_json::Number::from(0))
                    };
                }
            }
            *i += 1;
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| scale_numbers(x, changed, i)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| scale_numbers(x, changed, i)),
        _ => {}
    }
}

#[test]
fn a_nan_weight_in_safetensors_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ck = HfSafetensors::open(&write_small_safetensors(dir.path(), true)).unwrap();
    let e = ck.tensor(Tensor::Q(0)).unwrap_err();
    assert!(e.to_string().contains("must be finite"), "{e}");
    let ok = HfSafetensors::open(&write_small_safetensors(dir.path(), false)).unwrap();
    read_all(&ok);
}

#[test]
fn validation_errors_point_at_the_line_and_column() {
    let text = arch::PRESETS[0]
        .text
        .replace("latency_cycles: 216", "latency_cycles: 0xFFFFFFFFFFFF");
    assert_ne!(text, arch::PRESETS[0].text);
    let e = describe::parse::<Arch>(Path::new("tsp.ron"), &text).unwrap_err();
    let line = text
        .lines()
        .position(|l| l.contains("latency_cycles: 0xFFFFFFFFFFFF"))
        .unwrap()
        + 1;
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("tsp.ron:{line}:")), "{msg}");
    assert!(msg.contains("chip.c2c.latency_cycles"), "{msg}");
    let spec: Spec = describe::parse(
        Path::new("s.ron"),
        "Sweep(arch: \"cerebras-wse3\", workload: \"stories260k\", grid: [Units([1])])",
    )
    .unwrap();
    assert_eq!(spec.grid.len(), 1);
}

/// Every corpus file is refused as it stands, with an error naming the file.
#[test]
fn the_corpus_is_refused_with_located_errors() {
    for (path, text) in corpus("arch") {
        let e = describe::parse::<Arch>(Path::new(&path), &text).unwrap_err();
        assert_located(&e, &path);
    }
    for (path, text) in corpus("workload") {
        let e = describe::parse::<Workload>(Path::new(&path), &text).unwrap_err();
        assert_located(&e, &path);
    }
    for (path, _) in corpus("sweep") {
        let path = PathBuf::from(path);
        let e = sweep::load(&path)
            .and_then(|spec| sweep::prepare(&path, &spec, None).map(|_| ()))
            .unwrap_err();
        assert_located(&e, &path.display().to_string());
    }
}
