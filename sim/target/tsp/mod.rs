//! Groq TSP target.

mod place;

pub use place::place;
