//! A zoo of small Fashion-MNIST classifiers of clearly different families, trained with this
//! crate (`crates/bench/examples/train_zoo.rs`) and committed as safetensors in `data/zoo/`
//! (`docs/zoo.md` lists architectures, accuracies and tensor names).
//!
//! ```
//! use common_weakness_models::datasets::FashionMnist;
//! use common_weakness::eval::predictions;
//! use common_weakness_models::zoo::ZooModel;
//!
//! let device = Default::default();
//! let model = ZooModel::SmallCnn.load(&device).unwrap(); // a boxed, frozen Surrogate
//! let (images, labels) = FashionMnist::test_slice().unwrap().head(100, &device);
//! let correct = predictions(model.forward(images)).unwrap().iter().zip(&labels).filter(|(p, l)| p == l).count();
//! assert!(correct > 80);
//! ```

mod cnn;
mod conv;
mod lgv;
mod mixer;
mod mlp;
mod posterior;
mod resnet;
mod separable;

pub use cnn::{LargeKernelCnn, SmallCnn, WideCnn};
pub use conv::Conv;
pub use lgv::{lgv_snapshot_path, Lgv};
pub use mixer::Mixer;
pub use mlp::Mlp;
pub use posterior::Posterior;
pub use resnet::ResNet;
pub use separable::SeparableCnn;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use burn_store::{ModuleSnapshot, SafetensorsStore};

use crate::error::{Error, Result};
use common_weakness::surrogate::{from_module, Surrogate};

/// Number of classes.
pub const CLASSES: usize = 10;

/// The folder of the committed weights.
pub const WEIGHTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/zoo");

/// A zoo architecture: a Burn module mapping `[N, 1, 28, 28]` images in `[0, 1]` to 10 logits.
/// Normalisation happens inside (`(x − 0.2860) / 0.3530`, the training-set statistics).
pub trait ZooNet: Module + Sync + Sized {
    /// A freshly initialised network (from Burn's seeded backend RNG).
    fn init(device: &Device) -> Self;
    /// Logits `[N, 10]`.
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;
}

/// Fashion-MNIST's training-set mean and standard deviation.
fn standardize(images: Tensor<4>) -> Tensor<4> {
    images.sub_scalar(0.2860).div_scalar(0.3530)
}

/// The models of the zoo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZooModel {
    /// Multi-layer perceptron, 784-256-128-10.
    Mlp,
    /// LeNet-style CNN: two 5×5 convolutions with max pooling.
    SmallCnn,
    /// Wide 3×3 CNN with strided downsampling and global average pooling.
    WideCnn,
    /// Residual network with identity shortcuts.
    ResNet,
    /// Depthwise-separable CNN (MobileNet-style blocks).
    Separable,
    /// Large 7×7 and 5×5 kernels with stride 2, no pooling.
    LargeKernel,
    /// MLP-Mixer on 4×4 patches.
    Mixer,
    /// [`SmallCnn`]'s architecture, adversarially trained with this crate's PGD.
    AdversarialCnn,
    /// [`LargeKernelCnn`]'s architecture, adversarially trained with this crate's PGD.
    AdversarialLargeKernel,
}

impl ZooModel {
    /// Every model, in the order of `docs/zoo.md`.
    pub const ALL: [ZooModel; 9] = [
        ZooModel::Mlp,
        ZooModel::SmallCnn,
        ZooModel::WideCnn,
        ZooModel::ResNet,
        ZooModel::Separable,
        ZooModel::LargeKernel,
        ZooModel::Mixer,
        ZooModel::AdversarialCnn,
        ZooModel::AdversarialLargeKernel,
    ];

    /// Short name: the weights file stem and the name in tables.
    pub fn name(self) -> &'static str {
        match self {
            ZooModel::Mlp => "mlp",
            ZooModel::SmallCnn => "cnn-small",
            ZooModel::WideCnn => "cnn-wide",
            ZooModel::ResNet => "resnet",
            ZooModel::Separable => "separable",
            ZooModel::LargeKernel => "large-kernel",
            ZooModel::Mixer => "mixer",
            ZooModel::AdversarialCnn => "cnn-small-adv",
            ZooModel::AdversarialLargeKernel => "large-kernel-adv",
        }
    }

    /// Whether the model was trained on PGD adversarial examples (Madry et al. 2018).
    pub fn is_adversarially_trained(self) -> bool {
        matches!(self, ZooModel::AdversarialCnn | ZooModel::AdversarialLargeKernel)
    }

    /// The model called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// `data/zoo/{name}.safetensors`.
    pub fn weights_path(self) -> PathBuf {
        Path::new(WEIGHTS_DIR).join(format!("{}.safetensors", self.name()))
    }

    /// The committed model as a surrogate (parameters frozen).
    pub fn load(self, device: &Device) -> Result<Box<dyn Surrogate>> {
        self.load_from(self.weights_path(), device)
    }

    /// The committed model's ghost network ([`Ghost`](crate::ghost::Ghost) at
    /// [`Ghost::RANGE`](crate::ghost::Ghost::RANGE)), named `{name}-ghost`: the ResNet only,
    /// the one zoo model with residual blocks ([`Error::NotResidual`] otherwise).
    pub fn load_ghost(self, device: &Device) -> Result<Box<dyn Surrogate>> {
        use crate::ghost::Ghost;
        if self != ZooModel::ResNet {
            return Err(Error::NotResidual { model: self.name().to_string() });
        }
        let network = load_net::<ResNet>(self.weights_path(), device)?;
        Ok(Box::new(Ghost::new(format!("{}-ghost", self.name()), network, Ghost::<ResNet>::RANGE)?))
    }

    /// The committed model's [`Lgv`] surrogate from the snapshots in `folder`
    /// (`{name}-lgv-NN.safetensors`, written by `crates/bench/examples/collect_lgv.rs`).
    pub fn load_lgv(self, folder: impl AsRef<Path>, device: &Device) -> Result<Box<dyn Surrogate>> {
        let folder = folder.as_ref();
        match self {
            ZooModel::Mlp => lgv::load_lgv::<Mlp>(self, folder, device),
            ZooModel::SmallCnn | ZooModel::AdversarialCnn => lgv::load_lgv::<SmallCnn>(self, folder, device),
            ZooModel::WideCnn => lgv::load_lgv::<WideCnn>(self, folder, device),
            ZooModel::ResNet => lgv::load_lgv::<ResNet>(self, folder, device),
            ZooModel::Separable => lgv::load_lgv::<SeparableCnn>(self, folder, device),
            ZooModel::LargeKernel | ZooModel::AdversarialLargeKernel => {
                lgv::load_lgv::<LargeKernelCnn>(self, folder, device)
            }
            ZooModel::Mixer => lgv::load_lgv::<Mixer>(self, folder, device),
        }
    }

    /// The model's MBA [`Posterior`] fitted to the LGV snapshots in `folder`, its deviations
    /// scaled by `scale` ([`Posterior::SCALE`] is TransferAttack's).
    pub fn load_mba(self, folder: impl AsRef<Path>, device: &Device, scale: f64) -> Result<Box<dyn Surrogate>> {
        let folder = folder.as_ref();
        match self {
            ZooModel::Mlp => lgv::load_mba::<Mlp>(self, folder, device, scale),
            ZooModel::SmallCnn | ZooModel::AdversarialCnn => lgv::load_mba::<SmallCnn>(self, folder, device, scale),
            ZooModel::WideCnn => lgv::load_mba::<WideCnn>(self, folder, device, scale),
            ZooModel::ResNet => lgv::load_mba::<ResNet>(self, folder, device, scale),
            ZooModel::Separable => lgv::load_mba::<SeparableCnn>(self, folder, device, scale),
            ZooModel::LargeKernel | ZooModel::AdversarialLargeKernel => {
                lgv::load_mba::<LargeKernelCnn>(self, folder, device, scale)
            }
            ZooModel::Mixer => lgv::load_mba::<Mixer>(self, folder, device, scale),
        }
    }

    /// The model with weights from `path` (safetensors, the tensor names of `docs/zoo.md`).
    pub fn load_from(self, path: impl AsRef<Path>, device: &Device) -> Result<Box<dyn Surrogate>> {
        let path = path.as_ref();
        Ok(match self {
            ZooModel::Mlp => boxed(self, load_net::<Mlp>(path, device)?),
            ZooModel::SmallCnn | ZooModel::AdversarialCnn => boxed(self, load_net::<SmallCnn>(path, device)?),
            ZooModel::WideCnn => boxed(self, load_net::<WideCnn>(path, device)?),
            ZooModel::ResNet => boxed(self, load_net::<ResNet>(path, device)?),
            ZooModel::Separable => boxed(self, load_net::<SeparableCnn>(path, device)?),
            ZooModel::LargeKernel | ZooModel::AdversarialLargeKernel => {
                boxed(self, load_net::<LargeKernelCnn>(path, device)?)
            }
            ZooModel::Mixer => boxed(self, load_net::<Mixer>(path, device)?),
        })
    }
}

impl std::fmt::Display for ZooModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn boxed<N: ZooNet + 'static>(model: ZooModel, net: N) -> Box<dyn Surrogate> {
    Box::new(from_module(model.name(), net, |net: &N, x: Tensor<4>| net.forward(x)))
}

/// Loads safetensors weights into a freshly built network; every tensor must be present.
pub fn load_net<N: ZooNet>(path: impl AsRef<Path>, device: &Device) -> Result<N> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(Error::MissingAssets {
            path: path.to_path_buf(),
            hint: "train it with crates/bench/examples/train_zoo.rs",
        });
    }
    let mut net = N::init(device);
    let mut store = SafetensorsStore::from_file(path);
    let result =
        net.load_from(&mut store).map_err(|e| Error::Weights { path: path.to_path_buf(), problem: e.to_string() })?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        let problem = format!("missing tensors {:?}, errors {:?}", result.missing, result.errors);
        return Err(Error::Weights { path: path.to_path_buf(), problem });
    }
    Ok(net)
}

/// Saves a network's parameters as safetensors (tensor names are the module paths), replacing
/// any file at `path`.
pub fn save_net<N: ZooNet>(net: &N, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut store = SafetensorsStore::from_file(path)
        .overwrite(true)
        .metadata("producer", "common-weakness crates/bench/examples/train_zoo.rs");
    net.save_into(&mut store).map_err(|e| Error::Weights { path: path.to_path_buf(), problem: e.to_string() })
}
