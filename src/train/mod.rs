//! Training helpers for the models a benchmark attacks.
//!
//! - [`Alrs`]: the loss-driven learning-rate scheduler of the CWA authors.

mod alrs;

pub use alrs::Alrs;
