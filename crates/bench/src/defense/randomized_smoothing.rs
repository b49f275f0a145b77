//! Randomized smoothing (Cohen et al., "Certified Adversarial Robustness via Randomized
//! Smoothing", ICML 2019), as a prediction rule.

use burn::tensor::Tensor;

use super::{check_batch, Target};
use crate::error::Result;
use common_weakness::check::{at_least_one, positive};
use common_weakness::eval::predictions;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::Surrogate;

/// Predicts the class the model returns most often on `samples` noisy copies
/// `x + N(0, σ²)` of each image (ties go to the smaller class index). Noise is not clipped to
/// `[0, 1]`, as in Cohen et al.; draws restart from `seed` at every call, from each image's
/// own stream.
#[derive(Clone, Debug)]
pub struct RandomizedSmoothing<S> {
    model: S,
    sigma: f64,
    samples: usize,
    seed: u64,
    name: String,
}

impl<S> RandomizedSmoothing<S> {
    /// `model` smoothed with noise `sigma` (> 0) over `samples` (≥ 1) draws.
    pub fn new(model: S, sigma: f64, samples: usize, seed: u64) -> Result<Self>
    where
        S: Surrogate,
    {
        positive("sigma", sigma)?;
        at_least_one("samples", samples)?;
        let name = format!("{} + smoothing σ={sigma}", model.name());
        Ok(Self { model, sigma, samples, seed, name })
    }
}

impl<S: Surrogate> Target for RandomizedSmoothing<S> {
    fn target_name(&self) -> &str {
        &self.name
    }

    fn predict_indexed(&self, images: Tensor<4>, image_indices: &[usize]) -> Result<Vec<usize>> {
        check_batch(&images, image_indices)?;
        self.model.check_input(images.dims())?;
        let shape = images.dims();
        let mut rng = AttackRng::per_image(self.seed, image_indices);
        let mut votes: Vec<Vec<usize>> = vec![Vec::new(); shape[0]];
        for _ in 0..self.samples {
            let noise = rng.normal(shape, &images.device()).mul_scalar(self.sigma);
            for (image, class) in predictions(self.model.forward(images.clone() + noise))?.into_iter().enumerate() {
                votes[image].push(class);
            }
        }
        Ok(votes.into_iter().map(majority).collect())
    }
}

/// The most frequent class; ties go to the smallest index.
fn majority(mut classes: Vec<usize>) -> usize {
    classes.sort_unstable();
    let (mut best, mut best_count, mut i) = (classes[0], 0, 0);
    while i < classes.len() {
        let run = classes[i..].iter().take_while(|&&c| c == classes[i]).count();
        if run > best_count {
            (best, best_count) = (classes[i], run);
        }
        i += run;
    }
    best
}
