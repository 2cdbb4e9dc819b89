//! Architecture descriptions: one typed, validated description per accelerator family, loaded
//! from `arch/*.ron`. Every number in those files carries its public source, or is listed in
//! `estimated` with its reasoning, so reports can say which inputs were estimates.

mod gpu;
mod tsp;
pub mod vary;
mod wse;

pub use gpu::{Gpu, GpuNode, GpuPeaks, GpuSystem};
pub use tsp::{
    TspC2c, TspChip, TspIcu, TspLinkLevel, TspMem, TspMxm, TspStreams, TspSxm, TspSystem,
    TspTopology, TspVxm,
};
pub use wse::{WsePe, WseRouter, WseSystem, WseSystemIo, WseWafer};

use crate::describe::{self, Described, Preset, Validate};
use crate::error::{Error, Invalid};
use crate::ranges::Range;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Slowest accepted clock [Hz]: below a MHz no accelerator is described, and cycle counts of
/// time-based quantities (link latencies, I/O per cycle) would lose their meaning.
pub const MIN_CLOCK_HZ: f64 = 1e6;
/// Fastest accepted clock [Hz].
pub const MAX_CLOCK_HZ: f64 = 1e11;
/// Slowest accepted link or memory bandwidth [bytes/s] (1 KB/s).
pub const MIN_BYTES_PER_S: f64 = 1e3;
/// Fastest accepted link or memory bandwidth [bytes/s] (1 PB/s).
pub const MAX_BYTES_PER_S: f64 = 1e15;
/// Longest accepted network latency [ns] (10 ms).
pub const MAX_LATENCY_NS: f64 = 1e7;
/// Most units (chips, wafers, GPUs) any system is counted in: beyond the largest machines built,
/// small enough that per-unit records and power sums stay modest.
pub const MAX_UNITS: u64 = 1 << 20;

/// One architecture file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arch {
    /// Short name used in reports.
    pub name: String,
    /// Dotted paths of the fields whose values are estimates rather than published figures.
    pub estimated: Vec<String>,
    /// Estimates fit to a published deployment, in the open: a prediction of that deployment
    /// is then no test of the model, and the validation table says so.
    #[serde(default)]
    pub calibrated: Vec<Calibration>,
    /// The machine itself.
    pub machine: Machine,
}

/// One estimated input set to reproduce a published point (see `workloads/validation.ron`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Dotted path of the field, one of the architecture's `estimated`.
    pub field: String,
    /// Name of the published point it was fit to.
    pub point: String,
    /// The field's estimate before calibration.
    pub estimate: f64,
}

/// The lines of a report that list an architecture's estimated inputs and, if any, those
/// calibrated to a published point, so no output shows one list without the other.
pub fn inputs_note(arch: &str, estimated: &[String], calibrated: &[Calibration]) -> String {
    let mut out = format!("Estimated inputs of {arch}: {}\n", estimated.join(", "));
    if !calibrated.is_empty() {
        let fits: Vec<String> = calibrated
            .iter()
            .map(|c| {
                format!(
                    "{} (fit to `{}`; estimate {})",
                    c.field, c.point, c.estimate
                )
            })
            .collect();
        out += &format!("Calibrated inputs of {arch}: {}\n", fits.join(", "));
    }
    out
}

/// The range of every field of each family's description, by the name of its variant in the
/// files.
pub const RANGES: [(&str, &[Range]); 3] = [
    ("GroqTsp", tsp::RANGES),
    ("CerebrasWse", wse::RANGES),
    ("Gpu", gpu::RANGES),
];

/// The accelerator family and its description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Machine {
    /// Groq Tensor Streaming Processor systems.
    GroqTsp(TspSystem),
    /// Cerebras Wafer-Scale Engine systems.
    CerebrasWse(WseSystem),
    /// A GPU baseline.
    Gpu(GpuSystem),
}

/// The unit a system is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// One TSP chip.
    Chip,
    /// One WSE wafer (one CS-2/CS-3 system).
    Wafer,
    /// One GPU.
    Gpu,
}

impl Unit {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Chip => "chip",
            Unit::Wafer => "wafer",
            Unit::Gpu => "gpu",
        }
    }
}

impl Machine {
    /// The unit systems of this family are counted in.
    pub fn unit(&self) -> Unit {
        match self {
            Machine::GroqTsp(_) => Unit::Chip,
            Machine::CerebrasWse(_) => Unit::Wafer,
            Machine::Gpu(_) => Unit::Gpu,
        }
    }

    /// Most units of this family one system can have: the TSP network's `max_chips`, the
    /// wafers whose PEs and links the WSE model can number in 32 bits (16 per PE is a bound on
    /// its ports and I/O lanes), or [`MAX_UNITS`] GPUs.
    pub fn max_units(&self) -> u64 {
        match self {
            Machine::GroqTsp(m) => m.system.max_chips,
            Machine::CerebrasWse(m) => {
                (u64::from(u32::MAX) / (16 * m.wafer.fabric_pes())).min(MAX_UNITS)
            }
            Machine::Gpu(_) => MAX_UNITS,
        }
    }

    /// A unit count the user asked for, checked against [`Machine::max_units`]; the reason why
    /// not otherwise.
    pub fn check_units(&self, n: u64) -> Result<(), String> {
        let max = self.max_units();
        match n {
            0 => Err("must be at least 1".to_owned()),
            n if n > max => Err(format!(
                "{n} {}s is more than this system can have in the model (at most {max})",
                self.unit().name()
            )),
            _ => Ok(()),
        }
    }

    /// Peak rate at which one unit reads its weight memory [bytes/s]: the fastest path any
    /// byte of a step can take, so the hardware bound of every run is taken from it.
    pub fn memory_bytes_per_s_per_unit(&self) -> f64 {
        match self {
            Machine::GroqTsp(m) => (m.chip.slices() * m.chip.vector_bytes) as f64 * m.chip.clock_hz,
            Machine::CerebrasWse(m) => {
                let w = &m.wafer;
                (w.fabric_pes() * w.pe.sram_read_ports * w.pe.sram_port_bits / 8) as f64
                    * w.clock_hz
            }
            Machine::Gpu(m) => m.gpu.hbm_bytes_per_s,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        match self {
            Machine::GroqTsp(m) => m.validate(),
            Machine::CerebrasWse(m) => m.validate(),
            Machine::Gpu(m) => m.validate(),
        }
    }
}

impl Validate for Arch {
    fn validate(&self) -> Result<(), Invalid> {
        if self.name.trim().is_empty() {
            return Err(Invalid::new("name", "must not be empty"));
        }
        self.machine.validate()?;
        let tree = serde_json::to_value(&self.machine)
            .map_err(|e| Invalid::new("machine", e.to_string()))?;
        // Paths are written from inside the family's description, e.g. `chip.mxm.latency_cycles`.
        let family = tree
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or_default();
        for (i, path) in self.estimated.iter().enumerate() {
            let found = path.split('.').try_fold(&family, |node, key| node.get(key));
            if found.is_none() {
                return Err(Invalid::new(
                    format!("estimated[{i}]"),
                    format!("`{path}` is not a field of this description"),
                ));
            }
        }
        for (i, c) in self.calibrated.iter().enumerate() {
            if !self.estimated.contains(&c.field) {
                return Err(Invalid::new(
                    format!("calibrated[{i}].field"),
                    format!("`{}` is not listed in `estimated`", c.field),
                ));
            }
            if c.point.trim().is_empty() {
                return Err(Invalid::new(
                    format!("calibrated[{i}].point"),
                    "must name a published point",
                ));
            }
            describe::check::non_negative(&format!("calibrated[{i}].estimate"), c.estimate)?;
        }
        Ok(())
    }
}

/// The shipped architectures.
pub const PRESETS: [Preset; 4] = crate::presets![
    "arch/groq-tsp.ron",
    "arch/cerebras-wse2.ron",
    "arch/cerebras-wse3.ron",
    "arch/nvidia-h100.ron",
];

/// Load an architecture file.
pub fn load(path: &Path) -> Result<Arch, Error> {
    describe::load(path)
}

/// Parse every shipped architecture.
pub fn presets() -> Result<Described<Arch>, Error> {
    describe::parse_presets(&PRESETS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_architectures_load_and_validate() {
        let archs = presets().unwrap();
        assert_eq!(archs.len(), PRESETS.len());
        for (_, a) in &archs {
            assert!(!a.estimated.is_empty(), "{} lists no estimates", a.name);
        }
    }

    #[test]
    fn derived_peaks_match_the_published_ones() {
        let archs = presets().unwrap();
        let find = |n: &str| {
            archs
                .iter()
                .find(|(_, a)| a.name == n)
                .unwrap()
                .1
                .machine
                .clone()
        };
        let Machine::GroqTsp(tsp) = find("groq-tsp") else {
            panic!()
        };
        // 737 TOPS from the MXM geometry, 750 quoted.
        assert!((tsp.chip.peak_int8_ops_per_s() / 1e12 - 737.28).abs() < 0.01);
        assert_eq!(tsp.chip.mem.sram_bytes, 220 << 20);
        let Machine::CerebrasWse(wse3) = find("cerebras-wse3") else {
            panic!()
        };
        assert!((wse3.wafer.peak_fp16_ops_per_s() / 1e15 - 15.7).abs() < 0.1);
    }

    #[test]
    fn an_install_rate_the_model_ignores_is_refused() {
        let text = PRESETS[0].text.replace(
            "install_vectors_per_cycle: 1,",
            "install_vectors_per_cycle: 2,",
        );
        assert_ne!(text, PRESETS[0].text, "the first preset is the TSP");
        let err = describe::parse::<Arch>(Path::new("x.ron"), &text).unwrap_err();
        assert!(
            err.to_string().contains("install_vectors_per_cycle"),
            "{err}"
        );
    }

    #[test]
    fn calibrated_entries_round_trip_and_must_name_an_estimate() {
        let text = PRESETS[0].text.replace(
            "    machine: GroqTsp((",
            "    calibrated: [(field: \"chip.power_w\", point: \"groq-llama2-70b\", estimate: 300.0)],\n    machine: GroqTsp((",
        );
        let a: Arch = describe::parse(Path::new("x.ron"), &text).unwrap();
        assert_eq!(a.calibrated.len(), 1);
        let again: Arch =
            describe::parse(Path::new("y.ron"), &ron::to_string(&a).unwrap()).unwrap();
        assert_eq!(again, a);
        let varied = vary::scaled(&a, "chip.power_w", 2.0).unwrap();
        assert_eq!(varied.calibrated, a.calibrated);
        let note = inputs_note(&a.name, &a.estimated, &a.calibrated);
        assert!(note.contains("Calibrated inputs of groq-tsp: chip.power_w (fit to `groq-llama2-70b`; estimate 300)"), "{note}");
        let wrong = text.replace("field: \"chip.power_w\"", "field: \"chip.clock_hz\"");
        let e = describe::parse::<Arch>(Path::new("x.ron"), &wrong).unwrap_err();
        assert!(e.to_string().contains("calibrated[0].field"), "{e}");
    }
}
