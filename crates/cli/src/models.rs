//! The models a command names: the Fashion-MNIST zoo, EfficientNet-Lite, the models compiled
//! in from ONNX (feature `onnx`) and TorchScript files (feature `tch`), and surrogates that
//! change every iteration: `resnet@ghost`, `mlp@lgv=DIR`, `resnet@mba=DIR`.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common_weakness::ensemble::Ensemble;
use common_weakness::surrogate::Surrogate;
use common_weakness_models::ghost::Ghost;
use common_weakness_models::zoo::{Posterior, ResNet, ZooModel};
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
    /// A zoo or EfficientNet-Lite model that changes every iteration of an attack (scored as
    /// the model as trained).
    Augmented(Box<ModelSpec>, Augmentation),
}

/// How a surrogate changes from one iteration of an attack to the next (`NAME@...`), drawn
/// from the run's seed.
#[derive(Clone, Debug, PartialEq)]
pub enum Augmentation {
    /// `@ghost`: Ghost (Li et al., AAAI 2020), the skip connections scaled by a fresh draw
    /// (the zoo's ResNet and EfficientNet-Lite).
    Ghost,
    /// `@lgv=DIR`: LGV (Gubri et al., ECCV 2022), one of the model's weight snapshots in DIR
    /// (zoo models; `collect_lgv` writes them).
    Lgv(PathBuf),
    /// `@mba=DIR`: MBA (Li et al., ICLR 2023), weights sampled from the Gaussian posterior
    /// fitted to the snapshots in DIR (zoo models).
    Mba(PathBuf),
}

impl Augmentation {
    /// `ghost`, `lgv=DIR` or `mba=DIR`, for the model `base` named `name`.
    fn parse(text: &str, base: &ModelSpec, name: &str) -> Result<Self> {
        let (kind, folder) = match text.split_once('=') {
            Some((kind, folder)) => (kind, Some(PathBuf::from(folder))),
            None => (text, None),
        };
        let augmentation = match (kind, folder) {
            ("ghost", None) => Augmentation::Ghost,
            ("lgv", Some(folder)) => Augmentation::Lgv(folder),
            ("mba", Some(folder)) => Augmentation::Mba(folder),
            _ => {
                return Err(argument(
                    "models",
                    format!("unknown `@{text}`: use NAME@ghost, NAME@lgv=FOLDER or NAME@mba=FOLDER"),
                ))
            }
        };
        let fits = match (&augmentation, base) {
            (Augmentation::Ghost, ModelSpec::Zoo(model)) => *model == ZooModel::ResNet,
            (Augmentation::Ghost, ModelSpec::Lite(_)) => true,
            (Augmentation::Lgv(_) | Augmentation::Mba(_), ModelSpec::Zoo(_)) => true,
            _ => false,
        };
        if !fits {
            return Err(argument(
                "models",
                format!(
                    "`{name}@{text}`: @ghost needs residual blocks (resnet, efficientnet-lite*), @lgv and @mba \
                     snapshots of a zoo model"
                ),
            ));
        }
        Ok(augmentation)
    }

    /// `base` with this augmentation, on `device`.
    fn load(&self, base: &ModelSpec, device: &Device) -> Result<Box<dyn Surrogate>> {
        Ok(match (self, base) {
            (Augmentation::Ghost, ModelSpec::Zoo(model)) => model.load_ghost(device)?,
            (Augmentation::Ghost, ModelSpec::Lite(variant)) => {
                let network = EfficientNetLite::load(*variant, ImagenetAssets::locate()?.weights(*variant), device)?;
                Box::new(Ghost::new(format!("{}-ghost", variant.name()), network, Ghost::<EfficientNetLite>::RANGE)?)
            }
            (Augmentation::Lgv(folder), ModelSpec::Zoo(model)) => model.load_lgv(folder, device)?,
            (Augmentation::Mba(folder), ModelSpec::Zoo(model)) => {
                model.load_mba(folder, device, Posterior::<ResNet>::SCALE)?
            }
            _ => return Err(argument("models", format!("{self:?} does not apply to {base:?}"))),
        })
    }
}

/// The ONNX models `crates/onnx` can generate.
const ONNX: [&str; 7] =
    ["resnet18", "vgg11", "densenet121", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "vit_b_16"];

impl ModelSpec {
    /// A name of [`known`], such a name with an augmentation (`resnet@ghost`, `mlp@lgv=DIR`,
    /// `resnet@mba=DIR`), or the path of a TorchScript file (ending in `.pt` or `.ts`).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if let Some((name, augmentation)) = text.split_once('@').filter(|_| !is_torchscript_file(text)) {
            let base = Self::parse(name)?;
            let augmentation = Augmentation::parse(augmentation, &base, name)?;
            return Ok(ModelSpec::Augmented(Box::new(base), augmentation));
        }
        if is_torchscript_file(text) || text.contains('/') {
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
            ModelSpec::Augmented(base, _) => base.input(),
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
            ModelSpec::Augmented(base, augmentation) => augmentation.load(base, device),
        }
    }
}

fn is_torchscript_file(text: &str) -> bool {
    text.ends_with(".pt") || text.ends_with(".ts")
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
    rows.push((
        "NAME@ghost".to_string(),
        "Ghost: resnet or efficientnet-lite* with skips scaled anew every iteration".into(),
    ));
    rows.push(("NAME@lgv=DIR".to_string(), "LGV: a zoo model's weight snapshots in DIR, one every iteration".into()));
    rows.push((
        "NAME@mba=DIR".to_string(),
        "MBA: weights drawn every iteration from the posterior of DIR's snapshots".into(),
    ));
    rows
}
