//! A depthwise-separable CNN (MobileNet-style).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::cnn::global_average;
use super::conv::Conv;
use super::{standardize, ZooNet, CLASSES};

/// Depthwise 3×3 (one filter per channel, stride 2 or 1) then pointwise 1×1.
#[derive(Module, Debug)]
pub struct SeparableBlock {
    depthwise: Conv,
    pointwise: Conv,
}

impl SeparableBlock {
    fn new(input: usize, output: usize, stride: usize, device: &Device) -> Self {
        Self { depthwise: Conv::depthwise(input, 3, stride, device), pointwise: Conv::new(input, output, 1, 1, device) }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.pointwise.forward(relu(self.depthwise.forward(x))))
    }
}

/// 3×3 (32) → separable (64, stride 2) → separable (128, stride 2) → separable (256) → global
/// average → 10.
#[derive(Module, Debug)]
pub struct SeparableCnn {
    stem: Conv,
    block1: SeparableBlock,
    block2: SeparableBlock,
    block3: SeparableBlock,
    output: Linear,
}

impl ZooNet for SeparableCnn {
    fn init(device: &Device) -> Self {
        Self {
            stem: Conv::new(1, 32, 3, 1, device),
            block1: SeparableBlock::new(32, 64, 2, device),
            block2: SeparableBlock::new(64, 128, 2, device),
            block3: SeparableBlock::new(128, 256, 1, device),
            output: LinearConfig::new(256, CLASSES).init(device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = relu(self.stem.forward(standardize(images)));
        let x = self.block2.forward(self.block1.forward(x));
        self.output.forward(global_average(self.block3.forward(x)))
    }
}
