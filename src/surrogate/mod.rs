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
// burn-tch is deprecated in Burn 0.22; this module is its one user in the library, while Burn
// publishes it.
#[cfg(feature = "tch")]
#[allow(deprecated)]
mod torchscript;

pub use batch_check::{check_batch_independence, BatchIndependence};
pub use closure::{from_fn, FnSurrogate};
pub use frozen_batch_norm::{FrozenBatchNorm, FrozenBatchNormConfig};
pub use module::{from_module, ModuleSurrogate};
pub use normalized::Normalized;
#[cfg(feature = "tch")]
pub use torchscript::{load_torchscript, load_torchscript_with, TorchScriptSpec};

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

    /// The outputs of the model as drawn by `draw`, for a surrogate with random parts (Ghost's
    /// eroded skip connections, a sampled set of weights): the same `draw` must give the same
    /// model. Every forward pass of an attack's iteration gets that iteration's draw for this
    /// model ([`draw_key`]), the same for every image in any batch or shard, so seeded runs
    /// repeat and shards equal one run. A fixed model needs nothing here: the default is
    /// [`forward`](Self::forward), which is also what evaluations and the clean outputs use.
    fn forward_drawn(&self, images: Tensor<4>, _draw: u64) -> Tensor<2> {
        self.forward(images)
    }
}

/// The draw of model `model` at iteration `iteration` of a run seeded with `seed` (what
/// [`Surrogate::forward_drawn`] receives): a SplitMix64 hash of the three.
///
/// ```
/// use common_weakness::surrogate::draw_key;
///
/// assert_eq!(draw_key(7, 3, 1), draw_key(7, 3, 1));
/// assert_ne!(draw_key(7, 3, 1), draw_key(7, 4, 1));
/// assert_ne!(draw_key(7, 3, 1), draw_key(7, 3, 0));
/// ```
pub fn draw_key(seed: u64, iteration: usize, model: usize) -> u64 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    mix(mix(mix(seed) ^ iteration as u64) ^ model as u64)
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
    fn forward_drawn(&self, images: Tensor<4>, draw: u64) -> Tensor<2> {
        (**self).forward_drawn(images, draw)
    }
}
