//! The report's tables, computed counterparts of the source documents' memory, performance and
//! accuracy tables. They are built from the study's JSON (the value written as `study.json`),
//! so every cell is a number of that file as the column rounds it.

use crate::report::doc::{Column, DocTable, Show, col, lookup};
use serde_json::Value;

const MEMORY: [Column; 7] = [
    col("workload", "workload", Show::Plain),
    col("format", "format", Show::Plain),
    col("bits/weight", "bits_per_weight", Show::Fixed(3)),
    col("weights (GB)", "weight_bytes", Show::Gb),
    col("metadata (GB)", "metadata_bytes", Show::Gb),
    col("KV cache (GB)", "kv_cache_bytes", Show::Gb),
    col("total (GB)", "total_bytes", Show::Gb),
];

const FIT: [Column; 6] = [
    col("arch", "arch", Show::Plain),
    col("workload", "workload", Show::Plain),
    col("unit", "unit", Show::Plain),
    col("units needed", "units_needed", Show::Plain),
    col("fits", "fits", Show::Plain),
    col("total (GB)", "total_bytes", Show::Gb),
];

const PERFORMANCE: [Column; 9] = [
    col("arch", "arch", Show::Plain),
    col("workload", "workload", Show::Plain),
    col("format", "format", Show::Plain),
    col("units", "record.units", Show::Plain),
    col(
        "tokens/s per user",
        "record.decode_tokens_per_s",
        Show::Fixed(1),
    ),
    col("tokens/s", "record.aggregate_tokens_per_s", Show::Fixed(1)),
    col("TTFT (s)", "record.ttft_s", Show::Fixed(4)),
    col("J per step", "record.energy_j_per_token", Show::Fixed(3)),
    col("error", "error", Show::Plain),
];

const ACCURACY: [Column; 8] = [
    col("format", "format", Show::Plain),
    col("calibrated", "calibrated", Show::Plain),
    col("bits/weight", "bits_per_weight", Show::Fixed(3)),
    col("perplexity", "ppl", Show::Fixed(4)),
    col("KL mean (nats)", "kl_mean", Show::Sci),
    col("KL p99 (nats)", "kl_p99", Show::Sci),
    col("top-1 agreement (%)", "top1_agreement", Show::Percent),
    col("top-1 accuracy (%)", "top1_accuracy", Show::Percent),
];

const CLAIMS: [Column; 8] = [
    col("claim", "claim", Show::Plain),
    col("arch", "arch", Show::Plain),
    col("workload", "workload", Show::Plain),
    col("claimed", "claimed", Show::Fixed(2)),
    col("measured", "measured", Show::Fixed(2)),
    col("unit", "unit", Show::Plain),
    col("verdict", "verdict", Show::Plain),
    col("criterion", "criterion", Show::Plain),
];

const VALIDATION: [Column; 11] = [
    col("point", "name", Show::Plain),
    col("arch", "arch", Show::Plain),
    col("format", "format", Show::Plain),
    col("units", "units", Show::Plain),
    col("units published", "units_disclosed", Show::Plain),
    col("metric", "metric", Show::Plain),
    col("published", "published", Show::Fixed(3)),
    col("predicted", "predicted", Show::Fixed(3)),
    col("error (%)", "error", Show::Percent),
    col("within 25%", "within", Show::Plain),
    col("calibrated to it", "calibrated", Show::Plain),
];

fn list<'a>(study: &'a Value, key: &str) -> &'a [Value] {
    lookup(study, key).as_array().map_or(&[], Vec::as_slice)
}

/// Every table, by file name (without extension), from the study's JSON.
pub fn all(study: &Value) -> Vec<(&'static str, DocTable)> {
    let fits = list(study, "fits");
    // Footprints do not depend on the machine: one architecture's records show them.
    let first_arch = fits.first().map(|r| lookup(r, "arch").clone());
    let memory: Vec<Value> = fits
        .iter()
        .filter(|r| Some(lookup(r, "arch")) == first_arch.as_ref())
        .cloned()
        .collect();
    let q35: Vec<Value> = fits
        .iter()
        .filter(|r| lookup(r, "format") == "q3.5")
        .cloned()
        .collect();
    let acc = lookup(study, "accuracy");
    let acc_caption = format!(
        "Accuracy against f32 of {} on {} ({} of {} paragraphs, {} tokens scored); calibrated: codes chosen by GPTQ error feedback on {} ({} paragraphs, {} tokens, none shared with the scored text)",
        lookup(acc, "model").as_str().unwrap_or("-"),
        lookup(acc, "text").as_str().unwrap_or("-"),
        lookup(acc, "paragraphs"),
        lookup(acc, "paragraphs_in_text"),
        lookup(acc, "tokens_scored"),
        lookup(acc, "calibration_text").as_str().unwrap_or("-"),
        lookup(acc, "calibration_paragraphs"),
        lookup(acc, "calibration_tokens"),
    );
    vec![
        (
            "memory",
            DocTable::from_json(
                "Memory footprint per model and weight format (every matrix in the format)",
                &MEMORY,
                &memory,
            ),
        ),
        (
            "fit",
            DocTable::from_json(
                "Units needed for each model at 3.5 bits (q3.5), fewest that hold weights, KV cache and buffers",
                &FIT,
                &q35,
            ),
        ),
        (
            "performance",
            DocTable::from_json(
                "Decode speed at 3.5 bits (q3.5) on the fewest units, batch and context of the workload",
                &PERFORMANCE,
                list(study, "runs"),
            ),
        ),
        (
            "accuracy",
            DocTable::from_json(&acc_caption, &ACCURACY, list(acc, "results")),
        ),
        (
            "validation",
            DocTable::from_json(
                "Predicted against published deployments (error = predicted / published - 1; units not published: the fewest that fit; `accsim validate` shows what each estimated input would need to be for a missed point)",
                &VALIDATION,
                list(study, "validation"),
            ),
        ),
        (
            "claims",
            DocTable::from_json(
                "Claims of the source documents and their verdicts",
                &CLAIMS,
                list(study, "claims"),
            ),
        ),
    ]
}
