//! Fashion-MNIST (Xiao et al. 2017, MIT licence): 28×28 grey images of 10 clothing classes.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};

use super::idx::{read_idx, IdxArray};
use crate::error::{Error, Result};

/// The class names, by label.
pub const CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Where Debian's `dataset-fashion-mnist` package puts the official files.
pub const SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The held-out slice committed with the crate: the first 1,000 images of the official test
/// split (`data/fashion-mnist/README.md` gives provenance and licence).
pub const TEST_SLICE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");

/// Images and labels of one split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FashionMnist {
    /// Pixels, `len × 28 × 28` bytes, row-major.
    pixels: Vec<u8>,
    /// One label in 0..10 per image.
    labels: Vec<usize>,
}

impl FashionMnist {
    /// Side of an image in pixels.
    pub const SIZE: usize = 28;

    /// The official training split (60,000 images) from [`SYSTEM_DIR`].
    pub fn train() -> Result<Self> {
        Self::split(SYSTEM_DIR, "train")
    }

    /// The official test split (10,000 images) from [`SYSTEM_DIR`].
    pub fn test() -> Result<Self> {
        Self::split(SYSTEM_DIR, "t10k")
    }

    /// The committed 1,000-image test slice (no set-up needed).
    pub fn test_slice() -> Result<Self> {
        Self::split(TEST_SLICE_DIR, "t10k-first1000")
    }

    /// `{prefix}-images-idx3-ubyte.gz` and `{prefix}-labels-idx1-ubyte.gz` from `dir`.
    pub fn split(dir: impl AsRef<Path>, prefix: &str) -> Result<Self> {
        let dir = dir.as_ref();
        let images_path = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
        let labels_path = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
        for path in [&images_path, &labels_path] {
            if !path.is_file() {
                return Err(Error::MissingAssets {
                    path: path.clone(),
                    hint: "install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)",
                });
            }
        }
        Self::from_arrays(&images_path, read_idx(&images_path)?, &labels_path, read_idx(&labels_path)?)
    }

    fn from_arrays(images_path: &Path, images: IdxArray, labels_path: &Path, labels: IdxArray) -> Result<Self> {
        let bad = |path: &Path, problem: String| Error::Dataset { path: path.to_path_buf(), problem };
        if images.shape.len() != 3 || images.shape[1..] != [Self::SIZE, Self::SIZE] {
            return Err(bad(images_path, format!("images have shape {:?}, expected [N, 28, 28]", images.shape)));
        }
        if labels.shape.len() != 1 || labels.shape[0] != images.shape[0] {
            let problem = format!("labels have shape {:?} for {} images", labels.shape, images.shape[0]);
            return Err(bad(labels_path, problem));
        }
        if let Some(position) = labels.data.iter().position(|&l| l >= 10) {
            return Err(bad(
                labels_path,
                format!("label {} at index {position} is not in 0..10", labels.data[position]),
            ));
        }
        Ok(Self { pixels: images.data, labels: labels.data.into_iter().map(usize::from).collect() })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The raw bytes of image `index` (28 × 28, row-major).
    pub fn pixels(&self, index: usize) -> &[u8] {
        let size = Self::SIZE * Self::SIZE;
        &self.pixels[index * size..(index + 1) * size]
    }

    /// Images `indices` as a tensor `[n, 1, 28, 28]` in `[0, 1]` and their labels.
    ///
    /// Fails with [`common_weakness::Error::InvalidParameter`] on an index past the end.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<(Tensor<4>, Vec<usize>)> {
        if let Some(&index) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(common_weakness::Error::InvalidParameter {
                name: "index",
                value: index as f64,
                requirement: "must be < the number of images in the dataset",
            }
            .into());
        }
        Ok(self.gather(indices, device))
    }

    /// [`batch`](Self::batch) for indices known to be in range.
    fn gather(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Vec<usize>) {
        let mut values = Vec::with_capacity(indices.len() * Self::SIZE * Self::SIZE);
        for &i in indices {
            values.extend(self.pixels(i).iter().map(|&p| f32::from(p) / 255.0));
        }
        let images = Tensor::from_data(TensorData::new(values, [indices.len(), 1, Self::SIZE, Self::SIZE]), device);
        (images, indices.iter().map(|&i| self.labels[i]).collect())
    }

    /// The first `count` images (all if fewer) as a batch.
    pub fn head(&self, count: usize, device: &Device) -> (Tensor<4>, Vec<usize>) {
        let indices: Vec<usize> = (0..count.min(self.len())).collect();
        self.gather(&indices, device)
    }

    /// The folder of the committed slice.
    pub fn test_slice_dir() -> PathBuf {
        PathBuf::from(TEST_SLICE_DIR)
    }
}
