//! # common-weakness-onnx
//!
//! Bring your own model: architectures exported from PyTorch to ONNX, turned into Burn code by
//! burn-onnx at build time, and wrapped as [`Surrogate`]s
//! of `[0, 1]` pixels (normalisation inside) for the attacks of `common-weakness`.
//!
//! - `scripts/export-onnx-models.sh` exports the paper's victim families from torchvision
//!   (seeded random weights) and EfficientNet-Lite0/1/2 (real ImageNet weights) with PyTorch
//!   2.9.0, together with PyTorch's logits and input gradients as parity references;
//! - the build script generates a Burn module from every ONNX file it finds and swaps Burn's
//!   `BatchNorm`, which uses batch statistics under autodiff, for the inference-mode
//!   [`FrozenBatchNorm`](common_weakness::surrogate::FrozenBatchNorm) with
//!   [`freeze_generated_batch_norm`];
//! - [`load`] gives the surrogate, [`load_encoder`] the same network as an encoder (its
//!   penultimate features), [`Reference`] PyTorch's figures to compare against;
//! - with the `tch` feature, `load_torchscript` gives the same architectures exported to
//!   TorchScript by `scripts/export-torchscript-models.sh`, run by LibTorch at run time
//!   (`common_weakness::surrogate::load_torchscript`), and `Parity::measure_torchscript`
//!   their agreement with PyTorch.
//!
//! `docs/models.md` gives the commands for your own model and the parity figures.
//!
//! ```no_run
//! use burn::tensor::Device;
//! use common_weakness_onnx::{load, Architecture};
//!
//! let resnet = load(Architecture::ResNet18, &Device::flex())?;
//! # Ok::<(), common_weakness_onnx::Error>(())
//! ```
#![warn(missing_docs)]

extern crate alloc; // the generated code names `alloc::vec::Vec`

mod architecture;
mod error;
mod freeze;
pub mod generated;
mod parity;
mod reference;
mod torchscript;

pub use architecture::{onnx_dir, Architecture};
pub use error::{Error, Result};
pub use freeze::freeze_generated_batch_norm;
pub use parity::{logits_and_gradient, relative_error, relative_l2_error, Parity};
pub use reference::Reference;
#[cfg(feature = "tch")]
pub use torchscript::load_torchscript;
pub use torchscript::torchscript_dir;

use burn::tensor::Device;
use common_weakness::surrogate::Surrogate;

/// `model` as a surrogate on `device`: the generated network with the weights the build wrote,
/// batch norm frozen, inputs `[N, 3, H, W]` in `[0, 1]` normalised inside, outputs ImageNet
/// logits `[N, 1000]`.
///
/// Fails with [`Error::NotGenerated`] when the model's ONNX file was absent at build time, and
/// with [`Error::File`] when its weights do not load.
pub fn load(model: Architecture, device: &Device) -> Result<Box<dyn Surrogate>> {
    generated::load(model, generated::Output::Logits, device)
}

/// `model` as an encoder: the same network and weights as [`load`], returning the input of its
/// classifier (the penultimate features, `[N, width]`, e.g. 512 for ResNet-18, 768 for ViT-B/16,
/// 1280 for EfficientNet-Lite) instead of logits, for the label-free objectives
/// (`Objective::feature_distortion`, `Objective::embedding_match`). Named `<model>-encoder`.
pub fn load_encoder(model: Architecture, device: &Device) -> Result<Box<dyn Surrogate>> {
    generated::load(model, generated::Output::Features, device)
}
