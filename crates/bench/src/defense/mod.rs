//! Defended targets: black-box models behind input transformations, as in the paper's table
//! (bit-depth reduction, random resize-and-pad, JPEG compression, randomized smoothing).
//!
//! Attacks never see a defence: targets only [`predict`](Target::predict). The crate's
//! surrogates (boxed, [`from_module`](common_weakness::surrogate::from_module),
//! [`from_fn`](common_weakness::surrogate::from_fn), [`Normalized`]) are also targets (arg-max of their
//! outputs), so plain and defended models sit in one list of targets.
//!
//! ```
//! use burn::tensor::Tensor;
//! use common_weakness_bench::defense::{BitDepth, Defended, Jpeg, Target};
//! use common_weakness::surrogate::from_fn;
//!
//! let model = from_fn("brightness", |x: Tensor<4>| {
//!     let mean = x.mean_dim(1).mean_dim(2).mean_dim(3).reshape([-1, 1]);
//!     Tensor::cat(vec![mean.clone().neg(), mean], 1) // class 1 when bright
//! });
//! let defended = Defended::new(model, BitDepth::new(3).unwrap(), 0);
//! let images = Tensor::<4>::full([2, 1, 8, 8], 0.9, &Default::default());
//! assert_eq!(defended.predict(images).unwrap(), vec![1, 1]);
//! assert_eq!(defended.target_name(), "brightness + bit depth 3");
//! ```

mod bit_depth;
mod jpeg;
mod randomized_smoothing;
mod resize_pad;

pub use bit_depth::BitDepth;
pub use jpeg::Jpeg;
pub use randomized_smoothing::RandomizedSmoothing;
pub use resize_pad::ResizePad;

use burn::tensor::Tensor;

use crate::error::Result;
use common_weakness::attack::check_images;
use common_weakness::eval::predictions;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::{FnSurrogate, ModuleSurrogate, Normalized, Surrogate};

/// A model that is only queried for its predicted class: the black box an attack transfers to.
pub trait Target {
    /// A name for tables. (Not `name`, which would make `.name()` ambiguous on boxed
    /// surrogates, which are targets too.)
    fn target_name(&self) -> &str;

    /// The predicted class of each image `[N, C, H, W]` (pixels in `[0, 1]`), image `i`
    /// being image `image_indices[i]` of the whole set: a randomised defence draws each
    /// image's randomness from that image's stream of its seed, so that an image gets the
    /// same prediction in any batch, order or shard.
    fn predict_indexed(&self, images: Tensor<4>, image_indices: &[usize]) -> Result<Vec<usize>>;

    /// The predicted class of each image, images `0..N` of their set.
    fn predict(&self, images: Tensor<4>) -> Result<Vec<usize>> {
        let indices: Vec<usize> = (0..images.dims()[0]).collect();
        self.predict_indexed(images, &indices)
    }
}

/// The checks before a prediction: valid pixels, one index per image.
fn check_batch(images: &Tensor<4>, image_indices: &[usize]) -> Result<()> {
    check_images(images)?;
    let count = images.dims()[0];
    match image_indices.len() == count {
        true => Ok(()),
        false => Err(common_weakness::Error::IndexMismatch { images: count, indices: image_indices.len() }.into()),
    }
}

/// The arg-max prediction of a surrogate, after the checks an attack makes.
fn predict_plain<S: Surrogate + ?Sized>(model: &S, images: Tensor<4>) -> Result<Vec<usize>> {
    check_images(&images)?;
    model.check_input(images.dims())?;
    Ok(predictions(model.forward(images))?)
}

/// Surrogate types are targets. (A blanket `impl<S: Surrogate>` is impossible: another
/// crate could make a defence a surrogate for its own backend.)
macro_rules! surrogate_targets {
    ($([$($generics:tt)*] $ty:ty),* $(,)?) => {$(
        impl<$($generics)*> Target for $ty
        where
            $ty: Surrogate,
        {
            fn target_name(&self) -> &str {
                Surrogate::name(self)
            }
            fn predict_indexed(&self, images: Tensor<4>, image_indices: &[usize]) -> Result<Vec<usize>> {
                check_batch(&images, image_indices)?;
                predict_plain(self, images)
            }
        }
    )*};
}

surrogate_targets!(
    [S: ?Sized] Box<S>,
    [M, F] ModuleSurrogate<M, F>,
    [F] FnSurrogate<F>,
    [S] Normalized<S>,
);

/// An input transformation placed in front of a model. Randomised ones draw from `rng`.
pub trait Preprocessing {
    /// A short description, e.g. `JPEG q75`.
    fn describe(&self) -> String;

    /// Transforms images in `[0, 1]` into images in `[0, 1]` of the same shape.
    fn apply(&self, images: Tensor<4>, rng: &mut AttackRng) -> Result<Tensor<4>>;
}

/// A model behind a [`Preprocessing`]. Random draws restart from `seed` at every call, each
/// image drawing from its own stream ([`AttackRng::per_image`]), so the same image always
/// gets the same prediction.
#[derive(Clone, Debug)]
pub struct Defended<S, P> {
    model: S,
    preprocessing: P,
    seed: u64,
    name: String,
}

impl<S, P: Preprocessing> Defended<S, P> {
    /// `model` behind `preprocessing`; named "model + preprocessing".
    pub fn new(model: S, preprocessing: P, seed: u64) -> Self
    where
        S: Surrogate,
    {
        let name = format!("{} + {}", model.name(), preprocessing.describe());
        Self { model, preprocessing, seed, name }
    }

    /// The undefended model.
    pub fn model(&self) -> &S {
        &self.model
    }
}

impl<S: Surrogate, P: Preprocessing> Target for Defended<S, P> {
    fn target_name(&self) -> &str {
        &self.name
    }

    fn predict_indexed(&self, images: Tensor<4>, image_indices: &[usize]) -> Result<Vec<usize>> {
        check_batch(&images, image_indices)?;
        let transformed = self.preprocessing.apply(images, &mut AttackRng::per_image(self.seed, image_indices))?;
        predict_plain(&self.model, transformed)
    }
}
