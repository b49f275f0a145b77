//! Adam (and AMSGrad) with PyTorch's defaults.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Optimizer;
use crate::check::{positive, unit_interval};
use crate::error::Result;
use crate::norm::Normalization;

/// Adam (Kingma & Ba) with bias correction; optionally AMSGrad.
///
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `update = −lr · m̂ / (√v̂ + ε)` with `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`
/// (AMSGrad uses the running maximum of `v`).
///
/// [`Adam::new`] uses PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8), which the CWA
/// authors used; note that Burn's own `AdamConfig` defaults to ε = 1e-5.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::optim::{Adam, Optimizer};
///
/// let device = Default::default();
/// let adam = Adam::new(0.01);
/// let g = Tensor::<4>::from_floats([[[[2.0, -0.5]]]], &device);
/// let mut state = Optimizer::init(&adam, &g);
/// // The first Adam step is ≈ −lr·sign(g).
/// let update = adam.step(g, &mut state).into_data().try_to_vec::<f32>().unwrap();
/// assert!((update[0] + 0.01).abs() < 1e-6 && (update[1] - 0.01).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adam {
    /// Learning rate (the step scale).
    #[doc(alias = "lr")]
    #[serde(with = "crate::json_float")]
    pub step_size: f64,
    /// Decay of the first moment (β₁).
    #[serde(with = "crate::json_float")]
    pub beta1: f64,
    /// Decay of the second moment (β₂).
    #[serde(with = "crate::json_float")]
    pub beta2: f64,
    /// Denominator guard (PyTorch: 1e-8; Burn: 1e-5).
    #[serde(with = "crate::json_float")]
    pub epsilon: f64,
    /// Use AMSGrad's running maximum of the second moment.
    pub amsgrad: bool,
    /// Normalisation of each gradient before use.
    pub normalize: Normalization,
}

impl Adam {
    /// Adam with PyTorch's defaults and learning rate `step_size`.
    pub fn new(step_size: f64) -> Self {
        Self { step_size, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, amsgrad: false, normalize: Normalization::None }
    }
}

/// Adam's moments and step count (the state of [`Adam`]).
#[derive(Clone, Debug)]
pub struct AdamState {
    first: Tensor<4>,
    second: Tensor<4>,
    second_max: Tensor<4>,
    steps: i32,
}

impl Optimizer for Adam {
    fn config(&self) -> serde_json::Value {
        serde_json::to_value(super::AnyOptimizer::from(*self)).unwrap_or_default()
    }

    type State = AdamState;

    fn init(&self, like: &Tensor<4>) -> AdamState {
        AdamState { first: like.zeros_like(), second: like.zeros_like(), second_max: like.zeros_like(), steps: 0 }
    }

    fn step(&self, gradient: Tensor<4>, state: &mut AdamState) -> Tensor<4> {
        let g = self.normalize.apply(gradient);
        let (b1, b2) = (self.beta1, self.beta2);
        state.steps += 1;
        state.first = state.first.clone().mul_scalar(b1 as f32) + g.clone().mul_scalar((1.0 - b1) as f32);
        state.second = state.second.clone().mul_scalar(b2 as f32) + g.square().mul_scalar((1.0 - b2) as f32);
        let second = if self.amsgrad {
            state.second_max = state.second_max.clone().max_pair(state.second.clone());
            state.second_max.clone()
        } else {
            state.second.clone()
        };
        let correction1 = 1.0 - b1.powi(state.steps);
        let correction2 = 1.0 - b2.powi(state.steps);
        let denominator = second.div_scalar(correction2 as f32).sqrt().add_scalar(self.epsilon as f32);
        (state.first.clone() / denominator).mul_scalar((-self.step_size / correction1) as f32)
    }

    fn validate(&self) -> Result<()> {
        positive("step_size", self.step_size)?;
        unit_interval("beta1", self.beta1)?;
        unit_interval("beta2", self.beta2)?;
        positive("epsilon", self.epsilon)
    }
}

crate::snapshot_fields!(AdamState { first, second, second_max, steps });
