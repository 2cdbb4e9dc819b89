//! The source documents' claims about memory, and how each is judged from a fit record.

use super::FitRecord;
use crate::arch::Unit;
use crate::quant::Format;
use serde::Serialize;

/// A claim judged against what accsim computed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The claim, as the source documents state it.
    pub claim: String,
    /// The claimed figure.
    pub claimed: f64,
    /// accsim's figure for the same quantity.
    pub measured: f64,
    /// Unit of both figures.
    pub unit: &'static str,
    /// Whether the claim holds by the stated criterion.
    pub holds: bool,
    /// The criterion, in words.
    pub criterion: String,
}

/// A size quoted to three significant figures holds if accsim's figure is within 1% of it.
const SIZE_TOLERANCE: f64 = 0.01;
/// Fraction of a wafer that must stay free for "fits with headroom".
const HEADROOM: f64 = 0.10;
/// Groq's published LLaMA-2-70B deployment size [chips].
const GROQ_DEPLOYMENT_CHIPS: u64 = 576;

/// Model-size class of a parameter count, as the source documents name models.
fn size_class(params: u64) -> Option<&'static str> {
    match params {
        60_000_000_000..=80_000_000_000 => Some("70B"),
        380_000_000_000..=430_000_000_000 => Some("405B"),
        _ => None,
    }
}

fn size_claim(claim: &str, claimed_gb: f64, measured_bytes: u64) -> Verdict {
    let measured = measured_bytes as f64 / 1e9;
    Verdict {
        claim: claim.to_owned(),
        claimed: claimed_gb,
        measured,
        unit: "GB",
        holds: (measured - claimed_gb).abs() <= SIZE_TOLERANCE * claimed_gb,
        criterion: format!("within {}% of the claimed size", SIZE_TOLERANCE * 100.0),
    }
}

/// The claims that concern `r` (the source documents' claims are about their 3.5-bit format,
/// so only `q3.5` records are judged). `int4_weight_bytes` is the same workload's weight bytes
/// in `int4-g128`, for the claim comparing the two.
pub fn judge(r: &FitRecord, int4_weight_bytes: u64) -> Vec<Verdict> {
    if r.format != Format::Q35 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let p = &r.placement;
    match (size_class(r.params), r.placement.unit) {
        (Some("70B"), unit) => {
            out.push(size_claim(
                "LLaMA-70B at 3.5 bits takes 30.6 GB",
                30.6,
                r.weight_bytes,
            ));
            let saving = 100.0 * (1.0 - r.weight_bytes as f64 / int4_weight_bytes as f64);
            out.push(Verdict {
                claim: "3.5 bits is 12.5% smaller than INT4".to_owned(),
                claimed: 12.5,
                measured: saving,
                unit: "%",
                holds: (saving - 12.5).abs() <= 1.0,
                criterion: "weight bytes vs int4-g128 within 1 percentage point of the claim"
                    .to_owned(),
            });
            match unit {
                Unit::Wafer => {
                    let free = p.units.first().map_or(0.0, |u| 1.0 - u.occupancy());
                    out.push(Verdict {
                        claim: "LLaMA-70B fits one wafer with headroom".to_owned(),
                        claimed: 1.0,
                        measured: p.units_needed.map_or(f64::INFINITY, |n| n as f64),
                        unit: "wafers",
                        holds: p.units_needed == Some(1) && free >= HEADROOM,
                        criterion: format!(
                            "one wafer, at least {}% of its PEs free (free: {:.1}%)",
                            HEADROOM * 100.0,
                            free * 100.0
                        ),
                    });
                }
                Unit::Chip => out.push(Verdict {
                    claim: "30.6 GB fits comfortably in a Groq LPU configuration".to_owned(),
                    claimed: GROQ_DEPLOYMENT_CHIPS as f64,
                    measured: p.units_needed.map_or(f64::INFINITY, |n| n as f64),
                    unit: "chips",
                    holds: p.units_needed.is_some_and(|n| n <= GROQ_DEPLOYMENT_CHIPS),
                    criterion: format!(
                        "fits within Groq's published {GROQ_DEPLOYMENT_CHIPS}-chip LLaMA-2-70B deployment"
                    ),
                }),
                Unit::Gpu => {}
            }
        }
        (Some("405B"), unit) => {
            out.push(size_claim(
                "LLaMA-405B at 3.5 bits takes 177 GB",
                177.0,
                r.weight_bytes,
            ));
            if unit == Unit::Wafer {
                out.push(Verdict {
                    claim: "LLaMA-405B fits entirely in the SRAM of 5 wafers".to_owned(),
                    claimed: 5.0,
                    measured: p.units_needed.map_or(f64::INFINITY, |n| n as f64),
                    unit: "wafers",
                    holds: p.units_needed.is_some_and(|n| n <= 5),
                    criterion: "weights, KV cache and buffers on at most 5 wafers".to_owned(),
                });
            }
        }
        _ => {}
    }
    out
}
