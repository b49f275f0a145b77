//! Per-image early stopping: an image stops changing once it fools every surrogate.

use serde::{Deserialize, Serialize};

use crate::check::non_negative;
use crate::error::Result;

/// Stops each image of a per-image run at the first iterate that fools every surrogate by
/// `margin`: untargeted, the best other logit exceeds the true class's by more than `margin`
/// on every model; targeted, the target's logit exceeds every other by more than `margin`.
/// From then on the image keeps that iterate; an image that fools every surrogate before the
/// first step is never moved (it stops at iteration 0). The attack still runs on the whole
/// batch, so stopping saves no time; it keeps each example from moving further than it needs.
///
/// Checked after every iteration, per image (an image's result does not depend on its batch),
/// with one forward pass of every model; the outcome records the iteration after which each
/// image stopped ([`AttackOutcome::stopped_at`](crate::attack::AttackOutcome::stopped_at)).
/// Set on an [`Executor`](crate::attack::Executor) with
/// [`with_early_stop`](crate::attack::Executor::with_early_stop); off by default. It needs
/// labelled objectives and applies to per-image runs, not universal ones.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::attack::{bim, Attack, Executor};
/// use common_weakness::observe::EarlyStop;
/// use common_weakness::prelude::*;
/// use common_weakness::universal::Batch;
///
/// // Class 1 wins once an image's mean exceeds 0.5.
/// let model = from_fn("mean", |x: Tensor<4>| {
///     let m = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]);
///     Tensor::cat(vec![m.clone().neg().add_scalar(0.5), m.sub_scalar(0.5)], 1)
/// });
/// let ensemble = Ensemble::new(vec![Box::new(model)])?;
/// let images = Tensor::<4>::from_floats([[[[0.49]]], [[[0.2]]]], &Default::default());
/// let batches = vec![Batch::labelled(images, vec![0, 0])];
/// let executor = Executor::new().with_early_stop(EarlyStop { margin: 0.0 });
/// let labels = |b: &Batch| Objective::untargeted(b.labels.clone().unwrap());
/// let outcome = bim(ThreatModel::linf(0.25), 20).run_dataset(executor, &ensemble, &batches, &labels)?;
/// // The first image crosses at the first step (0.0125) and stops there; the second cannot
/// // reach 0.5 within the budget.
/// assert_eq!(outcome.batches[0].stopped_at, vec![Some(1), None]);
/// # Ok::<(), common_weakness::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStop {
    /// How far past the decision boundary every model must be, in logits (≥ 0).
    #[serde(with = "crate::json_float")]
    pub margin: f64,
}

impl EarlyStop {
    /// Checks the margin.
    pub fn validate(&self) -> Result<()> {
        non_negative("margin", self.margin)
    }
}
