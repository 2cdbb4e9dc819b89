//! Event-queue throughput on the classic hold model: N events pending; each step pops the
//! earliest and schedules one at now + a random delay, so the queue size stays N.

use accsim::engine::{Cycle, EventQueue, Phase};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Duration;

/// Hold steps per measured iteration.
const STEPS: u64 = 100_000;
/// Delays are uniform in 1..=MAX_DELAY [cycles].
const MAX_DELAY: u64 = 1_000;

fn filled(pending: usize, rng: &mut ChaCha8Rng) -> EventQueue<u64> {
    let mut q = EventQueue::with_capacity(pending + 1);
    for i in 0..pending as u64 {
        let phase = Phase::ALL[rng.random_range(0..4)];
        q.schedule(Cycle(rng.random_range(1..=MAX_DELAY)), phase, i)
            .expect("filling an empty queue cannot fail");
    }
    q
}

fn hold(c: &mut Criterion) {
    let mut group = c.benchmark_group("hold");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(STEPS));
    for pending in [1_000usize, 100_000] {
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

criterion_group!(benches, hold);
criterion_main!(benches);
