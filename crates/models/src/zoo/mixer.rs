//! An MLP-Mixer (Tolstikhin et al. 2021) on 4×4 patches: the zoo's patch-based, attention-free
//! transformer-like model.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

use super::{standardize, ZooNet, CLASSES};

const PATCH: usize = 4;
const TOKENS: usize = (28 / PATCH) * (28 / PATCH);
const WIDTH: usize = 64;

/// Token mixing (across the 49 patches) then channel mixing (across the 64 features), each a
/// two-layer GELU MLP after a layer norm, with residual connections.
#[derive(Module, Debug)]
pub struct MixerBlock {
    token_norm: LayerNorm,
    token1: Linear,
    token2: Linear,
    channel_norm: LayerNorm,
    channel1: Linear,
    channel2: Linear,
}

impl MixerBlock {
    fn new(device: &Device) -> Self {
        Self {
            token_norm: LayerNormConfig::new(WIDTH).init(device),
            token1: LinearConfig::new(TOKENS, 2 * TOKENS).init(device),
            token2: LinearConfig::new(2 * TOKENS, TOKENS).init(device),
            channel_norm: LayerNormConfig::new(WIDTH).init(device),
            channel1: LinearConfig::new(WIDTH, 2 * WIDTH).init(device),
            channel2: LinearConfig::new(2 * WIDTH, WIDTH).init(device),
        }
    }

    /// `[N, tokens, width]` → same.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mixed = self.token_norm.forward(x.clone()).swap_dims(1, 2);
        let x = x + self.token2.forward(gelu(self.token1.forward(mixed))).swap_dims(1, 2);
        let mixed = self.channel_norm.forward(x.clone());
        x.clone() + self.channel2.forward(gelu(self.channel1.forward(mixed)))
    }
}

/// 4×4 patches → linear embedding (64) → 2 mixer blocks → layer norm → mean over patches → 10.
#[derive(Module, Debug)]
pub struct Mixer {
    embed: Linear,
    blocks: Vec<MixerBlock>,
    norm: LayerNorm,
    output: Linear,
}

impl ZooNet for Mixer {
    fn init(device: &Device) -> Self {
        Self {
            embed: LinearConfig::new(PATCH * PATCH, WIDTH).init(device),
            blocks: (0..2).map(|_| MixerBlock::new(device)).collect(),
            norm: LayerNormConfig::new(WIDTH).init(device),
            output: LinearConfig::new(WIDTH, CLASSES).init(device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let n = images.dims()[0];
        let side = 28 / PATCH;
        // [N, 1, 7·4, 7·4] → [N, 7, 4, 7, 4] → [N, 7, 7, 4, 4] → [N, 49, 16]
        let patches = standardize(images).reshape([n, side, PATCH, side, PATCH]).swap_dims(2, 3).reshape([
            n,
            TOKENS,
            PATCH * PATCH,
        ]);
        let mut x = self.embed.forward(patches);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let pooled = self.norm.forward(x).mean_dim(1).reshape([n, WIDTH]);
        self.output.forward(pooled)
    }
}
