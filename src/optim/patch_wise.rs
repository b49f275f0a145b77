//! PI: the patch-wise iterative step (Gao et al., ECCV 2020).

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Optimizer;
use crate::check::positive;
use crate::error::{Error, Result};
use crate::norm::Direction;

/// The patch-wise iterative update. Each step adds an amplified sign step `α_b·d` with
/// `d = −sign(g)`, and accumulates the amplification `A ← A + α_b·d`. The part of `A` that
/// exceeds the budget (`C = sign(A)·max(|A| − ε, 0)`, noise the projection would cut) is
/// spread onto neighbouring pixels through the projection kernel `W` (k×k, centre 0,
/// 1/(k²−1) around; k = 3 by default): `P = γ·sign(W ∗ C)`, `A ← A + P`, and the update is
/// `α_b·d + P`.
///
/// The authors' settings (PI-FGSM): `step_size = ε/2` (amplification 5 of α = ε/10),
/// `projection_step = step_size`, `budget = ε`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchWise {
    /// The amplified step α_b.
    #[serde(with = "crate::json_float")]
    pub step_size: f64,
    /// The projection step γ.
    #[serde(with = "crate::json_float")]
    pub projection_step: f64,
    /// The budget ε beyond which amplification is spread to neighbours.
    #[serde(with = "crate::json_float")]
    pub budget: f64,
    /// The direction of the main step (sign under L∞).
    pub direction: Direction,
    /// Side k of the projection kernel (odd).
    #[serde(default = "default_kernel_size")]
    pub kernel_size: usize,
}

fn default_kernel_size() -> usize {
    3
}

impl PatchWise {
    /// PI-FGSM's settings for budget ε: α_b = γ = ε/2.
    pub fn new(budget: f64) -> Self {
        Self {
            step_size: budget / 2.0,
            projection_step: budget / 2.0,
            budget,
            direction: Direction::Sign,
            kernel_size: default_kernel_size(),
        }
    }
}

/// The k×k projection kernel (centre 0, 1/(k²−1) elsewhere), applied per channel with zero
/// padding.
fn spread(x: Tensor<4>, k: usize) -> Tensor<4> {
    let channels = x.dims()[1];
    let mut kernel = vec![1.0f32 / (k * k - 1) as f32; k * k];
    kernel[k * k / 2] = 0.0;
    let weight = crate::host::tensor::<4>(kernel, [1, 1, k, k], &x.device()).repeat_dim(0, channels);
    conv2d(x, weight, None, ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], channels))
}

impl Optimizer for PatchWise {
    fn config(&self) -> serde_json::Value {
        serde_json::to_value(super::AnyOptimizer::from(*self)).unwrap_or_default()
    }

    /// The cumulative amplification A.
    type State = Tensor<4>;

    fn init(&self, like: &Tensor<4>) -> Tensor<4> {
        like.zeros_like()
    }

    fn step(&self, gradient: Tensor<4>, amplification: &mut Tensor<4>) -> Tensor<4> {
        let main = self.direction.apply(gradient).mul_scalar(-self.step_size as f32);
        let accumulated = amplification.clone() + main.clone();
        let cut = accumulated.clone().abs().sub_scalar(self.budget as f32).clamp_min(0.0) * accumulated.clone().sign();
        let projection = spread(cut, self.kernel_size).sign().mul_scalar(self.projection_step as f32);
        *amplification = accumulated + projection.clone();
        main + projection
    }

    fn validate(&self) -> Result<()> {
        positive("step_size", self.step_size)?;
        positive("projection_step", self.projection_step)?;
        positive("budget", self.budget)?;
        if self.kernel_size < 3 || self.kernel_size.is_multiple_of(2) {
            return Err(Error::InvalidParameter {
                name: "kernel_size",
                value: self.kernel_size as f64,
                requirement: "must be odd and >= 3",
            });
        }
        Ok(())
    }
}
