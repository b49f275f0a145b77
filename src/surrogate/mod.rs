//! Surrogate models: the differentiable models an attack can see.
//!
//! A surrogate maps images `[N, C, H, W]` with pixels in `[0, 1]` to one output row per image
//! `[N, K]` (logits for classifiers, embeddings for encoders). Any normalisation or resizing
//! belongs **inside** the surrogate ([`Normalized`]), so attacks always work in pixel space.

mod batch_check;
mod closure;
mod frozen_batch_norm;
mod module;
mod normalized;

pub use batch_check::{check_batch_independence, BatchIndependence};
pub use closure::{from_fn, FnSurrogate};
pub use frozen_batch_norm::{FrozenBatchNorm, FrozenBatchNormConfig};
pub use module::{from_module, ModuleSurrogate};
pub use normalized::Normalized;

use burn::tensor::Tensor;

use crate::error::Result;

/// A differentiable model seen by the attack.
///
/// Implement it directly on your Burn model, or wrap one with [`from_module`] or a closure
/// with [`from_fn`]. Give the model's parameters `no_grad()` (the adapters do) so that
/// backward passes compute only the input gradient.
///
/// Surrogates are `Send + Sync` (Burn's tensors and modules are), so one [`Ensemble`] can
/// serve attacks on several threads at once.
///
/// [`Ensemble`]: crate::ensemble::Ensemble
pub trait Surrogate: Send + Sync {
    /// Outputs `[N, K]` for images `[N, C, H, W]` in `[0, 1]`.
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;

    /// A name for reports and error messages.
    fn name(&self) -> &str;

    /// Checks that images of shape `[N, C, H, W]` suit this model (e.g. the channel count of
    /// a [`Normalized`] wrapper). Attacks call it before the first forward pass.
    fn check_input(&self, _shape: [usize; 4]) -> Result<()> {
        Ok(())
    }
}

impl<S: Surrogate + ?Sized> Surrogate for Box<S> {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        (**self).forward(images)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn check_input(&self, shape: [usize; 4]) -> Result<()> {
        (**self).check_input(shape)
    }
}
