//! Bit-depth reduction (Xu et al., "Feature Squeezing", NDSS 2018).

use burn::tensor::Tensor;

use super::Preprocessing;
use common_weakness::Error as AttackError;

use crate::error::Result;
use common_weakness::rng::AttackRng;

/// Rounds every pixel to one of 2^bits levels: `round(x·(2^bits − 1)) / (2^bits − 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitDepth {
    bits: u32,
}

impl BitDepth {
    /// `bits` in 1..=8 (the paper's table uses 3 to 5 for ImageNet).
    pub fn new(bits: u32) -> Result<Self> {
        if (1..=8).contains(&bits) {
            Ok(Self { bits })
        } else {
            Err(AttackError::InvalidParameter { name: "bits", value: bits.into(), requirement: "must be in 1..=8" }
                .into())
        }
    }
}

impl Preprocessing for BitDepth {
    fn describe(&self) -> String {
        format!("bit depth {}", self.bits)
    }

    fn apply(&self, images: Tensor<4>, _rng: &mut AttackRng) -> Result<Tensor<4>> {
        let levels = ((1u32 << self.bits) - 1) as f32;
        Ok(images.mul_scalar(levels).round().div_scalar(levels))
    }
}
