//! Speed of `accsim sweep`: a 1,000-point grid (10 unit counts x 5 batches x 5 contexts x 4
//! formats) of fast-mode runs per family must take well under 60 s on 2 cores. A family whose
//! machine model is not built yet records its error per point, and is measured as it is.

use accsim::sweep::{self, Spec};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

/// A 1,000-point spec on `arch` with these unit counts.
fn spec(arch: &str, units: &str) -> Spec {
    let text = format!(
        r#"Sweep(
            arch: "{arch}",
            workload: "llama2-70b",
            grid: [
                Units([{units}]),
                Batch([1, 2, 4, 8, 16]),
                Context([2560, 3072, 3584, 4000, 4096]),
                Format(["f16", "int8", "int4-g128", "q3.5"]),
            ],
        )"#
    );
    accsim::describe::parse(Path::new("bench.ron"), &text).expect("bench spec is valid")
}

fn thousand_points(c: &mut Criterion) {
    let families = [
        ("nvidia-h100", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
        (
            "groq-tsp",
            "160, 192, 224, 256, 288, 320, 384, 448, 512, 576",
        ),
        ("cerebras-wse3", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
    ];
    let mut group = c.benchmark_group("sweep 1000 fast-mode points");
    group.sample_size(10);
    for (arch, units) in families {
        let s = spec(arch, units);
        let prepared =
            sweep::prepare(Path::new("bench.ron"), &s, None).expect("bench spec prepares");
        assert_eq!(prepared.jobs.len(), 1000);
        group.bench_function(arch, |b| {
            b.iter(|| black_box(sweep::run(&prepared, &|| ())).len())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Criterion's own plots ask for a system font, which the embedded-font plotters build lacks.
    config = Criterion::default().without_plots();
    targets = thousand_points
}
criterion_main!(benches);
