//! Flags shared by the commands that pick descriptions, formats and unit counts.

use accsim::Error;
use accsim::arch::{Arch, Unit};
use accsim::describe::Described;
use accsim::quant::Format;
use accsim::workload::Workload;
use clap::Args;
use std::path::{Path, PathBuf};

/// How many units of the architecture's family to use.
#[derive(Args, Clone, Debug, Default)]
pub struct UnitFlags {
    /// Exactly this many TSP chips.
    #[arg(long, value_name = "N", group = "units")]
    pub chips: Option<u64>,
    /// Exactly this many WSE wafers.
    #[arg(long, value_name = "N", group = "units")]
    pub wafers: Option<u64>,
    /// Exactly this many GPUs.
    #[arg(long, value_name = "N", group = "units")]
    pub gpus: Option<u64>,
}

impl UnitFlags {
    /// The unit count the user gave, checked against the architecture's family.
    pub fn for_arch(&self, arch: &Arch) -> Result<Option<u64>, Error> {
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
            arch.machine.check_units(n).map_err(|reason| Error::Usage {
                flag: flag.to_owned(),
                reason,
            })?;
            return Ok(Some(n));
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
