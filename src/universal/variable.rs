//! The universal variables: one perturbation or one patch shared by every image.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::patch::{Pastes, Patch};
use crate::error::{Error, Result};
use crate::rng::AttackRng;
use crate::threat::ThreatModel;

/// What a universal attack optimises.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum UniversalVariable {
    /// One perturbation `δ` (`[1, C, H, W]`) added to every image, `clamp(x + δ, 0, 1)`, kept
    /// in the attack's threat model (`‖δ‖ ≤ budget`). Starts at 0, or uniformly in the ball
    /// with the attack's `random_start`.
    Perturbation,
    /// One patch (`[1, C, h, w]` in `[0, 1]`) pasted into every image. Starts grey (0.5, as
    /// T-SEA does), or uniform in `[0, 1]` with the attack's `random_start`.
    Patch(Patch),
}

/// What one batch's step needs: how the variable becomes that batch's images.
// A Burn 0.22 tensor is type-erased storage as large as the largest enabled backend's
// (about 600 bytes with LibTorch and wgpu); boxing it would add an indirection per step for
// a handful of values per run.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Draw {
    Perturbation,
    Patch(Pastes),
}

impl UniversalVariable {
    /// Checks the variable's own settings.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Perturbation => Ok(()),
            Self::Patch(patch) => patch.validate(),
        }
    }

    /// Checks batch `index` against the variable and the first batch's `shape`.
    pub(crate) fn check_batch(&self, batch: &Batch, index: usize, shape: [usize; 4]) -> Result<()> {
        batch.validate(index)?;
        let [_, c, h, w] = batch.images.dims();
        if [c, h, w] != [shape[1], shape[2], shape[3]] {
            let reason = format!("images of {c}x{h}x{w}, the first batch's are {}x{}x{}", shape[1], shape[2], shape[3]);
            return Err(Error::InvalidDataset { batch: index, reason });
        }
        match self {
            Self::Perturbation => Ok(()),
            Self::Patch(patch) => patch.check_batch(batch, index),
        }
    }

    /// The variable's shape for images shaped `[_, C, H, W]`: `[1, C, H, W]` for a
    /// perturbation, `[1, C, h, w]` for a patch.
    pub fn shape(&self, images: [usize; 4]) -> [usize; 4] {
        let [_, c, h, w] = images;
        match self {
            Self::Perturbation => [1, c, h, w],
            Self::Patch(p) => [1, c, p.height, p.width],
        }
    }

    /// The starting value, for images shaped `[_, C, H, W]`.
    pub(crate) fn init(
        &self,
        images: [usize; 4],
        threat: &ThreatModel,
        random_start: bool,
        rng: &mut AttackRng,
        device: &Device,
    ) -> Tensor<4> {
        let shape = self.shape(images);
        match (self, random_start) {
            (Self::Perturbation, false) => Tensor::zeros(shape, device),
            (Self::Perturbation, true) => threat.random_perturbation(shape, rng, device),
            (Self::Patch(_), false) => Tensor::full(shape, 0.5, device),
            (Self::Patch(_), true) => rng.uniform(shape, 0.0, 1.0, device),
        }
    }

    /// The projection onto the admissible set.
    pub(crate) fn project(&self, v: Tensor<4>, threat: &ThreatModel) -> Tensor<4> {
        match self {
            Self::Perturbation => threat.clip_perturbation(v),
            Self::Patch(_) => v.clamp(0.0, 1.0),
        }
    }

    /// Draws this batch's random placements and transformations.
    pub(crate) fn draw(&self, batch: &Batch, rng: &mut AttackRng) -> Draw {
        match self {
            Self::Perturbation => Draw::Perturbation,
            Self::Patch(patch) => Draw::Patch(patch.draw(batch, batch.images.dims()[1], rng)),
        }
    }

    /// `batch`'s images with the variable `v` applied, its random placements and
    /// transformations drawn from `rng` as in a training step: how a trained perturbation or
    /// patch is evaluated. Differentiable in `v`.
    ///
    /// Fails with [`Error::InvalidDataset`] when the batch cannot carry the variable (a patch
    /// that does not fit, boxes missing) and with [`Error::Shape`] when `v` is not of the
    /// variable's [`shape`](Self::shape) for the batch.
    pub fn apply_to(&self, v: Tensor<4>, batch: &Batch, rng: &mut AttackRng) -> Result<Tensor<4>> {
        let images = batch.images.dims();
        self.check_batch(batch, 0, images)?;
        let expected = self.shape(images);
        if v.dims() != expected {
            return Err(Error::Shape {
                what: "universal variable",
                expected: format!("{expected:?} (for the batch's images)"),
                actual: v.dims().to_vec(),
            });
        }
        let draw = self.draw(batch, rng);
        Ok(self.apply(v, batch.images.clone(), &draw))
    }

    /// The images the models see at `v`; differentiable in `v`.
    pub(crate) fn apply(&self, v: Tensor<4>, images: Tensor<4>, draw: &Draw) -> Tensor<4> {
        match (self, draw) {
            (Self::Patch(patch), Draw::Patch(pastes)) => patch.apply(v, images, pastes),
            _ => {
                let n = images.dims()[0];
                (images + v.repeat_dim(0, n)).clamp(0.0, 1.0)
            }
        }
    }

    /// The gradient of the variable's own penalty (a patch's total variation) for a batch
    /// of `images` images, if it has one.
    #[allow(clippy::type_complexity)]
    pub(crate) fn penalty(&self, images: usize) -> Option<Box<dyn Fn(Tensor<4>) -> Tensor<4> + '_>> {
        match self {
            Self::Patch(patch) if patch.tv_weight > 0.0 => Some(Box::new(move |v| patch.tv_gradient(&v, images))),
            _ => None,
        }
    }
}
