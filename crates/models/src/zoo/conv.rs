//! The zoo's 2-D convolution: Burn's `conv2d`, or on burn-ndarray a formulation as matrix
//! products (im2col).
//!
//! burn-ndarray 0.21 differentiates `conv2d` through a scalar, bounds-checked transposed
//! convolution that dominates training and attack time on the CPU. Gathering the k² shifted
//! views of the padded input (`Tensor::stack`) and multiplying once by the weight matrix gives
//! the same function with a backward pass made of matrix products and slices: 2.6–12× faster
//! forward + backward for the zoo's dense layers on ndarray, but 1.6–4.8× slower than
//! burn-flex's own `conv2d` (`cargo bench --bench im2col_conv`, `docs/performance.md`). So the
//! device's backend decides (im2col on burn-ndarray only), and depthwise layers always use `conv2d`
//! (there is no matrix product to win). The parameters are laid out as in Burn's `Conv2d`
//! (`weight [out, in / groups, k, k]`, `bias [out]`).

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor};

use common_weakness::backend::BackendKind;

/// A k×k convolution with zero padding `k / 2`, a stride, and either one group or one group
/// per channel (depthwise).
#[derive(Module, Debug)]
pub struct Conv {
    /// `[out, in / groups, k, k]`.
    pub weight: Param<Tensor<4>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
    stride: usize,
    depthwise: bool,
}

impl Conv {
    /// A dense convolution `input → output` channels, Kaiming-uniform initialised as Burn's
    /// `Conv2d`.
    pub fn new(input: usize, output: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        Self::build(input, output, kernel, stride, false, device)
    }

    /// A depthwise convolution: one k×k filter per channel.
    pub fn depthwise(channels: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        Self::build(1, channels, kernel, stride, true, device)
    }

    fn build(input: usize, output: usize, kernel: usize, stride: usize, depthwise: bool, device: &Device) -> Self {
        let initializer = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false };
        let fan_in = input * kernel * kernel;
        let fan_out = if depthwise { kernel * kernel } else { output * kernel * kernel };
        Self {
            weight: initializer.init_with([output, input, kernel, kernel], Some(fan_in), Some(fan_out), device),
            bias: initializer.init_with([output], Some(fan_in), Some(fan_out), device),
            stride,
            depthwise,
        }
    }

    /// `[N, in, H, W]` → `[N, out, ⌈H / stride⌉, ⌈W / stride⌉]`, by the backend's faster
    /// route (im2col on burn-ndarray, `conv2d` elsewhere).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if BackendKind::of(&x.device()) == Some(BackendKind::Ndarray) {
            self.forward_im2col(x)
        } else {
            self.forward_conv2d(x)
        }
    }

    /// [`forward`](Self::forward) through Burn's `conv2d`.
    pub fn forward_conv2d(&self, x: Tensor<4>) -> Tensor<4> {
        let kernel = self.weight.dims()[2];
        let groups = if self.depthwise { x.dims()[1] } else { 1 };
        let options = ConvOptions::new([self.stride; 2], [kernel / 2; 2], [1, 1], groups);
        conv2d(x, self.weight.val(), Some(self.bias.val()), options)
    }

    /// [`forward`](Self::forward) as im2col for a dense convolution (a depthwise one takes
    /// [`forward_conv2d`](Self::forward_conv2d)).
    pub fn forward_im2col(&self, x: Tensor<4>) -> Tensor<4> {
        if self.depthwise {
            return self.forward_conv2d(x);
        }
        let [n, channels, height, width] = x.dims();
        let [out, per_group, kernel, _] = self.weight.dims();
        let s = self.stride;
        let (out_h, out_w) = (height.div_ceil(s), width.div_ceil(s));
        // Pad by k/2 before; after, enough that every shifted window of out·s rows exists.
        let before = kernel / 2;
        let after_h = (kernel - 1 + out_h * s).saturating_sub(height + before);
        let after_w = (kernel - 1 + out_w * s).saturating_sub(width + before);
        let padded = x.pad([(before, after_h), (before, after_w)], PadMode::Constant(0.0));
        let mut shifts = Vec::with_capacity(kernel * kernel);
        for i in 0..kernel {
            for j in 0..kernel {
                let window = padded.clone().slice([0..n, 0..channels, i..i + out_h * s, j..j + out_w * s]);
                shifts.push(if s == 1 { window } else { subsample(window, s) });
            }
        }
        // [N, k², C, H', W'] → [N, k²·C, H'·W'], against the weight as [1, out, k²·C].
        let columns: Tensor<5> = Tensor::stack(shifts, 1);
        let columns = columns.reshape([n, kernel * kernel * per_group, out_h * out_w]);
        let weight = self.weight.val().permute([0, 2, 3, 1]).reshape([1, out, kernel * kernel * per_group]);
        weight.matmul(columns).reshape([n, out, out_h, out_w]) + self.bias.val().reshape([1, out, 1, 1])
    }
}

/// Every `stride`-th row and column, starting at the first: `[N, C, h·s, w·s]` → `[N, C, h, w]`.
fn subsample(x: Tensor<4>, stride: usize) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let (h, w) = (h / stride, w / stride);
    x.reshape([n, c, h, stride, w, stride]).narrow(3, 0, 1).narrow(5, 0, 1).reshape([n, c, h, w])
}
