//! The models a command names: the Fashion-MNIST zoo, EfficientNet-Lite, the models compiled
//! in from ONNX (feature `onnx`) and TorchScript files (feature `tch`).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common_weakness::ensemble::Ensemble;
use common_weakness::surrogate::Surrogate;
use common_weakness_models::zoo::ZooModel;
use common_weakness_models::{EfficientNetLite, ImagenetAssets, LiteVariant};

use crate::error::{argument, Result};

/// One model of `--models`.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    /// A model of the Fashion-MNIST zoo (grey 28 × 28 images, 10 classes).
    Zoo(ZooModel),
    /// EfficientNet-Lite with its ImageNet weights (RGB 224 × 224, 1,000 classes).
    Lite(LiteVariant),
    /// A model generated from its ONNX export at build time (RGB 224 × 224, 1,000 classes).
    Onnx(String),
    /// A TorchScript file with its sidecar JSON.
    TorchScript(PathBuf),
}

/// The ONNX models `crates/onnx` can generate.
const ONNX: [&str; 7] =
    ["resnet18", "vgg11", "densenet121", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "vit_b_16"];

impl ModelSpec {
    /// A name of [`known`], or the path of a TorchScript file (ending in `.pt` or `.ts`).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.ends_with(".pt") || text.ends_with(".ts") || text.contains('/') {
            return Ok(ModelSpec::TorchScript(PathBuf::from(text)));
        }
        if let Some(model) = ZooModel::from_name(text) {
            return Ok(ModelSpec::Zoo(model));
        }
        if let Some(variant) = LiteVariant::ALL.into_iter().find(|v| v.name() == text) {
            return Ok(ModelSpec::Lite(variant));
        }
        if ONNX.contains(&text) {
            return Ok(ModelSpec::Onnx(text.to_string()));
        }
        Err(argument(
            "models",
            format!("unknown model `{text}`: `common-weakness list` names the models, and a path ending in .pt is a TorchScript file"),
        ))
    }

    /// `--models a,b,c`, at least one.
    pub fn parse_list(text: &str) -> Result<Vec<Self>> {
        let specs = text.split(',').filter(|s| !s.trim().is_empty()).map(Self::parse).collect::<Result<Vec<_>>>()?;
        if specs.is_empty() {
            return Err(argument("models", "name at least one model"));
        }
        Ok(specs)
    }

    /// `[channels, height, width]` of the images the model takes.
    pub fn input(&self) -> Result<[usize; 3]> {
        match self {
            ModelSpec::Zoo(_) => Ok([1, 28, 28]),
            ModelSpec::Lite(_) | ModelSpec::Onnx(_) => Ok([3, 224, 224]),
            ModelSpec::TorchScript(path) => torchscript_input(path),
        }
    }

    /// The model as a surrogate on `device`.
    pub fn load(&self, device: &Device) -> Result<Box<dyn Surrogate>> {
        match self {
            ModelSpec::Zoo(model) => Ok(model.load(device)?),
            ModelSpec::Lite(variant) => {
                let assets = ImagenetAssets::locate()?;
                Ok(Box::new(EfficientNetLite::load(*variant, assets.weights(*variant), device)?.into_surrogate()))
            }
            ModelSpec::Onnx(name) => load_onnx(name, device),
            ModelSpec::TorchScript(path) => load_torchscript(path, device),
        }
    }
}

#[cfg(feature = "tch")]
fn torchscript_input(path: &Path) -> Result<[usize; 3]> {
    if !path.is_file() {
        return Err(argument("models", format!("{}: no such TorchScript file", path.display())));
    }
    Ok(common_weakness::surrogate::TorchScriptSpec::read_sidecar(path)?.input)
}

#[cfg(not(feature = "tch"))]
fn torchscript_input(path: &Path) -> Result<[usize; 3]> {
    Err(no_libtorch(path))
}

/// The error for a TorchScript file in a build without LibTorch.
#[cfg(not(feature = "tch"))]
fn no_libtorch(path: &Path) -> crate::error::CliError {
    argument(
        "models",
        format!(
            "{} is a TorchScript file, and this build has no LibTorch: install with `cargo install --path crates/cli \
             --features tch` in the environment of scripts/setup-libtorch.sh",
            path.display()
        ),
    )
}

#[cfg(feature = "tch")]
fn load_torchscript(path: &Path, device: &Device) -> Result<Box<dyn Surrogate>> {
    Ok(common_weakness::surrogate::load_torchscript(path, device)?)
}

#[cfg(not(feature = "tch"))]
fn load_torchscript(path: &Path, _device: &Device) -> Result<Box<dyn Surrogate>> {
    Err(no_libtorch(path))
}

#[cfg(feature = "onnx")]
fn load_onnx(name: &str, device: &Device) -> Result<Box<dyn Surrogate>> {
    let model = common_weakness_onnx::Architecture::from_name(name)
        .ok_or_else(|| argument("models", format!("`{name}` is not an ONNX architecture")))?;
    Ok(common_weakness_onnx::load(model, device)?)
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(name: &str, _device: &Device) -> Result<Box<dyn Surrogate>> {
    Err(argument(
        "models",
        format!(
            "`{name}` is generated from its ONNX export, and this build has none: run scripts/export-onnx-models.sh, \
             then install with `--features onnx`"
        ),
    ))
}

/// The models of `--models`, loaded into one ensemble (logit mean), and the input they share.
pub fn ensemble(specs: &[ModelSpec], device: &Device) -> Result<(Ensemble, [usize; 3])> {
    let input = specs[0].input()?;
    for spec in &specs[1..] {
        let other = spec.input()?;
        if other != input {
            return Err(argument(
                "models",
                format!("the models take different images: {:?} takes {input:?}, {:?} takes {other:?}", specs[0], spec),
            ));
        }
    }
    let models = specs.iter().map(|s| s.load(device)).collect::<Result<Vec<_>>>()?;
    Ok((Ensemble::new(models)?, input))
}

/// Every model name `--models` knows, with what it is.
pub fn known() -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = ZooModel::ALL
        .into_iter()
        .map(|m| {
            let trained = if m.is_adversarially_trained() { ", adversarially trained" } else { "" };
            (m.name().to_string(), format!("Fashion-MNIST zoo, grey 28x28, 10 classes{trained}"))
        })
        .collect();
    rows.extend(
        LiteVariant::ALL
            .map(|v| (v.name().to_string(), "ImageNet, RGB 224x224 (scripts/fetch-imagenet-assets.sh)".to_string())),
    );
    let onnx = if cfg!(feature = "onnx") { "compiled in" } else { "needs --features onnx" };
    rows.extend(ONNX.map(|n| (n.to_string(), format!("torchvision from ONNX, seeded random weights ({onnx})"))));
    let tch = if cfg!(feature = "tch") { "in this build" } else { "needs --features tch" };
    rows.push(("PATH.pt".to_string(), format!("a TorchScript file with its sidecar PATH.json ({tch})")));
    rows
}
