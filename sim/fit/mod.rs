//! Memory fit: how many bytes a workload needs in a given format, where they land on a machine
//! (through the family's placement), and the verdict on each claim of the source documents.

pub mod claims;

use crate::arch::{Arch, Calibration, Unit};
use crate::machines;
use crate::mapping::Placement;
use crate::quant::Format;
use crate::workload::Workload;
use crate::workload::footprint::{self, ClassBytes, Footprint};
use serde::Serialize;

pub use claims::Verdict;

/// One (architecture, workload, format) fit analysis: the record `accsim fit --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FitRecord {
    /// Architecture name.
    pub arch: String,
    /// Workload name.
    pub workload: String,
    /// Format of every weight matrix (norms keep the workload's policy).
    pub format: Format,
    /// Parameters.
    pub params: u64,
    /// Effective bits per weight, metadata and padding included.
    pub bits_per_weight: f64,
    /// All weight bytes (codes and metadata).
    pub weight_bytes: u64,
    /// Quantization metadata (part of `weight_bytes`).
    pub metadata_bytes: u64,
    /// KV cache of the scenario.
    pub kv_cache_bytes: u64,
    /// Working activations of one decode step.
    pub activation_bytes: u64,
    /// Weights, KV cache and activations.
    pub total_bytes: u64,
    /// Bytes per tensor class.
    pub classes: Vec<ClassBytes>,
    /// Unit the machine is counted in.
    pub unit: Unit,
    /// Fewest units that hold it (`null` if none can).
    pub units_needed: Option<u64>,
    /// Whether it fits (the given units, or any buildable system).
    pub fits: bool,
    /// Where the bytes land.
    pub placement: Placement,
    /// Inputs of the architecture that are estimates, not published figures.
    pub estimated_inputs: Vec<String>,
    /// Estimated inputs fit to a published point (see [`crate::arch::Calibration`]).
    pub calibrated_inputs: Vec<Calibration>,
    /// The source documents' claims this record can judge.
    pub claims: Vec<Verdict>,
}

/// Analyse `w` with every matrix stored as `format` on `arch`, on `units` units if given.
pub fn fit(arch: &Arch, w: &Workload, format: Format, units: Option<u64>) -> FitRecord {
    let mut w = w.clone();
    w.quant = w.quant.with_matrices_as(format);
    let f: Footprint = footprint::footprint(&w);
    let mut placement = machines::place(&arch.machine, &w, units);
    // Without a unit count, `fits` means "on some system this family can build".
    let max = arch.machine.max_units();
    if units.is_none() && placement.units_needed.is_some_and(|n| n > max) {
        placement.fits = false;
        placement.split = format!(
            "{}; needs more {}s than the {max} a system can have",
            placement.split,
            placement.unit.name()
        );
    }
    let mut record = FitRecord {
        arch: arch.name.clone(),
        workload: w.name.clone(),
        format,
        params: f.params,
        bits_per_weight: f.bits_per_weight(),
        weight_bytes: f.weight_bytes,
        metadata_bytes: f.metadata_bytes,
        kv_cache_bytes: f.kv_cache_bytes,
        activation_bytes: f.activation_bytes,
        total_bytes: f.total_bytes(),
        classes: f.classes,
        unit: placement.unit,
        units_needed: placement.units_needed,
        fits: placement.fits,
        placement,
        estimated_inputs: arch.estimated.clone(),
        calibrated_inputs: arch.calibrated.clone(),
        claims: Vec::new(),
    };
    let mut int4 = w.clone();
    int4.quant = int4.quant.with_matrices_as(Format::Int4G128);
    record.claims = claims::judge(&record, footprint::footprint(&int4).weight_bytes);
    record
}
