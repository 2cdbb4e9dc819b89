//! GPU baseline target: HBM placement and a roofline-level run.

mod place;
mod roofline;

pub use place::place;
pub use roofline::simulate;
