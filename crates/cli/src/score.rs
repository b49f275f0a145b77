//! Which images fool which model, and the success rates with the intervals the benchmarks use.

use burn::tensor::Tensor;
use common_weakness::ensemble::Ensemble;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One model's success over a set of images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Success {
    /// The model.
    pub model: String,
    /// Images that fooled it.
    pub fooled: usize,
    /// Images scored.
    pub images: usize,
    /// `fooled / images`, in percent.
    pub rate: f64,
    /// The 95% Wilson score interval of the rate, in percent.
    pub interval: [f64; 2],
}

impl Success {
    /// The success of `model` from whether each image fooled it.
    pub fn tally(model: &str, fooled: &[bool]) -> Result<Self> {
        let count = fooled.iter().filter(|&&f| f).count();
        let [low, high] = common_weakness_bench::statistics::wilson_interval(count, fooled.len())?;
        Ok(Self {
            model: model.to_string(),
            fooled: count,
            images: fooled.len(),
            rate: 100.0 * count as f64 / fooled.len().max(1) as f64,
            interval: [100.0 * low, 100.0 * high],
        })
    }

    /// A line of the table the commands print.
    pub fn line(&self) -> String {
        format!(
            "{:<24} {:>5}/{:<5} {:>6.1}%   [{:.1}, {:.1}]",
            self.model, self.fooled, self.images, self.rate, self.interval[0], self.interval[1]
        )
    }
}

/// For each model of `ensemble` (outer) and image (inner): whether the model is fooled, i.e.
/// predicts another class than `labels` (untargeted) or the target `labels` (targeted).
pub fn fooled(ensemble: &Ensemble, images: &Tensor<4>, labels: &[usize], targeted: bool) -> Result<Vec<Vec<bool>>> {
    let predictions = ensemble.predictions(images.clone())?;
    Ok(predictions.iter().map(|p| p.iter().zip(labels).map(|(p, l)| (p == l) == targeted).collect()).collect())
}

/// The table header of [`Success::line`].
pub const HEADER: &str = "model                     fooled        rate   95% interval";
