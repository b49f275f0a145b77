//! One mini-batch of a dataset: images, and the labels or boxes the objective and the patch
//! placement need.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An axis-aligned box in pixels: `left ≤ x < right`, `top ≤ y < bottom`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Left edge.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Right edge.
    pub right: f64,
    /// Bottom edge.
    pub bottom: f64,
}

impl Region {
    /// Width in pixels.
    pub fn width(&self) -> f64 {
        self.right - self.left
    }

    /// Height in pixels.
    pub fn height(&self) -> f64 {
        self.bottom - self.top
    }

    /// Length of the diagonal in pixels.
    pub fn diagonal(&self) -> f64 {
        self.width().hypot(self.height())
    }
}

/// A mini-batch: images `[N, C, H, W]` in `[0, 1]`, with optional labels (one per image) and
/// optional boxes (a list per image, for patches placed on objects).
#[derive(Clone, Debug)]
pub struct Batch {
    /// The clean images.
    pub images: Tensor<4>,
    /// One label per image (true classes, or targets), if the objective needs them.
    pub labels: Option<Vec<usize>>,
    /// The objects of each image, if patches are placed on them.
    pub boxes: Option<Vec<Vec<Region>>>,
}

impl Batch {
    /// A batch of images with their labels.
    pub fn labelled(images: Tensor<4>, labels: Vec<usize>) -> Self {
        Self { images, labels: Some(labels), boxes: None }
    }

    /// A batch of images with the boxes of their objects.
    pub fn with_boxes(images: Tensor<4>, boxes: Vec<Vec<Region>>) -> Self {
        Self { images, labels: None, boxes: Some(boxes) }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.dims()[0]
    }

    /// True when the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the images (shape, range, finiteness) and that labels and boxes match them;
    /// `index` is the batch's position, for the error.
    pub(crate) fn validate(&self, index: usize) -> Result<()> {
        crate::attack::check_images(&self.images)?;
        let images = self.len();
        if let Some(labels) = &self.labels {
            if labels.len() != images {
                return Err(Error::BatchMismatch { images, labels: labels.len() });
            }
        }
        if let Some(boxes) = &self.boxes {
            if boxes.len() != images {
                let reason = format!("{} box lists for {images} images (one list per image)", boxes.len());
                return Err(Error::InvalidDataset { batch: index, reason });
            }
            let finite = |r: &Region| [r.left, r.top, r.right, r.bottom].iter().all(|v| v.is_finite());
            if let Some(bad) = boxes.iter().flatten().find(|r| !(finite(r) && r.width() > 0.0 && r.height() > 0.0)) {
                let reason = format!("a box must be finite with a positive width and height: {bad:?}");
                return Err(Error::InvalidDataset { batch: index, reason });
            }
        }
        Ok(())
    }
}
