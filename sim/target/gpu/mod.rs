//! GPU baseline target.

mod place;

pub use place::place;
