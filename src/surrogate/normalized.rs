//! Per-channel normalisation (and optional resizing) inside the model.

use burn::tensor::Tensor;

use super::Surrogate;
use crate::check::positive;
use crate::error::{Error, Result};
use crate::host;
use crate::planar::resize_bilinear;

/// Wraps a surrogate that expects normalised inputs: `forward(x) = inner((x − mean) / std)`,
/// optionally resizing `x` first (bilinear), so that attacks stay in `[0, 1]` pixel space.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::{from_fn, Normalized, Surrogate};
///
/// let identity = from_fn("pixels", |x: Tensor<4>| x.flatten(1, 3));
/// let model = Normalized::new(identity, vec![0.5], vec![0.25]).unwrap();
/// let out = model.forward(Tensor::ones([1, 1, 1, 2], &Default::default()));
/// assert_eq!(out.into_data().try_to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Normalized<S> {
    inner: S,
    mean: Vec<f32>,
    std: Vec<f32>,
    resize: Option<[usize; 2]>,
}

impl<S> Normalized<S> {
    /// Normalises each channel with `mean` and `std` (one value per channel, `std > 0`).
    pub fn new(inner: S, mean: Vec<f32>, std: Vec<f32>) -> Result<Self> {
        if mean.len() != std.len() || mean.is_empty() {
            return Err(Error::Shape {
                what: "Normalized mean/std",
                expected: format!("one mean and one std per channel ({} means)", mean.len()),
                actual: vec![std.len()],
            });
        }
        for &s in &std {
            positive("std", s as f64)?;
        }
        if let Some(&m) = mean.iter().find(|m| !m.is_finite()) {
            return Err(Error::InvalidParameter { name: "mean", value: m as f64, requirement: "must be finite" });
        }
        Ok(Self { inner, mean, std, resize: None })
    }

    /// ImageNet's mean and std (torchvision, timm).
    pub fn imagenet(inner: S) -> Self {
        Self { inner, mean: vec![0.485, 0.456, 0.406], std: vec![0.229, 0.224, 0.225], resize: None }
    }

    /// Resizes inputs to `[height, width]` (bilinear, half-pixel centres, as matrix products
    /// so that the backward pass works on every backend) before normalising.
    ///
    /// Fails with [`Error::InvalidParameter`] when a size is zero.
    pub fn with_resize(mut self, height: usize, width: usize) -> Result<Self> {
        crate::check::at_least_one("resize height", height)?;
        crate::check::at_least_one("resize width", width)?;
        self.resize = Some([height, width]);
        Ok(self)
    }
}

impl<S: Surrogate> Normalized<S> {
    /// The images as the inner model sees them: resized, then normalised.
    fn prepare(&self, images: Tensor<4>) -> Tensor<4> {
        let device = images.device();
        let channels = self.mean.len();
        let images = match self.resize {
            Some(size) => resize_bilinear(images, size),
            None => images,
        };
        let mean = host::tensor::<4>(self.mean.clone(), [1, channels, 1, 1], &device);
        let std = host::tensor::<4>(self.std.clone(), [1, channels, 1, 1], &device);
        (images - mean) / std
    }
}

impl<S: Surrogate> Surrogate for Normalized<S> {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.inner.forward(self.prepare(images))
    }

    fn forward_drawn(&self, images: Tensor<4>, draw: u64) -> Tensor<2> {
        self.inner.forward_drawn(self.prepare(images), draw)
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn check_input(&self, shape: [usize; 4]) -> Result<()> {
        if shape[1] != self.mean.len() {
            return Err(Error::Shape {
                what: "images for a Normalized surrogate",
                expected: format!("[N, {}, H, W]", self.mean.len()),
                actual: shape.to_vec(),
            });
        }
        let resized = self.resize.map_or(shape, |[h, w]| [shape[0], shape[1], h, w]);
        self.inner.check_input(resized)
    }
}
