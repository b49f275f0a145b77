//! What an attack reports about itself.

use serde::{Deserialize, Serialize};

/// Measurements of one attack iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// 1-based iteration number.
    pub iteration: usize,
    /// Each model's objective (batch mean; the attack minimises it) at the iterate this
    /// iteration started from, in model order.
    pub loss_per_model: Vec<f64>,
    /// Mean pairwise cosine similarity of the models' gradients in this iteration's inner
    /// sweep (the paper's closeness proxy; off-diagonal pairs only, per sample, then
    /// averaged). `None` without an inner sweep or with one model.
    pub gradient_cosine: Option<f64>,
    /// Each model's weight in this iteration's combined gradient (mean over the images, each
    /// image's weights summing to 1), when a [`Weighting`](crate::attack::Weighting) or
    /// [`Run::set_weights`](crate::attack::Run::set_weights) replaced the ensemble's own;
    /// `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_weights: Option<Vec<f64>>,
    /// Largest per-sample L∞ norm of the perturbation after the iteration.
    pub perturbation_linf: f64,
    /// Mean per-sample L2 norm of the perturbation after the iteration.
    pub perturbation_l2: f64,
    /// Wall-clock seconds the iteration took.
    pub seconds: f64,
}

/// Why an attack stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// All configured iterations ran.
    Completed,
    /// An observer asked to stop after this iteration.
    Observer {
        /// The last iteration that ran.
        iteration: usize,
    },
    /// The executor's time limit passed during this iteration.
    TimeLimit {
        /// The last iteration that ran.
        iteration: usize,
    },
}

/// What was run: enough to reproduce it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The attack's name (e.g. `"MI-CWA"`).
    pub attack: String,
    /// The attack's full configuration, as JSON.
    pub config: serde_json::Value,
    /// The seed of every random choice.
    pub seed: u64,
    /// The Burn backend and device.
    pub backend: String,
    /// The models, in order.
    pub models: Vec<String>,
    /// Images in the batch.
    pub images: usize,
    /// Each image's index in the whole image set, which keys its random stream
    /// ([`AttackRng::per_image`](crate::rng::AttackRng::per_image)); `0..images` unless the
    /// run was given others ([`Attack::run_indexed`](crate::attack::Attack::run_indexed)).
    /// Empty for universal runs, whose draws are not per image.
    #[serde(default)]
    pub image_indices: Vec<usize>,
    /// Iterations configured.
    pub iterations: usize,
}
