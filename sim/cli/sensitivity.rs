//! `accsim sensitivity`: how much one run's prediction moves with each estimated input.

use super::cells::{or_dash, signed_percent};
use super::select::RunTarget;
use accsim::arch;
use accsim::report::Table;
use accsim::run::{NumericsMode, RunOptions};
use accsim::sensitivity::{self, HINGE, Sensitivity};
use clap::Args;

/// Halve and double every estimated input of an architecture and show what each does to speed.
#[derive(Args)]
#[command(after_help = "Examples:
  accsim sensitivity --arch arch/groq-tsp.ron --workload workloads/llama2-70b.ron --format int8 --units 576
  accsim sensitivity --arch arch/cerebras-wse3.ron --workload workloads/llama3-70b.ron --format f16 --wafers 5
  accsim sensitivity --arch arch/groq-tsp.ron --workload workloads/stories260k.ron --json

Each field listed in the arch file's `estimated` is scaled x0.5 and x2 (every number under a
composite field such as `system.levels`; integers rounded, kept >= 1) and the run repeated on the
same units at the fast fidelity, numerics off. Rows are ordered by the largest change in decode
tokens/s or time to first token. A variant that is not a valid description, or does not fit,
is a row saying so. A change of decode tokens/s beyond ±25% marks the prediction as hinging on
that estimate.")]
pub struct SensitivityArgs {
    #[command(flatten)]
    target: RunTarget,
    /// Print the JSON record instead of tables.
    #[arg(long)]
    json: bool,
}

/// Run `accsim sensitivity`.
pub fn run(args: SensitivityArgs) -> anyhow::Result<()> {
    let t = args.target.load()?;
    let opts = RunOptions {
        format: t.format,
        units: t.units,
        numerics: NumericsMode::Off,
        ..RunOptions::default()
    };
    let s = sensitivity::analyse(&t.arch, &t.workload, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", text(&s));
    }
    Ok(())
}

fn text(s: &Sensitivity) -> String {
    let mut out = format!(
        "{} on {} {} {}(s), matrices in {}: {} tokens/s per user, first token {}\n",
        s.workload,
        s.units,
        s.arch,
        s.unit.name(),
        s.format,
        or_dash(s.decode_tokens_per_s, |v| format!("{v:.1}")),
        or_dash(s.ttft_s, |v| format!("{:.3} ms", 1e3 * v)),
    );
    let mut t = Table::new([
        "estimated input",
        "factor",
        "value",
        "tokens/s per user",
        "change",
        "first token (ms)",
        "change",
        "note",
    ]);
    for r in &s.rows {
        t.row([
            r.field.clone(),
            format!("x{}", r.factor),
            or_dash(r.value, |v| format!("{v}")),
            or_dash(r.decode_tokens_per_s, |v| format!("{v:.1}")),
            or_dash(r.decode_change, signed_percent),
            or_dash(r.ttft_s, |v| format!("{:.3}", 1e3 * v)),
            or_dash(r.ttft_change, signed_percent),
            match (&r.note, r.hinges) {
                (Some(n), _) => n.clone(),
                (None, true) => "the prediction hinges on this estimate".to_owned(),
                (None, false) => String::new(),
            },
        ]);
    }
    out += &format!("\n{t}\n");
    out += &if s.hinges_on.is_empty() {
        format!(
            "No single estimate moves tokens/s by more than {:.0}% at x0.5 or x2.\n",
            100.0 * HINGE
        )
    } else {
        format!(
            "The prediction hinges on: {} (tokens/s moves by more than {:.0}% at x0.5 or x2).\n",
            s.hinges_on.join(", "),
            100.0 * HINGE
        )
    };
    out += &arch::inputs_note(&s.arch, &s.estimated_inputs, &s.calibrated_inputs);
    out
}
