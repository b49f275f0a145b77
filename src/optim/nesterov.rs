//! Nesterov momentum on normalised gradients.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Optimizer;
use crate::check::{non_negative, positive};
use crate::error::Result;
use crate::norm::{Direction, Normalization};

/// Nesterov's accelerated momentum in the Sutskever form used by PyTorch's
/// `nesterov=True`: `m ← μ·m + ĝ`, `update = −step_size · direction(ĝ + μ·m)`,
/// where `ĝ = normalize(g)`.
///
/// It looks ahead along the momentum without a second gradient evaluation, so it fits any
/// optimizer role. (NI-FGSM, which evaluates the gradient at a look-ahead point, is an
/// attack loop rather than an optimizer.)
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nesterov {
    /// Step length.
    #[serde(with = "crate::json_float")]
    pub step_size: f64,
    /// Decay of the buffer (μ).
    #[serde(with = "crate::json_float")]
    pub momentum: f64,
    /// Normalisation of each gradient before use.
    pub normalize: Normalization,
    /// Direction transform when stepping.
    pub direction: Direction,
}

impl Nesterov {
    /// Nesterov momentum with MI-FGSM's normalisation (L1) and sign step.
    pub fn sign(step_size: f64, momentum: f64) -> Self {
        Self { step_size, momentum, normalize: Normalization::L1, direction: Direction::Sign }
    }
}

impl Optimizer for Nesterov {
    fn config(&self) -> serde_json::Value {
        serde_json::to_value(super::AnyOptimizer::from(*self)).unwrap_or_default()
    }

    type State = Tensor<4>;

    fn init(&self, like: &Tensor<4>) -> Tensor<4> {
        like.zeros_like()
    }

    fn step(&self, gradient: Tensor<4>, buffer: &mut Tensor<4>) -> Tensor<4> {
        let mu = self.momentum as f32;
        let g = self.normalize.apply(gradient);
        *buffer = buffer.clone().mul_scalar(mu) + g.clone();
        self.direction.apply(g + buffer.clone().mul_scalar(mu)).mul_scalar(-self.step_size as f32)
    }

    fn validate(&self) -> Result<()> {
        positive("step_size", self.step_size)?;
        non_negative("momentum", self.momentum)
    }
}
