//! Cerebras WSE target.

mod place;

pub use place::place;
