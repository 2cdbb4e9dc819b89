//! `accsim report` and the default study (`accsim` with no command): run the study, write
//! figures, tables and JSON, and print each claim's verdict on one screen.

use super::cells::or_dash;
use accsim::report::Table;
use accsim::study::claims::{Claim, Verdict};
use accsim::study::{self, Options, Study};
use clap::Args;
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Run the default study and write its figures, tables and JSON.
#[derive(Args)]
#[command(after_help = "Examples:
  accsim report
  accsim report --out /tmp/accsim-report --accuracy-paragraphs 50

Writes study.json, tables as Markdown and LaTeX (memory, fit, performance, accuracy, claims),
figures as PNG and SVG, and README.md / index.json listing them. See docs/report.md.")]
pub struct ReportArgs {
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    out: PathBuf,
    /// Score the first N paragraphs of the accuracy text (the whole text has 314).
    #[arg(long, value_name = "N", default_value_t = study::DEFAULT_ACCURACY_PARAGRAPHS)]
    accuracy_paragraphs: usize,
}

/// Run the study and write it under `out`, with a spinner naming the stage on stderr.
fn study_to(out: &Path, opts: Options) -> anyhow::Result<(Study, study::write::Index)> {
    super::output::writable_dir(out)?;
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    let s = study::run(opts, &|stage| bar.set_message(format!("study: {stage}")))?;
    bar.set_message("study: figures and tables");
    let index = study::write::write(&s, out)?;
    bar.finish_and_clear();
    Ok((s, index))
}

/// Run `accsim report`.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    if args.accuracy_paragraphs == 0 {
        return Err(accsim::Error::Usage {
            flag: "--accuracy-paragraphs".to_owned(),
            reason: "must be at least 1".to_owned(),
        }
        .into());
    }
    let opts = Options {
        accuracy_paragraphs: args.accuracy_paragraphs,
    };
    let (s, index) = study_to(&args.out, opts)?;
    print!("{}{}", summary(&s.claims), validated(&s));
    println!(
        "wrote {} figures (PNG and SVG) and {} tables (Markdown and LaTeX) to {}",
        index.figures.len(),
        index.tables.len(),
        args.out.display()
    );
    for s in &index.skipped {
        println!("not drawn: {s}");
    }
    Ok(())
}

/// `accsim` with no command: the whole study into `reports/` and the verdicts.
pub fn default_study() -> anyhow::Result<()> {
    let start = Instant::now();
    let out = PathBuf::from("reports");
    let (s, index) = study_to(
        &out,
        Options {
            accuracy_paragraphs: study::DEFAULT_ACCURACY_PARAGRAPHS,
        },
    )?;
    print!("{}{}", summary(&s.claims), validated(&s));
    println!(
        "\n{} figures and {} tables in {}/ (see README.md there); {} figure(s) not drawn, listed there.",
        index.figures.len(),
        index.tables.len(),
        out.display(),
        index.skipped.len()
    );
    println!("elapsed {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// One line on the published deployments: how many the model reproduces.
fn validated(s: &Study) -> String {
    if let Some(e) = &s.validation_error {
        return format!("Published deployments: not predicted ({e})\n");
    }
    let within = s.validation.iter().filter(|o| o.within).count();
    let misses: Vec<String> = s
        .validation
        .iter()
        .filter(|o| !o.within)
        .map(|o| {
            o.error.map_or_else(
                || format!("{} (not timed)", o.name),
                |e| format!("{} ({:+.0}%)", o.name, 100.0 * e),
            )
        })
        .collect();
    format!(
        "Published deployments: {within} of {} predicted within ±{:.0}%{}; see validation.md, `accsim validate`\n",
        s.validation.len(),
        100.0 * accsim::validation::TOLERANCE,
        if misses.is_empty() {
            String::new()
        } else {
            format!(", missed: {}", misses.join(", "))
        }
    )
}

/// One line per distinct verdict: a claim judged the same on several architectures (sizes do
/// not depend on the machine) is shown once with its architectures joined.
fn summary(claims: &[Claim]) -> String {
    let mut merged: Vec<(Claim, Vec<String>)> = Vec::new();
    for c in claims {
        let same = |(m, _): &&mut (Claim, Vec<String>)| {
            (&m.claim, &m.workload, m.measured, m.verdict)
                == (&c.claim, &c.workload, c.measured, c.verdict)
        };
        match merged.iter_mut().find(same) {
            Some((_, archs)) => archs.push(c.arch.clone()),
            None => merged.push((c.clone(), vec![c.arch.clone()])),
        }
    }
    let mut t = Table::new(["claim", "judged on", "claimed", "measured", "verdict"]);
    let mut reasons = String::new();
    for (c, archs) in &merged {
        t.row([
            c.claim.clone(),
            if archs.len() > 1 || archs[0] == "-" {
                format!("{} (any machine)", c.workload)
            } else {
                format!("{} on {}", c.workload, archs[0])
            },
            format!("{} {}", c.claimed, c.unit),
            or_dash(c.measured, |m| format!("{m:.2} {}", c.unit)),
            c.verdict.name().to_owned(),
        ]);
        if c.verdict == Verdict::NotJudged {
            reasons += &format!(
                "  not judged: {} ({}): {}\n",
                c.claim, c.workload, c.criterion
            );
        }
    }
    format!("Claims of the source documents:\n{t}{reasons}")
}
