//! Evaluation: accuracy, attack success and similarity diagnostics. (The benchmark reports'
//! intervals and paired tests live in the bench crate, `common_weakness_bench::statistics`.)

mod accuracy;
mod similarity;

pub use accuracy::{predictions, success_rate, top_k_predictions, SuccessRate};
pub use similarity::{mean_pairwise_cosine, pairwise_cosine, row_cosine, PairwiseCosine};
