//! `accsim sweep`: run a grid or list of points from a sweep spec in parallel, write CSV and
//! JSON, and print the Pareto front; or run one shard of it, merge shards, or plan a split.
//! Every run streams its rows to a journal in `--out` as points finish, and resumes from it.

use super::cells::or_dash;
use super::run::NumericsFlag;
use accsim::Error;
use accsim::report::{self, Table};
use accsim::sweep::estimate::{self, Estimate, Plan};
use accsim::sweep::journal::{self, Header, Journal};
use accsim::sweep::{self, Row, Shard, Sweep, SweepNumerics};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Sweep architecture and workload parameters; results as CSV and JSON with the Pareto front.
#[derive(Args)]
#[command(after_help = "Examples:
  accsim sweep workloads/sweeps/tsp-chips-formats.ron
  accsim sweep workloads/sweeps/h100-gpus-formats.ron --out results --threads 2
  accsim sweep my-sweep.ron --numerics sampled
  accsim sweep my-sweep.ron --dry-run --target-wall 30m      # cost, and shards for 30 minutes
  accsim sweep my-sweep.ron --shard 0/4 --out shards         # one of 4 shards (0/4 .. 3/4)
  accsim sweep my-sweep.ron --merge shards --out results     # the 4 shards' CSV, JSON, front

A spec names an architecture and a workload (shipped name or .ron file) and either a grid of
axes or a list of points; axes: Units, MemoryBytes, ClockHz, LinkBytesPerS, Format, Batch,
Context. Rows stream to DIR/SPEC-NAME.shard-I-of-N.jsonl as points finish: rerunning the same
command resumes where it stopped (a changed spec or binary is refused). Schema, sharding and
Slurm: docs/report.md.")]
pub struct SweepArgs {
    /// Sweep spec (RON).
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// Directory for SPEC-NAME.csv, SPEC-NAME.json and the journal of the points run.
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
    /// Run only shard I of N (0-based): the points p with p mod N = I, keeping their indices.
    /// Writes the shard's journal only; `--merge` makes the CSV and JSON.
    #[arg(long, value_name = "I/N", conflicts_with = "merge")]
    shard: Option<String>,
    /// Merge the finished shard journals found in these directories into the whole sweep's
    /// CSV and JSON in --out (identical to an unsharded run's).
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with = "dry_run")]
    merge: Vec<PathBuf>,
    /// Run nothing: print the point count, the CPU time and memory per point (measured on a
    /// few points) and the shards suggested for --target-wall (with --shard I/N: the cost of
    /// each of the N shards instead).
    #[arg(long)]
    dry_run: bool,
    /// Wall time one shard should take, for --dry-run's suggestion: seconds, or with s, m, h, d.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    target_wall: String,
    /// Points --dry-run runs to measure.
    #[arg(long, value_name = "N", default_value_t = 5)]
    samples: usize,
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

fn usage(flag: &str, reason: impl Into<String>) -> Error {
    Error::Usage {
        flag: flag.to_owned(),
        reason: reason.into(),
    }
}

/// A duration such as `90`, `90s`, `30m`, `2h` or `1d`, in seconds.
fn seconds(text: &str) -> Result<f64, Error> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        Some((i, 'd')) => (&t[..i], 86400.0),
        _ => (t, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x * unit),
        _ => Err(usage(
            "--target-wall",
            format!("`{text}` is not a positive duration (e.g. 90s, 30m, 2h)"),
        )),
    }
}

/// Run `accsim sweep`.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    for (flag, zero) in [
        ("--threads", args.threads == Some(0)),
        ("--sample-layers", args.sample_layers == 0),
        ("--samples", args.samples == 0),
    ] {
        if zero {
            return Err(usage(flag, "must be at least 1").into());
        }
    }
    let shard = match &args.shard {
        Some(text) => text.parse::<Shard>()?,
        None => Shard::WHOLE,
    };
    let target_wall_s = seconds(&args.target_wall)?;
    let spec = sweep::load(&args.spec)?;
    super::output::writable_dir(&args.out)?;
    let numerics = args.numerics.map(|n| match n {
        NumericsFlag::Full => SweepNumerics::Full,
        NumericsFlag::Sampled => SweepNumerics::Sampled(args.sample_layers),
        NumericsFlag::Off => SweepNumerics::Off,
    });
    let prepared = sweep::prepare(&args.spec, &spec, numerics)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    if args.dry_run {
        let threads = pool.current_num_threads();
        print!(
            "{}",
            dry_run(&prepared, shard, threads, target_wall_s, args.samples)
        );
        return Ok(());
    }
    let stem = args
        .spec
        .file_stem()
        .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
    let header = |shard| {
        journal::this_binary()
            .map(|b| Header::new(b, prepared.fingerprint.clone(), prepared.jobs.len(), shard))
    };
    let rows = if args.merge.is_empty() {
        let path = args.out.join(journal::file_name(&stem, shard));
        let rows =
            pool.install(|| run_shard(&args.spec, &prepared, shard, &path, &header(shard)?))?;
        if !shard.is_whole() {
            println!(
                "shard {shard}: {} points in {}; merge the shards with: accsim sweep {} --merge {} --out DIR",
                rows.len(),
                path.display(),
                args.spec.display(),
                args.out.display()
            );
            return Ok(());
        }
        rows
    } else {
        sweep::merge::gather(&args.merge, &stem, &header(Shard::WHOLE)?)?
    };
    let rows = sweep::finish(rows);
    let csv = args.out.join(format!("{stem}.csv"));
    let json = args.out.join(format!("{stem}.json"));
    write(&csv, &sweep::csv::to_csv(&rows))?;
    write(&json, &serde_json::to_string_pretty(&rows)?)?;
    print!("{}", summary(&rows));
    println!("wrote {} and {}", csv.display(), json.display());
    Ok(())
}

/// Run one shard on the current pool with a progress bar (points done, points/s, time left),
/// resuming from the journal at `path`; returns the shard's rows in point order.
fn run_shard(
    spec: &Path,
    prepared: &Sweep,
    shard: Shard,
    path: &Path,
    header: &Header,
) -> Result<Vec<Row>, Error> {
    let (journal, done) = Journal::open(path, header)?;
    let resumed = done.len();
    let todo = shard.points(prepared.jobs.len()).count() - resumed;
    let bar = ProgressBar::new(todo as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} points, {per_sec}, ETA {eta}")
            .expect("the template is valid"),
    );
    let from = if resumed > 0 {
        format!(" ({resumed} done before)")
    } else {
        String::new()
    };
    let of = if shard.is_whole() {
        String::new()
    } else {
        format!(" shard {shard}")
    };
    bar.set_message(format!("sweeping {}{of}{from}", spec.display()));
    let start = Instant::now();
    let rows = sweep::run_shard(prepared, shard, journal, done, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "ran {todo} points in {secs:.1} s ({:.2} points/s){from}",
        todo as f64 / secs.max(1e-9)
    );
    Ok(rows)
}

/// A duration for people.
fn duration(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// The `--dry-run` report: measure a few points, then the split suggested for the target wall
/// time, or with `--shard I/N` the cost of each of the N shards.
fn dry_run(
    prepared: &Sweep,
    shard: Shard,
    threads: usize,
    target_wall_s: f64,
    samples: usize,
) -> String {
    let est = estimate::estimate(prepared, shard, samples);
    let split = if shard.is_whole() {
        est.plan(threads, target_wall_s)
    } else {
        est.split(threads, shard.count)
    };
    report_plan(&est, &split, shard, threads, target_wall_s)
}

/// Sentences, then `key=value` lines for scripts (sizes in bytes, times in seconds; memory keys
/// absent where the system does not tell).
fn report_plan(
    est: &Estimate,
    p: &Plan,
    shard: Shard,
    threads: usize,
    target_wall_s: f64,
) -> String {
    let mem = |b: Option<u64>| b.map_or_else(|| "unknown".to_owned(), report::bytes);
    let mut out = format!(
        "{} points; {} sampled{}: {} CPU and {} memory per point ({} before the first)\n",
        est.points,
        est.sampled,
        if shard.is_whole() {
            String::new()
        } else {
            format!(" from shard {shard}")
        },
        duration(est.cpu_s_per_point),
        mem(est.mem_bytes_per_point),
        mem(est.base_mem_bytes),
    );
    out += &format!(
        "whole sweep: {} of CPU, {} on {threads} threads\n",
        duration(est.cpu_s()),
        duration(est.cpu_s() / threads as f64),
    );
    let what = if shard.is_whole() {
        format!("suggested to finish within {}", duration(target_wall_s))
    } else {
        "as given".to_owned()
    };
    out += &format!(
        "{} shard(s) of {threads} threads ({what}): {} and {} each\n",
        p.shards,
        duration(p.shard_wall_s),
        mem(p.shard_mem_bytes),
    );
    let mut keys = vec![
        ("points", est.points.to_string()),
        ("sampled", est.sampled.to_string()),
        ("cpu_s_per_point", est.cpu_s_per_point.to_string()),
        ("threads", threads.to_string()),
        ("target_wall_s", format!("{target_wall_s:.0}")),
        ("shards", p.shards.to_string()),
        ("shard_wall_s", p.shard_wall_s.to_string()),
    ];
    for (key, value) in [
        ("mem_bytes_per_point", est.mem_bytes_per_point),
        ("base_mem_bytes", est.base_mem_bytes),
        ("shard_mem_bytes", p.shard_mem_bytes),
    ] {
        if let Some(v) = value {
            keys.push((key, v.to_string()));
        }
    }
    for (k, v) in keys {
        out += &format!("{k}={v}\n");
    }
    out
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
            or_dash(r.units, |n| n.to_string()),
            r.batch.to_string(),
            r.context.to_string(),
            format!("{:.3}", r.bits_per_weight),
            or_dash(r.tokens_per_s_per_user, |x| format!("{x:.1}")),
            or_dash(r.tokens_per_s, |x| format!("{x:.1}")),
            or_dash(r.energy_j_per_token, |x| format!("{x:.3}")),
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
