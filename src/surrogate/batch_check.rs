//! Detects surrogates whose outputs depend on the batch.

use burn::tensor::Tensor;

use super::Surrogate;
use crate::error::{Error, Result};

/// The outcome of a passed [`check_batch_independence`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchIndependence {
    /// Largest absolute difference between an image's batched and lone outputs.
    pub max_difference: f32,
}

/// Checks that each image's output is the same alone as inside `images`, within
/// `tolerance`. Returns [`Error::BatchDependent`] otherwise.
///
/// Run it on the device you attack with (with autodiff): Burn's `BatchNorm` only uses batch
/// statistics there. Attacks assume batch-independent surrogates; a
/// batch-dependent one makes each image's adversarial example depend on its neighbours.
pub fn check_batch_independence<S: Surrogate + ?Sized>(
    surrogate: &S,
    images: Tensor<4>,
    tolerance: f32,
) -> Result<BatchIndependence> {
    crate::check::non_negative("tolerance", tolerance as f64)?;
    let n = images.dims()[0];
    if n < 2 {
        return Err(Error::InvalidParameter {
            name: "images",
            value: n as f64,
            requirement: "the batch-independence check needs at least 2 images",
        });
    }
    let batched = surrogate.forward(images.clone()).detach();
    let mut worst = 0.0f32;
    for index in 0..n {
        let alone = surrogate.forward(images.clone().narrow(0, index, 1)).detach();
        let row = batched.clone().narrow(0, index, 1);
        let difference = crate::host::to_vec(row.sub(alone).abs().max())[0];
        // A NaN difference (a model producing NaN) counts as dependent too.
        if difference.is_nan() || difference > tolerance {
            return Err(Error::BatchDependent {
                model: surrogate.name().to_string(),
                index,
                max_difference: difference,
            });
        }
        worst = worst.max(difference);
    }
    Ok(BatchIndependence { max_difference: worst })
}
