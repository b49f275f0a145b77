//! TI: Gaussian smoothing of the gradient (translation invariance).

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::check::positive;
use crate::error::{Error, Result};

/// Smooths each channel of the gradient with a normalised `kernel_size`×`kernel_size`
/// Gaussian of standard deviation `sigma` pixels (zero padding, stride 1), as TI-FGSM
/// (Dong et al., CVPR 2019) does. This is equivalent to averaging the gradients of
/// translated copies of the image.
///
/// The default is the authors' kernel: 15×15, the standard normal sampled at 15 points of
/// [−3, 3], so σ = 14/6 pixels.
///
/// ```
/// use common_weakness::gradient::GaussianSmoothing;
/// let kernel = GaussianSmoothing::default().kernel();
/// assert_eq!(kernel.len(), 15 * 15);
/// assert!((kernel.iter().sum::<f32>() - 1.0).abs() < 1e-5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianSmoothing {
    /// Side of the square kernel (odd).
    pub kernel_size: usize,
    /// Standard deviation in pixels.
    #[serde(with = "crate::json_float")]
    pub sigma: f64,
}

impl Default for GaussianSmoothing {
    fn default() -> Self {
        Self { kernel_size: 15, sigma: 14.0 / 6.0 }
    }
}

impl GaussianSmoothing {
    /// The largest kernel size accepted: far above the 5–25 that TI's papers use, and small
    /// enough that the kernel (`kernel_size²` weights per channel) is never a memory hazard.
    pub const MAX_KERNEL_SIZE: usize = 255;

    /// Checks that the kernel size is odd and at most [`MAX_KERNEL_SIZE`](Self::MAX_KERNEL_SIZE)
    /// and σ positive.
    pub fn validate(&self) -> Result<()> {
        if self.kernel_size > Self::MAX_KERNEL_SIZE {
            return Err(Error::InvalidParameter {
                name: "kernel_size",
                value: self.kernel_size as f64,
                requirement: "must be at most 255 (GaussianSmoothing::MAX_KERNEL_SIZE)",
            });
        }
        if self.kernel_size.is_multiple_of(2) {
            return Err(Error::InvalidParameter {
                name: "kernel_size",
                value: self.kernel_size as f64,
                requirement: "must be odd",
            });
        }
        positive("sigma", self.sigma)
    }

    /// The kernel's weights, row-major, summing to 1.
    pub fn kernel(&self) -> Vec<f32> {
        let k = self.kernel_size;
        let centre = (k / 2) as f64;
        let line: Vec<f64> =
            (0..k).map(|i| (-((i as f64 - centre).powi(2)) / (2.0 * self.sigma.powi(2))).exp()).collect();
        let total: f64 = line.iter().sum::<f64>().powi(2);
        (0..k * k).map(|i| (line[i / k] * line[i % k] / total) as f32).collect()
    }

    /// Smooths `gradient` channel by channel.
    pub fn apply(&self, gradient: Tensor<4>) -> Tensor<4> {
        let channels = gradient.dims()[1];
        let k = self.kernel_size;
        let kernel = crate::host::tensor::<4>(self.kernel(), [1, 1, k, k], &gradient.device());
        let weight = kernel.repeat_dim(0, channels);
        let pad = k / 2;
        conv2d(gradient, weight, None, ConvOptions::new([1, 1], [pad, pad], [1, 1], channels))
    }
}
