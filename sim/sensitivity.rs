//! How much a prediction hangs on each estimated input (`accsim sensitivity`): every field the
//! arch file lists in `estimated` is halved and doubled (every number under a composite field;
//! integers rounded, kept >= 1), the run repeated on the same units, and the change in decode
//! tokens/s and time to first token reported, largest first. A variant the description could
//! not state is a row saying why, not an abort.

use crate::arch::{Arch, Calibration, Unit, vary};
use crate::error::Error;
use crate::mapping::Pins;
use crate::quant::Format;
use crate::run::{self, RunOptions, RunRecord};
use crate::workload::Workload;
use rayon::prelude::*;
use serde::Serialize;

/// The factors each estimate is scaled by.
pub const FACTORS: [f64; 2] = [0.5, 2.0];

/// A relative change in decode tokens/s above this from one estimate at one factor means the
/// prediction hinges on that estimate.
pub const HINGE: f64 = 0.25;

/// One estimate at one factor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Dotted path of the estimated field.
    pub field: String,
    pub factor: f64,
    /// The field's value in the arch file and in this variant (`null` for a composite field).
    pub estimate: Option<f64>,
    pub value: Option<f64>,
    pub decode_tokens_per_s: Option<f64>,
    pub ttft_s: Option<f64>,
    /// Relative change against the run as estimated (`null` when this variant was not timed).
    pub decode_change: Option<f64>,
    pub ttft_change: Option<f64>,
    /// Decode tokens/s moved by more than [`HINGE`].
    pub hinges: bool,
    /// Why the variant was not timed: not a valid description, does not fit, or failed.
    pub note: Option<String>,
}

/// The whole analysis: the record `accsim sensitivity --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sensitivity {
    pub arch: String,
    pub workload: String,
    pub format: Format,
    pub unit: Unit,
    /// Units every variant runs on (those of the run as estimated).
    pub units: u64,
    pub decode_tokens_per_s: Option<f64>,
    pub ttft_s: Option<f64>,
    /// Largest change first.
    pub rows: Vec<Row>,
    /// Estimates the prediction hinges on, in the arch file's order.
    pub hinges_on: Vec<String>,
    pub estimated_inputs: Vec<String>,
    pub calibrated_inputs: Vec<Calibration>,
}

fn change(variant: Option<f64>, base: Option<f64>) -> Option<f64> {
    Some(variant? / base? - 1.0)
}

/// One variant's row.
fn row(
    arch: &Arch,
    w: &Workload,
    opts: &RunOptions,
    base: &RunRecord,
    field: &str,
    factor: f64,
) -> Row {
    let mut r = Row {
        field: field.to_owned(),
        factor,
        estimate: vary::value_at(arch, field),
        value: None,
        decode_tokens_per_s: None,
        ttft_s: None,
        decode_change: None,
        ttft_change: None,
        hinges: false,
        note: None,
    };
    let variant = match vary::scaled(arch, field, factor) {
        Ok(a) => a,
        Err(e) => {
            r.note = Some(format!("not a valid description: {}", e.reason));
            return r;
        }
    };
    r.value = vary::value_at(&variant, field);
    match run::run_alone(&variant, w, opts) {
        Ok(out) if !out.record.fits => {
            r.note = Some(format!(
                "does not fit {} {}(s) ({} bytes short)",
                out.record.units,
                out.record.unit.name(),
                out.record.bytes_short
            ));
        }
        Ok(out) => {
            r.decode_tokens_per_s = out.record.decode_tokens_per_s;
            r.ttft_s = out.record.ttft_s;
            r.decode_change = change(r.decode_tokens_per_s, base.decode_tokens_per_s);
            r.ttft_change = change(r.ttft_s, base.ttft_s);
            r.hinges = r.decode_change.is_some_and(|c| c.abs() > HINGE);
        }
        Err(e) => r.note = Some(format!("run failed: {e}")),
    }
    r
}

/// The size of a row's effect, for ordering (untimed rows last).
fn magnitude(r: &Row) -> f64 {
    [r.decode_change, r.ttft_change]
        .into_iter()
        .flatten()
        .map(f64::abs)
        .fold(-1.0, f64::max)
}

/// Vary every estimated input of `arch` for `w` run with `opts`. Variants run in parallel; the
/// rows do not depend on the thread count. A run as estimated that does not fit is an error:
/// there is nothing to compare against.
pub fn analyse(arch: &Arch, w: &Workload, opts: &RunOptions) -> Result<Sensitivity, Error> {
    analyse_with(arch, w, opts, false)
}

/// As [`analyse`], but every variant keeps the mapping the run as estimated chose (its
/// parameters pinned) instead of searching again: the spread of the prediction of that mapping,
/// at a fraction of the cost (the report's error bars).
pub fn analyse_held(arch: &Arch, w: &Workload, opts: &RunOptions) -> Result<Sensitivity, Error> {
    analyse_with(arch, w, opts, true)
}

fn analyse_with(
    arch: &Arch,
    w: &Workload,
    opts: &RunOptions,
    hold: bool,
) -> Result<Sensitivity, Error> {
    let base = run::run_alone(arch, w, opts)?.record;
    if !base.fits {
        return Err(Error::Usage {
            flag: "--units".to_owned(),
            reason: format!(
                "{} does not fit {} {}(s) of {} ({} bytes short): nothing to vary",
                base.workload,
                base.units,
                base.unit.name(),
                base.arch,
                base.bytes_short
            ),
        });
    }
    let fixed = RunOptions {
        units: Some(base.units),
        pins: if hold {
            base.mapping_params
                .as_ref()
                .map_or(Pins::default(), Pins::holding)
        } else {
            opts.pins
        },
        ..opts.clone()
    };
    let pairs: Vec<(&str, f64)> = arch
        .estimated
        .iter()
        .flat_map(|f| FACTORS.iter().map(move |&x| (f.as_str(), x)))
        .collect();
    let mut rows: Vec<Row> = pairs
        .par_iter()
        .map(|&(field, factor)| row(arch, w, &fixed, &base, field, factor))
        .collect();
    rows.sort_by(|a, b| magnitude(b).total_cmp(&magnitude(a)));
    let hinges_on = arch
        .estimated
        .iter()
        .filter(|f| rows.iter().any(|r| r.hinges && &r.field == *f))
        .cloned()
        .collect();
    Ok(Sensitivity {
        arch: base.arch.clone(),
        workload: base.workload.clone(),
        format: base.format,
        unit: base.unit,
        units: base.units,
        decode_tokens_per_s: base.decode_tokens_per_s,
        ttft_s: base.ttft_s,
        rows,
        hinges_on,
        estimated_inputs: base.estimated_inputs,
        calibrated_inputs: base.calibrated_inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{arch, workload};

    fn preset<T: Clone>(all: crate::describe::Described<T>, name: &str, of: fn(&T) -> &str) -> T {
        all.into_iter()
            .map(|(_, t)| t)
            .find(|t| of(t) == name)
            .unwrap()
    }

    fn small(arch_name: &str) -> Sensitivity {
        let a = preset(arch::presets().unwrap(), arch_name, |a| &a.name);
        let w = preset(workload::presets().unwrap(), "stories260k", |w| &w.name);
        let opts = RunOptions {
            numerics: crate::run::NumericsMode::Off,
            ..RunOptions::default()
        };
        analyse(&a, &w, &opts).unwrap()
    }

    #[test]
    fn every_estimated_field_has_a_row_per_factor_largest_change_first() {
        let s = small("groq-tsp");
        assert_eq!(s.rows.len(), FACTORS.len() * s.estimated_inputs.len());
        for f in &s.estimated_inputs {
            assert_eq!(s.rows.iter().filter(|r| &r.field == f).count(), 2, "{f}");
        }
        let sizes: Vec<f64> = s.rows.iter().map(magnitude).collect();
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        let power = s.rows.iter().find(|r| r.field == "chip.power_w").unwrap();
        assert_eq!(power.decode_change, Some(0.0));
        for r in s.rows.iter().filter(|r| r.hinges) {
            assert!(s.hinges_on.contains(&r.field));
            assert!(r.decode_change.unwrap().abs() > HINGE);
        }
    }

    #[test]
    fn an_invalid_variant_is_a_row_saying_why() {
        let s = small("groq-tsp");
        let install = s
            .rows
            .iter()
            .find(|r| r.field == "chip.mxm.install_vectors_per_cycle" && r.factor == 2.0)
            .unwrap();
        let note = install.note.as_deref().unwrap();
        assert!(note.starts_with("not a valid description"), "{note}");
        assert_eq!(install.decode_change, None);
        let wse = small("cerebras-wse3");
        assert_eq!(wse.rows.len(), 2 * wse.estimated_inputs.len());
    }

    #[test]
    fn a_run_that_does_not_fit_is_refused() {
        let a = preset(arch::presets().unwrap(), "groq-tsp", |a| &a.name);
        let w = preset(workload::presets().unwrap(), "llama2-70b", |w| &w.name);
        let opts = RunOptions {
            units: Some(1),
            numerics: crate::run::NumericsMode::Off,
            ..RunOptions::default()
        };
        let e = analyse(&a, &w, &opts).unwrap_err().to_string();
        assert!(e.contains("does not fit 1 chip"), "{e}");
    }
}
