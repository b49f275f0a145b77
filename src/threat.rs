//! Threat models: the set of images an attack may return.
//!
//! An adversarial image `x` is admissible when `‖x − x_nat‖ ≤ budget` in the chosen norm,
//! **per sample**, and every pixel lies in `[0, 1]`.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::check::positive;
use crate::error::{Error, Result};
use crate::norm::{self, Direction};
use crate::rng::AttackRng;

/// The norm that measures a perturbation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Norm {
    /// Largest absolute pixel change (the paper's setting).
    Linf,
    /// Euclidean length of the perturbation.
    L2,
}

/// A norm ball of radius `budget` around each clean image, intersected with the pixel box
/// `[0, 1]`.
///
/// ```
/// use common_weakness::threat::ThreatModel;
/// let threat = ThreatModel::linf(16.0 / 255.0);
/// assert!(threat.validate().is_ok());
/// assert!(ThreatModel::l2(-1.0).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatModel {
    /// The norm of the ball.
    pub norm: Norm,
    /// The ball's radius (ε in the paper).
    #[doc(alias = "epsilon")]
    #[serde(with = "crate::json_float")]
    pub budget: f64,
}

impl ThreatModel {
    /// An L∞ ball of radius `budget`.
    pub fn linf(budget: f64) -> Self {
        Self { norm: Norm::Linf, budget }
    }

    /// An L2 ball of radius `budget`.
    pub fn l2(budget: f64) -> Self {
        Self { norm: Norm::L2, budget }
    }

    /// The smallest budget accepted: `f32::EPSILON` (1.2e-7), the gap between 1 and the next
    /// f32. A smaller ball cannot move a pixel near 1 at all, and step sizes derived from it
    /// (budget / iterations) could round to zero and be blamed on the optimizer.
    pub const MIN_BUDGET: f64 = f32::EPSILON as f64;

    /// Checks that the budget is finite, at least [`MIN_BUDGET`](Self::MIN_BUDGET), and
    /// within f32 range.
    pub fn validate(&self) -> Result<()> {
        positive("budget", self.budget)?;
        if self.budget < Self::MIN_BUDGET {
            return Err(Error::InvalidParameter {
                name: "budget",
                value: self.budget,
                requirement: "must be at least f32::EPSILON (1.2e-7): a smaller ball cannot move a pixel near 1",
            });
        }
        Ok(())
    }

    /// The steepest-ascent direction transform of this norm: sign for L∞, unit L2 for L2.
    pub fn steepest(&self) -> Direction {
        match self.norm {
            Norm::Linf => Direction::Sign,
            Norm::L2 => Direction::L2Unit,
        }
    }

    /// Projects `x` onto the ball around `x_nat`, then onto the pixel box `[0, 1]`.
    ///
    /// The result is admissible and projecting it again leaves it unchanged. Clamping to the
    /// box after the ball never leaves the ball: `x_nat` is inside the box, so clamping only
    /// moves each pixel towards it.
    pub fn project(&self, x: Tensor<4>, x_nat: &Tensor<4>) -> Tensor<4> {
        let budget = self.budget as f32;
        let inside = match self.norm {
            // Clamping x itself (not x − x_nat) leaves points already inside bit-for-bit alone.
            Norm::Linf => x.max_pair(x_nat.clone().sub_scalar(budget)).min_pair(x_nat.clone().add_scalar(budget)),
            Norm::L2 => x_nat.clone() + self.clip_perturbation(x - x_nat.clone()),
        };
        inside.clamp(0.0, 1.0)
    }

    /// Projects a perturbation onto the ball of radius `budget` around zero, per sample
    /// (no pixel box): clamping under L∞, radial scaling under L2.
    pub fn clip_perturbation(&self, delta: Tensor<4>) -> Tensor<4> {
        let budget = self.budget as f32;
        match self.norm {
            Norm::Linf => delta.clamp(-budget, budget),
            // min(1, budget / ‖δ‖) computed as budget / max(‖δ‖, budget): no division by 0.
            Norm::L2 => {
                let factor = norm::l2(delta.clone()).clamp_min(budget).recip().mul_scalar(budget);
                norm::scale_per_sample(delta, factor)
            }
        }
    }

    /// A random point of the ball around `x_nat`, inside `[0, 1]`: uniform in the L∞ box, or
    /// uniform in the L2 ball (a Gaussian direction and radius `budget · u^(1/d)`), drawn per
    /// sample from `rng`.
    pub fn random_start(&self, x_nat: &Tensor<4>, rng: &mut AttackRng) -> Tensor<4> {
        let noise = self.random_perturbation(x_nat.dims(), rng, &x_nat.device());
        self.project(x_nat.clone() + noise, x_nat)
    }

    /// A random perturbation of shape `shape` inside the ball (per sample): uniform in the L∞
    /// box, or uniform in the L2 ball.
    pub fn random_perturbation(&self, shape: [usize; 4], rng: &mut AttackRng, device: &Device) -> Tensor<4> {
        let budget = self.budget as f32;
        match self.norm {
            Norm::Linf => rng.uniform(shape, -budget, budget, device),
            Norm::L2 => {
                let direction = norm::Normalization::L2.apply(rng.normal(shape, device));
                let dim = (shape[1] * shape[2] * shape[3]) as f32;
                let radii: Vec<f32> = (0..shape[0]).map(|image| budget * rng.unit_for(image).powf(1.0 / dim)).collect();
                let radii = crate::host::tensor::<1>(radii, [shape[0]], device);
                norm::scale_per_sample(direction, radii)
            }
        }
    }
}
