//! Flags shared by the commands that pick descriptions, formats and unit counts.

use accsim::Error;
use accsim::arch::{self, Arch, Unit};
use accsim::describe::Described;
use accsim::mapping::Pins;
use accsim::quant::Format;
use accsim::workload::{self, Workload};
use clap::Args;
use std::path::{Path, PathBuf};

/// What one run is of: the flags `accsim run` and `accsim sensitivity` share.
#[derive(Args)]
pub struct RunTarget {
    /// Architecture description.
    #[arg(long, value_name = "FILE")]
    pub arch: PathBuf,
    /// Workload description.
    #[arg(long, value_name = "FILE")]
    pub workload: PathBuf,
    /// Format of every weight matrix.
    #[arg(long, value_name = "NAME", default_value = "q3.5")]
    pub format: String,
    #[command(flatten)]
    pub units: UnitFlags,
    /// Sequences decoded together (default: the workload's scenario).
    #[arg(long, value_name = "B")]
    pub batch: Option<u64>,
    /// KV-cache context per sequence [tokens] (default: the workload's scenario).
    #[arg(long, value_name = "T")]
    pub context: Option<u64>,
}

/// A run target's descriptions loaded and checked against each other.
pub struct Loaded {
    pub arch: Arch,
    /// The workload with the batch and context given.
    pub workload: Workload,
    pub format: Format,
    pub units: Option<u64>,
}

impl RunTarget {
    /// Load both descriptions and check the format and unit flags.
    pub fn load(&self) -> Result<Loaded, Error> {
        let a = arch::load(&self.arch)?;
        let w = scenario(
            &self.workload,
            &workload::load(&self.workload)?,
            self.batch,
            self.context,
        )?;
        Ok(Loaded {
            units: self.units.for_arch(&a)?,
            format: format(&self.format)?,
            arch: a,
            workload: w,
        })
    }
}

/// How many units of the architecture's family to use.
#[derive(Args, Clone, Debug, Default)]
pub struct UnitFlags {
    /// Exactly this many TSP chips.
    #[arg(long, value_name = "N", group = "unit_count")]
    pub chips: Option<u64>,
    /// Exactly this many WSE wafers.
    #[arg(long, value_name = "N", group = "unit_count")]
    pub wafers: Option<u64>,
    /// Exactly this many GPUs.
    #[arg(long, value_name = "N", group = "unit_count")]
    pub gpus: Option<u64>,
    /// Exactly this many units of the architecture's family (chips, wafers or GPUs).
    #[arg(long, value_name = "N", group = "unit_count")]
    pub units: Option<u64>,
}

impl UnitFlags {
    /// The unit count the user gave, checked against the architecture's family.
    pub fn for_arch(&self, arch: &Arch) -> Result<Option<u64>, Error> {
        if let Some(n) = self.units {
            return units_allowed(arch, "--units", n).map(Some);
        }
        let given = [
            (Unit::Chip, "--chips", self.chips),
            (Unit::Wafer, "--wafers", self.wafers),
            (Unit::Gpu, "--gpus", self.gpus),
        ];
        for (unit, flag, value) in given {
            let Some(n) = value else { continue };
            if unit != arch.machine.unit() {
                return Err(Error::Usage {
                    flag: flag.to_owned(),
                    reason: format!(
                        "architecture `{}` is counted in {}s; use --{}s",
                        arch.name,
                        arch.machine.unit().name(),
                        arch.machine.unit().name()
                    ),
                });
            }
            return units_allowed(arch, flag, n).map(Some);
        }
        Ok(None)
    }
}

/// `w` (read from `path`) served with the `--batch` and `--context` overrides given; a value
/// the workload refuses is blamed on the flag that set it, else on the file.
pub fn scenario(
    path: &Path,
    w: &Workload,
    batch: Option<u64>,
    context: Option<u64>,
) -> Result<Workload, Error> {
    w.with_scenario(batch, context).map_err(|e| {
        let flag = match e.field.as_str() {
            "scenario.batch" if batch.is_some() => Some("--batch"),
            "scenario.context" if context.is_some() => Some("--context"),
            _ => None,
        };
        match flag {
            Some(flag) => Error::Usage {
                flag: flag.to_owned(),
                reason: e.reason,
            },
            None => e.in_file(path),
        }
    })
}

/// A unit count given on the command line: at least one, and no more than one system of the
/// architecture's family can have.
fn units_allowed(arch: &Arch, flag: &str, n: u64) -> Result<u64, Error> {
    arch.machine.check_units(n).map_err(|reason| Error::Usage {
        flag: flag.to_owned(),
        reason,
    })?;
    Ok(n)
}

/// Load the named description, or every shipped one.
pub fn descriptions<T>(
    path: &Option<PathBuf>,
    load: fn(&Path) -> Result<T, Error>,
    presets: fn() -> Result<Described<T>, Error>,
) -> Result<Described<T>, Error> {
    match path {
        Some(p) => Ok(vec![(p.clone(), load(p)?)]),
        None => presets(),
    }
}

/// Parse a `--format` value.
pub fn format(name: &str) -> Result<Format, Error> {
    name.parse::<Format>().map_err(|e| Error::Usage {
        flag: "--format".to_owned(),
        reason: e.to_string(),
    })
}

/// The mapping parameters pinned on the command line, each checked against the family that
/// has it.
pub fn pins(
    arch: &Arch,
    tp: Option<u64>,
    tile_bytes: Option<u64>,
    kv_tokens_per_pe: Option<u64>,
    overlaid: Option<bool>,
) -> Result<Pins, Error> {
    let pins = Pins {
        tp,
        tile_bytes,
        kv_tokens_per_pe,
        overlaid,
    };
    pins.check(arch.machine.unit())
        .map_err(|(flag, reason)| Error::Usage {
            flag: flag.to_owned(),
            reason: format!("architecture `{}`: {reason}", arch.name),
        })?;
    Ok(pins)
}
