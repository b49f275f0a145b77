//! A small residual network.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::cnn::global_average;
use super::conv::Conv;
use super::{standardize, ZooNet, CLASSES};
use crate::ghost::Residual;

/// relu(x + conv(relu(conv(x)))) with 3×3 convolutions.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    conv1: Conv,
    conv2: Conv,
}

impl ResidualBlock {
    fn new(channels: usize, device: &Device) -> Self {
        Self { conv1: Conv::new(channels, channels, 3, 1, device), conv2: Conv::new(channels, channels, 3, 1, device) }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(x.clone() + self.conv2.forward(relu(self.conv1.forward(x))))
    }

    /// relu(λ·x + conv(relu(conv(x)))): the skip connection scaled by λ (Ghost's erosion).
    fn forward_eroded(&self, x: Tensor<4>, skip: f32) -> Tensor<4> {
        relu(x.clone().mul_scalar(skip) + self.conv2.forward(relu(self.conv1.forward(x))))
    }
}

/// stem 3×3 (8) → residual block → 3×3 stride 2 (16) → residual block → 3×3 stride 2 (64)
/// → residual block → global average → 10.
#[derive(Module, Debug)]
pub struct ResNet {
    stem: Conv,
    block1: ResidualBlock,
    down1: Conv,
    block2: ResidualBlock,
    down2: Conv,
    block3: ResidualBlock,
    output: Linear,
}

impl ZooNet for ResNet {
    fn init(device: &Device) -> Self {
        Self {
            stem: Conv::new(1, 8, 3, 1, device),
            block1: ResidualBlock::new(8, device),
            down1: Conv::new(8, 16, 3, 2, device),
            block2: ResidualBlock::new(16, device),
            down2: Conv::new(16, 64, 3, 2, device),
            block3: ResidualBlock::new(64, device),
            output: LinearConfig::new(64, CLASSES).init(device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.block1.forward(relu(self.stem.forward(standardize(images))));
        let x = self.block2.forward(relu(self.down1.forward(x)));
        let x = self.block3.forward(relu(self.down2.forward(x)));
        self.output.forward(global_average(x))
    }
}

/// The three residual blocks, for a [`Ghost`](crate::ghost::Ghost) of the network.
impl Residual for ResNet {
    fn residual_blocks(&self) -> usize {
        3
    }

    fn forward_plain(&self, images: Tensor<4>) -> Tensor<2> {
        ZooNet::forward(self, images)
    }

    fn forward_eroded(&self, images: Tensor<4>, skips: &[f32]) -> Tensor<2> {
        let x = self.block1.forward_eroded(relu(self.stem.forward(standardize(images))), skips[0]);
        let x = self.block2.forward_eroded(relu(self.down1.forward(x)), skips[1]);
        let x = self.block3.forward_eroded(relu(self.down2.forward(x)), skips[2]);
        self.output.forward(global_average(x))
    }
}
