//! The statistics of the benchmark reports: Wilson intervals for success rates, t intervals
//! for means, and McNemar's exact test for paired comparisons of two attacks on the same
//! images. Their errors are the attack library's (`common_weakness::Error`).

mod interval;
mod paired;

pub use interval::{mean_interval, wilson_interval, MeanInterval};
pub use paired::{mcnemar, McNemar};
