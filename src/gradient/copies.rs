//! Transformed copies: the gradient averaged over several copies of the input, each seen by
//! the models through its own differentiable transform (SIM, MaskBlock).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::check::at_least_one;
use crate::error::{Error, Result};

/// Copies of the input whose gradients an estimate averages, each taken through its transform
/// (inside the differentiated graph, so the gradient is the input's). A copy is one more
/// forward and backward pass per gradient; copies compose with input diversity (applied to
/// each copy) and with sampling (every sampled point is copied).
///
/// ```
/// use common_weakness::gradient::{Copies, GradientEstimator};
///
/// // SI-MI-FGSM's gradient: the mean over x, x/2, x/4, x/8, x/16.
/// let sim = GradientEstimator::default().with_copies(Copies::sim());
/// assert_eq!(Copies::sim().count(), 5);
/// assert_eq!(Copies::mask_block().count(), 16);
/// assert!(sim.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Copies {
    /// SIM, the scale-invariance method of Lin et al., *Nesterov Accelerated Gradient and
    /// Scale Invariance for Adversarial Attacks*, ICLR 2020: the copies `x / 2^i` for
    /// `i = 0 … scales − 1` (the paper: 5), whose gradients `2^{−i}·∇L(x/2^i)` are averaged.
    Scale {
        /// Number of copies m (≥ 1; 1 is the plain gradient).
        scales: usize,
    },
    /// MaskBlock, Fan et al., *MaskBlock: Transferable Adversarial Examples with Bayes
    /// Approach*, 2022: the image cut into a `grid × grid` grid of blocks, one copy per
    /// block with that block set to 0 (TransferAttack's 56-pixel blocks on 224-pixel images:
    /// a 4 × 4 grid, 16 copies). Block edges are at `⌊k·H/grid⌋`, so every pixel is in one
    /// block whatever the image size.
    MaskBlock {
        /// Blocks per side (≥ 1, at most the image side).
        grid: usize,
    },
}

impl Copies {
    /// SIM with the paper's 5 scales.
    pub fn sim() -> Self {
        Copies::Scale { scales: 5 }
    }

    /// MaskBlock with a 4 × 4 grid (TransferAttack's 56-pixel blocks on 224-pixel images).
    pub fn mask_block() -> Self {
        Copies::MaskBlock { grid: 4 }
    }

    /// Checks the parameters that do not depend on the images.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Copies::Scale { scales } => {
                at_least_one("scales", scales)?;
                // 2^-149 is the smallest f32: beyond it every further copy is all zeros.
                match scales <= 128 {
                    true => Ok(()),
                    false => Err(Error::InvalidParameter {
                        name: "scales",
                        value: scales as f64,
                        requirement: "must be at most 128 (x / 2^128 is zero in f32)",
                    }),
                }
            }
            Copies::MaskBlock { grid } => at_least_one("grid", grid),
        }
    }

    /// Checks the parameters against images shaped `[N, C, H, W]`.
    pub(crate) fn check(&self, images: [usize; 4]) -> Result<()> {
        let [_, _, h, w] = images;
        match *self {
            Copies::MaskBlock { grid } if grid > h.min(w) => Err(Error::InvalidParameter {
                name: "grid",
                value: grid as f64,
                requirement: "must be at most the image's smaller side (every block holds a pixel)",
            }),
            _ => Ok(()),
        }
    }

    /// The number of copies: forward and backward passes per gradient.
    pub fn count(&self) -> usize {
        match *self {
            Copies::Scale { scales } => scales,
            Copies::MaskBlock { grid } => grid * grid,
        }
    }

    /// Copy `index` (`< count`) of `images`: differentiable, the same shape.
    pub(crate) fn apply(&self, index: usize, images: Tensor<4>) -> Tensor<4> {
        match *self {
            Copies::Scale { .. } => images.mul_scalar(0.5f32.powi(index as i32)),
            Copies::MaskBlock { grid } => {
                let [_, _, h, w] = images.dims();
                let (row, column) = (index / grid, index % grid);
                let edge = |k: usize, side: usize| k * side / grid;
                let (top, bottom) = (edge(row, h), edge(row + 1, h));
                let (left, right) = (edge(column, w), edge(column + 1, w));
                let mask = Tensor::<4>::ones([1, 1, h, w], &images.device()).slice_assign(
                    [0..1, 0..1, top..bottom, left..right],
                    Tensor::zeros([1, 1, bottom - top, right - left], &images.device()),
                );
                images * mask
            }
        }
    }
}
