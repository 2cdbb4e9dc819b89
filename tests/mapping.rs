//! The mapping search through `accsim run`: more units never give fewer tokens/s, pins are
//! obeyed and shown, `--explain` lists the candidates, and pins a family lacks are refused.

mod common;

use common::accsim;
use predicates::prelude::*;

const TSP: &str = "arch/groq-tsp.ron";
const H100: &str = "arch/nvidia-h100.ron";
const STORIES: &str = "workloads/stories260k.ron";
const LLAMA2: &str = "workloads/llama2-70b.ron";

fn tokens_per_s(r: &serde_json::Value) -> f64 {
    r["decode_tokens_per_s"].as_f64().unwrap()
}

#[test]
fn more_tsp_chips_never_give_fewer_tokens_per_s() {
    let mut last = 0.0;
    for chips in ["1", "2", "4", "8", "16", "24"] {
        let r = common::run_json(TSP, STORIES, &["--chips", chips]);
        let t = tokens_per_s(&r);
        assert!(t >= last, "{chips} chips: {t} < {last}");
        assert!(r["mapping_params"]["chips_used"].as_u64().unwrap() <= chips.parse().unwrap());
        last = t;
    }
}

#[test]
fn more_gpus_never_give_fewer_tokens_per_s() {
    let mut last = 0.0;
    for gpus in 2..=10 {
        let r = common::run_json(
            H100,
            LLAMA2,
            &["--gpus", &gpus.to_string(), "--format", "f16"],
        );
        let t = tokens_per_s(&r);
        assert!(t >= last, "{gpus} GPUs: {t} < {last}");
        last = t;
    }
}

#[test]
fn a_pinned_degree_is_used_and_recorded() {
    let r = common::run_json(
        TSP,
        LLAMA2,
        &["--chips", "576", "--format", "int8", "--tp", "8"],
    );
    let p = &r["mapping_params"];
    assert_eq!(p["family"], "tsp");
    assert_eq!(p["tp"], 8);
    assert_eq!(r["mapping_candidates"].as_array().unwrap().len(), 1);
    // The search over every degree does at least as well as the pinned one.
    let free = common::run_json(TSP, LLAMA2, &["--chips", "576", "--format", "int8"]);
    assert!(tokens_per_s(&free) >= tokens_per_s(&r));
    assert!(free["mapping_params"]["tp"].as_u64().unwrap() > 8);
}

#[test]
fn explain_lists_the_candidates_and_the_bound_is_shown() {
    accsim()
        .args([
            "run",
            "--arch",
            TSP,
            "--workload",
            LLAMA2,
            "--numerics",
            "off",
        ])
        .args(["--chips", "320", "--explain"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Mappings weighed"))
        .stdout(predicate::str::contains("pruned"))
        .stdout(predicate::str::contains("mapping efficiency"));
    let r = common::run_json(TSP, STORIES, &[]);
    let (bound, tps) = (r["bound_tokens_per_s"].as_f64().unwrap(), tokens_per_s(&r));
    assert!(bound >= tps, "{bound} < {tps}");
    let efficiency = r["mapping_efficiency"].as_f64().unwrap();
    assert!((efficiency - tps / bound).abs() < 1e-12);
    // On a wafer, candidates whose measured layers already lose are abandoned part way.
    accsim()
        .args([
            "run",
            "--arch",
            "arch/cerebras-wse3.ron",
            "--workload",
            STORIES,
        ])
        .args(["--numerics", "off", "--explain"])
        .assert()
        .success()
        .stdout(predicate::str::contains("abandoned after"));
}

#[test]
fn pins_a_family_lacks_or_that_do_not_fit_are_usage_errors() {
    for (arch, args, needle) in [
        (TSP, vec!["--tile-bytes", "1024"], "--tile-bytes"),
        (H100, vec!["--kv-tokens-per-pe", "8"], "--kv-tokens-per-pe"),
        (TSP, vec!["--tp", "0"], "at least 1"),
        (TSP, vec!["--tp", "3"], "--tp"),
        (
            H100,
            vec!["--tp", "3"],
            "--tp: no tensor-parallel degree of 3 holds the workload",
        ),
    ] {
        let extra: Vec<&str> = ["--numerics", "off"].into_iter().chain(args).collect();
        common::run_refused(arch, STORIES, &extra, needle);
    }
}
