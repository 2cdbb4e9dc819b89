//! `accsim accuracy`: perplexity, KL divergence and top-1 agreement of each weight format
//! against f32, on a workload's real checkpoint and a text.

use accsim::Error;
use accsim::model::accuracy::{self, FormatResult};
use accsim::model::eval;
use accsim::model::open::open_workload;
use accsim::model::{Checkpoint, synthetic};
use accsim::quant::Format;
use accsim::report::Table;
use accsim::workload::{self, Workload};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How much accuracy does each weight format lose against f32 on real text?
#[derive(Args)]
#[command(after_help = "Examples:
  accsim accuracy --workload workloads/stories260k.ron
  accsim accuracy --workload workloads/stories260k.ron --formats f16,int8,q3.5,q3.5-opt --json
  accsim accuracy --workload workloads/stories260k.ron --text my.txt --csv accuracy.csv
  accsim accuracy --synthetic --formats f16,int8,int4-g128,q3.5,q3.5-opt

Every weight matrix (embedding and classifier included) is stored in the format under test;
norm vectors follow the workload's policy. Protocol and metrics: docs/accuracy.md.")]
pub struct AccuracyArgs {
    /// Workload description naming a checkpoint.
    #[arg(long, value_name = "FILE", required_unless_present = "synthetic")]
    workload: Option<PathBuf>,
    /// Instead of a checkpoint, run one decoder layer of LLaMA-2-70B and of LLaMA-3.1-405B at
    /// their true widths with synthetic LLaMA-like weights (Student-t body, std 0.02, 0.5% of
    /// input channels x8; docs/accuracy.md) and report each format's error on the layer's
    /// update (slow: about 4 CPU-minutes per format, 6.3 GB peak for six formats).
    #[arg(long, conflicts_with_all = ["workload", "text", "csv", "calibrate"])]
    synthetic: bool,
    /// Text to score, paragraphs separated by blank lines
    /// (default: the shipped TinyStories excerpt, text/tinystories_valid_excerpt64k.txt beside the workload).
    #[arg(long, value_name = "FILE")]
    text: Option<PathBuf>,
    /// Calibration text (paragraphs separated by blank lines, none shared with the scored
    /// text): every sub-8-bit integer format is also scored with codes chosen by error
    /// feedback from the f32 model's inputs on it (GPTQ), shown as FORMAT+cal.
    #[arg(long, value_name = "FILE")]
    calibrate: Option<PathBuf>,
    /// Comma-separated formats (default: every format of the catalogue).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    formats: Option<Vec<String>>,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the results as CSV to this file.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
}

/// The whole run.
#[derive(Serialize)]
struct Report {
    model: String,
    synthetic: bool,
    text: String,
    paragraphs: usize,
    tokens_scored: usize,
    /// The calibration text, its paragraphs and tokens, if calibrated variants were scored.
    calibration: Option<CalibrationText>,
    results: Vec<FormatResult>,
}

/// What calibrated variants were calibrated on.
#[derive(Serialize)]
struct CalibrationText {
    text: String,
    paragraphs: usize,
    tokens: usize,
}

/// Parse a list of format names.
pub fn parse_formats(flag: &str, names: &[String]) -> Result<Vec<Format>, Error> {
    names
        .iter()
        .map(|n| {
            n.trim().parse::<Format>().map_err(|e| Error::Usage {
                flag: flag.into(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Read the text to score.
fn read_text(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Run the command.
pub fn run(args: AccuracyArgs) -> anyhow::Result<()> {
    if let Some(csv) = &args.csv {
        super::output::writable_file(csv)?;
    }
    let formats = match &args.formats {
        Some(names) => parse_formats("--formats", names)?,
        None => Format::ALL.to_vec(),
    };
    let Some(workload_path) = &args.workload else {
        return run_synthetic(&formats, args.json);
    };
    let w = workload::load(workload_path)?;
    let text_path = args.text.clone().unwrap_or_else(|| {
        Workload::resolve(
            workload_path,
            Path::new("text/tinystories_valid_excerpt64k.txt"),
        )
    });
    let opened = open_workload(workload_path, &w)?;
    let text = read_text(&text_path)?;
    let seqs = eval::sequences(&opened.tokenizer, &text);
    if seqs.is_empty() {
        return Err(Error::Data {
            path: text_path,
            reason: "no paragraph to score".into(),
        }
        .into());
    }
    let (calibration, calibration_text) = match &args.calibrate {
        Some(path) => {
            let cal_text = read_text(path)?;
            let shared = accuracy::shared_paragraphs(&cal_text, &text);
            if shared > 0 {
                return Err(Error::Usage {
                    flag: "--calibrate".into(),
                    reason: format!(
                        "{} shares {shared} paragraphs with the scored text {}; calibrate on other text",
                        path.display(),
                        text_path.display()
                    ),
                }
                .into());
            }
            let cal_seqs = eval::sequences(&opened.tokenizer, &cal_text);
            if cal_seqs.is_empty() {
                return Err(Error::Data {
                    path: path.clone(),
                    reason: "no paragraph to calibrate on".into(),
                }
                .into());
            }
            let c = accuracy::calibrate(&opened, &w, &cal_seqs)?;
            let about = CalibrationText {
                text: path.display().to_string(),
                paragraphs: cal_seqs.len(),
                tokens: c.tokens,
            };
            (Some(c), Some(about))
        }
        None => (None, None),
    };
    let variants = accuracy::variants(&formats, calibration.is_some());
    let bar = ProgressBar::new(seqs.len() as u64).with_style(ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} paragraphs, {eta} left",
    )?);
    bar.set_message(format!("scoring {} variants", variants.len()));
    let results = accuracy::score(&opened, &w, &variants, calibration.as_ref(), &seqs, &|| {
        bar.inc(1)
    })?;
    bar.finish_and_clear();
    let report = Report {
        model: w.name.clone(),
        synthetic: false,
        text: text_path.display().to_string(),
        paragraphs: seqs.len(),
        tokens_scored: accuracy::tokens_scored(&seqs),
        calibration: calibration_text,
        results,
    };
    if let Some(csv) = &args.csv {
        std::fs::write(csv, to_csv(&report)).map_err(|e| Error::Usage {
            flag: "--csv".into(),
            reason: format!("cannot write {}: {e}", csv.display()),
        })?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report, opened.path());
    }
    Ok(())
}

fn to_csv(r: &Report) -> String {
    let mut out = String::from(
        "model,format,calibrated,bits_per_weight,ppl,mean_nll,kl_mean,kl_p99,top1_agreement,top1_accuracy,max_layer_rel_error\n",
    );
    for x in &r.results {
        out += &format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            r.model,
            x.format,
            x.calibrated,
            x.bits_per_weight,
            x.ppl,
            x.mean_nll,
            x.kl_mean,
            x.kl_p99,
            x.top1_agreement,
            x.top1_accuracy,
            x.layer_rel_error.iter().copied().fold(0.0, f64::max)
        );
    }
    out
}

fn print_table(r: &Report, checkpoint: &Path) {
    println!(
        "{} ({}): {} tokens scored in {} paragraphs of {}",
        r.model,
        checkpoint.display(),
        r.tokens_scored,
        r.paragraphs,
        r.text
    );
    if let Some(c) = &r.calibration {
        println!(
            "+cal: codes calibrated (GPTQ) on {} tokens in {} paragraphs of {}",
            c.tokens, c.paragraphs, c.text
        );
    }
    let mut t = Table::new([
        "format",
        "bits/w",
        "ppl",
        "mean NLL",
        "KL mean",
        "KL p99",
        "top-1 agree",
        "top-1 acc",
        "max layer err",
    ]);
    for x in &r.results {
        t.row([
            x.label(),
            format!("{:.3}", x.bits_per_weight),
            format!("{:.4}", x.ppl),
            format!("{:.5}", x.mean_nll),
            format!("{:.3e}", x.kl_mean),
            format!("{:.3e}", x.kl_p99),
            format!("{:.2}%", 100.0 * x.top1_agreement),
            format!("{:.2}%", 100.0 * x.top1_accuracy),
            format!(
                "{:.3e}",
                x.layer_rel_error.iter().copied().fold(0.0, f64::max)
            ),
        ]);
    }
    print!("{t}");
}

/// Positions run through each synthetic layer.
const SYNTHETIC_TOKENS: usize = 16;
/// Seed of the synthetic weights (fixed so runs are comparable).
const SYNTHETIC_SEED: u64 = 2024;

/// One synthetic layer's result per format.
#[derive(Serialize)]
struct SyntheticRecord {
    model: String,
    synthetic: bool,
    tokens: usize,
    format: String,
    bits_per_weight: f64,
    layer_update_rel_error: f64,
}

/// `--synthetic`: full-width layers with generated weights; in table mode each model's table is
/// printed as soon as it is done, since a run takes minutes.
fn run_synthetic(formats: &[Format], json: bool) -> anyhow::Result<()> {
    if !json {
        println!(
            "SYNTHETIC: one decoder layer at true widths, LLaMA-like weights (Student-t, std {}, 0.5% outlier channels x8), {} tokens; error of the layer's update to the residual stream vs f32",
            accsim::quant::weights::WEIGHT_STD,
            SYNTHETIC_TOKENS
        );
    }
    let mut records = Vec::new();
    for shape in [synthetic::LLAMA2_70B, synthetic::LLAMA31_405B] {
        let bar = ProgressBar::new_spinner();
        bar.set_message(format!(
            "synthetic {} layer, {} formats",
            shape.name,
            formats.len()
        ));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let errors = synthetic::layer_errors(shape, formats, SYNTHETIC_TOKENS, SYNTHETIC_SEED)?;
        bar.finish_and_clear();
        let (d, f) = (shape.dim as u64, shape.hidden as u64);
        let kv = (shape.kv_heads * shape.head_dim) as u64;
        let mats = [(d, d), (kv, d), (kv, d), (d, d), (f, d), (f, d), (d, f)];
        let mut t = Table::new(["model", "format", "bits/w", "layer update rel. error"]);
        for e in errors {
            let bytes: u64 = mats.iter().map(|&(r, c)| e.format.packed_bytes(r, c)).sum();
            let params: u64 = mats.iter().map(|&(r, c)| r * c).sum();
            let r = SyntheticRecord {
                model: format!("{} (synthetic weights)", shape.name),
                synthetic: true,
                tokens: SYNTHETIC_TOKENS,
                format: e.format.name().into(),
                bits_per_weight: 8.0 * bytes as f64 / params as f64,
                layer_update_rel_error: e.update_rel_error,
            };
            t.row([
                r.model.clone(),
                r.format.clone(),
                format!("{:.3}", r.bits_per_weight),
                format!("{:.3e}", r.layer_update_rel_error),
            ]);
            records.push(r);
        }
        if !json {
            print!("{t}");
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    }
    Ok(())
}
