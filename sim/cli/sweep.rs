//! `accsim sweep`: run a grid or list of points from a sweep spec in parallel, write CSV and
//! JSON, and print the Pareto front.

use super::run::NumericsFlag;
use accsim::Error;
use accsim::report::Table;
use accsim::sweep::{self, Row, SweepNumerics};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// Sweep architecture and workload parameters; results as CSV and JSON with the Pareto front.
#[derive(Args)]
#[command(after_help = "Examples:
  accsim sweep workloads/sweeps/tsp-chips-formats.ron
  accsim sweep workloads/sweeps/h100-gpus-formats.ron --out results --threads 2
  accsim sweep my-sweep.ron --numerics sampled

A spec names an architecture and a workload (shipped name or .ron file) and either a grid of
axes or a list of points; axes: Units, MemoryBytes, ClockHz, LinkBytesPerS, Format, Batch,
Context. Schema and examples: docs/report.md.")]
pub struct SweepArgs {
    /// Sweep spec (RON).
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// Directory for SPEC-NAME.csv and SPEC-NAME.json.
    #[arg(long, value_name = "DIR", default_value = "reports/sweeps")]
    out: PathBuf,
    /// Numerics of every point (default: the spec's, which defaults to off).
    #[arg(long, value_enum)]
    numerics: Option<NumericsFlag>,
    /// Decoder layers that compute values with `--numerics sampled`.
    #[arg(long, value_name = "K", default_value_t = 1)]
    sample_layers: u64,
    /// Worker threads (default: one per core); results do not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Write `text` to `path`, creating its directory.
pub fn write(path: &Path, text: &str) -> Result<(), Error> {
    let fail = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}

/// Run `accsim sweep`.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    if args.threads == Some(0) || args.sample_layers == 0 {
        let flag = if args.threads == Some(0) {
            "--threads"
        } else {
            "--sample-layers"
        };
        return Err(Error::Usage {
            flag: flag.to_owned(),
            reason: "must be at least 1".to_owned(),
        }
        .into());
    }
    let spec = sweep::load(&args.spec)?;
    super::output::writable_dir(&args.out)?;
    let numerics = args.numerics.map(|n| match n {
        NumericsFlag::Full => SweepNumerics::Full,
        NumericsFlag::Sampled => SweepNumerics::Sampled(args.sample_layers),
        NumericsFlag::Off => SweepNumerics::Off,
    });
    let prepared = sweep::prepare(&args.spec, &spec, numerics)?;
    let bar = ProgressBar::new(prepared.jobs.len() as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} points, {eta} left")?,
    );
    bar.set_message(format!("sweeping {}", args.spec.display()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    let rows = pool.install(|| sweep::run(&prepared, &|| bar.inc(1)));
    bar.finish_and_clear();
    let stem = args
        .spec
        .file_stem()
        .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
    let csv = args.out.join(format!("{stem}.csv"));
    let json = args.out.join(format!("{stem}.json"));
    write(&csv, &sweep::csv::to_csv(&rows))?;
    write(&json, &serde_json::to_string_pretty(&rows)?)?;
    print!("{}", summary(&rows));
    println!("wrote {} and {}", csv.display(), json.display());
    Ok(())
}

fn or_dash(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.decimals$}"))
}

/// Counts, the Pareto front, and each distinct error once.
fn summary(rows: &[Row]) -> String {
    let timed = rows.iter().filter(|r| r.tokens_per_s.is_some()).count();
    let mut out = format!(
        "{} points: {} fit, {} timed, {} failed\n",
        rows.len(),
        rows.iter().filter(|r| r.fits).count(),
        timed,
        rows.iter().filter(|r| r.error.is_some()).count()
    );
    let mut t = Table::new([
        "point",
        "format",
        "units",
        "batch",
        "context",
        "bits/w",
        "tok/s/user",
        "tok/s",
        "J/token",
    ]);
    for r in rows.iter().filter(|r| r.pareto) {
        t.row([
            r.point.to_string(),
            r.format.to_string(),
            r.units.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            r.batch.to_string(),
            r.context.to_string(),
            format!("{:.3}", r.bits_per_weight),
            or_dash(r.tokens_per_s_per_user, 1),
            or_dash(r.tokens_per_s, 1),
            or_dash(r.energy_j_per_token, 3),
        ]);
    }
    if !t.is_empty() {
        out += &format!(
            "\nPareto front (more tokens/s, fewer units, lower error, less energy):\n{t}\n"
        );
    }
    let mut errors: Vec<&str> = Vec::new();
    for e in rows.iter().filter_map(|r| r.error.as_deref()) {
        if !errors.contains(&e) {
            errors.push(e);
        }
    }
    for e in errors {
        out += &format!("not timed: {e}\n");
    }
    out
}
