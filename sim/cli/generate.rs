//! `accsim generate`: greedy text from a workload's checkpoint in any weight format, the
//! quickest check that a format still yields a working model.

use accsim::Error;
use accsim::model::Checkpoint;
use accsim::model::accuracy::build;
use accsim::model::decoder::greedy;
use accsim::model::open::open_workload;
use accsim::quant::Format;
use accsim::workload;
use clap::Args;
use std::path::PathBuf;

/// Greedy decoding from a prompt.
#[derive(Args)]
#[command(after_help = "Examples:
  accsim generate --workload workloads/stories260k.ron
  accsim generate --workload workloads/stories260k.ron --format q3.5 --prompt \"Tom had a dog\" --tokens 100")]
pub struct GenerateArgs {
    /// Workload description naming a checkpoint.
    #[arg(long, value_name = "FILE")]
    workload: PathBuf,
    /// Store every weight matrix in this format.
    #[arg(long, value_name = "NAME", default_value = "f32")]
    format: String,
    /// Text to continue (BOS is always prepended).
    #[arg(long, value_name = "TEXT", default_value = "")]
    prompt: String,
    /// Most tokens to generate (stops earlier at end of text or the context length).
    #[arg(long, value_name = "N", default_value_t = 200)]
    tokens: usize,
}

/// Run the command.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let format: Format =
        args.format
            .parse()
            .map_err(|e: accsim::quant::format::UnknownFormat| Error::Usage {
                flag: "--format".into(),
                reason: e.to_string(),
            })?;
    let w = workload::load(&args.workload)?;
    let opened = open_workload(&args.workload, &w)?;
    let model = build(&opened, &w, format)?;
    let prompt = opened.tokenizer.encode(&args.prompt);
    let room = opened.config().max_seq;
    if prompt.len() + 1 > room {
        return Err(Error::Usage {
            flag: "--prompt".into(),
            reason: format!(
                "{} tokens (with BOS) do not fit the model's context of {room}: nothing could be generated",
                prompt.len() + 1
            ),
        }
        .into());
    }
    let generated = greedy(&model, &prompt, args.tokens);
    let all: Vec<u32> = prompt.into_iter().chain(generated).collect();
    println!("{}", opened.tokenizer.decode(&all));
    Ok(())
}
