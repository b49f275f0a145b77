//! A small residual network.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use common_weakness::surrogate::SurrogateOps;

use super::cnn::global_average;
use super::conv::Conv;
use super::{standardize, ZooNet, CLASSES};

/// relu(x + conv(relu(conv(x)))) with 3×3 convolutions.
#[derive(Module, Debug)]
pub struct ResidualBlock<B: Backend> {
    conv1: Conv<B>,
    conv2: Conv<B>,
}

impl<B: SurrogateOps> ResidualBlock<B> {
    fn new(channels: usize, device: &B::Device) -> Self {
        Self { conv1: Conv::new(channels, channels, 3, 1, device), conv2: Conv::new(channels, channels, 3, 1, device) }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        relu(x.clone() + self.conv2.forward(relu(self.conv1.forward(x))))
    }
}

/// stem 3×3 (8) → residual block → 3×3 stride 2 (16) → residual block → 3×3 stride 2 (64)
/// → residual block → global average → 10.
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    stem: Conv<B>,
    block1: ResidualBlock<B>,
    down1: Conv<B>,
    block2: ResidualBlock<B>,
    down2: Conv<B>,
    block3: ResidualBlock<B>,
    output: Linear<B>,
}

impl<B: SurrogateOps> ZooNet<B> for ResNet<B> {
    fn init(device: &B::Device) -> Self {
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

    fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = self.block1.forward(relu(self.stem.forward(standardize(images))));
        let x = self.block2.forward(relu(self.down1.forward(x)));
        let x = self.block3.forward(relu(self.down2.forward(x)));
        self.output.forward(global_average(x))
    }
}
