//! Batch normalisation frozen into a per-channel affine map.

use burn::module::{Module, Param};
use burn::nn::BatchNorm;
use burn::tensor::{backend::Backend, Tensor};

/// Inference-mode batch normalisation: `y = x·scale + shift` per channel, with
/// `scale = γ/√(running_var + ε)` and `shift = β − running_mean·scale`.
///
/// burn 0.21's [`BatchNorm`] uses *batch* statistics whenever the backend tracks gradients,
/// so a model attacked on an `Autodiff` backend silently runs in training mode and each
/// image's logits depend on the rest of the batch. Replace every `BatchNorm` of a surrogate
/// with `FrozenBatchNorm::from(&batch_norm)` (same input and output shapes) before
/// attacking; [`check_batch_independence`](super::check_batch_independence) tells you
/// whether you need to.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::nn::BatchNormConfig;
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::FrozenBatchNorm;
///
/// type B = Autodiff<NdArray>;
/// let device = Default::default();
/// let bn = BatchNormConfig::new(3).init::<B>(&device); // running mean 0, var 1
/// let frozen = FrozenBatchNorm::from(&bn);
/// let x = Tensor::<B, 4>::ones([2, 3, 4, 4], &device);
/// let y = frozen.forward(x.clone());
/// assert!(y.sub(x).abs().max().into_scalar() < 1e-4);
/// ```
#[derive(Module, Debug)]
pub struct FrozenBatchNorm<B: Backend> {
    /// Per-channel multiplier.
    pub scale: Param<Tensor<B, 1>>,
    /// Per-channel offset.
    pub shift: Param<Tensor<B, 1>>,
}

impl<B: Backend> From<&BatchNorm<B>> for FrozenBatchNorm<B> {
    fn from(bn: &BatchNorm<B>) -> Self {
        let scale = bn.gamma.val() / bn.running_var.value().add_scalar(bn.epsilon).sqrt();
        let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
        Self { scale: Param::from_tensor(scale.detach()), shift: Param::from_tensor(shift.detach()) }
    }
}

impl<B: Backend> FrozenBatchNorm<B> {
    /// Applies the affine map over dimension 1 (channels) of an input of any rank ≥ 2.
    pub fn forward<const D: usize>(&self, input: Tensor<B, D>) -> Tensor<B, D> {
        let mut shape = [1; D];
        shape[1] = input.dims()[1];
        input * self.scale.val().reshape(shape) + self.shift.val().reshape(shape)
    }
}
