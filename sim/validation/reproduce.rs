//! For a published point the model misses: which value of each estimated input would reproduce
//! it. Each field listed in the arch's `estimated` is scaled by a factor in
//! [`1/RANGE`, `RANGE`] (every number under it, as [`arch::vary::scaled`] does) and the factor
//! that hits the published value is found by false position (Illinois) on the logarithm of the
//! ratio predicted / published. Every variant searches its mapping again, as the prediction it
//! stands for would (holding the mapping of the run as estimated would cost a fifth as much on
//! a 405B wafer point, but answers another question). Whether the value found is physically
//! plausible is for a human to judge; the numbers are printed for that.

use super::Metric;
use crate::arch::vary;
use crate::run::RunRecord;
use crate::sweep::Job;
use rayon::prelude::*;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The widest factor searched either way.
pub const RANGE: f64 = 16.0;

/// Steps of false position at most: bisection would bring an interval of log2(RANGE) = 4 within
/// 4 / 2^7 of the answer (a factor within about 2%) in as many; false position on the smooth
/// curves of most fields gets there in fewer.
const STEPS: usize = 7;

/// A variant this close to the published value (relative) is the answer. Not looser: where the
/// prediction barely moves with a field, a variant within 1% of the point can sit far from the
/// value that reproduces it (31 cycles of MXM latency for 48 on a small TSP case).
const CLOSE: f64 = 1e-6;

/// An interval of exponents (log2 of the factor) this narrow is as close as the search goes.
const NARROW: f64 = 4.0 / (1u64 << STEPS) as f64;

/// The closest variant reproduces the point when its prediction is this close (relative); one
/// further off sits at a step of the prediction (a wafer more or fewer, an integer field's
/// jump), and no value of the field reproduces the point.
pub const MATCH: f64 = 0.05;

/// What one estimated input would have to be to reproduce one published point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reproduction {
    /// Dotted path of the estimated field.
    pub field: String,
    /// Its value in the arch file (`null` for a composite field such as a list of levels).
    pub estimate: Option<f64>,
    /// The factor on the estimate that reproduces the point (`null`: none in range).
    pub factor: Option<f64>,
    /// The field's value at that factor (integers rounded; `null` for a composite field).
    pub value: Option<f64>,
    /// Smallest and largest prediction seen over the factors tried (`null`: no variant ran).
    pub reach: Option<[f64; 2]>,
    /// Where no value reproduces the point although the prediction crosses it: the factor of
    /// the closest variant and its prediction, more than [`MATCH`] off (the prediction steps
    /// across the point there).
    pub step: Option<[f64; 2]>,
}

/// Decode tokens/s and time to first token of one variant (`None`: invalid, no fit, failed).
type Predicted = Option<(Option<f64>, Option<f64>)>;

/// One (job, field) pair's runs, memoized by factor.
struct Variants<'a> {
    job: &'a Job,
    field: &'a str,
    runs: RefCell<BTreeMap<u64, Predicted>>,
    /// Told of every variant about to run (`point: field x factor`).
    progress: (&'a str, &'a (dyn Fn(&str) + Sync)),
}

/// What the search needs of a run.
fn predicted(r: &RunRecord) -> Predicted {
    r.fits.then_some((r.decode_tokens_per_s, r.ttft_s))
}

impl Variants<'_> {
    fn predicted(&self, factor: f64) -> Predicted {
        if let Some(p) = self.runs.borrow().get(&factor.to_bits()) {
            return *p;
        }
        let (point, progress) = self.progress;
        progress(&format!("{point}: {} x{factor:.3}", self.field));
        let p = vary::scaled(&self.job.arch, self.field, factor)
            .ok()
            .and_then(|arch| {
                let job = Job {
                    arch,
                    ..self.job.clone()
                };
                super::run_job(&job).ok()
            })
            .and_then(|r| predicted(&r));
        self.runs.borrow_mut().insert(factor.to_bits(), p);
        p
    }

    fn metric(&self, factor: f64, m: Metric) -> Option<f64> {
        let (decode, ttft) = self.predicted(factor)?;
        match m {
            Metric::DecodeTokensPerSUser => decode,
            Metric::TimeToFirstTokenS => ttft,
        }
        .filter(|v| v.is_finite() && *v > 0.0)
    }

    /// log(predicted / published) at `2^e` times the estimate.
    fn gap(&self, e: f64, m: Metric, published: f64) -> Option<f64> {
        self.metric(e.exp2(), m).map(|v| (v / published).ln())
    }

    /// Between exponents `a` and `b`, whose gaps `ga` and `gb` differ in sign, the exponent
    /// tried that came closest, by false position with the Illinois rule (the retained end's
    /// gap halved when the same end is kept twice, so a curved or stepped gap still closes in).
    /// Integer fields move in steps, so the closest variant run, not the last estimate, is the
    /// answer.
    fn close_in(&self, a: (f64, f64), b: (f64, f64), m: Metric, published: f64) -> f64 {
        let ((mut a, mut ga), (mut b, mut gb)) = (a, b);
        let mut best = if ga.abs() <= gb.abs() {
            (a, ga)
        } else {
            (b, gb)
        };
        let close = (1.0 + CLOSE).ln();
        for _ in 0..STEPS {
            if best.1.abs() <= close || (b - a).abs() <= NARROW {
                break;
            }
            let c = (a * gb - b * ga) / (gb - ga);
            // A variant between two that run should run too; stop at what is known.
            let Some(gc) = self.gap(c, m, published) else {
                break;
            };
            if gc.abs() < best.1.abs() {
                best = (c, gc);
            }
            if gc.signum() == gb.signum() {
                ga /= 2.0;
            } else {
                (a, ga) = (b, gb);
            }
            (b, gb) = (c, gc);
        }
        best.0
    }

    /// The exponent on one side (`side` = 1 above the estimate, -1 below) that reproduces the
    /// point. When the estimate and the far end both run, the answer lies between them if the
    /// gap changes sign (one run per side for most fields); otherwise a ladder of factors
    /// 2^(far/8, far/4, far/2, far) finds the first bracket whose ends both run.
    fn side(&self, side: f64, m: Metric, published: f64) -> Option<f64> {
        let far = side * RANGE.log2();
        let here = self.gap(0.0, m, published);
        if let (Some(g0), Some(gf)) = (here, self.gap(far, m, published)) {
            return (g0.signum() != gf.signum())
                .then(|| self.close_in((0.0, g0), (far, gf), m, published));
        }
        let ladder: Vec<(f64, Option<f64>)> = [0.0, 0.125, 0.25, 0.5, 1.0]
            .iter()
            .map(|&k| (k * far, self.gap(k * far, m, published)))
            .collect();
        ladder.windows(2).find_map(|w| match (w[0], w[1]) {
            ((a, Some(ga)), (b, Some(gb))) if ga.signum() != gb.signum() => {
                Some(self.close_in((a, ga), (b, gb), m, published))
            }
            _ => None,
        })
    }

    fn reproduce(&self, m: Metric, published: f64) -> Reproduction {
        let found = [self.side(-1.0, m, published), self.side(1.0, m, published)]
            .into_iter()
            .flatten()
            .min_by(|a, b| a.abs().total_cmp(&b.abs()))
            .map(f64::exp2);
        let closest = found.and_then(|f| Some([f, self.metric(f, m)?]));
        let (factor, step) = verdict(closest, published);
        let tried: Vec<u64> = self.runs.borrow().keys().copied().collect();
        let seen: Vec<f64> = tried
            .into_iter()
            .filter_map(|bits| self.metric(f64::from_bits(bits), m))
            .collect();
        let reach = (!seen.is_empty()).then(|| {
            let lo = seen.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = seen.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            [lo, hi]
        });
        Reproduction {
            field: self.field.to_owned(),
            estimate: vary::value_at(&self.job.arch, self.field),
            factor,
            value: factor
                .and_then(|f| vary::scaled(&self.job.arch, self.field, f).ok())
                .and_then(|a| vary::value_at(&a, self.field)),
            reach,
            step,
        }
    }
}

/// The factor that reproduces `published`, or where the prediction steps across it, from the
/// closest variant run `[factor, prediction]`.
fn verdict(closest: Option<[f64; 2]>, published: f64) -> (Option<f64>, Option<[f64; 2]>) {
    match closest {
        Some([f, p]) if (p / published - 1.0).abs() <= MATCH => (Some(f), None),
        _ => (None, closest),
    }
}

/// For each missed point `(job index, metric, published)`, one [`Reproduction`] per estimated
/// field of its job's architecture, in the arch file's order; `base` holds each job's run as
/// estimated. The points of one job (405B's decode speed and time to first token are one run)
/// share their variant runs, field by field: a variant timed for one metric answers the other,
/// so the far ends of each field's range run once for both. Fields (of every job) are searched
/// in parallel, the points of one field one after another; each variant of a 405B-class job
/// holds gigabytes, so as many run at once as there are threads. A job's variants time only
/// what its missed metrics need (decode speeds alone skip the prefill). `progress` hears of
/// every variant run. The result does not depend on the thread count.
pub fn search(
    jobs: &[&Job],
    base: &[Result<RunRecord, String>],
    missed: &[(usize, Metric, f64)],
    progress: &(dyn Fn(&str) + Sync),
) -> Vec<Vec<Reproduction>> {
    let mut points: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &(k, _, _)) in missed.iter().enumerate() {
        points.entry(k).or_default().push(i);
    }
    // Each job as its variants run it, with its run as estimated.
    let prepared: BTreeMap<usize, (Job, Predicted)> = (points.iter())
        .map(|(&k, mine)| {
            let mut job = jobs[k].clone();
            job.opts.decode_only =
                (mine.iter()).all(|&i| missed[i].1 == Metric::DecodeTokensPerSUser);
            (k, (job, base[k].as_ref().ok().and_then(predicted)))
        })
        .collect();
    let fields: Vec<(usize, &String)> = (points.keys())
        .flat_map(|&k| jobs[k].arch.estimated.iter().map(move |f| (k, f)))
        .collect();
    let found: Vec<Vec<(usize, Reproduction)>> = fields
        .par_iter()
        .map(|&(k, field)| {
            let (mine, (job, known)) = (&points[&k], &prepared[&k]);
            let v = Variants {
                job,
                field,
                runs: RefCell::new(BTreeMap::from([(1f64.to_bits(), *known)])),
                progress: (&job.workload.name, progress),
            };
            (mine.iter())
                .map(|&i| (i, v.reproduce(missed[i].1, missed[i].2)))
                .collect()
        })
        .collect();
    // Fields were listed job by job in the arch file's order, so each point's come in order.
    let mut out = vec![Vec::new(); missed.len()];
    for (i, r) in found.into_iter().flatten() {
        out[i].push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_far_from_the_point_is_a_step_not_a_reproduction() {
        // 405B's time to first token with 4x the buffer bytes: 42 wafers instead of 26 and
        // 0.374 s where 0.24 s was published; no buffer size in between gives 0.24 s.
        assert_eq!(
            verdict(Some([4.0, 0.374]), 0.24),
            (None, Some([4.0, 0.374]))
        );
        assert_eq!(verdict(Some([5.19, 969.5]), 969.0), (Some(5.19), None));
        assert_eq!(verdict(None, 969.0), (None, None));
    }
}
