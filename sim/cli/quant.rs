//! `accsim quant`: compare weight formats on one matrix: exact size, reconstruction error and
//! GEMV speed on this machine.

use accsim::Error;
use accsim::quant::weights::{self, Dist};
use accsim::quant::{ErrorMetrics, Format, PackedMatrix, bandwidth, checkpoint};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Measure formats: bits per weight, error against the original weights, GEMV throughput.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  accsim quant                                   all formats, 1024 x 4096 gaussian weights
  accsim quant --format q3.5-opt --dist llama    one format on LLaMA-like heavy-tailed weights
  accsim quant --rows 8192 --cols 8192 --json    machine-readable records
  accsim quant --dist workloads/models/stories260K/stories260K.bin:w1.2
                                                 real weights: layer 2's w1 of a llama2.c checkpoint

Distributions: gaussian = N(0, 0.02^2); llama = Student-t (nu = 4) body, std 0.02, with 0.5% of
input channels scaled 8x; FILE:TENSOR = a llama2.c checkpoint matrix (tok, wq, wk, wv, wo, w1,
w2, w3, optionally .LAYER), whose shape replaces --rows/--cols.
GEMV throughput is packed weight bytes streamed per second by a short timed loop on all cores;
small matrices run from cache. i8_GB/s (JSON gemv_i8_gbps) is the same with activations rounded
to int8 (gemv_i8), for the formats that have that kernel (int8, int4-g128, int3-g64, q3-k256, q3.5,
q3.5-byte, q3.5-opt). read_GB/s (JSON read_gbps) is this machine's memory read bandwidth,
measured in the same run (all cores summing a 256 MiB buffer, best of 5); of_rd is each GEMV
figure as a fraction of it.")]
pub struct Args {
    /// Format to measure; all formats side by side when omitted.
    #[arg(long, value_name = "NAME")]
    format: Option<String>,
    /// Output channels of the generated matrix.
    #[arg(long, default_value_t = 1024)]
    rows: usize,
    /// Inputs (K) of the generated matrix.
    #[arg(long, default_value_t = 4096)]
    cols: usize,
    /// Weight source: gaussian, llama or FILE:TENSOR.
    #[arg(long, default_value = "gaussian", value_name = "DIST")]
    dist: String,
    /// Seed of the generated weights and activations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON records instead of a table.
    #[arg(long)]
    json: bool,
}

/// One format's figures.
#[derive(Serialize)]
struct Record {
    format: Format,
    rows: usize,
    cols: usize,
    bits_per_weight: f64,
    bytes: u64,
    rel_error: f64,
    max_abs_error: f64,
    cosine: f64,
    /// `None` (JSON `null`, "exact" in the table) when the format reproduces the weights
    /// exactly (f32): the ratio is infinite, which JSON cannot express.
    sqnr_db: Option<f64>,
    gemv_gbps: f64,
    gemv_gflops: f64,
    /// GEMV with int8-rounded activations; `None` (JSON `null`, "-" in the table) for formats
    /// without an int8-activation kernel.
    gemv_i8_gbps: Option<f64>,
    /// This machine's memory read bandwidth measured in the same run: the limit the GEMV
    /// figures compare with.
    read_gbps: f64,
}

/// Least wall time spent timing one format's GEMV.
const TIMING: Duration = Duration::from_millis(60);

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let formats = match &args.format {
        Some(name) => vec![name.parse::<Format>().map_err(|e| Error::Usage {
            flag: "--format".into(),
            reason: e.to_string(),
        })?],
        None => Format::ALL.to_vec(),
    };
    let (rows, cols, w) = load(&args)?;
    let x = weights::activations(cols, args.seed ^ 0x9e37_79b9);
    let read_gbps = bandwidth::read_gbps();
    let records = formats
        .into_iter()
        .map(|f| measure(f, rows, cols, &w, &x, read_gbps))
        .collect::<Result<Vec<_>, _>>()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        print_table(&args.dist, &records);
    }
    Ok(())
}

/// The weights to measure, with their shape.
fn load(args: &Args) -> Result<(usize, usize, Vec<f32>), Error> {
    let (rows, cols) = (args.rows, args.cols);
    let generated = |make: fn(usize, usize, u64) -> Vec<f32>| {
        let n = rows.checked_mul(cols).filter(|&n| n > 0 && n <= 1 << 31);
        match n {
            Some(n) => {
                // The weights, their reconstruction and the packed copy, as f32 at most.
                let needs = 12 * n as u64;
                accsim::host::reserve(|| format!("--rows {rows} --cols {cols}"), needs)?;
                Ok((rows, cols, make(rows, cols, args.seed)))
            }
            None => Err(Error::Usage {
                flag: "--rows/--cols".into(),
                reason: format!("{rows} x {cols}: need at least one and at most 2^31 weights"),
            }),
        }
    };
    match Dist::parse(&args.dist) {
        Some(Dist::Gaussian) => generated(weights::gaussian),
        Some(Dist::Llama) => generated(weights::llama_like),
        None => match args.dist.rsplit_once(':') {
            Some((path, tensor)) => {
                let t = checkpoint::read_matrix(Path::new(path), tensor)?;
                Ok((t.rows, t.cols, t.data))
            }
            None => Err(Error::Usage {
                flag: "--dist".into(),
                reason: format!("`{}`: expected gaussian, llama or FILE:TENSOR", args.dist),
            }),
        },
    }
}

/// Quantize, compare, time.
fn measure(
    f: Format,
    rows: usize,
    cols: usize,
    w: &[f32],
    x: &[f32],
    read_gbps: f64,
) -> Result<Record, Error> {
    let m = PackedMatrix::quantize(f, rows, cols, w).map_err(|e| Error::Usage {
        flag: "--dist".into(),
        reason: e.to_string(),
    })?;
    let e = ErrorMetrics::between(w, &m.dequantize());
    let mut y = vec![0.0; rows];
    let per_run_s = time_per_run(|| m.gemv(x, &mut y));
    let bytes = m.bytes().len() as u64;
    let gemv_i8_gbps = m.has_int8_kernel().then(|| {
        // Cannot fail: the format has the kernel and the shapes match.
        let per_run_s = time_per_run(|| m.gemv_i8(x, &mut y).unwrap_or(()));
        bytes as f64 / per_run_s / 1e9
    });
    Ok(Record {
        format: f,
        rows,
        cols,
        bits_per_weight: f.bits_per_weight(rows as u64, cols as u64),
        bytes,
        rel_error: e.rel_error,
        max_abs_error: e.max_abs_error,
        cosine: e.cosine,
        sqnr_db: e.sqnr_db.is_finite().then_some(e.sqnr_db),
        gemv_gbps: bytes as f64 / per_run_s / 1e9,
        gemv_gflops: 2.0 * (rows * cols) as f64 / per_run_s / 1e9,
        gemv_i8_gbps,
        read_gbps,
    })
}

/// Mean wall time [s] of `run` over a loop of at least [`TIMING`], after one warm-up run.
fn time_per_run(mut run: impl FnMut()) -> f64 {
    run();
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < TIMING {
        run();
        runs += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(runs)
}

fn print_table(dist: &str, records: &[Record]) {
    if let Some(r) = records.first() {
        println!(
            "{} x {} weights from {dist}; read bandwidth {:.2} GB/s",
            r.rows, r.cols, r.read_gbps
        );
    }
    println!(
        "{:<10} {:>8} {:>11} {:>10} {:>10} {:>9} {:>8} {:>9} {:>6} {:>8} {:>8} {:>6}",
        "format",
        "bits/w",
        "bytes",
        "rel_error",
        "max_abs",
        "cosine",
        "sqnr_dB",
        "gemv_GB/s",
        "of_rd",
        "GFLOP/s",
        "i8_GB/s",
        "of_rd"
    );
    for r in records {
        let sqnr = r.sqnr_db.map_or("exact".into(), |db| format!("{db:.2}"));
        let i8 = r.gemv_i8_gbps.map_or("-".into(), |g| format!("{g:.2}"));
        let i8_of = r
            .gemv_i8_gbps
            .map_or("-".into(), |g| percent(g / r.read_gbps));
        println!(
            "{:<10} {:>8.4} {:>11} {:>10.3e} {:>10.3e} {:>9.6} {:>8} {:>9.2} {:>6} {:>8.2} {:>8} {:>6}",
            r.format.name(),
            r.bits_per_weight,
            r.bytes,
            r.rel_error,
            r.max_abs_error,
            r.cosine,
            sqnr,
            r.gemv_gbps,
            percent(r.gemv_gbps / r.read_gbps),
            r.gemv_gflops,
            i8,
            i8_of
        );
    }
}

/// A fraction as a whole percentage.
fn percent(f: f64) -> String {
    format!("{:.0}%", 100.0 * f)
}
