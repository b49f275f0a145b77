//! A surrogate from a Burn module.

use burn::module::Module;
use burn::tensor::Tensor;

use super::Surrogate;

/// A Burn module with its forward function, parameters frozen. Built by [`from_module`].
#[derive(Clone, Debug)]
pub struct ModuleSurrogate<M, F> {
    name: String,
    module: M,
    forward: F,
}

/// Wraps a Burn module as a surrogate, [frozen](burn::module::Module::freeze): its parameters
/// need no gradient, so backward passes compute only the input gradient, and every layer with
/// a training mode runs in inference mode. A Burn `BatchNorm` in the model uses its running
/// statistics (without the freeze it would use the batch's on the autodiff device the attack
/// differentiates on, and each image's logits would depend on the rest of its batch), and a
/// `Dropout` passes its input through: the user's model needs no change.
///
/// ```
/// use burn::nn::{BatchNorm, BatchNormConfig};
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::{check_batch_independence, from_module};
///
/// // The device an attack differentiates on.
/// let device = burn::tensor::Device::default().autodiff();
/// let batch_norm: BatchNorm = BatchNormConfig::new(1).init(&device);
/// let model = from_module("bn", batch_norm, |m: &BatchNorm, x: Tensor<4>| m.forward(x).flatten(1, 3));
/// let images = Tensor::<4>::from_floats([[[[0.1, 0.9]]], [[[0.5, 0.2]]], [[[0.7, 0.3]]]], &device);
/// check_batch_independence(&model, images, 1e-6).unwrap();
/// ```
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::{from_module, Surrogate};
///
/// let device = Default::default();
/// let linear: Linear = LinearConfig::new(4, 3).init(&device);
/// let model = from_module("linear", linear, |m: &Linear, x: Tensor<4>| {
///     m.forward(x.flatten(1, 3))
/// });
/// assert_eq!(model.forward(Tensor::zeros([2, 1, 2, 2], &device)).dims(), [2, 3]);
/// ```
pub fn from_module<M, F>(name: impl Into<String>, module: M, forward: F) -> ModuleSurrogate<M, F>
where
    M: Module,
    F: Fn(&M, Tensor<4>) -> Tensor<2>,
{
    ModuleSurrogate { name: name.into(), module: module.freeze(), forward }
}

impl<M, F> ModuleSurrogate<M, F> {
    /// The wrapped module.
    pub fn module(&self) -> &M {
        &self.module
    }
}

impl<M, F> Surrogate for ModuleSurrogate<M, F>
where
    M: Send + Sync,
    F: Fn(&M, Tensor<4>) -> Tensor<2> + Send + Sync,
{
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        (self.forward)(&self.module, images)
    }
    fn name(&self) -> &str {
        &self.name
    }
}
