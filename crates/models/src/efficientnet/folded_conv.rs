//! A convolution with its batch norm folded in, TensorFlow "same" padding, and optional ReLU6.

use burn::module::{Module, Param};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

use crate::kernels::{frozen_conv2d, hardtanh};

/// Convolution weights `[out, in / groups, k, k]` with an inference-mode batch norm folded in:
/// `w' = w·γ/√(σ²+ε)` per output channel and `b' = β − μ·γ/√(σ²+ε)`. The result is exact in
/// real arithmetic and independent of the batch by construction.
#[derive(Module, Debug)]
pub(crate) struct FoldedConv {
    weight: Param<Tensor<4>>,
    bias: Param<Tensor<1>>,
    stride: usize,
    groups: usize,
    /// Zero padding before/after along height and width (TensorFlow "same", possibly uneven).
    pad_before: usize,
    pad_after: usize,
    relu6: bool,
}

/// Host-side parameters of one convolution and its batch norm, as read from a checkpoint.
pub(crate) struct ConvWeights {
    /// `[out, in / groups, k, k]`.
    pub weight: Vec<f32>,
    pub shape: [usize; 4],
    /// Batch norm γ, β, running mean and running variance, each of length `out`.
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
    pub epsilon: f32,
}

/// The padding of TensorFlow's "same" mode for a square input of `size` pixels: the output
/// has ⌈size/stride⌉ pixels and the extra pixel of an odd total goes after.
pub(crate) fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

impl FoldedConv {
    /// Folds the batch norm into the weights. `padding` comes from [`same_padding`].
    pub fn new(
        weights: ConvWeights,
        stride: usize,
        groups: usize,
        padding: (usize, usize),
        relu6: bool,
        device: &Device,
    ) -> Self {
        let ConvWeights { mut weight, shape, gamma, beta, mean, variance, epsilon } = weights;
        let per_channel = weight.len() / shape[0];
        let mut bias = Vec::with_capacity(shape[0]);
        for (o, chunk) in weight.chunks_mut(per_channel).enumerate() {
            let scale = gamma[o] / (variance[o] + epsilon).sqrt();
            chunk.iter_mut().for_each(|w| *w *= scale);
            bias.push(beta[o] - mean[o] * scale);
        }
        let n = bias.len();
        Self {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(weight, shape), device)),
            bias: Param::from_tensor(Tensor::from_data(TensorData::new(bias, [n]), device)),
            stride,
            groups,
            pad_before: padding.0,
            pad_after: padding.1,
            relu6,
        }
    }
}

impl FoldedConv {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let symmetric = self.pad_before;
        let x = if self.pad_after > symmetric {
            // Zero rows and columns appended with `cat`, which copies whole rows (burn-flex's
            // `pad` fills a host buffer and writes into it element by element).
            let extra = self.pad_after - symmetric;
            let [n, c, h, w] = x.dims();
            let device = x.device();
            let x = Tensor::cat(vec![x, Tensor::zeros([n, c, h, extra], &device)], 3);
            Tensor::cat(vec![x, Tensor::zeros([n, c, extra, w + extra], &device)], 2)
        } else {
            x
        };
        let options = ConvOptions::new([self.stride; 2], [symmetric; 2], [1, 1], self.groups);
        let y = frozen_conv2d(x, self.weight.val(), Some(self.bias.val()), options);
        if self.relu6 {
            hardtanh(y, 0.0, 6.0)
        } else {
            y
        }
    }
}
