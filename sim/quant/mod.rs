//! Weight formats: the catalogue of exact layouts.

pub mod format;

pub use format::Format;
