//! Evaluation: accuracy, attack success with intervals, and similarity diagnostics.

mod accuracy;
mod interval;
mod similarity;

pub use accuracy::{predictions, success_rate, top_k_predictions, SuccessRate};
pub use interval::wilson_interval;
pub use similarity::{mean_pairwise_cosine, row_cosine};
