//! Steps and prefills already measured at the fast fidelity, so that runs whose wafer programs are identical
//! are simulated once.
//!
//! A layout only uses the wafers it needs ([`Plan::wafers_used`]), so asking for more wafers than
//! that gives the same plan and the same step: a sweep over wafer counts repeats it for every
//! count past the fewest (most of the shipped and benchmark grids). A step is a function of the
//! machine, the workload and the plan alone, and a plan of the machine, the workload, how far tiles may fill a PE (the spread) and how its
//! layers are arranged (the wafers given only decide which arrangement fits; tested), so reusing
//! it changes no number. Keys are those small inputs, not the plans (megabytes each).

use super::layout::{Arrangement, Plan};
use super::place::Spread;
use crate::arch::WseSystem;
use crate::workload::Workload;
use std::sync::Mutex;

/// Steps kept: enough for a sweep whose wafer counts vary slowest over a few hundred points.
const KEPT: usize = 512;

/// What a decode step measured, whichever the fidelity, without its trace (fast runs asking
/// for one are not memoized).
#[derive(Clone, Debug)]
pub struct Counts {
    pub end: u64,
    pub part_end: Vec<u64>,
    pub pe_busy: u64,
    pub fabric_wavelets: u64,
    pub io_wavelets: u64,
}

type Entry<V> = (WseSystem, Workload, (Arrangement, u32, Spread), V);

static STEPS: Mutex<Vec<Entry<Counts>>> = Mutex::new(Vec::new());

/// Prefill cycles (`prefill::cycles`) already measured at the fast fidelity.
static PREFILLS: Mutex<Vec<Entry<u64>>> = Mutex::new(Vec::new());

/// The decode step of `plan`, from an earlier run with the same inputs or from `measure`.
pub fn step<E>(
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
    measure: impl FnOnce() -> Result<Counts, E>,
) -> Result<Counts, E> {
    remembered(&STEPS, m, w, plan, measure)
}

/// The prefill of `plan`'s prompt, from an earlier run with the same inputs or from `measure`.
pub fn prefill<E>(
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
    measure: impl FnOnce() -> Result<u64, E>,
) -> Result<u64, E> {
    remembered(&PREFILLS, m, w, plan, measure)
}

/// Decode steps the mapping search abandoned part way, with the part and the cycles they take
/// at least: a later search whose best already beats that abandons them unsimulated (a sweep
/// over wafer counts weighs the same losing plans at every count).
static ABANDONED: Mutex<Vec<Entry<(usize, u64)>>> = Mutex::new(Vec::new());

/// What an earlier search learnt of `plan`'s step when it abandoned it.
pub fn abandoned(m: &WseSystem, w: &Workload, plan: &Plan) -> Option<(usize, u64)> {
    recall(&ABANDONED, m, w, plan)
}

/// Keep that `plan`'s step was abandoned at `part`, taking at least `at_least` cycles.
pub fn abandon(m: &WseSystem, w: &Workload, plan: &Plan, (part, at_least): (usize, u64)) {
    let mut kept = ABANDONED.lock().unwrap_or_else(|e| e.into_inner());
    match find(&kept, m, w, plan) {
        Some(i) if kept[i].3.1 < at_least => kept[i].3 = (part, at_least),
        Some(_) => {}
        None => keep(&mut kept, m, w, plan, (part, at_least)),
    }
}

/// The key of `plan`'s entries.
fn key(plan: &Plan) -> (Arrangement, u32, Spread) {
    (plan.arrangement, plan.wafers_used, plan.spread)
}

/// Where `kept` holds `plan`'s entry.
fn find<V>(kept: &[Entry<V>], m: &WseSystem, w: &Workload, plan: &Plan) -> Option<usize> {
    let key = key(plan);
    (kept.iter()).position(|(em, ew, k, _)| *k == key && ew == w && em == m)
}

fn recall<V: Clone>(
    store: &Mutex<Vec<Entry<V>>>,
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
) -> Option<V> {
    let kept = store.lock().unwrap_or_else(|e| e.into_inner());
    find(&kept, m, w, plan).map(|i| kept[i].3.clone())
}

/// Add `plan`'s entry, dropping the oldest when [`KEPT`] are kept.
fn keep<V>(kept: &mut Vec<Entry<V>>, m: &WseSystem, w: &Workload, plan: &Plan, value: V) {
    if kept.len() == KEPT {
        kept.remove(0);
    }
    kept.push((m.clone(), w.clone(), key(plan), value));
}

fn remembered<V: Clone, E>(
    store: &Mutex<Vec<Entry<V>>>,
    m: &WseSystem,
    w: &Workload,
    plan: &Plan,
    measure: impl FnOnce() -> Result<V, E>,
) -> Result<V, E> {
    if let Some(s) = recall(store, m, w, plan) {
        return Ok(s);
    }
    let s = measure()?;
    let mut kept = store.lock().unwrap_or_else(|e| e.into_inner());
    if find(&kept, m, w, plan).is_none() {
        keep(&mut kept, m, w, plan, s.clone());
    }
    Ok(s)
}
