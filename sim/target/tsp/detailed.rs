//! The detailed fidelity (being built).

use super::fast::StageRun;
use super::machine::Machine;
use super::program::Program;
use crate::engine::{EngineError, Trace};

/// Run every chip of every stage, vector by vector.
pub fn run(
    _m: &Machine,
    _progs: &[Program],
    _trace: bool,
) -> Result<(Vec<StageRun>, Option<Trace>), EngineError> {
    Err(EngineError::Model {
        component: "tsp".to_owned(),
        reason: "detailed fidelity is being built".to_owned(),
    })
}
