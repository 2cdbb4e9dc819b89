//! Event-queue throughput on the classic hold model: N events pending; each step pops the
//! earliest and schedules one at now + a random delay, so the queue size stays N.
//!
//! `hold/N` drives the bare [`EventQueue`]; `sim_hold/N` runs the same model through a
//! [`Simulator`] (one component rescheduling its own events), so the run loop's per-event cost
//! (dispatch, counters, the trace-off path) is included.
//!
//! Measured twice: wall time (criterion's default) and this thread's CPU time, which stays
//! meaningful on a host shared with other jobs ("events/s on one core").

use accsim::engine::{
    Clock, Component, Context, Cycle, EngineError, EventQueue, Label, Phase, SimBuilder, Simulator,
};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Duration;

/// Hold steps per measured iteration: long enough that the scheduler's CPU-time accounting
/// (updated every tick, a few ms) is a small error.
const STEPS: u64 = 1_000_000;
/// Delays are uniform in 1..=MAX_DELAY [cycles].
const MAX_DELAY: u64 = 1_000;
/// Where Linux reports a thread's time on a CPU [ns], first field.
const SCHEDSTAT: &str = "/proc/thread-self/schedstat";

fn filled(pending: usize, rng: &mut ChaCha8Rng) -> EventQueue<u64> {
    let mut q = EventQueue::with_capacity(pending + 1);
    for i in 0..pending as u64 {
        let phase = Phase::ALL[rng.random_range(0..4)];
        q.schedule(Cycle(rng.random_range(1..=MAX_DELAY)), phase, i)
            .expect("filling an empty queue cannot fail");
    }
    q
}

fn hold<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let mut group = c.benchmark_group(group);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(STEPS));
    for pending in [1_000usize, 10_000, 100_000] {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut q = filled(pending, &mut rng);
        group.bench_function(BenchmarkId::from_parameter(pending), |b| {
            b.iter(|| {
                for _ in 0..STEPS {
                    let ev = q.pop().expect("the hold model never drains");
                    let delay = rng.random_range(1..=MAX_DELAY);
                    let phase = Phase::ALL[(ev.payload & 3) as usize];
                    q.schedule_in(delay, phase, black_box(ev.payload))
                        .expect("a future delay is never in the past");
                }
            })
        });
    }
    group.finish();
}

/// Reschedules every event it gets to itself at now + a random delay, in the phase the event
/// carries.
struct Hold {
    rng: ChaCha8Rng,
}

impl Component<u64> for Hold {
    fn handle(&mut self, ev: u64, ctx: &mut Context<'_, u64>) -> Result<(), EngineError> {
        let delay = self.rng.random_range(1..=MAX_DELAY);
        ctx.send(ctx.id(), delay, Phase::ALL[(ev & 3) as usize], ev)
    }
}

/// A simulator holding `pending` events, whose budget ends the run after [`STEPS`] events.
fn hold_sim(pending: usize) -> Simulator<u64> {
    let mut b = SimBuilder::new(Clock::new(1_000_000_000).expect("1 GHz is a valid clock"))
        .event_budget(STEPS);
    let rng = ChaCha8Rng::seed_from_u64(7);
    let id = b
        .add(Label::new("chip", "hold"), Hold { rng })
        .expect("one component fits");
    let mut sim = b.build().expect("the only component is installed");
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    for i in 0..pending as u64 {
        let at = Cycle(rng.random_range(1..=MAX_DELAY));
        sim.schedule(id, at, Phase::ALL[rng.random_range(0..4)], i)
            .expect("filling an empty queue cannot fail");
    }
    sim
}

fn sim_hold<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let mut group = c.benchmark_group(group);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(STEPS));
    for pending in [1_000usize, 10_000, 100_000] {
        group.bench_function(BenchmarkId::from_parameter(pending), |b| {
            b.iter_batched(
                || hold_sim(pending),
                |mut sim| {
                    let stop = sim.run();
                    assert!(matches!(stop, Err(EngineError::EventBudget { .. })));
                    sim
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// CPU time of the measuring thread [ns], from the kernel's scheduler statistics.
struct CpuTime;

fn cpu_ns() -> u64 {
    std::fs::read_to_string(SCHEDSTAT)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Shows CPU time in ms and element throughput in M/s of CPU time.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms cpu"
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let Throughput::Elements(n) = *throughput else {
            return "ns cpu";
        };
        values.iter_mut().for_each(|v| *v = n as f64 * 1e3 / *v);
        "Melem/s cpu"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn wall(c: &mut Criterion<WallTime>) {
    hold(c, "hold");
    sim_hold(c, "sim_hold");
}

fn cpu(c: &mut Criterion<CpuTime>) {
    if cpu_ns() > 0 {
        hold(c, "hold_cpu");
        sim_hold(c, "sim_hold_cpu");
    }
}

// No plots: the host may have no fonts, and criterion panics drawing without them.
criterion_group! {
    name = wall_benches;
    config = Criterion::default().without_plots();
    targets = wall
}
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(CpuTime).without_plots();
    targets = cpu
}
criterion_main!(wall_benches, cpu_benches);
