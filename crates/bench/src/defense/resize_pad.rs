//! Random resizing and padding (Xie et al., "Mitigating Adversarial Effects Through
//! Randomization", ICLR 2018).

use burn::tensor::Tensor;

use super::Preprocessing;
use crate::error::Result;
use common_weakness::gradient::InputDiversity;
use common_weakness::rng::AttackRng;

/// Resizes each H×W image to r×r' with r uniform in [H, ⌊rate·H⌋), zero-pads it at a random
/// offset to ⌊rate·H⌋×⌊rate·W⌋ and resizes back to H×W, so that fixed-size models accept it
/// (Xie et al. feed the padded 331×331 image to an Inception that takes any size; rate 331/299).
/// The same transform as DI with probability 1, applied once as a defence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResizePad {
    transform: InputDiversity,
}

impl ResizePad {
    /// Xie et al.'s ratio 331/299.
    pub fn new() -> Self {
        Self::with_rate(331.0 / 299.0).expect("331/299 > 1")
    }

    /// A custom enlargement ratio (> 1).
    pub fn with_rate(resize_rate: f64) -> Result<Self> {
        let transform = InputDiversity::ResizePad { probability: 1.0, resize_rate };
        transform.validate()?;
        Ok(Self { transform })
    }
}

impl Default for ResizePad {
    fn default() -> Self {
        Self::new()
    }
}

impl Preprocessing for ResizePad {
    fn describe(&self) -> String {
        "R&P".into()
    }

    fn apply(&self, images: Tensor<4>, rng: &mut AttackRng) -> Result<Tensor<4>> {
        Ok(self.transform.apply(images, rng).clamp(0.0, 1.0))
    }
}
