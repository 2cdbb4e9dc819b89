//! Axes: the range and the ticks of a quantity, chosen once for every figure. A quantity that
//! spans decades goes on a log axis with ticks at powers of ten (drawn in log10 space, so every
//! chart works in plain linear coordinates); counts get whole-number ticks; an axis a ratio is
//! read from starts at zero; a flat series keeps a minimum span instead of magnifying noise.

/// How values map onto an axis.
#[derive(Clone, Debug, PartialEq)]
pub enum Scale {
    /// Linear; `integer` ticks are whole numbers (counts), `zero` includes 0 in the range.
    Linear { integer: bool, zero: bool },
    /// Powers of ten.
    Log,
    /// Named categories at positions 0, 1, ... (one slot each).
    Category(Vec<String>),
}

/// A titled axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub title: String,
    pub scale: Scale,
}

impl Axis {
    /// A linear axis of a measured quantity (not forced to zero).
    pub fn linear(title: impl Into<String>) -> Self {
        Axis {
            title: title.into(),
            scale: Scale::Linear {
                integer: false,
                zero: false,
            },
        }
    }

    /// A linear axis starting at zero (a ratio or a rate is read off it).
    pub fn from_zero(title: impl Into<String>) -> Self {
        Axis {
            title: title.into(),
            scale: Scale::Linear {
                integer: false,
                zero: true,
            },
        }
    }

    /// A count: whole-number ticks.
    pub fn count(title: impl Into<String>) -> Self {
        Axis {
            title: title.into(),
            scale: Scale::Linear {
                integer: true,
                zero: false,
            },
        }
    }

    /// A log axis.
    pub fn log(title: impl Into<String>) -> Self {
        Axis {
            title: title.into(),
            scale: Scale::Log,
        }
    }

    /// A category axis.
    pub fn category(title: impl Into<String>, names: Vec<String>) -> Self {
        Axis {
            title: title.into(),
            scale: Scale::Category(names),
        }
    }

    /// A value's position on the axis (log10 on a log axis; `None` when it cannot be drawn).
    pub fn at(&self, v: f64) -> Option<f64> {
        match self.scale {
            Scale::Log => (v > 0.0 && v.is_finite()).then(|| v.log10()),
            _ => v.is_finite().then_some(v),
        }
    }

    /// Range and ticks for `values` (in data units).
    pub fn ticks(&self, values: &[f64]) -> Ticks {
        match &self.scale {
            Scale::Category(names) => Ticks {
                lo: -0.5,
                hi: names.len().max(1) as f64 - 0.5,
                at: (0..names.len())
                    .map(|i| (i as f64, names[i].clone()))
                    .collect(),
            },
            Scale::Log => log_ticks(values),
            Scale::Linear { integer, zero } => linear_ticks(values, *integer, *zero),
        }
    }
}

/// An axis's range and labelled tick positions, in plot coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticks {
    pub lo: f64,
    pub hi: f64,
    pub at: Vec<(f64, String)>,
}

/// Smallest span of a linear axis, as a fraction of the largest magnitude shown: a series
/// that varies by less is drawn flat.
const MIN_SPAN: f64 = 0.2;

fn finite_range(values: &[f64], keep: impl Fn(f64) -> bool) -> Option<(f64, f64)> {
    values
        .iter()
        .copied()
        .filter(|v| v.is_finite() && keep(*v))
        .fold(None, |r, v| match r {
            None => Some((v, v)),
            Some((a, b)) => Some((a.min(v), b.max(v))),
        })
}

/// A "nice" step (1, 2 or 5 times a power of ten) giving about `n` intervals over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = span / n;
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// Decimals that show a step exactly (no more).
fn decimals(step: f64) -> usize {
    (0..6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6) as usize
}

fn linear_ticks(values: &[f64], integer: bool, zero: bool) -> Ticks {
    let (mut a, mut b) = finite_range(values, |_| true).unwrap_or((0.0, 1.0));
    if zero {
        (a, b) = (a.min(0.0), b.max(0.0));
    }
    let min_span = (MIN_SPAN * a.abs().max(b.abs())).max(if integer { 2.0 } else { 1e-12 });
    if b - a < min_span {
        let mid = (a + b) / 2.0;
        (a, b) = (mid - min_span / 2.0, mid + min_span / 2.0);
        if zero && a < 0.0 && values.iter().all(|v| *v >= 0.0) {
            (a, b) = (0.0, b - a);
        }
    }
    let mut step = nice_step(b - a, 5.0);
    if integer {
        step = step.max(1.0).round();
    }
    let (lo, hi) = ((a / step).floor() * step, (b / step).ceil() * step);
    let d = if integer { 0 } else { decimals(step) };
    let n = ((hi - lo) / step).round() as i64;
    let at = (0..=n)
        .map(|i| {
            let v = lo + i as f64 * step;
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            (v, format!("{v:.d$}"))
        })
        .collect();
    Ticks { lo, hi, at }
}

/// `10` to the power `k`, written with superscript digits.
pub fn power_of_ten(k: i32) -> String {
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits: String = k
        .unsigned_abs()
        .to_string()
        .bytes()
        .map(|c| SUP[usize::from(c - b'0')])
        .collect();
    format!("10{}{digits}", if k < 0 { "⁻" } else { "" })
}

fn log_ticks(values: &[f64]) -> Ticks {
    let (a, b) = finite_range(values, |v| v > 0.0).unwrap_or((1.0, 10.0));
    let (mut lo, mut hi) = (a.log10().floor() as i32, b.log10().ceil() as i32);
    if hi <= lo {
        hi = lo + 1;
    }
    if hi - lo > 12 {
        lo = hi - 12;
    }
    let every = ((hi - lo) as f64 / 6.0).ceil().max(1.0) as i32;
    let mut at: Vec<(f64, String)> = (lo..=hi)
        .filter(|k| (k - lo) % every == 0)
        .map(|k| (f64::from(k), power_of_ten(k)))
        .collect();
    if hi - lo <= 2 {
        // Within two decades, 2x and 5x ticks say where a value lies.
        for k in lo..hi {
            for m in [2.0, 5.0] {
                let v = m * 10f64.powi(k);
                let text = if k >= 0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.*}", (-k) as usize)
                };
                at.push((v.log10(), text));
            }
        }
        at.sort_by(|x, y| x.0.total_cmp(&y.0));
    }
    Ticks {
        lo: f64::from(lo),
        hi: f64::from(hi),
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(t: &Ticks) -> Vec<&str> {
        t.at.iter().map(|(_, s)| s.as_str()).collect()
    }

    #[test]
    fn a_flat_series_is_drawn_flat_on_a_zero_based_axis() {
        let t = Axis::from_zero("tokens/s").ticks(&[21.326, 21.336]);
        assert_eq!(t.lo, 0.0);
        assert!(t.hi >= 21.336 && t.hi <= 30.0, "{t:?}");
        let t = Axis::linear("x").ticks(&[21.326, 21.336]);
        assert!(t.hi - t.lo >= 4.0, "a flat series keeps a 20% span: {t:?}");
    }

    #[test]
    fn counts_get_whole_number_ticks() {
        let t = Axis::count("wafers").ticks(&[6.0, 8.0]);
        assert!(labels(&t).iter().all(|l| !l.contains('.')), "{t:?}");
        let t = Axis::count("chips").ticks(&[160.0, 576.0]);
        assert_eq!(labels(&t), ["100", "200", "300", "400", "500", "600"]);
    }

    #[test]
    fn decades_get_powers_of_ten() {
        let t = Axis::log("ops/s").ticks(&[3e12, 4e16]);
        assert_eq!(t.lo, 12.0);
        assert_eq!(t.hi, 17.0);
        assert_eq!(labels(&t)[0], "10¹²");
        assert_eq!(power_of_ten(-3), "10⁻³");
        let t = Axis::log("ppl").ticks(&[4.19, 18.2]);
        assert_eq!(labels(&t), ["10⁰", "2", "5", "10¹", "20", "50", "10²"]);
    }

    #[test]
    fn tick_labels_carry_only_the_decimals_of_the_step() {
        let t = Axis::linear("bits").ticks(&[3.5, 16.0]);
        assert!(labels(&t).iter().all(|l| !l.contains('.')), "{t:?}");
        let t = Axis::linear("x").ticks(&[0.1, 0.35]);
        assert!(labels(&t).contains(&"0.25") || labels(&t).contains(&"0.2"));
    }
}
