//! Evaluation: accuracy, attack success and gradient-similarity diagnostics.

mod accuracy;
mod similarity;

pub use accuracy::{predictions, success_rate, SuccessRate};
pub use similarity::mean_pairwise_cosine;
