//! Weight formats: the catalogue of exact layouts, quantizers and packers for each, the packed
//! matrix the simulator's memories hold, numeric kernels on it, and the error measures and
//! weight sources used to compare formats.

pub mod bandwidth;
pub mod checkpoint;
pub mod error;
pub mod format;
pub mod metrics;
pub mod packed;
pub mod weights;

mod bitstream;
mod coder;
#[cfg(target_arch = "x86_64")]
mod dense_avx2;
mod float;
mod group;
mod group_i8;
#[cfg(target_arch = "x86_64")]
mod group_i8_simd;
mod int8;
mod isa;
mod kernel;
mod kernel_i8;
mod kquant;
mod meta;
#[cfg(target_arch = "x86_64")]
mod pairs_avx2;
#[cfg(target_arch = "x86_64")]
mod pairs_i8_avx2;
mod q35;
mod q35_search;
mod round;
#[cfg(target_arch = "x86_64")]
mod round_avx2;
mod view;

pub use coder::Feedback;
pub use error::QuantError;
pub use format::Format;
pub use metrics::{ErrorMetrics, ErrorSums};
pub use packed::PackedMatrix;

#[cfg(test)]
mod tests;
