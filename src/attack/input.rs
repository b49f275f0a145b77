//! Checks of the images an attack is given.

use burn::tensor::{backend::Backend, Tensor};

use crate::error::{Error, Result};

/// Images must be a non-empty `[N, C, H, W]` batch of finite pixels in `[0, 1]`.
pub(crate) fn check_images<B: Backend>(images: &Tensor<B, 4>) -> Result<()> {
    let shape = images.dims();
    if shape.contains(&0) {
        return Err(Error::EmptyBatch { shape: shape.to_vec() });
    }
    let values = crate::host::to_vec(images.clone());
    let non_finite = values.iter().filter(|v| !v.is_finite()).count();
    if non_finite > 0 {
        return Err(Error::InvalidPixels { count: non_finite, problem: "NaN or infinite" });
    }
    let outside = values.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();
    if outside > 0 {
        return Err(Error::InvalidPixels { count: outside, problem: "outside [0, 1]" });
    }
    Ok(())
}
