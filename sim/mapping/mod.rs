//! The interface between the machine-independent stages and the machine families: the placement
//! a family's mapper returns, the options a simulation runs under and the timing it returns.
//! Families depend on this module; `fit` and `run` sit above both and call the families through
//! `machines`.

mod placement;
mod search;
mod timing;

pub use placement::{Placement, UnitLoad, verdict};
pub use search::{Candidate, MappingParams, Objective, Pins};
pub use timing::{Fidelity, PartTime, SimOptions, Timing, UnitBusy};
