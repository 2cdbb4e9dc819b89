//! `accsim validate`: every published deployment of a validation file predicted and compared,
//! with what each estimated input would have to be for the points the model misses.

use super::cells::{or_dash, signed_percent};
use accsim::report::Table;
use accsim::validation::{self, Outcome, Reproduction, reproduce};
use clap::Args;
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Predict published deployments and show the error of each prediction.
#[derive(Args)]
#[command(after_help = "Examples:
  accsim validate
  accsim validate --json
  accsim validate --file workloads/validation.ron

Every point runs at the fast fidelity with numerics off; a point whose unit count was not
published runs on the fewest units that hold it. error = predicted / published - 1; a point
within ±25% reproduces the published value. For every other point, each input the arch file
lists as estimated is scaled by x1/16..x16 and the value that would reproduce the point is
printed with its factor on the estimate (\"none in range\" when no value there does, \"none:
the prediction steps across the point\" when the closest value is more than 5% off, e.g. at a
wafer more): whether that value is physically plausible is for the reader to judge
(docs/report.md).")]
pub struct ValidateArgs {
    /// Validation file (default: the shipped workloads/validation.ron).
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print the JSON records instead of tables.
    #[arg(long)]
    json: bool,
}

/// Run `accsim validate`.
pub fn run(args: ValidateArgs) -> anyhow::Result<()> {
    let (path, v) = match &args.file {
        Some(p) => (p.clone(), validation::load(p)?),
        None => (
            accsim::describe::shipped(Path::new(validation::PRESET.path)),
            validation::preset()?,
        ),
    };
    // Minutes on 405B-class points: a spinner names each variant run (hidden off a terminal).
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    let tell = |what: &str| bar.set_message(format!("validate: {what}"));
    let outcomes = validation::run_reporting(&path, &v, true, &tell);
    bar.finish_and_clear();
    let outcomes = outcomes?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else {
        print!("{}", text(&outcomes));
    }
    Ok(())
}

/// The units column: the count, and whether it was published.
pub fn units_cell(o: &Outcome) -> String {
    match (o.units, o.units_disclosed) {
        (Some(n), true) => n.to_string(),
        (Some(n), false) => format!("{n} (fewest that fit)"),
        (None, _) => "none fit".to_owned(),
    }
}

/// The predicted column: the value, or why there is none.
pub fn predicted_cell(o: &Outcome) -> String {
    match (o.predicted, &o.run_error) {
        (Some(v), _) => o.metric.show(v),
        (None, Some(e)) => format!("run failed: {e}"),
        (None, None) if !o.fits => format!("does not fit ({} bytes short)", o.bytes_short),
        (None, None) => "-".to_owned(),
    }
}

/// One line of what an estimate would have to be.
fn reproduction(r: &Reproduction, o: &Outcome) -> String {
    let reach = r.reach.map_or_else(
        || " (no variant tried fits the units)".to_owned(),
        |[lo, hi]| {
            format!(
                " (x1/{0}..x{0} predicts {1}..{2})",
                reproduce::RANGE,
                o.metric.show(lo),
                o.metric.show(hi)
            )
        },
    );
    match (r.factor, r.value, r.estimate) {
        (None, _, _) if let Some([f, p]) = r.step => format!(
            "    {}: none: the prediction steps across the point near x{f:.3} ({}){reach}",
            r.field,
            o.metric.show(p)
        ),
        (None, _, _) => format!("    {}: none in range{reach}", r.field),
        (Some(f), Some(v), Some(e)) => {
            format!(
                "    {}: {} (x{f:.3} the estimate {})",
                r.field,
                number(v),
                number(e)
            )
        }
        (Some(f), _, _) => format!("    {}: every number under it x{f:.3}", r.field),
    }
}

/// A field value: integers without decimals, others to four significant digits.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4e}")
    }
}

fn text(outcomes: &[Outcome]) -> String {
    let mut t = Table::new([
        "point",
        "system",
        "units",
        "metric",
        "published",
        "predicted",
        "error",
        "within ±25%",
        "calibrated",
    ]);
    for o in outcomes {
        t.row([
            o.name.clone(),
            format!("{} {}", o.arch, o.format),
            units_cell(o),
            o.metric.name().to_owned(),
            o.metric.show(o.published),
            predicted_cell(o),
            or_dash(o.error, signed_percent),
            if o.within { "yes" } else { "no" }.to_owned(),
            if o.calibrated.is_empty() {
                "-".to_owned()
            } else {
                format!("yes: {}", o.calibrated.join(", "))
            },
        ]);
    }
    let mut out = format!("Predicted against published deployments:\n{t}");
    for o in outcomes.iter().filter(|o| !o.reproduce.is_empty()) {
        out += &format!(
            "\n{}: published {}; the estimated input that alone would reproduce it:\n",
            o.name,
            o.metric.show(o.published)
        );
        for r in &o.reproduce {
            out += &reproduction(r, o);
            out += "\n";
        }
    }
    out += "\nSources:\n";
    for o in outcomes {
        out += &format!(
            "  {} ({}, {}): {}\n    not disclosed: {}\n",
            o.name, o.system, o.date, o.source, o.undisclosed
        );
    }
    out
}
