//! Speed of `accsim fit`: every shipped architecture x workload x format (the `accsim fit`
//! default, 144 records) must take well under a second.

use accsim::{arch, fit, quant::Format, workload};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn all_pairs(c: &mut Criterion) {
    let archs = arch::presets().expect("shipped architectures load");
    let workloads = workload::presets().expect("shipped workloads load");
    c.bench_function("fit all shipped pairs x formats", |b| {
        b.iter(|| {
            let mut n = 0;
            for (_, a) in &archs {
                for (_, w) in &workloads {
                    for f in Format::ALL {
                        n += black_box(fit::fit(a, w, f, None)).params;
                    }
                }
            }
            n
        })
    });
}

criterion_group! {
    name = benches;
    // No plots: the host may have no fonts, and criterion panics drawing without them.
    config = Criterion::default().sample_size(10).without_plots();
    targets = all_pairs
}
criterion_main!(benches);
