//! `accsim fit`: memory footprint, placement and claim verdicts.

use super::select::{self, UnitFlags, descriptions};
use accsim::arch;
use accsim::fit::{self, FitRecord};
use accsim::quant::Format;
use accsim::report::{self, Table};
use accsim::workload::{self, Workload};
use clap::Args;
use std::path::PathBuf;

/// Does a workload fit a machine's memory, on how many units, and do the claims hold?
#[derive(Args)]
#[command(after_help = "Examples:
  accsim fit                                             all shipped architectures, workloads and formats
  accsim fit --arch arch/groq-tsp.ron --workload workloads/llama2-70b.ron --format q3.5
  accsim fit --arch arch/cerebras-wse3.ron --workload workloads/llama3.1-405b.ron --wafers 5
  accsim fit --workload workloads/llama3-70b.ron --context 32768 --batch 8 --json")]
pub struct FitArgs {
    /// Architecture description (default: every shipped one).
    #[arg(long, value_name = "FILE")]
    arch: Option<PathBuf>,
    /// Workload description (default: every shipped one).
    #[arg(long, value_name = "FILE")]
    workload: Option<PathBuf>,
    /// Store every weight matrix in this format (default: every format of the catalogue).
    #[arg(long, value_name = "NAME")]
    format: Option<String>,
    /// Check the fit on exactly this many units (default: find the fewest that hold it).
    #[command(flatten)]
    units: UnitFlags,
    /// KV-cache context per sequence [tokens] (default: the workload's scenario).
    #[arg(long, value_name = "T")]
    context: Option<u64>,
    /// Sequences served at once (default: the workload's scenario).
    #[arg(long, value_name = "B")]
    batch: Option<u64>,
    /// Print one JSON record per (arch, workload, format) instead of tables.
    #[arg(long)]
    json: bool,
}

/// Run `accsim fit`.
pub fn run(args: FitArgs) -> anyhow::Result<()> {
    let formats = match &args.format {
        Some(name) => vec![select::format(name)?],
        None => Format::ALL.to_vec(),
    };
    let archs = descriptions(&args.arch, arch::load, arch::presets)?;
    let workloads = descriptions(&args.workload, workload::load, workload::presets)?;
    let mut records = Vec::new();
    for (_, a) in &archs {
        let units = args.units.for_arch(a)?;
        for (path, w) in &workloads {
            let w: Workload = select::scenario(path, w, args.batch, args.context)?;
            for &format in &formats {
                records.push(fit::fit(a, &w, format, units));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else if let [one] = records.as_slice() {
        print!("{}", detail(one));
    } else {
        print!("{}", summary(&records));
    }
    Ok(())
}

fn units(r: &FitRecord) -> String {
    match r.units_needed {
        Some(n) => format!("{n} {}{}", r.unit.name(), if n == 1 { "" } else { "s" }),
        None => "none".to_owned(),
    }
}

fn fits(r: &FitRecord) -> &'static str {
    if r.fits { "yes" } else { "NO" }
}

/// One line per record, then the claims.
fn summary(records: &[FitRecord]) -> String {
    let mut t = Table::new([
        "arch", "workload", "format", "bits/w", "weights", "KV cache", "total", "needs", "fits",
    ]);
    for r in records {
        t.row([
            r.arch.clone(),
            r.workload.clone(),
            r.format.to_string(),
            format!("{:.3}", r.bits_per_weight),
            report::gb(r.weight_bytes),
            report::gb(r.kv_cache_bytes),
            report::gb(r.total_bytes),
            units(r),
            fits(r).to_owned(),
        ]);
    }
    format!("{t}\n{}{}", claims(records), estimates(records))
}

/// A claim's figure: counts of units as integers, sizes and percentages to two decimals.
fn figure(value: f64, unit: &str, signed: bool) -> String {
    let decimals = if matches!(unit, "GB" | "%") { 2 } else { 0 };
    if signed {
        format!("{value:+.decimals$} {unit}")
    } else {
        format!("{value:.decimals$} {unit}")
    }
}

/// Every verdict of the records, one per line.
fn claims(records: &[FitRecord]) -> String {
    let mut t = Table::new([
        "claim",
        "arch",
        "workload",
        "claimed",
        "measured",
        "difference",
        "verdict",
    ]);
    for r in records {
        for v in &r.claims {
            t.row([
                v.claim.clone(),
                r.arch.clone(),
                r.workload.clone(),
                figure(v.claimed, v.unit, false),
                figure(v.measured, v.unit, false),
                figure(v.measured - v.claimed, v.unit, true),
                if v.holds {
                    "holds".to_owned()
                } else {
                    format!("FALSE ({})", v.criterion)
                },
            ]);
        }
    }
    if t.is_empty() {
        String::new()
    } else {
        format!("Claims of the source documents (judged on q3.5):\n{t}\n")
    }
}

/// Which inputs were estimates, once per architecture.
fn estimates(records: &[FitRecord]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = String::new();
    for r in records {
        if !seen.contains(&r.arch.as_str()) {
            seen.push(&r.arch);
            out += &arch::inputs_note(&r.arch, &r.estimated_inputs, &r.calibrated_inputs);
        }
    }
    out
}

/// Everything about one record.
fn detail(r: &FitRecord) -> String {
    let mut classes = Table::new([
        "tensor class",
        "format",
        "params",
        "codes",
        "metadata",
        "bits/w",
    ]);
    for c in &r.classes {
        classes.row([
            c.class.name().to_owned(),
            c.format.to_string(),
            c.params.to_string(),
            report::bytes(c.code_bytes),
            report::bytes(c.metadata_bytes),
            format!(
                "{:.4}",
                8.0 * (c.code_bytes + c.metadata_bytes) as f64 / c.params as f64
            ),
        ]);
    }
    let p = &r.placement;
    let mut out = format!(
        "{} on {} with matrices in {}\n\n{classes}\nweights      {} ({:.4} bits/weight, metadata {})\nKV cache     {}\nactivations  {}\ntotal        {}\n\n",
        r.workload,
        r.arch,
        r.format,
        report::gb(r.weight_bytes),
        r.bits_per_weight,
        report::bytes(r.metadata_bytes),
        report::gb(r.kv_cache_bytes),
        report::bytes(r.activation_bytes),
        report::gb(r.total_bytes),
    );
    out += &format!("placement    {}\n", p.split);
    out += &format!("usable/unit  {}\n", report::bytes(p.usable_bytes_per_unit));
    out += &format!("needs        {}", units(r));
    if let Some(n) = p.units_given {
        out += &format!(" (given {n})");
    }
    out += &format!("\nfits         {}", fits(r));
    if p.bytes_short > 0 {
        out += &format!(" ({} short)", report::gb(p.bytes_short));
    }
    out += "\n";
    if let (Some(first), Some(last)) = (p.units.first(), p.units.last()) {
        let (lo, hi) = p
            .units
            .iter()
            .map(|u| u.occupancy())
            .fold((f64::MAX, 0.0f64), |(lo, hi), o| (lo.min(o), hi.max(o)));
        out += &format!(
            "occupancy    {:.1}% to {:.1}% per {} (first: {} weights, {} KV; last: {} weights, {} KV)\n",
            lo * 100.0,
            hi * 100.0,
            r.unit.name(),
            report::bytes(first.weight_bytes),
            report::bytes(first.kv_cache_bytes),
            report::bytes(last.weight_bytes),
            report::bytes(last.kv_cache_bytes),
        );
    }
    out += "\n";
    out += &claims(std::slice::from_ref(r));
    out += &estimates(std::slice::from_ref(r));
    out
}
