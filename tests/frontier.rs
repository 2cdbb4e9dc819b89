//! Where the 3.5-bit formats lose accuracy on stories260K: each group of matrices (attention,
//! FFN, embedding with its tied classifier) stored alone in a format, the rest in f32, rounded
//! to nearest and calibrated, scored on the first 80 paragraphs of the evaluation text (the
//! study's default). A measurement for docs/accuracy.md, not a check:
//! `cargo test --release --test frontier -- --ignored --nocapture`.

use accsim::model::calibrate::Calibration;
use accsim::model::llama2c::Llama2c;
use accsim::model::{Model, Tensor, Tokenizer, eval};
use accsim::quant::Format;
use accsim::study::{ACCURACY_TEXT, CALIBRATION_TEXT};
use std::path::Path;

/// Whether a case quantizes a tensor.
type Quantized = fn(Tensor) -> bool;

/// Which matrices each case quantizes.
const GROUPS: [(&str, Quantized); 4] = [
    ("all matrices", |t| {
        !matches!(
            t,
            Tensor::AttnNorm(_) | Tensor::FfnNorm(_) | Tensor::FinalNorm
        )
    }),
    ("attention only", |t| {
        matches!(t, Tensor::Q(_) | Tensor::K(_) | Tensor::V(_) | Tensor::O(_))
    }),
    ("FFN only", |t| {
        matches!(t, Tensor::Gate(_) | Tensor::Up(_) | Tensor::Down(_))
    }),
    ("embedding + classifier only", |t| {
        matches!(t, Tensor::Embedding | Tensor::Classifier)
    }),
];

#[test]
#[ignore = "a measurement of minutes, not a check"]
fn loss_by_matrix_group() {
    let ck = Llama2c::open(Path::new("workloads/models/stories260K/stories260K.bin")).unwrap();
    let tok =
        Tokenizer::from_llama2c(Path::new("workloads/models/stories260K/tok512.bin")).unwrap();
    let read = |p: &str| std::fs::read_to_string(p).unwrap();
    let seqs: Vec<_> = eval::sequences(&tok, &read(ACCURACY_TEXT))
        .into_iter()
        .take(80)
        .collect();
    let f32m = Model::load(&ck, &|_| Format::F32).unwrap();
    let cal = Calibration::collect(&f32m, &eval::sequences(&tok, &read(CALIBRATION_TEXT))).unwrap();
    println!("| format | matrices | ppl | KL mean | ppl calibrated | KL mean calibrated |");
    println!("|---|---|---|---|---|---|");
    for f in [
        Format::Int4G128,
        Format::Int3G64,
        Format::Q35Opt,
        Format::Q3K256,
    ] {
        for (name, quantized) in GROUPS {
            let format_of = |t: Tensor| if quantized(t) { f } else { Format::F32 };
            let rtn = Model::load_with(&ck, &format_of, None).unwrap();
            let calibrated = Model::load_with(&ck, &format_of, Some(&cal)).unwrap();
            let s = eval::evaluate(&f32m, &[&rtn, &calibrated], &seqs, &|| ());
            println!(
                "| {f} | {name} | {:.4} | {:.4} | {:.4} | {:.4} |",
                s[0].ppl, s[0].kl_mean, s[1].ppl, s[1].kl_mean
            );
        }
    }
}
