//! Sweep settings applied to an architecture, a workload and run options. Each arch parameter
//! maps to one field per family; the changed architecture is validated again, so a point can
//! never run on a machine its description file could not describe.

use super::spec::Setting;
use crate::arch::{Arch, Machine};
use crate::describe::Validate;
use crate::error::Invalid;
use crate::mapping::Pins;
use crate::run::RunOptions;
use crate::workload::Workload;

/// Memory per unit of storage: TSP SRAM per chip, WSE SRAM per PE, GPU HBM per GPU [bytes].
pub fn memory_bytes(a: &Arch) -> u64 {
    match &a.machine {
        Machine::GroqTsp(m) => m.chip.mem.sram_bytes,
        Machine::CerebrasWse(m) => m.wafer.pe.sram_bytes,
        Machine::Gpu(m) => m.gpu.hbm_bytes,
    }
}

/// Core clock [Hz]; GPU descriptions have none (their model runs on a roofline).
pub fn clock_hz(a: &Arch) -> Option<f64> {
    match &a.machine {
        Machine::GroqTsp(m) => Some(m.chip.clock_hz),
        Machine::CerebrasWse(m) => Some(m.wafer.clock_hz),
        Machine::Gpu(_) => None,
    }
}

/// Link bandwidth per direction: TSP C2C link, WSE system I/O, GPU NVLink [bytes/s].
pub fn link_bytes_per_s(a: &Arch) -> f64 {
    match &a.machine {
        Machine::GroqTsp(m) => m.chip.c2c.link_bytes_per_s,
        Machine::CerebrasWse(m) => m.system.io_bytes_per_s,
        Machine::Gpu(m) => m.node.nvlink_bytes_per_s,
    }
}

/// Set the memory per unit. A TSP chip's SRAM is whole addresses in every MEM slice, so the
/// size must be a multiple of one address across all slices.
fn set_memory(a: &mut Arch, bytes: u64) -> Result<(), String> {
    match &mut a.machine {
        Machine::GroqTsp(m) => {
            let row = m.chip.slices() * m.chip.vector_bytes;
            if !bytes.is_multiple_of(row) {
                return Err(format!(
                    "{bytes} is not a whole number of addresses: a TSP chip's SRAM is a multiple of slices x vector_bytes = {row} bytes"
                ));
            }
            m.chip.mem.addresses_per_slice = bytes / row;
            m.chip.mem.sram_bytes = bytes;
        }
        Machine::CerebrasWse(m) => m.wafer.pe.sram_bytes = bytes,
        Machine::Gpu(m) => m.gpu.hbm_bytes = bytes,
    }
    Ok(())
}

fn set_clock(a: &mut Arch, hz: f64) -> Result<(), String> {
    match &mut a.machine {
        Machine::GroqTsp(m) => m.chip.clock_hz = hz,
        Machine::CerebrasWse(m) => m.wafer.clock_hz = hz,
        Machine::Gpu(_) => {
            return Err(format!(
                "`{}` has no clock to sweep (the GPU model is a roofline)",
                a.name
            ));
        }
    }
    Ok(())
}

fn set_link(a: &mut Arch, bytes_per_s: f64) {
    match &mut a.machine {
        Machine::GroqTsp(m) => m.chip.c2c.link_bytes_per_s = bytes_per_s,
        Machine::CerebrasWse(m) => m.system.io_bytes_per_s = bytes_per_s,
        Machine::Gpu(m) => m.node.nvlink_bytes_per_s = bytes_per_s,
    }
}

/// Pin one mapping parameter of `job`; refused when its architecture's family has no such
/// parameter.
fn pin(job: &mut Job, set: impl FnOnce(&mut Pins)) -> Result<(), String> {
    set(&mut job.opts.pins);
    job.opts
        .pins
        .check(job.arch.machine.unit())
        .map_err(|(_, reason)| reason)
}

/// What one point runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub arch: Arch,
    pub workload: Workload,
    pub opts: RunOptions,
}

/// Apply `settings` (each with the spec field it came from) to a copy of the base job; any
/// resulting description that fails validation is reported at the setting's field.
pub fn apply(base: &Job, settings: &[(String, Setting)]) -> Result<Job, Invalid> {
    let mut job = base.clone();
    let (mut batch, mut context) = (None, None);
    for (field, s) in settings {
        let changed = match *s {
            Setting::Units(n) => {
                job.opts.units = Some(n);
                base.arch.machine.check_units(n)
            }
            Setting::Format(f) => {
                job.opts.format = f;
                continue;
            }
            Setting::Batch(b) => {
                batch = Some(b);
                continue;
            }
            Setting::Context(c) => {
                context = Some(c);
                continue;
            }
            Setting::Tp(n) => pin(&mut job, |p| p.tp = Some(n)),
            Setting::TileBytes(n) => pin(&mut job, |p| p.tile_bytes = Some(n)),
            Setting::KvTokensPerPe(n) => pin(&mut job, |p| p.kv_tokens_per_pe = Some(n)),
            Setting::Overlaid(b) => pin(&mut job, |p| p.overlaid = Some(b)),
            Setting::MemoryBytes(b) => set_memory(&mut job.arch, b),
            Setting::ClockHz(hz) => set_clock(&mut job.arch, hz),
            Setting::LinkBytesPerS(bw) => {
                set_link(&mut job.arch, bw);
                Ok(())
            }
        };
        changed
            .and_then(|()| {
                job.arch
                    .validate()
                    .map_err(|e| format!("makes architecture `{}` invalid: {e}", base.arch.name))
            })
            .map_err(|reason| Invalid::new(field.clone(), reason))?;
    }
    job.workload = job.workload.with_scenario(batch, context).map_err(|e| {
        let field = settings
            .iter()
            .find(|(_, s)| matches!(s, Setting::Batch(_) | Setting::Context(_)))
            .map_or_else(String::new, |(f, _)| f.clone());
        Invalid::new(
            field,
            format!("makes workload `{}` invalid: {e}", base.workload.name),
        )
    })?;
    Ok(job)
}
