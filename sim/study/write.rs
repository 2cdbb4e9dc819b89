//! Writing the study under an output directory: `study.json`, each table as Markdown and
//! LaTeX, each figure as PNG and SVG, and `index.json` / `README.md` listing what was made and
//! what was skipped, and why.

use super::figures as build;
use super::tables;
use super::{RunEntry, Study, SweepResult};
use crate::error::Error;
use crate::quant::Format;
use crate::report::figures::{Figure, save};
use crate::report::layouts::BitLayouts;
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

/// The validation figure and one sensitivity tornado per analysed run.
fn validation_figures(study: &Study, dir: &Path, index: &mut Index) -> Result<(), Error> {
    if study.validation.is_empty() {
        index.skipped.push(format!(
            "validation and sensitivity: {}",
            study
                .validation_error
                .as_deref()
                .unwrap_or("no published point")
        ));
        return Ok(());
    }
    index.figure(
        dir,
        "validation",
        "Predicted against published deployments, with the spread over the estimated inputs"
            .to_owned(),
        &build::validation(&study.validation, &study.sensitivity),
    )?;
    for a in &study.sensitivity {
        let s = &a.analysis;
        index.figure(
            dir,
            &format!("sensitivity-{}-{}", s.arch, s.workload),
            format!(
                "Sensitivity of {} on {} to each estimated input (points: {})",
                s.workload,
                s.arch,
                a.points.join(", ")
            ),
            &build::sensitivity(s),
        )?;
    }
    Ok(())
}

/// One sensitivity tornado per system without a published point (or why it has none).
fn system_sensitivity_figures(study: &Study, dir: &Path, index: &mut Index) -> Result<(), Error> {
    for s in &study.system_sensitivity {
        match &s.analysis {
            Some(a) if !a.rows.is_empty() => index.figure(
                dir,
                &format!("sensitivity-{}-{}", a.arch, a.workload),
                format!(
                    "Sensitivity of {} ({} on {} {}(s)) on {} to each estimated input (no published point)",
                    a.workload,
                    a.format,
                    a.units,
                    a.unit.name(),
                    a.arch
                ),
                &build::sensitivity(a),
            )?,
            Some(_) => index.skipped.push(format!(
                "sensitivity of {} on {}: the system has no estimated input",
                s.workload, s.arch
            )),
            None => index.skipped.push(format!(
                "sensitivity of {} on {}: {}",
                s.workload,
                s.arch,
                s.error.as_deref().unwrap_or("not analysed")
            )),
        }
    }
    Ok(())
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
        write_file(&dir.join(format!("{name}.tex")), &t.latex(name))?;
        index.tables.push(name.to_owned());
    }
    index.figure(
        dir,
        "memory",
        "Weight memory per model and format, claimed sizes marked".to_owned(),
        &build::memory(&study.fits),
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
            &build::units(&study.fits, arch),
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
            &build::speed(s),
        )?;
        index.figure(
            dir,
            &format!("pareto-{name}"),
            format!("Pareto front of sweep {}", s.spec),
            &build::pareto(s),
        )?;
    }
    for e in &study.runs {
        match (&e.record, &e.error) {
            (Some(r), _) if r.cycles_per_token.is_some() => index.figure(
                dir,
                &format!("breakdown-{}-{}", e.arch, e.workload),
                format!("Per-part and per-unit time of {} on {}", e.workload, e.arch),
                &build::breakdown(r),
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
        if let Some(fig) = build::roofline(&arch, &runs) {
            index.figure(
                dir,
                &format!("roofline-{arch}"),
                format!("Roofline of {arch} with the operating points of each part"),
                &fig,
            )?;
        }
    }
    match build::accuracy(study) {
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
    validation_figures(study, dir, &mut index)?;
    system_sensitivity_figures(study, dir, &mut index)?;
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
