//! The sweep description (`workloads/sweeps/*.ron`): which machine and workload, and the points
//! to run, as a grid of axes or an explicit list. Checked on load for everything that does not
//! need the architecture (empty axes, NaN, zero counts, repeated axes).

use crate::describe::{Validate, check};
use crate::error::Invalid;
use crate::mapping::Fidelity;
use crate::quant::Format;
use serde::{Deserialize, Serialize};

/// One sweep file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename = "Sweep")]
pub struct Spec {
    /// A shipped architecture by name (`groq-tsp`) or a `.ron` file relative to the spec.
    pub arch: String,
    /// A shipped workload by name (`llama2-70b`) or a `.ron` file relative to the spec.
    pub workload: String,
    /// Axes whose cartesian product is swept, the first axis outermost.
    #[serde(default)]
    pub grid: Vec<Axis>,
    /// Explicit points, each a list of settings (the alternative to `grid`).
    #[serde(default)]
    pub points: Vec<Vec<Setting>>,
    /// Numerics of each run: off by default, since a sweep is about speed and size.
    #[serde(default)]
    pub numerics: SweepNumerics,
    /// Execution fidelity of each run.
    #[serde(default)]
    pub fidelity: Fidelity,
    /// Seed of synthetic weights when numerics are on.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    crate::run::numerics::DEFAULT_SEED
}

/// Numerics switch of a sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SweepNumerics {
    /// Timing only.
    #[default]
    Off,
    /// The first K decoder layers compute values.
    Sampled(u64),
    /// Every layer computes values.
    Full,
}

/// One swept parameter with its values.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub enum Axis {
    /// Chips, wafers or GPUs (default: the fewest that hold the workload).
    Units(Vec<u64>),
    /// Memory per unit of storage: TSP SRAM per chip, WSE SRAM per PE, GPU HBM per GPU [bytes].
    MemoryBytes(Vec<u64>),
    /// Core clock [Hz] (TSP, WSE).
    ClockHz(Vec<f64>),
    /// Link bandwidth per direction [bytes/s]: TSP C2C link, WSE system I/O, GPU NVLink.
    LinkBytesPerS(Vec<f64>),
    /// Format of every weight matrix.
    Format(Vec<Format>),
    /// Sequences decoded together.
    Batch(Vec<u64>),
    /// KV-cache context per sequence [tokens].
    Context(Vec<u64>),
    /// Pinned tensor-parallel degree (TSP chips per stage, GPUs per stage).
    Tp(Vec<u64>),
    /// Pinned data bytes a weight tile may take on one PE (WSE).
    TileBytes(Vec<u64>),
    /// Pinned tokens of one KV head one PE may hold (WSE).
    KvTokensPerPe(Vec<u64>),
    /// Pinned: each layer's matrices overlaid on one grid (WSE).
    Overlaid(Vec<bool>),
}

/// One parameter of one point.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub enum Setting {
    Units(u64),
    MemoryBytes(u64),
    ClockHz(f64),
    LinkBytesPerS(f64),
    Format(Format),
    Batch(u64),
    Context(u64),
    Tp(u64),
    TileBytes(u64),
    KvTokensPerPe(u64),
    Overlaid(bool),
}

/// Largest sweep accepted: far beyond any useful study, small enough to stay in memory.
const MAX_POINTS: u64 = 1_000_000;

impl Axis {
    /// The axis's values as settings, in order.
    pub fn settings(&self) -> Vec<Setting> {
        fn each<T: Copy>(v: &[T], f: fn(T) -> Setting) -> Vec<Setting> {
            v.iter().map(|&x| f(x)).collect()
        }
        match self {
            Axis::Units(v) => each(v, Setting::Units),
            Axis::MemoryBytes(v) => each(v, Setting::MemoryBytes),
            Axis::ClockHz(v) => each(v, Setting::ClockHz),
            Axis::LinkBytesPerS(v) => each(v, Setting::LinkBytesPerS),
            Axis::Format(v) => each(v, Setting::Format),
            Axis::Batch(v) => each(v, Setting::Batch),
            Axis::Context(v) => each(v, Setting::Context),
            Axis::Tp(v) => each(v, Setting::Tp),
            Axis::TileBytes(v) => each(v, Setting::TileBytes),
            Axis::KvTokensPerPe(v) => each(v, Setting::KvTokensPerPe),
            Axis::Overlaid(v) => each(v, Setting::Overlaid),
        }
    }
}

impl Setting {
    /// Name of the parameter, as in the spec and the results' columns.
    pub fn name(self) -> &'static str {
        match self {
            Setting::Units(_) => "Units",
            Setting::MemoryBytes(_) => "MemoryBytes",
            Setting::ClockHz(_) => "ClockHz",
            Setting::LinkBytesPerS(_) => "LinkBytesPerS",
            Setting::Format(_) => "Format",
            Setting::Batch(_) => "Batch",
            Setting::Context(_) => "Context",
            Setting::Tp(_) => "Tp",
            Setting::TileBytes(_) => "TileBytes",
            Setting::KvTokensPerPe(_) => "KvTokensPerPe",
            Setting::Overlaid(_) => "Overlaid",
        }
    }

    /// The value on its own (no architecture needed): counts at least 1, rates finite and > 0.
    fn check(self, field: &str) -> Result<(), Invalid> {
        match self {
            Setting::Units(n)
            | Setting::MemoryBytes(n)
            | Setting::Batch(n)
            | Setting::Context(n)
            | Setting::Tp(n)
            | Setting::TileBytes(n)
            | Setting::KvTokensPerPe(n) => {
                check::nonzero(field, n)?;
                check::at_most(field, n, 1 << 50)
            }
            Setting::ClockHz(x) | Setting::LinkBytesPerS(x) => check::positive(field, x),
            Setting::Format(_) | Setting::Overlaid(_) => Ok(()),
        }
    }
}

/// A point to run, each setting with the spec field it came from (for error messages).
pub type Point = Vec<(String, Setting)>;

impl Spec {
    /// Every point, in spec order: the grid's product with the last axis varying fastest, or the
    /// list as written.
    pub fn points(&self) -> Vec<Point> {
        if self.grid.is_empty() {
            return self
                .points
                .iter()
                .enumerate()
                .map(|(p, settings)| {
                    settings
                        .iter()
                        .enumerate()
                        .map(|(k, &s)| (format!("points[{p}][{k}]"), s))
                        .collect()
                })
                .collect();
        }
        let mut out: Vec<Point> = vec![Vec::new()];
        for (i, axis) in self.grid.iter().enumerate() {
            let values = axis.settings();
            out = out
                .into_iter()
                .flat_map(|p| {
                    values.iter().enumerate().map(move |(j, &s)| {
                        let mut q = p.clone();
                        q.push((format!("grid[{i}].{}[{j}]", s.name()), s));
                        q
                    })
                })
                .collect();
        }
        out
    }
}

/// No parameter may be set twice for one point.
fn distinct<'a>(field: &str, names: impl Iterator<Item = &'a str>) -> Result<(), Invalid> {
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        if seen.contains(&n) {
            return Err(Invalid::new(field, format!("`{n}` is given twice")));
        }
        seen.push(n);
    }
    Ok(())
}

impl Validate for Spec {
    fn validate(&self) -> Result<(), Invalid> {
        for (field, v) in [("arch", &self.arch), ("workload", &self.workload)] {
            if v.trim().is_empty() {
                return Err(Invalid::new(field, "must not be empty"));
            }
        }
        if let SweepNumerics::Sampled(k) = self.numerics {
            check::nonzero("numerics.Sampled", k)?;
        }
        match (self.grid.is_empty(), self.points.is_empty()) {
            (true, true) => {
                return Err(Invalid::new(
                    "grid",
                    "give the points to run: a non-empty `grid` or `points`",
                ));
            }
            (false, false) => {
                return Err(Invalid::new(
                    "points",
                    "give either `grid` or `points`, not both",
                ));
            }
            _ => {}
        }
        let mut count: u64 = 1;
        for (i, axis) in self.grid.iter().enumerate() {
            let values = axis.settings();
            let name = values.first().map_or("axis", |s| s.name());
            if values.is_empty() {
                return Err(Invalid::new(
                    format!("grid[{i}]"),
                    "empty axis: list at least one value",
                ));
            }
            for (j, s) in values.iter().enumerate() {
                s.check(&format!("grid[{i}].{name}[{j}]"))?;
            }
            count = count.saturating_mul(values.len() as u64);
        }
        distinct(
            "grid",
            self.grid
                .iter()
                .filter_map(|a| a.settings().first().map(|s| s.name())),
        )?;
        for (p, point) in self.points.iter().enumerate() {
            for (k, s) in point.iter().enumerate() {
                s.check(&format!("points[{p}][{k}]"))?;
            }
            distinct(&format!("points[{p}]"), point.iter().map(|s| s.name()))?;
        }
        check::at_most("grid", count.max(self.points.len() as u64), MAX_POINTS)
    }
}
