//! A surrogate from a closure.

use burn::tensor::Tensor;

use super::Surrogate;

/// A surrogate whose forward pass is a closure. Built by [`from_fn`].
#[derive(Clone)]
pub struct FnSurrogate<F> {
    name: String,
    forward: F,
}

/// Wraps `forward` (images `[N, C, H, W]` → outputs `[N, K]`) as a named surrogate.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::{from_fn, Surrogate};
///
/// // A two-class "model": the mean brightness against its negation.
/// let model = from_fn("brightness", |x: Tensor<4>| {
///     let mean = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]);
///     Tensor::cat(vec![mean.clone(), mean.neg()], 1)
/// });
/// let images = Tensor::<4>::ones([3, 1, 2, 2], &Default::default());
/// assert_eq!(model.forward(images).dims(), [3, 2]);
/// assert_eq!(model.name(), "brightness");
/// ```
pub fn from_fn<F>(name: impl Into<String>, forward: F) -> FnSurrogate<F>
where
    F: Fn(Tensor<4>) -> Tensor<2>,
{
    FnSurrogate { name: name.into(), forward }
}

impl<F: Fn(Tensor<4>) -> Tensor<2> + Send + Sync> Surrogate for FnSurrogate<F> {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        (self.forward)(images)
    }
    fn name(&self) -> &str {
        &self.name
    }
}
