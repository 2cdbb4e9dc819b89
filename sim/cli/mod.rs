//! Command-line interface: one module per command, each wiring library stages together.

mod accuracy;
mod cells;
mod fit;
mod generate;
mod output;
mod quant;
mod report;
mod run;
mod select;
mod sensitivity;
mod sweep;
mod validate;

use clap::{Parser, Subcommand};

/// Check claims about LLMs on SRAM accelerators (Groq TSP, Cerebras WSE) by simulation.
#[derive(Parser)]
#[command(name = "accsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Memory footprint, placement on chips/wafers/GPUs, and the verdict on each size claim.
    Fit(fit::FitArgs),
    /// Accuracy of each weight format against f32 on a real checkpoint and text.
    Accuracy(accuracy::AccuracyArgs),
    /// Greedy text from a real checkpoint in a chosen weight format.
    Generate(generate::GenerateArgs),
    /// Compile a workload for a machine and time it: tokens/s, first-token latency, utilization.
    Run(run::RunArgs),
    /// Compare weight formats: exact size, reconstruction error, GEMV speed.
    Quant(quant::Args),
    /// Run the default study and write figures, tables and JSON.
    Report(report::ReportArgs),
    /// Run a grid or list of machine and workload parameters; CSV, JSON and the Pareto front.
    Sweep(sweep::SweepArgs),
    /// Predict published deployments and show each prediction's error against them.
    Validate(validate::ValidateArgs),
    /// Halve and double each estimated input of an architecture; the change in speed of each.
    Sensitivity(sensitivity::SensitivityArgs),
}

/// Parse the command line and run the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Fit(args)) => fit::run(args),
        Some(Command::Accuracy(args)) => accuracy::run(args),
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Quant(args)) => quant::run(args),
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Sweep(args)) => sweep::run(args),
        Some(Command::Report(args)) => report::run(args),
        Some(Command::Validate(args)) => validate::run(args),
        Some(Command::Sensitivity(args)) => sensitivity::run(args),
        None => report::default_study(),
    }
}
