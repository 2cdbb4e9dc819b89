//! Writing the study under an output directory: `study.json`, each table as Markdown and
//! LaTeX, each figure as PNG and SVG, and `index.json` / `README.md` listing what was made and
//! what was skipped, and why.

use super::tables;
use super::{RunEntry, Study, SweepResult};
use crate::error::Error;
use crate::fit::FitRecord;
use crate::quant::Format;
use crate::report::figures::{
    BarPanels, Bars, BitLayouts, Figure, Plot, PlotPair, Series, Style, save,
};
use crate::run::RunRecord;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One figure written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FigureEntry {
    /// File name without extension (`.png` and `.svg` exist).
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub caption: String,
}

/// What was written.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Index {
    pub figures: Vec<FigureEntry>,
    /// Table file names without extension (`.md` and `.tex` exist).
    pub tables: Vec<String>,
    /// Figures not drawn, and why.
    pub skipped: Vec<String>,
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

impl Index {
    fn figure(
        &mut self,
        dir: &Path,
        name: &str,
        caption: String,
        fig: &impl Figure,
    ) -> Result<(), Error> {
        save(fig, dir, name)?;
        let (width, height) = fig.size();
        self.figures.push(FigureEntry {
            name: name.to_owned(),
            width,
            height,
            caption,
        });
        Ok(())
    }
}

/// The LLaMA workloads of the fit records, in order.
fn workloads(fits: &[FitRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in fits.iter().filter(|r| r.params > 1_000_000_000) {
        if !out.contains(&r.workload) {
            out.push(r.workload.clone());
        }
    }
    out
}

/// The claimed size of a model, as a reference line.
fn claimed_size(params: u64) -> Vec<(f64, String)> {
    match params {
        60_000_000_000..=80_000_000_000 => vec![(30.6, "claimed 30.6 GB".to_owned())],
        380_000_000_000..=430_000_000_000 => vec![(177.0, "claimed 177 GB".to_owned())],
        _ => Vec::new(),
    }
}

/// The fit records of one (arch, workload) pair, one per format.
fn records<'a>(fits: &'a [FitRecord], arch: &str, workload: &str) -> Vec<&'a FitRecord> {
    fits.iter()
        .filter(|r| r.arch == arch && r.workload == workload)
        .collect()
}

fn memory_figure(fits: &[FitRecord]) -> BarPanels {
    let arch = fits.first().map(|r| r.arch.clone()).unwrap_or_default();
    let panels = workloads(fits)
        .into_iter()
        .map(|w| {
            let recs = records(fits, &arch, &w);
            Bars {
                title: w.clone(),
                x_label: "weights (GB, log)".to_owned(),
                bars: recs
                    .iter()
                    .map(|r| (r.format.to_string(), Some(r.weight_bytes as f64 / 1e9)))
                    .collect(),
                marks: recs
                    .first()
                    .map_or_else(Vec::new, |r| claimed_size(r.params)),
            }
        })
        .collect();
    BarPanels {
        title: "Weight memory per model and format".to_owned(),
        panels,
    }
}

fn units_figure(fits: &[FitRecord], arch: &str) -> BarPanels {
    let panels = workloads(fits)
        .into_iter()
        .map(|w| {
            let recs = records(fits, arch, &w);
            let unit = recs.first().map_or("unit", |r| r.unit.name());
            Bars {
                title: w.clone(),
                x_label: format!("{unit}s needed (log)"),
                bars: recs
                    .iter()
                    .map(|r| (r.format.to_string(), r.units_needed.map(|n| n as f64)))
                    .collect(),
                marks: Vec::new(),
            }
        })
        .collect();
    BarPanels {
        title: format!("Units needed on {arch} per format"),
        panels,
    }
}

/// Distinct run errors of a sweep, for notes.
fn errors(s: &SweepResult) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in s.rows.iter().filter_map(|r| r.error.clone()) {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

fn stem(spec: &str) -> String {
    Path::new(spec)
        .file_stem()
        .map_or_else(|| spec.to_owned(), |s| s.to_string_lossy().into_owned())
}

fn speed_figure(s: &SweepResult) -> Plot {
    let first = &s.rows[0];
    let mut series: Vec<Series> = Vec::new();
    for f in Format::ALL {
        for batch in s.rows.iter().map(|r| r.batch).fold(Vec::new(), |mut v, b| {
            if !v.contains(&b) {
                v.push(b);
            }
            v
        }) {
            let points: Vec<(f64, f64)> = s
                .rows
                .iter()
                .filter(|r| r.format == f && r.batch == batch)
                .filter_map(|r| Some((r.units? as f64, r.tokens_per_s_per_user?)))
                .collect();
            if !points.is_empty() {
                series.push(Series {
                    name: format!("{f}, batch {batch}"),
                    points,
                    style: Style::Line,
                });
            }
        }
    }
    let skipped = s.rows.iter().filter(|r| r.tokens_per_s.is_none()).count();
    Plot {
        title: format!(
            "{} on {}: decode speed vs {}s",
            first.workload,
            first.arch,
            first.unit.name()
        ),
        x_label: format!("{}s", first.unit.name()),
        y_label: "tokens/s per user".to_owned(),
        series,
        labels: Vec::new(),
        note: (skipped > 0)
            .then(|| format!("{skipped} point(s) not timed (do not fit, or run failed)")),
    }
}

fn pareto_figure(s: &SweepResult) -> Plot {
    let first = &s.rows[0];
    let timed = |front: bool| -> Vec<(f64, f64)> {
        s.rows
            .iter()
            .filter(|r| r.pareto == front)
            .filter_map(|r| Some((r.units? as f64, r.tokens_per_s?)))
            .collect()
    };
    Plot {
        title: format!("{} on {}: Pareto front", first.workload, first.arch),
        x_label: format!("{}s", first.unit.name()),
        y_label: "tokens/s (aggregate)".to_owned(),
        series: vec![
            Series {
                name: "dominated".to_owned(),
                points: timed(false),
                style: Style::Dots,
            },
            Series {
                name: "Pareto front".to_owned(),
                points: timed(true),
                style: Style::Highlight,
            },
        ],
        labels: s
            .rows
            .iter()
            .filter(|r| r.pareto)
            .filter_map(|r| {
                Some((
                    r.units? as f64,
                    r.tokens_per_s?,
                    format!(" {} b{}", r.format, r.batch),
                ))
            })
            .collect(),
        note: Some(
            "front: more tokens/s, fewer units, lower numerics error, less energy per token"
                .to_owned(),
        ),
    }
}

fn micros(cycles: u64, clock_hz: f64) -> f64 {
    cycles as f64 / clock_hz * 1e6
}

fn breakdown_figure(r: &RunRecord) -> PlotPair {
    let clock = r.clock_hz.unwrap_or(1.0);
    let part = |f: fn(&crate::mapping::PartTime) -> u64| -> Vec<(f64, f64)> {
        r.parts
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64, micros(f(p), clock)))
            .collect()
    };
    let left = Plot {
        title: format!(
            "{} on {} {}s: time per part of a decode step",
            r.workload,
            r.units,
            r.unit.name()
        ),
        x_label: "part (layers in order, then the head)".to_owned(),
        y_label: "µs".to_owned(),
        series: vec![
            Series {
                name: "time".to_owned(),
                points: part(|p| p.cycles),
                style: Style::Line,
            },
            Series {
                name: "memory bound".to_owned(),
                points: part(|p| p.memory_bound_cycles),
                style: Style::Line,
            },
            Series {
                name: "compute bound".to_owned(),
                points: part(|p| p.compute_bound_cycles),
                style: Style::Line,
            },
        ],
        labels: Vec::new(),
        note: None,
    };
    let right = Plot {
        title: format!("{}: utilization per unit kind", r.arch),
        x_label: "unit kind".to_owned(),
        y_label: "busy (%)".to_owned(),
        series: vec![Series {
            name: "utilization".to_owned(),
            points: r
                .unit_busy
                .iter()
                .enumerate()
                .map(|(i, u)| (i as f64, 100.0 * u.utilization))
                .collect(),
            style: Style::Dots,
        }],
        labels: r
            .unit_busy
            .iter()
            .enumerate()
            .map(|(i, u)| {
                (
                    i as f64,
                    100.0 * u.utilization,
                    format!(" {} x{}", u.unit, u.instances),
                )
            })
            .collect(),
        note: None,
    };
    PlotPair(left, right)
}

fn roofline_figure(arch: &str, runs: &[&RunRecord]) -> Option<Plot> {
    let first = runs.first()?;
    let (peak_ops, peak_bytes) = (first.peak_ops_per_s?, first.peak_bytes_per_s?);
    let ridge = peak_ops / peak_bytes;
    let roof: Vec<(f64, f64)> = (-20..=20)
        .map(|k| {
            let i = ridge * 10f64.powf(k as f64 / 5.0);
            (i.log10(), (peak_ops.min(i * peak_bytes)).log10())
        })
        .collect();
    let mut series = vec![Series {
        name: "roof (fewest units of the first workload)".to_owned(),
        points: roof,
        style: Style::Line,
    }];
    for r in runs {
        let clock = r.clock_hz.unwrap_or(1.0);
        series.push(Series {
            name: format!("{} parts", r.workload),
            points: r
                .parts
                .iter()
                .filter(|p| p.bytes > 0 && p.ops > 0 && p.cycles > 0)
                .map(|p| {
                    let s = p.cycles as f64 / clock;
                    (
                        (p.ops as f64 / p.bytes as f64).log10(),
                        (p.ops as f64 / s).log10(),
                    )
                })
                .collect(),
            style: Style::Dots,
        });
    }
    Some(Plot {
        title: format!("Roofline of {arch} with the decode step's parts"),
        x_label: "log10 arithmetic intensity (ops/byte)".to_owned(),
        y_label: "log10 ops/s".to_owned(),
        series,
        labels: Vec::new(),
        note: Some(
            "each run's parts use its own units; the roof is drawn for the first run's system"
                .to_owned(),
        ),
    })
}

fn accuracy_figure(study: &Study) -> Option<PlotPair> {
    let a = study.accuracy.as_ref()?;
    let shortened = if a.paragraphs < a.paragraphs_in_text {
        format!(
            ", shortened to {} of {} paragraphs for time",
            a.paragraphs, a.paragraphs_in_text
        )
    } else {
        String::new()
    };
    let note = Some(format!(
        "{} on {} ({} tokens{shortened})",
        a.model, a.text, a.tokens_scored
    ));
    let scored: Vec<_> = a.results.iter().filter(|r| r.kl_mean > 0.0).collect();
    let kl = Plot {
        title: "KL divergence from f32 vs bits per weight".to_owned(),
        x_label: "bits per weight".to_owned(),
        y_label: "log10 KL mean (nats)".to_owned(),
        series: vec![Series {
            name: "formats".to_owned(),
            points: scored
                .iter()
                .map(|r| (r.bits_per_weight, r.kl_mean.log10()))
                .collect(),
            style: Style::Dots,
        }],
        labels: scored
            .iter()
            .map(|r| {
                (
                    r.bits_per_weight,
                    r.kl_mean.log10(),
                    format!(" {}", r.label()),
                )
            })
            .collect(),
        note: note.clone(),
    };
    let ppl = Plot {
        title: "Perplexity vs bits per weight".to_owned(),
        x_label: "bits per weight".to_owned(),
        y_label: "perplexity".to_owned(),
        series: vec![Series {
            name: "formats".to_owned(),
            points: a
                .results
                .iter()
                .map(|r| (r.bits_per_weight, r.ppl))
                .collect(),
            style: Style::Dots,
        }],
        labels: a
            .results
            .iter()
            .map(|r| (r.bits_per_weight, r.ppl, format!(" {}", r.label())))
            .collect(),
        note,
    };
    Some(PlotPair(kl, ppl))
}

/// The timed runs of each architecture, in study order.
fn timed_by_arch(runs: &[RunEntry]) -> Vec<(String, Vec<&RunRecord>)> {
    let mut out: Vec<(String, Vec<&RunRecord>)> = Vec::new();
    for e in runs {
        let Some(r) = e.record.as_ref().filter(|r| r.cycles_per_token.is_some()) else {
            continue;
        };
        match out.iter_mut().find(|(a, _)| *a == e.arch) {
            Some((_, v)) => v.push(r),
            None => out.push((e.arch.clone(), vec![r])),
        }
    }
    out
}

/// Write everything under `dir` (created if needed).
pub fn write(study: &Study, dir: &Path) -> Result<Index, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_owned(),
        source,
    })?;
    let json = serde_json::to_value(study).map_err(|e| Error::Write {
        path: dir.join("study.json"),
        source: std::io::Error::other(e),
    })?;
    write_file(&dir.join("study.json"), &format!("{json:#}\n"))?;
    let mut index = Index::default();
    for (name, t) in tables::all(&json) {
        write_file(&dir.join(format!("{name}.md")), &t.markdown())?;
        write_file(&dir.join(format!("{name}.tex")), &t.latex())?;
        index.tables.push(name.to_owned());
    }
    index.figure(
        dir,
        "memory",
        "Weight memory per model and format, claimed sizes marked".to_owned(),
        &memory_figure(&study.fits),
    )?;
    let mut archs: Vec<&str> = Vec::new();
    for r in &study.fits {
        if !archs.contains(&r.arch.as_str()) {
            archs.push(&r.arch);
        }
    }
    for arch in archs {
        index.figure(
            dir,
            &format!("units-{arch}"),
            format!("Units of {arch} needed per model and format"),
            &units_figure(&study.fits, arch),
        )?;
    }
    for s in &study.sweeps {
        let name = stem(&s.spec);
        if s.rows.iter().all(|r| r.tokens_per_s.is_none()) {
            let why = errors(s).join("; ");
            index.skipped.push(format!(
                "speed and Pareto figures of {}: no point was timed ({})",
                s.spec,
                if why.is_empty() {
                    "none fits".to_owned()
                } else {
                    why
                }
            ));
            continue;
        }
        index.figure(
            dir,
            &format!("speed-{name}"),
            format!("Decode speed vs units from sweep {}", s.spec),
            &speed_figure(s),
        )?;
        index.figure(
            dir,
            &format!("pareto-{name}"),
            format!("Pareto front of sweep {}", s.spec),
            &pareto_figure(s),
        )?;
    }
    for e in &study.runs {
        match (&e.record, &e.error) {
            (Some(r), _) if r.cycles_per_token.is_some() => index.figure(
                dir,
                &format!("breakdown-{}-{}", e.arch, e.workload),
                format!("Per-part and per-unit time of {} on {}", e.workload, e.arch),
                &breakdown_figure(r),
            )?,
            (_, Some(err)) => index
                .skipped
                .push(format!("breakdown of {} on {}: {err}", e.workload, e.arch)),
            _ => index.skipped.push(format!(
                "breakdown of {} on {}: does not fit, not timed",
                e.workload, e.arch
            )),
        }
    }
    for (arch, runs) in timed_by_arch(&study.runs) {
        if let Some(fig) = roofline_figure(&arch, &runs) {
            index.figure(
                dir,
                &format!("roofline-{arch}"),
                format!("Roofline of {arch} with the operating points of each part"),
                &fig,
            )?;
        }
    }
    match accuracy_figure(study) {
        Some(fig) => index.figure(
            dir,
            "accuracy",
            "KL divergence and perplexity vs bits per weight".to_owned(),
            &fig,
        )?,
        None => index.skipped.push(format!(
            "accuracy: {}",
            study.accuracy_error.as_deref().unwrap_or("no result")
        )),
    }
    index.figure(
        dir,
        "bit-layouts",
        "Bit layout of the codes of each packed format".to_owned(),
        &BitLayouts {
            formats: Format::ALL.to_vec(),
        },
    )?;
    let index_json = serde_json::to_string_pretty(&index).map_err(|e| Error::Write {
        path: dir.join("index.json"),
        source: std::io::Error::other(e),
    })?;
    write_file(&dir.join("index.json"), &index_json)?;
    write_file(&dir.join("README.md"), &readme(&index))?;
    Ok(index)
}

fn readme(index: &Index) -> String {
    let mut out = String::from(
        "# accsim report\n\nGenerated by `accsim report`; the numbers of every table are in `study.json`.\n\n## Tables\n\n",
    );
    for t in &index.tables {
        out += &format!("- [{t}]({t}.md) ([LaTeX]({t}.tex))\n");
    }
    out += "\n## Figures\n\n";
    for f in &index.figures {
        out += &format!(
            "### {}\n\n![{}]({}.png)\n\n[SVG]({}.svg)\n\n",
            f.caption, f.caption, f.name, f.name
        );
    }
    if !index.skipped.is_empty() {
        out += "## Not drawn\n\n";
        for s in &index.skipped {
            out += &format!("- {s}\n");
        }
    }
    out
}

/// Paths of a figure's two files.
pub fn figure_files(dir: &Path, f: &FigureEntry) -> [PathBuf; 2] {
    [
        dir.join(format!("{}.png", f.name)),
        dir.join(format!("{}.svg", f.name)),
    ]
}
