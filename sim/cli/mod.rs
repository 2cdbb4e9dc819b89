//! Command-line interface: one module per command, each wiring library stages together.

mod fit;

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
}

/// Parse the command line and run the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Fit(args)) => fit::run(args),
        None => fit::run(fit::FitArgs::default_study()),
    }
}
