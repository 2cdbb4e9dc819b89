//! The study's figures, each built from the study's records and answering one question of the
//! paper: how big the formats are against the claims, how many units they need, how fast each
//! system runs against its hardware bound, where a decode step's time goes, how close the
//! predictions come to published deployments and on which estimates they hinge, and what each
//! format costs in accuracy.

use super::{Study, SweepResult};
use crate::fit::FitRecord;
use crate::mapping::PartTime;
use crate::report::axis::Axis;
use crate::report::bars::{BarSeries, Bars, Columns};
use crate::report::figures::{Panel, Panels};
use crate::report::style::{self, ONE_COLUMN, TWO_COLUMN};
use crate::report::xy::{Along, Plot, Rule, Series, Style};
use crate::run::RunRecord;
use crate::sensitivity::Sensitivity;
use crate::validation::{Outcome, PointsSensitivity};

/// The LLaMA workloads of the fit records, in order.
pub fn workloads(fits: &[FitRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in fits.iter().filter(|r| r.params > 1_000_000_000) {
        if !out.contains(&r.workload) {
            out.push(r.workload.clone());
        }
    }
    out
}

/// The claimed size of a model, as a reference line.
fn claimed_size(params: u64) -> Vec<Rule> {
    let rule = |value: f64, label: &str| Rule {
        along: Along::Vertical,
        value,
        label: label.to_owned(),
    };
    match params {
        60_000_000_000..=80_000_000_000 => vec![rule(30.6, "claimed: 30.6 GB at 3.5 bits")],
        380_000_000_000..=430_000_000_000 => vec![rule(177.0, "claimed: 177 GB at 3.5 bits")],
        _ => Vec::new(),
    }
}

/// The fit records of one (arch, workload) pair, one per format.
fn records<'a>(fits: &'a [FitRecord], arch: &str, workload: &str) -> Vec<&'a FitRecord> {
    fits.iter()
        .filter(|r| r.arch == arch && r.workload == workload)
        .collect()
}

/// Panels of `panels`, as many to a row as fit a two-column width.
fn grid(title: String, panels: Vec<Panel>, note: Option<String>) -> Panels {
    Panels {
        title,
        columns: panels.len().clamp(1, 3),
        width: TWO_COLUMN,
        panels,
        note,
    }
}

/// Weight bytes per model and format against the claimed sizes.
pub fn memory(fits: &[FitRecord]) -> Panels {
    let arch = fits.first().map(|r| r.arch.clone()).unwrap_or_default();
    let panels = workloads(fits)
        .into_iter()
        .map(|w| {
            let recs = records(fits, &arch, &w);
            Panel::Bars(Bars {
                title: w.clone(),
                value: Axis::log("weights (GB)"),
                base: 0.0,
                categories: recs.iter().map(|r| r.format.to_string()).collect(),
                series: vec![BarSeries {
                    name: "weights".to_owned(),
                    values: recs
                        .iter()
                        .map(|r| Some(r.weight_bytes as f64 / 1e9))
                        .collect(),
                }],
                rules: recs
                    .first()
                    .map_or_else(Vec::new, |r| claimed_size(r.params)),
                missing: String::new(),
            })
        })
        .collect();
    grid(
        "Weight memory per model and format against the claimed sizes".to_owned(),
        panels,
        None,
    )
}

/// Whether the positive `values` span more than a decade (then they go on a log axis).
fn spans_decades(values: impl Iterator<Item = f64>) -> bool {
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    hi > 10.0 * lo
}

/// A count axis: from zero, or logarithmic when the counts span more than a decade.
fn count_axis(title: String, values: impl Iterator<Item = f64>) -> Axis {
    if spans_decades(values) {
        Axis::log(title)
    } else {
        Axis {
            title,
            scale: crate::report::axis::Scale::Linear {
                integer: true,
                zero: true,
            },
        }
    }
}

/// Units of `arch` needed per model and format.
pub fn units(fits: &[FitRecord], arch: &str) -> Panels {
    // One kind of axis for every panel, so the panels compare at a glance.
    let all = fits
        .iter()
        .filter(|r| r.arch == arch)
        .filter_map(|r| r.units_needed.map(|n| n as f64));
    let unit = fits
        .iter()
        .find(|r| r.arch == arch)
        .map_or("unit", |r| r.unit.name());
    let axis = count_axis(format!("{unit}s needed"), all);
    let panels = workloads(fits)
        .into_iter()
        .map(|w| {
            let recs = records(fits, arch, &w);
            let values: Vec<Option<f64>> = recs
                .iter()
                .map(|r| r.units_needed.map(|n| n as f64))
                .collect();
            Panel::Bars(Bars {
                title: w.clone(),
                value: axis.clone(),
                base: 0.0,
                categories: recs.iter().map(|r| r.format.to_string()).collect(),
                series: vec![BarSeries {
                    name: format!("{unit}s"),
                    values,
                }],
                rules: Vec::new(),
                missing: "does not fit any count".to_owned(),
            })
        })
        .collect();
    grid(
        format!("Units of {arch} needed per model and format"),
        panels,
        None,
    )
}

/// Distinct values in first-seen order.
fn distinct<T: PartialEq + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// A rate axis: logarithmic when the values span more than a decade, else from zero.
fn rate_axis(title: &str, values: &[f64]) -> Axis {
    if spans_decades(values.iter().copied()) {
        Axis::log(title)
    } else {
        Axis::from_zero(title)
    }
}

/// Decode speed vs units of a sweep, per format and batch, with the hardware bound.
pub fn speed(s: &SweepResult) -> Panels {
    let first = &s.rows[0];
    let unit = first.unit.name();
    let mut series: Vec<Series> = Vec::new();
    let formats = distinct(s.rows.iter().map(|r| r.format));
    let batches = distinct(s.rows.iter().map(|r| r.batch));
    // A format has one colour and marker (its bound the same colour, dotted); a batch, one dash.
    for (fi, f) in formats.iter().enumerate() {
        for (bi, b) in batches.iter().enumerate() {
            let points: Vec<(f64, f64)> = s
                .rows
                .iter()
                .filter(|r| r.format == *f && r.batch == *b)
                .filter_map(|r| Some((r.units? as f64, r.tokens_per_s_per_user?)))
                .collect();
            if points.is_empty() {
                continue;
            }
            let look = style::Look {
                dash: style::look(bi).dash,
                ..style::look(fi)
            };
            series.push(Series {
                look: Some(look),
                ..Series::new(format!("{f}, batch {b}"), points, Style::Line)
            });
        }
    }
    // The hardware bound does not depend on the batch's mapping: one line per format.
    for (fi, f) in formats.iter().enumerate() {
        let points: Vec<(f64, f64)> = s
            .rows
            .iter()
            .filter(|r| r.format == *f && r.batch == batches[0])
            .filter_map(|r| Some((r.units? as f64, r.bound_tokens_per_s?)))
            .collect();
        if !points.is_empty() {
            series.push(Series {
                look: Some(style::look(fi)),
                ..Series::new(format!("bound, {f}"), points, Style::Bound)
            });
        }
    }
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    let skipped = s.rows.iter().filter(|r| r.tokens_per_s.is_none()).count();
    let bound_note = "bound: every byte of a step at the units' peak memory bandwidth";
    let note = if skipped > 0 {
        format!("{skipped} point(s) not timed (do not fit, or run failed); {bound_note}")
    } else {
        bound_note.to_owned()
    };
    Panels::single(
        Panel::Plot(Plot {
            title: format!(
                "{} on {}: decode speed vs {unit}s",
                first.workload, first.arch
            ),
            x: count_axis(
                format!("{unit}s"),
                s.rows.iter().filter_map(|r| r.units).map(|u| u as f64),
            ),
            y: rate_axis("tokens/s per user", &ys),
            series,
            rules: Vec::new(),
            labels: Vec::new(),
            note: None,
        }),
        Some(note),
    )
}

/// Aggregate speed vs units of a sweep, the Pareto front joined and labelled.
pub fn pareto(s: &SweepResult) -> Panels {
    let first = &s.rows[0];
    let unit = first.unit.name();
    let timed = |front: bool| -> Vec<(f64, f64)> {
        let mut p: Vec<(f64, f64)> = s
            .rows
            .iter()
            .filter(|r| r.pareto == front)
            .filter_map(|r| Some((r.units? as f64, r.tokens_per_s?)))
            .collect();
        p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        p
    };
    let (dominated, front) = (timed(false), timed(true));
    let ys: Vec<f64> = dominated.iter().chain(&front).map(|p| p.1).collect();
    Panels::single(
        Panel::Plot(Plot {
            title: format!("{} on {}: Pareto front", first.workload, first.arch),
            x: count_axis(
                format!("{unit}s"),
                s.rows.iter().filter_map(|r| r.units).map(|u| u as f64),
            ),
            y: rate_axis("tokens/s (aggregate over the batch)", &ys),
            series: vec![
                Series::new("Pareto front", front, Style::Line),
                Series::new("dominated", dominated, Style::Dots),
            ],
            rules: Vec::new(),
            labels: s
                .rows
                .iter()
                .filter(|r| r.pareto)
                .filter_map(|r| {
                    Some((
                        r.units? as f64,
                        r.tokens_per_s?,
                        format!("{} b{}", r.format, r.batch),
                    ))
                })
                .collect(),
            note: None,
        }),
        Some(
            "front: more tokens/s, fewer units, lower numerics error, less energy per token"
                .to_owned(),
        ),
    )
}

fn micros(cycles: u64, clock_hz: f64) -> f64 {
    cycles as f64 / clock_hz * 1e6
}

/// A part's time split into what bounds it: the compute bound, the memory bound beyond it, and
/// the rest of its critical path (network transfers and waiting; the models do not split
/// those per part).
fn split(p: &PartTime) -> [u64; 3] {
    let compute = p.compute_bound_cycles.min(p.cycles);
    let memory = p.memory_bound_cycles.min(p.cycles).saturating_sub(compute);
    [compute, memory, p.cycles - compute - memory]
}

/// Where a decode step's time goes, part by part, and how busy each unit kind is.
pub fn breakdown(r: &RunRecord) -> Panels {
    let clock = r.clock_hz.unwrap_or(1.0);
    let names = [
        "compute (bound)",
        "memory beyond compute (bound)",
        "network and waiting (rest)",
    ];
    let layers = names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let heights = r.parts.iter().map(|p| micros(split(p)[k], clock)).collect();
            ((*n).to_owned(), heights)
        })
        .collect();
    let unit = r.unit.name();
    let first = r.parts.first().map_or("", |p| p.name.as_str());
    let last = r.parts.last().map_or("", |p| p.name.as_str());
    let steps = Panel::Columns(Columns {
        title: format!(
            "{} on {}: time per part",
            r.workload,
            count_of(r.units, unit)
        ),
        x: Axis::count(format!("part ({first} ... {last})")),
        y: Axis::from_zero("µs per decode step"),
        positions: (0..r.parts.len()).map(|i| i as f64).collect(),
        layers,
    });
    let busy: Vec<Option<f64>> = r
        .unit_busy
        .iter()
        .map(|u| Some(100.0 * u.utilization).filter(|v| *v > 0.0))
        .collect();
    let util = Panel::Bars(Bars {
        title: format!("{}: busy share per unit kind", r.arch),
        value: Axis::log("busy (% of the step, log)"),
        base: 0.0,
        categories: r
            .unit_busy
            .iter()
            .map(|u| format!("{} x{}", u.unit, u.instances))
            .collect(),
        series: vec![BarSeries {
            name: "busy".to_owned(),
            values: busy,
        }],
        rules: Vec::new(),
        missing: "idle".to_owned(),
    });
    Panels {
        title: String::new(),
        columns: 2,
        width: TWO_COLUMN,
        panels: vec![steps, util],
        note: None,
    }
}

/// Each run's parts on its own roof (log-log).
pub fn roofline(arch: &str, runs: &[&RunRecord]) -> Option<Panels> {
    let mut series = Vec::new();
    for r in runs {
        let (Some(ops), Some(bw)) = (r.peak_ops_per_s, r.peak_bytes_per_s) else {
            continue;
        };
        let clock = r.clock_hz.unwrap_or(1.0);
        let parts: Vec<(f64, f64)> = r
            .parts
            .iter()
            .filter(|p| p.bytes > 0 && p.ops > 0 && p.cycles > 0)
            .map(|p| {
                (
                    p.ops as f64 / p.bytes as f64,
                    p.ops as f64 / (p.cycles as f64 / clock),
                )
            })
            .collect();
        let lo = parts.iter().map(|p| p.0).fold(ops / bw, f64::min) / 4.0;
        let hi = parts.iter().map(|p| p.0).fold(ops / bw, f64::max) * 4.0;
        let roof = vec![(lo, lo * bw), (ops / bw, ops), (hi, ops)];
        let name = format!("{}, {}", r.workload, count_of(r.units, r.unit.name()));
        series.push(Series::new(format!("roof: {name}"), roof, Style::Bound));
        series.push(Series::new(format!("parts: {name}"), parts, Style::Dots));
    }
    if series.is_empty() {
        return None;
    }
    Some(Panels::single(
        Panel::Plot(Plot {
            title: format!("Roofline of {arch}: each run's parts on its own roof"),
            x: Axis::log("arithmetic intensity (ops/byte)"),
            y: Axis::log("ops/s"),
            series: pair_looks(series),
            rules: Vec::new(),
            labels: Vec::new(),
            note: None,
        }),
        None,
    ))
}

/// `n` units, with the unit's name in the singular for one.
fn count_of(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Give each (roof, parts) pair one colour and marker.
fn pair_looks(series: Vec<Series>) -> Vec<Series> {
    series
        .into_iter()
        .enumerate()
        .map(|(i, s)| Series {
            look: Some(style::look(i / 2)),
            ..s
        })
        .collect()
}

/// Formats no other format beats on both bits and error: lower or equal in both, lower in one.
fn frontier(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(b, e)| {
            !points
                .iter()
                .any(|&(b2, e2)| b2 <= b && e2 <= e && (b2 < b || e2 < e))
        })
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    front.dedup();
    front
}

/// One accuracy panel: every format as a point, the frontier as a line, 3.5 bits marked.
fn accuracy_panel(
    title: &str,
    y: Axis,
    points: Vec<(f64, f64, String)>,
    reference: Option<Rule>,
) -> Panel {
    let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
    let mut rules = vec![Rule {
        along: Along::Vertical,
        value: 3.5,
        label: "3.5 bits per weight".to_owned(),
    }];
    rules.extend(reference);
    Panel::Plot(Plot {
        title: title.to_owned(),
        x: Axis::linear("bits per weight (metadata included)"),
        y,
        series: vec![
            Series::new(
                "frontier (no format better in both)",
                frontier(&xy),
                Style::Line,
            ),
            Series::new("format", xy, Style::Dots),
        ],
        rules,
        labels: points,
        note: None,
    })
}

/// KL divergence and perplexity vs bits per weight for every format scored.
pub fn accuracy(study: &Study) -> Option<Panels> {
    let a = study.accuracy.as_ref()?;
    let shortened = if a.paragraphs < a.paragraphs_in_text {
        format!(", {} of {} paragraphs", a.paragraphs, a.paragraphs_in_text)
    } else {
        String::new()
    };
    let note = format!(
        "{} on {} ({} tokens{shortened}); every format scored is drawn",
        a.model, a.text, a.tokens_scored
    );
    let kl: Vec<(f64, f64, String)> = a
        .results
        .iter()
        .filter(|r| r.kl_mean > 0.0)
        .map(|r| (r.bits_per_weight, r.kl_mean, r.label()))
        .collect();
    let ppl: Vec<(f64, f64, String)> = a
        .results
        .iter()
        .map(|r| (r.bits_per_weight, r.ppl, r.label()))
        .collect();
    let f32_ppl = a.results.iter().find(|r| r.label() == "f32").map(|r| Rule {
        along: Along::Horizontal,
        value: r.ppl,
        label: format!("f32: {:.2}", r.ppl),
    });
    Some(Panels {
        title: "Accuracy against bits per weight".to_owned(),
        columns: 2,
        width: TWO_COLUMN,
        panels: vec![
            accuracy_panel(
                "KL divergence from f32",
                Axis::log("KL mean (nats)"),
                kl,
                None,
            ),
            accuracy_panel("Perplexity", Axis::log("perplexity"), ppl, f32_ppl),
        ],
        note: Some(note),
    })
}

/// The spread of a point's prediction, from the analysis of its run.
fn spread(o: &Outcome, analyses: &[PointsSensitivity]) -> Option<(f64, f64)> {
    analyses
        .iter()
        .find(|a| a.points.contains(&o.name))?
        .range(o.metric)
}

/// Predicted / published per deployment, bars spanning the sensitivity range.
pub fn validation(outcomes: &[Outcome], analyses: &[PointsSensitivity]) -> Panels {
    let mut points = Vec::new();
    let mut errors = Vec::new();
    let mut labels = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let x = i as f64;
        match o.predicted {
            Some(p) => {
                let (lo, hi) = spread(o, analyses).unwrap_or((p, p));
                points.push((x, p / o.published));
                errors.push((lo / o.published, hi / o.published));
                labels.push((
                    x,
                    p / o.published,
                    format!("{:+.0}%", 100.0 * (p / o.published - 1.0)),
                ));
            }
            None => labels.push((x, 0.4, "not timed: does not fit".to_owned())),
        }
    }
    let rule = |value: f64, label: &str| Rule {
        along: Along::Horizontal,
        value,
        label: label.to_owned(),
    };
    Panels {
        title: String::new(),
        columns: 1,
        width: TWO_COLUMN,
        panels: vec![Panel::Plot(Plot {
            title: "Predicted against published deployments".to_owned(),
            x: Axis::category("", outcomes.iter().map(|o| o.name.clone()).collect()),
            y: Axis::log("predicted / published"),
            series: vec![Series {
                errors,
                ..Series::new(
                    "prediction (bar: each estimated input x0.5 and x2, mapping held)",
                    points,
                    Style::Dots,
                )
            }],
            rules: vec![rule(1.0, "published"), rule(1.25, "+25%"), rule(0.75, "-25%")],
            labels,
            note: None,
        })],
        note: Some(
            "decode tokens/s per user or time to first token, as each source publishes; workloads/validation.ron names the sources"
                .to_owned(),
        ),
    }
}

/// The tornado of one sensitivity analysis: change in tokens/s per estimated input.
pub fn sensitivity(s: &Sensitivity) -> Panels {
    let fields = distinct(s.rows.iter().map(|r| r.field.clone()));
    let at = |factor: f64| -> Vec<Option<f64>> {
        fields
            .iter()
            .map(|f| {
                s.rows
                    .iter()
                    .find(|r| &r.field == f && r.factor == factor)
                    .and_then(|r| r.decode_change)
                    .map(|c| 100.0 * c)
            })
            .collect()
    };
    let (halved, doubled) = (at(0.5), at(2.0));
    let base = s
        .decode_tokens_per_s
        .map_or_else(String::new, |v| format!(", {v:.1} tokens/s as estimated"));
    Panels {
        title: String::new(),
        columns: 1,
        width: ONE_COLUMN,
        panels: vec![Panel::Bars(Bars {
            title: format!(
                "{}: {} {} on {} {}s{base}",
                s.arch,
                s.workload,
                s.format,
                s.units,
                s.unit.name()
            ),
            value: Axis::linear("change in decode tokens/s per user (%)"),
            base: 0.0,
            categories: fields,
            series: vec![
                BarSeries {
                    name: "input x0.5".to_owned(),
                    values: halved,
                },
                BarSeries {
                    name: "input x2".to_owned(),
                    values: doubled,
                },
            ],
            rules: Vec::new(),
            missing: "no valid variant".to_owned(),
        })],
        note: Some(
            "mapping held at the one chosen as estimated; no bar: no change, or the variant is not valid or does not fit"
                .to_owned(),
        ),
    }
}
