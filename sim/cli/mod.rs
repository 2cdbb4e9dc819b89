//! Command-line interface: one module per command, each wiring library stages together.

mod quant;

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
    /// Compare weight formats: exact size, reconstruction error, GEMV speed.
    Quant(quant::Args),
}

/// Parse the command line and run the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => Ok(()),
        Some(Command::Quant(args)) => quant::run(args),
    }
}
