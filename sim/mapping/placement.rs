//! Where a workload's bytes land on a machine: what every family's placement returns, and the
//! fit verdict shared by all of them.

use crate::arch::Unit;
use serde::Serialize;

/// Where a workload's bytes land on a machine, and whether they fit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Placement {
    /// What the machine is counted in.
    pub unit: Unit,
    /// Fewest units that hold the workload with this family's mapping; `None` when no number of
    /// units can (one layer alone is larger than a unit).
    pub units_needed: Option<u64>,
    /// Units the user asked for; `None` means "as many as needed".
    pub units_given: Option<u64>,
    /// Whether the workload fits the given units (always true when none were given).
    pub fits: bool,
    /// Bytes of one unit that can hold weights, KV cache and buffers (after runtime reserves).
    pub usable_bytes_per_unit: u64,
    /// The partitioning used, in words (tensor-parallel degree, pipeline stages, PE regions).
    pub split: String,
    /// Load of each unit of the mapping, in order.
    pub units: Vec<UnitLoad>,
    /// Bytes that do not fit the given units (zero when it fits).
    pub bytes_short: u64,
}

/// What one unit (chip, wafer, GPU) holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UnitLoad {
    /// Weight bytes, padding to the unit's storage granularity included.
    pub weight_bytes: u64,
    /// KV-cache bytes, padding included.
    pub kv_cache_bytes: u64,
    /// Working buffers and activations.
    pub buffer_bytes: u64,
    /// Storage granules in use (TSP: vector addresses per MEM slice; WSE: PEs; GPU: bytes).
    pub granules_used: u64,
    /// Storage granules available.
    pub granules_total: u64,
}

impl UnitLoad {
    /// Fraction of the unit's granules in use.
    pub fn occupancy(&self) -> f64 {
        self.granules_used as f64 / self.granules_total as f64
    }
}

/// Fill in the verdict shared by every family once the mapping is known; `total_bytes` is what
/// the mapping stores over all units, padding included; `max_units` is the largest system the
/// family can build, if it has a limit.
pub fn verdict(
    mut p: Placement,
    units_given: Option<u64>,
    max_units: Option<u64>,
    total_bytes: u64,
) -> Placement {
    p.units_given = units_given;
    p.fits = p.units_needed.is_some_and(|needed| {
        units_given.is_none_or(|n| needed <= n) && max_units.is_none_or(|max| needed <= max)
    });
    let available = units_given
        .unwrap_or(0)
        .saturating_mul(p.usable_bytes_per_unit);
    p.bytes_short = if p.fits {
        0
    } else {
        total_bytes.saturating_sub(available).max(1)
    };
    p
}
