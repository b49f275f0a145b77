//! 1-D loss curves: the paper's landscape figure.

use burn::tensor::Tensor;

use super::{mean, Landscape, Scope};
use crate::error::{Error, Result};
use crate::host;
use crate::norm::{self, scale_per_sample};

impl Landscape<'_> {
    /// The mean objective at `clip₀₁(x + t·d)` for each `t` in `offsets`, where `d` is
    /// `direction` scaled to unit L∞ norm per image, so `t` is an L∞ distance in pixel units
    /// (the authors plot t ∈ {−16/255, …, 15/255} along the direction to each target's nearby
    /// optimum; they normalise over the whole batch, this per image). A zero direction gives a
    /// flat curve, not NaN.
    pub fn curve(&self, scope: Scope, x: &Tensor<4>, direction: &Tensor<4>, offsets: &[f64]) -> Result<Vec<f64>> {
        self.check_point(x)?;
        self.check_shape("curve direction", direction)?;
        let direction = direction.clone().inner();
        if let Some(&value) = host::to_vec(direction.clone()).iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "curve direction",
                value: value.into(),
                requirement: "must be finite",
            });
        }
        let x = x.clone().inner();
        let size = norm::linf(direction.clone());
        let zero = size.clone().lower_equal_elem(0.0);
        let unit = scale_per_sample(direction, size.mask_fill(zero.clone(), 1.0).recip().mask_fill(zero, 0.0));
        offsets
            .iter()
            .map(|&t| {
                let point = (x.clone() + unit.clone().mul_scalar(t as f32)).clamp(0.0, 1.0);
                Ok(mean(&self.loss(scope, &point)?))
            })
            .collect()
    }
}

/// `count` evenly spaced offsets from `-radius` to `radius` inclusive.
pub fn offsets(radius: f64, count: usize) -> Vec<f64> {
    if count < 2 {
        return vec![0.0; count];
    }
    let last = (count - 1) as f64;
    (0..count).map(|i| radius * (2.0 * i as f64 - last) / last).collect()
}
