//! Evaluation: accuracy, attack success with intervals, paired tests, and similarity
//! diagnostics.

mod accuracy;
mod interval;
mod paired;
mod similarity;

pub use accuracy::{predictions, success_rate, top_k_predictions, SuccessRate};
pub use interval::{mean_interval, wilson_interval, MeanInterval};
pub use paired::{mcnemar, McNemar};
pub use similarity::{mean_pairwise_cosine, pairwise_cosine, row_cosine};
