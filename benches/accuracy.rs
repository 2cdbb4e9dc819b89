//! Speed of `accsim accuracy` with calibration: every format of the catalogue, each sub-8-bit
//! one also calibrated (GPTQ on the shipped calibration text), scored on the whole shipped
//! evaluation text, must take under 60 s on 2 cores.
//!
//! One pass (too long for criterion's samples), timed in two parts (calibration: the f32 pass
//! over the calibration text and the Hessian factorizations; scoring: building every variant's
//! model and running the text through it), printing wall and process CPU time and the ratio of
//! the total to the target.

use accsim::model::{accuracy, eval, open::open_workload};
use accsim::quant::Format;
use accsim::study::{ACCURACY_TEXT, ACCURACY_WORKLOAD, CALIBRATION_TEXT};
use accsim::workload;
use std::path::Path;
use std::time::Instant;

mod measure;
use measure::process_cpu_s;

/// The wall-time target [s].
const TARGET_S: f64 = 60.0;

fn main() {
    let path = Path::new(ACCURACY_WORKLOAD);
    let w = workload::load(path).expect("the shipped workload parses");
    let opened = open_workload(path, &w).expect("the shipped checkpoint opens");
    let read = |p: &str| std::fs::read_to_string(p).expect("the shipped text reads");
    let seqs = eval::sequences(&opened.tokenizer, &read(ACCURACY_TEXT));
    let cal_seqs = eval::sequences(&opened.tokenizer, &read(CALIBRATION_TEXT));
    let variants = accuracy::variants(&Format::ALL, true);
    println!(
        "accuracy: {} variants on {} paragraphs, calibrated on {} paragraphs, {} threads, target {TARGET_S} s wall",
        variants.len(),
        seqs.len(),
        cal_seqs.len(),
        rayon::current_num_threads()
    );
    let (t0, c0) = (Instant::now(), process_cpu_s());
    let calibration = accuracy::calibrate(&opened, &w, &cal_seqs).expect("calibration runs");
    let (cal_wall, cal_cpu) = (t0.elapsed().as_secs_f64(), process_cpu_s() - c0);
    let (t1, c1) = (Instant::now(), process_cpu_s());
    let results = accuracy::score(&opened, &w, &variants, Some(&calibration), &seqs, &|| ())
        .expect("scoring runs");
    let (wall, cpu) = (t1.elapsed().as_secs_f64(), process_cpu_s() - c1);
    println!("calibration {cal_wall:>8.2} s wall {cal_cpu:>8.2} s cpu");
    println!(
        "scoring     {wall:>8.2} s wall {cpu:>8.2} s cpu ({} results)",
        results.len()
    );
    let total = cal_wall + wall;
    println!(
        "total       {total:>8.2} s wall {:>8.2} s cpu  {:.2} of the target  {}",
        cal_cpu + cpu,
        total / TARGET_S,
        if total < TARGET_S { "met" } else { "NOT met" }
    );
}
