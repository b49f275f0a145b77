//! Plain convolutional networks: small (LeNet-style), wide, and large-kernel.

use burn::module::Module;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::conv::Conv;
use super::{standardize, ZooNet, CLASSES};

/// Mean over the spatial dimensions: `[N, C, H, W]` → `[N, C]`.
pub(super) fn global_average(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}

/// conv 5×5 (16) → max pool → conv 5×5 (32) → max pool → 64 → 10.
#[derive(Module, Debug)]
pub struct SmallCnn {
    conv1: Conv,
    conv2: Conv,
    pool: MaxPool2d,
    hidden: Linear,
    output: Linear,
}

impl ZooNet for SmallCnn {
    fn init(device: &Device) -> Self {
        Self {
            conv1: Conv::new(1, 16, 5, 1, device),
            conv2: Conv::new(16, 32, 5, 1, device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            hidden: LinearConfig::new(32 * 7 * 7, 64).init(device),
            output: LinearConfig::new(64, CLASSES).init(device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(standardize(images))));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        self.output.forward(relu(self.hidden.forward(x.flatten(1, 3))))
    }
}

/// conv 3×3 (32) → conv 3×3 stride 2 (64) → conv 3×3 stride 2 (128) → conv 3×3 (128) → global
/// average → 10.
#[derive(Module, Debug)]
pub struct WideCnn {
    conv1: Conv,
    conv2: Conv,
    conv3: Conv,
    conv4: Conv,
    output: Linear,
}

impl ZooNet for WideCnn {
    fn init(device: &Device) -> Self {
        Self {
            conv1: Conv::new(1, 32, 3, 1, device),
            conv2: Conv::new(32, 64, 3, 2, device),
            conv3: Conv::new(64, 128, 3, 2, device),
            conv4: Conv::new(128, 128, 3, 1, device),
            output: LinearConfig::new(128, CLASSES).init(device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = relu(self.conv1.forward(standardize(images)));
        let x = relu(self.conv3.forward(relu(self.conv2.forward(x))));
        self.output.forward(global_average(relu(self.conv4.forward(x))))
    }
}

/// conv 7×7 stride 2 (32) → conv 5×5 stride 2 (64) → 10, no pooling.
#[derive(Module, Debug)]
pub struct LargeKernelCnn {
    conv1: Conv,
    conv2: Conv,
    output: Linear,
}

impl ZooNet for LargeKernelCnn {
    fn init(device: &Device) -> Self {
        Self {
            conv1: Conv::new(1, 32, 7, 2, device),
            conv2: Conv::new(32, 64, 5, 2, device),
            output: LinearConfig::new(64 * 7 * 7, CLASSES).init(device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = relu(self.conv2.forward(relu(self.conv1.forward(standardize(images)))));
        self.output.forward(x.flatten(1, 3))
    }
}
