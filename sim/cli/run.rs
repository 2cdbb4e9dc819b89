//! `accsim run`: compile a workload for a machine, execute it, and report speed, utilization,
//! energy and the numerics of the same weights.

use super::cells::or_dash;
use super::output;
use super::select::{self, Loaded, RunTarget};
use accsim::mapping::{Fidelity, Objective};
use accsim::quant::weights::Dist;
use accsim::report::{Table, percent};
use accsim::run::{self, NumericsMode, RunOptions, RunRecord};
use accsim::workload::Workload;
use accsim::{Error, arch};
use clap::{Args, ValueEnum};
use std::io::BufWriter;
use std::path::PathBuf;

/// Numerics switch on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NumericsFlag {
    /// Every layer computes values (slow on 70B-class models: minutes per layer set).
    Full,
    /// `--sample-layers` layers compute values; all layers are timed.
    Sampled,
    /// Timing only.
    Off,
}

/// Time a workload on a machine: tokens per second, time to first token, utilization, energy.
#[derive(Args)]
#[command(after_help = "Examples:
  accsim run --arch arch/groq-tsp.ron --workload workloads/llama2-70b.ron
  accsim run --arch arch/groq-tsp.ron --workload workloads/llama2-70b.ron --format int8 --chips 576
  accsim run --arch arch/cerebras-wse3.ron --workload workloads/llama3.1-405b.ron --wafers 6 --json
  accsim run --arch arch/nvidia-h100.ron --workload workloads/llama3-70b.ron --format f16 --gpus 8
  accsim run --arch arch/groq-tsp.ron --workload workloads/stories260k.ron --fidelity detailed --trace run.json
  accsim run --arch arch/cerebras-wse3.ron --workload workloads/llama3-70b.ron --heatmap maps/

Without a unit count the run uses the fewest units that hold the workload (see `accsim fit`).
A workload that does not fit the units given is reported with the bytes short, not timed.")]
pub struct RunArgs {
    #[command(flatten)]
    target: RunTarget,
    /// Execution fidelity: every event, or aggregated with the same cycle counts.
    #[arg(long, value_enum, default_value_t = Fidelity::Fast)]
    fidelity: Fidelity,
    /// How much of the model computes real values next to the timing.
    #[arg(long, value_enum, default_value = "sampled")]
    numerics: NumericsFlag,
    /// Decoder layers that compute values with `--numerics sampled`.
    #[arg(long, value_name = "K", default_value_t = 1)]
    sample_layers: u64,
    /// Seed of synthetic weights (workloads without a checkpoint).
    #[arg(long, default_value_t = run::numerics::DEFAULT_SEED)]
    seed: u64,
    /// Distribution of synthetic weights (workloads without a checkpoint): llama (Student-t
    /// body with outlier input channels, the default) or gaussian (N(0, 0.02^2)), as in
    /// `accsim quant --dist`.
    #[arg(long, value_name = "DIST")]
    dist: Option<String>,
    /// Print the JSON record instead of tables.
    #[arg(long)]
    json: bool,
    /// Write a Chrome trace of the decode step (open in https://ui.perfetto.dev).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// What the mapping search maximizes.
    #[arg(long, value_enum, default_value_t = Objective::PerUser)]
    objective: Objective,
    /// Pin the tensor-parallel degree (TSP chips per stage, GPUs per stage).
    #[arg(long, value_name = "N")]
    tp: Option<u64>,
    /// Pin the data bytes a weight tile may take on one PE (WSE).
    #[arg(long, value_name = "BYTES")]
    tile_bytes: Option<u64>,
    /// Pin the tokens of one KV head one PE may hold (WSE).
    #[arg(long, value_name = "N")]
    kv_tokens_per_pe: Option<u64>,
    /// Pin whether each layer's matrices are overlaid on one grid of PEs, every GEMV running
    /// on all of them (`true`), or sit in regions of their own (`false`) (WSE).
    #[arg(long, value_name = "BOOL")]
    overlaid: Option<bool>,
    /// List the mappings the search weighed, with their times.
    #[arg(long)]
    explain: bool,
    /// Write heat maps of PE memory and link load per wafer in use into DIR (WSE only; wafers
    /// given beyond those the layout uses stay idle and are not drawn).
    #[arg(long, value_name = "DIR")]
    heatmap: Option<PathBuf>,
}

/// Run `accsim run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.trace {
        output::writable_file(path)?;
    }
    if let Some(dir) = &args.heatmap {
        output::writable_dir(dir)?;
    }
    let Loaded {
        arch: a,
        workload: w,
        format,
        units,
    } = args.target.load()?;
    if args.sample_layers == 0 {
        return Err(Error::Usage {
            flag: "--sample-layers".to_owned(),
            reason: "must be at least 1".to_owned(),
        }
        .into());
    }
    let dist = synthetic_dist(args.dist.as_deref(), &w)?;
    let opts = RunOptions {
        format,
        units,
        fidelity: args.fidelity,
        numerics: match args.numerics {
            NumericsFlag::Full => NumericsMode::Full,
            NumericsFlag::Sampled => NumericsMode::Sampled(args.sample_layers),
            NumericsFlag::Off => NumericsMode::Off,
        },
        seed: args.seed,
        dist,
        trace: args.trace.is_some(),
        objective: args.objective,
        pins: select::pins(
            &a,
            args.tp,
            args.tile_bytes,
            args.kv_tokens_per_pe,
            args.overlaid,
        )?,
        decode_only: false,
    };
    let wse = match (&args.heatmap, &a.machine) {
        (Some(_), arch::Machine::CerebrasWse(m)) => Some(m),
        (Some(_), _) => {
            return Err(Error::Usage {
                flag: "--heatmap".to_owned(),
                reason: "heat maps are drawn for WSE architectures only".to_owned(),
            }
            .into());
        }
        (None, _) => None,
    };
    let out = run::run(&a, &w, &opts)?;
    if let (Some(dir), Some(m)) = (&args.heatmap, wse) {
        if out.record.fits {
            for maps in accsim::machines::wse::heatmaps(m, &w, opts.format, &opts.sim(), dir)? {
                eprintln!("{}\n{}", maps.memory.display(), maps.links.display());
            }
        } else {
            eprintln!("--heatmap: the workload does not fit; no heat maps drawn");
        }
    }
    if let (Some(path), Some(trace)) = (&args.trace, &out.trace) {
        let file = std::fs::File::create(path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        trace.write_chrome_json(BufWriter::new(file))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out.record)?);
    } else {
        print!("{}", summary(&out.record));
        if args.explain {
            print!("{}", explain(&out.record));
        }
    }
    Ok(())
}

/// The mappings the search weighed, as a table.
fn explain(r: &RunRecord) -> String {
    let mut t = Table::new(["mapping", "tokens/s per user", "score", "note"]);
    for c in &r.mapping_candidates {
        t.row([
            c.mapping.clone(),
            or_dash(c.decode_tokens_per_s, |v| format!("{v:.1}")),
            or_dash(c.score, |v| format!("{v:.4}")),
            c.note.clone(),
        ]);
    }
    format!(
        "\nMappings weighed ({} candidates, objective: {}):\n{t}",
        r.mapping_candidates.len(),
        r.objective.name()
    )
}

/// The one-screen view of a run.
fn summary(r: &RunRecord) -> String {
    let mut out = format!(
        "{} on {} {} {}(s), matrices in {}, batch {}, context {}, prompt {}, {} fidelity\n",
        r.workload,
        r.units,
        r.arch,
        r.unit.name(),
        r.format,
        r.batch,
        r.context,
        r.prompt_tokens,
        r.fidelity.name()
    );
    out += &format!("mapping      {}\n", r.mapping);
    if !r.fits {
        out += &format!(
            "fits         NO: {} bytes short; not timed (see `accsim fit`)\n",
            r.bytes_short
        );
    }
    out += &format!(
        "decode       {} tokens/s per user, {} tokens/s aggregate, {} cycles per step\n",
        or_dash(r.decode_tokens_per_s, |v| format!("{v:.1}")),
        or_dash(r.aggregate_tokens_per_s, |v| format!("{v:.1}")),
        or_dash(r.cycles_per_token, |v| v.to_string()),
    );
    out += &format!(
        "bound        {} tokens/s per user if every byte crossed memory at peak; mapping efficiency {}\n",
        or_dash(r.bound_tokens_per_s, |v| format!("{v:.1}")),
        or_dash(r.mapping_efficiency, percent),
    );
    out += &format!(
        "first token  {}\n",
        or_dash(r.ttft_s, |v| format!("{:.3} ms", v * 1e3))
    );
    if let Some(u) = r.utilization {
        out += &format!(
            "utilization  compute {}, memory bandwidth {}, network {}\n",
            percent(u.compute),
            percent(u.memory),
            percent(u.network)
        );
    }
    out += &format!(
        "energy       {} per step at {:.0} W\n",
        or_dash(r.energy_j_per_token, |v| format!("{v:.3} J")),
        r.power_w
    );
    let n = &r.numerics;
    out += &format!(
        "numerics     {} ({} layer(s) x {} positions, {} weights{}): {}{}\n",
        n.mode,
        n.layers_computed,
        n.positions,
        n.weights,
        n.dist.map_or(String::new(), |d| format!(" from {d}")),
        n.measure,
        or_dash(n.rel_error, |v| format!(" = {v:.3e}"))
    );
    if !n.matrices.is_empty() {
        let each: Vec<String> = n
            .matrices
            .iter()
            .map(|m| format!("{} {:.3e} ({:.1} dB)", m.class, m.rel_error, m.sqnr_db))
            .collect();
        out += &format!(
            "             stored weights vs f32 (relative error, SQNR): {}\n",
            each.join(", ")
        );
    }
    if !r.unit_busy.is_empty() {
        let mut t = Table::new(["unit", "instances", "busy cycles", "utilization"]);
        for u in &r.unit_busy {
            t.row([
                u.unit.clone(),
                u.instances.to_string(),
                u.busy_cycles.to_string(),
                percent(u.utilization),
            ]);
        }
        out += &format!("\n{t}");
    }
    if !r.parts.is_empty() {
        let mut t = Table::new([
            "part",
            "cycles",
            "bytes",
            "ops",
            "memory bound",
            "compute bound",
        ]);
        // Identical layers are shown once with their count.
        let mut i = 0;
        while i < r.parts.len() {
            let p = &r.parts[i];
            let same = r.parts[i..]
                .iter()
                .take_while(|q| (q.cycles, q.bytes, q.ops) == (p.cycles, p.bytes, p.ops))
                .count();
            let name = if same > 1 {
                format!("{} (x{same}, each)", p.name)
            } else {
                p.name.clone()
            };
            t.row([
                name,
                p.cycles.to_string(),
                p.bytes.to_string(),
                p.ops.to_string(),
                p.memory_bound_cycles.to_string(),
                p.compute_bound_cycles.to_string(),
            ]);
            i += same;
        }
        out += &format!("\n{t}");
    }
    out += "\n";
    out += &arch::inputs_note(&r.arch, &r.estimated_inputs, &r.calibrated_inputs);
    out
}

/// The distribution `--dist` names; refused for a workload whose weights come from a
/// checkpoint, where it would silently do nothing.
fn synthetic_dist(given: Option<&str>, w: &Workload) -> Result<Dist, Error> {
    let Some(name) = given else {
        return Ok(Dist::default());
    };
    let usage = |reason: String| Error::Usage {
        flag: "--dist".to_owned(),
        reason,
    };
    if w.checkpoint.is_some() {
        return Err(usage(format!(
            "workload `{}` computes with its checkpoint's weights; --dist applies to synthetic \
             weights only",
            w.name
        )));
    }
    Dist::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Dist::ALL.iter().map(|d| d.name()).collect();
        usage(format!("`{name}`: expected {}", known.join(" or ")))
    })
}
