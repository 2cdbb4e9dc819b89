//! accsim: a cycle-accurate simulator for checking claims about large language models
//! running from the on-chip SRAM of dataflow accelerators (Groq TSP, Cerebras WSE).
//!
//! Data flows one way: description files ([`arch`], [`workload`]) → packed weights ([`quant`])
//! → placement and memory fit ([`fit`]) → compiled program and simulation ([`machines`], [`run`])
//! → report.

pub mod arch;
pub mod describe;
pub mod engine;
pub mod error;
pub mod fit;
pub mod host;
pub mod machines;
pub mod mapping;
pub mod model;
pub mod quant;
pub mod ranges;
pub mod report;
pub mod run;
pub mod sensitivity;
pub mod study;
pub mod sweep;
pub mod validation;
pub mod workload;

pub use error::{Error, Result};
