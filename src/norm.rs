//! Per-sample norms and normalisations of image-shaped tensors `[N, C, H, W]`.
//!
//! Every norm here is taken **per sample** (over `C×H×W`), never over the whole batch, unless
//! the name says otherwise ([`Normalization::L1Batch`], kept only to reproduce the authors'
//! code). Every division is guarded: a zero input gives a zero output, never NaN.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Norms below this value are treated as this value when dividing (zero stays zero).
pub const NORM_FLOOR: f32 = 1e-12;

/// Flattens `[N, C, H, W]` into `[N, C·H·W]`.
pub fn flatten(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c * h * w])
}

/// Per-sample L1 norm: `Σ|x|` over C, H, W. Shape `[N]`.
pub fn l1(x: Tensor<4>) -> Tensor<1> {
    flatten(x).abs().sum_dim(1).squeeze_dim(1)
}

/// Per-sample L2 norm: `sqrt(Σx²)` over C, H, W. Shape `[N]`.
pub fn l2(x: Tensor<4>) -> Tensor<1> {
    flatten(x).square().sum_dim(1).sqrt().squeeze_dim(1)
}

/// Per-sample L∞ norm: `max|x|` over C, H, W. Shape `[N]`.
pub fn linf(x: Tensor<4>) -> Tensor<1> {
    flatten(x).abs().max_dim(1).squeeze_dim(1)
}

/// Multiplies each sample of `x` by its own factor from `factors` (shape `[N]`).
pub fn scale_per_sample(x: Tensor<4>, factors: Tensor<1>) -> Tensor<4> {
    let n = factors.dims()[0];
    x * factors.reshape([n, 1, 1, 1])
}

/// Divides each sample by its norm, guarded by [`NORM_FLOOR`].
fn divide_per_sample(x: Tensor<4>, norms: Tensor<1>) -> Tensor<4> {
    scale_per_sample(x, norms.clamp_min(NORM_FLOOR).recip())
}

/// `x` divided per sample by its L∞ norm where that exceeds 1 (unchanged otherwise), so that
/// the sums of squares and absolute values behind L1 and L2 norms cannot overflow f32: a huge
/// but finite gradient still normalises to its direction instead of to zero. An infinite
/// entry becomes NaN, which the attacks' step check reports.
fn at_most_one(x: Tensor<4>) -> Tensor<4> {
    let scale = linf(x.clone()).clamp_min(1.0).recip();
    scale_per_sample(x, scale)
}

/// How a gradient is normalised before an optimizer uses it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Normalization {
    /// Use the gradient as it is.
    #[default]
    None,
    /// Divide each sample by its L1 norm (MI-FGSM and the CWA outer step).
    L1,
    /// Divide each sample by its L2 norm (the CWA inner step).
    L2,
    /// Divide each sample by its mean absolute value `‖g‖₁/D`: L1's direction with entries
    /// of order 1 (the normaliser of SSA, PI and NI implementations; NI's look-ahead `α·μ·m`
    /// needs momentum entries of order 1 to move the point by about α).
    MeanAbs,
    /// Divide the whole batch by one L1 norm over all samples. Results then depend on which
    /// other images share the batch; this exists only to reproduce the authors'
    /// code. Prefer [`Normalization::L1`].
    L1Batch,
}

impl Normalization {
    /// Applies the normalisation. Zero inputs stay zero.
    pub fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Normalization::None => x,
            Normalization::L1 => {
                let x = at_most_one(x);
                divide_per_sample(x.clone(), l1(x))
            }
            Normalization::L2 => {
                let x = at_most_one(x);
                divide_per_sample(x.clone(), l2(x))
            }
            Normalization::MeanAbs => {
                let [_, c, h, w] = x.dims();
                let x = at_most_one(x);
                divide_per_sample(x.clone(), l1(x).div_scalar((c * h * w) as f32))
            }
            Normalization::L1Batch => {
                let total = x.clone().abs().sum().clamp_min(NORM_FLOOR);
                x / total.reshape([1, 1, 1, 1])
            }
        }
    }
}

/// How an optimizer turns its internal direction into a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Direction {
    /// Step along the direction as it is.
    #[default]
    Raw,
    /// Step along its element-wise sign: steepest ascent/descent under L∞.
    Sign,
    /// Step along it scaled to unit L2 norm per sample: steepest direction under L2.
    L2Unit,
}

impl Direction {
    /// Applies the direction transform.
    pub fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Direction::Raw => x,
            Direction::Sign => x.sign(),
            Direction::L2Unit => Normalization::L2.apply(x),
        }
    }
}
