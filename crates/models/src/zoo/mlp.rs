//! A multi-layer perceptron.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::{standardize, ZooNet, CLASSES};

/// 784 → 256 → 128 → 10 with ReLU.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden1: Linear,
    hidden2: Linear,
    output: Linear,
}

impl ZooNet for Mlp {
    fn init(device: &Device) -> Self {
        Self {
            hidden1: LinearConfig::new(784, 256).init(device),
            hidden2: LinearConfig::new(256, 128).init(device),
            output: LinearConfig::new(128, CLASSES).init(device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = standardize(images).flatten(1, 3);
        self.output.forward(relu(self.hidden2.forward(relu(self.hidden1.forward(x)))))
    }
}
