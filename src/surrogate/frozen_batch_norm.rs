//! Batch normalisation frozen in inference mode, whatever the backend.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor};

/// Inference-mode batch normalisation: `y = (x − running_mean)/√(running_var + ε)·γ + β` per
/// channel, on every backend, autodiff included.
///
/// Burn's [`BatchNorm`] uses *batch* statistics on an autodiff device unless the layer is
/// frozen, so a model attacked there silently runs in training mode and each
/// image's logits depend on the rest of the batch. A Burn module wrapped by
/// [`from_module`](super::from_module) is frozen and needs nothing more; `FrozenBatchNorm` is
/// for batch norms a closure ([`from_fn`](super::from_fn)) calls, and for generated code. It
/// has `BatchNorm`'s fields (`gamma`, `beta`, `running_mean`, `running_var`, `epsilon`) under
/// the same names, so:
///
/// - in a hand-written module, replace each `BatchNorm` with `FrozenBatchNorm::from(&batch_norm)`,
///   or declare the field as `FrozenBatchNorm` and build it with [`FrozenBatchNormConfig`];
///   weights saved from a `BatchNorm` load into it by name;
/// - in Burn code generated from ONNX by burn-onnx, point the generated `use burn::nn::BatchNorm;`
///   and `use burn::nn::BatchNormConfig;` at this type and [`FrozenBatchNormConfig`] (two string
///   replacements in the build script, `docs/models.md`).
///
/// [`check_batch_independence`](super::check_batch_independence) tells you whether a model
/// needs it.
///
/// ```
/// use burn::nn::BatchNormConfig;
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::FrozenBatchNorm;
///
/// let device = Default::default();
/// let bn = BatchNormConfig::new(3).init(&device); // running mean 0, var 1
/// let frozen = FrozenBatchNorm::from(&bn);
/// let x = Tensor::<4>::ones([2, 3, 4, 4], &device);
/// let y = frozen.forward(x.clone());
/// assert!(y.sub(x).abs().max().into_scalar::<f32>() < 1e-4);
/// ```
#[derive(Module, Debug)]
pub struct FrozenBatchNorm {
    /// Per-channel scale γ.
    pub gamma: Param<Tensor<1>>,
    /// Per-channel offset β.
    pub beta: Param<Tensor<1>>,
    /// Per-channel mean, fixed.
    pub running_mean: Param<Tensor<1>>,
    /// Per-channel variance, fixed.
    pub running_var: Param<Tensor<1>>,
    /// Added to the variance before the square root.
    pub epsilon: f64,
}

/// Configuration of a [`FrozenBatchNorm`], with [`burn::nn::BatchNormConfig`]'s builder
/// methods, so that code written for `BatchNormConfig` builds a `FrozenBatchNorm` unchanged.
#[derive(Config, Debug)]
pub struct FrozenBatchNormConfig {
    /// The number of channels.
    pub num_features: usize,
    /// Added to the variance before the square root.
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Accepted for compatibility with `BatchNormConfig` and ignored: frozen statistics are never
    /// updated.
    #[config(default = 0.1)]
    pub momentum: f64,
}

impl FrozenBatchNormConfig {
    /// The identity batch norm (γ = 1, β = 0, mean 0, variance 1) of `num_features` channels,
    /// to be overwritten by loaded weights.
    pub fn init(&self, device: &Device) -> FrozenBatchNorm {
        let ones = || Param::from_tensor(Tensor::ones([self.num_features], device));
        let zeros = || Param::from_tensor(Tensor::zeros([self.num_features], device));
        FrozenBatchNorm {
            gamma: ones(),
            beta: zeros(),
            running_mean: zeros(),
            running_var: ones(),
            epsilon: self.epsilon,
        }
    }
}

impl From<&BatchNorm> for FrozenBatchNorm {
    fn from(bn: &BatchNorm) -> Self {
        let frozen = |t: Tensor<1>| Param::from_tensor(t.detach());
        Self {
            gamma: frozen(bn.gamma.val()),
            beta: frozen(bn.beta.val()),
            running_mean: frozen(bn.running_mean.value()),
            running_var: frozen(bn.running_var.value()),
            epsilon: bn.epsilon,
        }
    }
}

impl FrozenBatchNorm {
    /// Applies the affine map over dimension 1 (channels) of an input of any rank ≥ 2.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let mut shape = [1; D];
        shape[1] = input.dims()[1];
        let scale = self.gamma.val() / self.running_var.val().add_scalar(self.epsilon).sqrt();
        let shift = self.beta.val() - self.running_mean.val() * scale.clone();
        input * scale.reshape(shape) + shift.reshape(shape)
    }
}
