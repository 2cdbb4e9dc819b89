//! Speed of the tokenizer on one long paragraph: the merge loop is O(n log n), so a 64 KB
//! paragraph must take well under a second (llama2.c's quadratic loop took over a minute), and
//! 16 KB about a quarter of that.

use accsim::model::Tokenizer;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

fn paragraph(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
    let tok = Tokenizer::from_llama2c(&root.join("models/stories260K/tok512.bin"))
        .expect("the shipped tokenizer loads");
    let text = std::fs::read_to_string(root.join("text/tinystories_valid_excerpt64k.txt"))
        .expect("the shipped text reads");
    // One paragraph: the whole excerpt with its line breaks as spaces.
    let one_line = text.replace('\n', " ");
    for kb in [16, 64] {
        let cut = (0..=kb * 1024)
            .rev()
            .find(|&i| one_line.is_char_boundary(i))
            .unwrap_or(0);
        let slice = &one_line[..cut.min(one_line.len())];
        c.bench_function(&format!("tokenize a {kb} KB paragraph"), |b| {
            b.iter(|| black_box(tok.encode(black_box(slice))).len())
        });
    }
}

criterion_group! {
    name = benches;
    // No plots: the host may have no fonts, and criterion panics drawing without them.
    config = Criterion::default().sample_size(10).without_plots();
    targets = paragraph
}
criterion_main!(benches);
