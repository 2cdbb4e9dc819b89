//! The Pareto front of a sweep: the timed points no other timed point beats on every objective.
//! Objectives: more aggregate tokens/s, fewer units, lower numerics error, less energy per token.
//! The numerics error counts only between two points that both computed it (it is off by
//! default in sweeps), so a point is never dominated by an accuracy nobody measured.

use super::Row;

/// The objectives of a row, each to be minimized; `None` when the row was not timed.
fn objectives(r: &Row) -> Option<[Option<f64>; 4]> {
    Some([
        Some(-r.tokens_per_s?),
        Some(r.units? as f64),
        r.rel_error,
        Some(r.energy_j_per_token?),
    ])
}

/// Whether `a` is at least as good as `b` everywhere and better somewhere.
fn dominates(a: &[Option<f64>; 4], b: &[Option<f64>; 4]) -> bool {
    let pairs = a
        .iter()
        .zip(b)
        .filter_map(|(x, y)| Some((x.as_ref()?, y.as_ref()?)));
    let mut better = false;
    for (x, y) in pairs {
        if x > y {
            return false;
        }
        better |= x < y;
    }
    better
}

/// Set `pareto` on every row: true for the non-dominated timed rows.
pub fn mark(rows: &mut [Row]) {
    let objs: Vec<_> = rows.iter().map(objectives).collect();
    for (i, row) in rows.iter_mut().enumerate() {
        row.pareto = objs[i]
            .as_ref()
            .is_some_and(|a| objs.iter().flatten().all(|b| !dominates(b, a)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmeasured_objectives_do_not_count() {
        let fast = [Some(-100.0), Some(8.0), None, Some(1.0)];
        let slow = [Some(-50.0), Some(8.0), Some(0.01), Some(2.0)];
        assert!(dominates(&fast, &slow));
        assert!(!dominates(&slow, &fast));
        let cheap = [Some(-50.0), Some(4.0), Some(0.01), Some(2.0)];
        assert!(!dominates(&fast, &cheap) && !dominates(&cheap, &fast));
        assert!(!dominates(&fast, &fast));
    }
}
