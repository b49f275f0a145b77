//! Seeded randomness for attacks.
//!
//! Random numbers are drawn on the host from a ChaCha8 stream and uploaded, so a seed gives
//! the same noise on every backend (ndarray, wgpu, CUDA) and on every run.

use burn::tensor::{backend::Backend, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::host;

/// A seeded random stream owned by one attack run.
#[derive(Clone, Debug)]
pub struct AttackRng(ChaCha8Rng);

impl AttackRng {
    /// A stream determined entirely by `seed`.
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// One number uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        self.0.random::<f32>()
    }

    /// A tensor of i.i.d. values uniform in `[low, high)`.
    pub fn uniform<B: Backend>(&mut self, shape: [usize; 4], low: f32, high: f32, device: &B::Device) -> Tensor<B, 4> {
        let count = shape.iter().product();
        let values = (0..count).map(|_| low + (high - low) * self.unit()).collect();
        host::tensor(values, shape, device)
    }

    /// A tensor of i.i.d. standard normal values (Box–Muller).
    pub fn normal<B: Backend>(&mut self, shape: [usize; 4], device: &B::Device) -> Tensor<B, 4> {
        let count: usize = shape.iter().product();
        let mut values = Vec::with_capacity(count + 1);
        while values.len() < count {
            let u1 = 1.0 - self.unit(); // in (0, 1]: ln is finite
            let u2 = self.unit();
            let radius = (-2.0 * u1.ln()).sqrt();
            let angle = 2.0 * std::f32::consts::PI * u2;
            values.push(radius * angle.cos());
            values.push(radius * angle.sin());
        }
        values.truncate(count);
        host::tensor(values, shape, device)
    }

    /// The stream's key and position: 32 bytes of seed, 16 of word position.
    pub(crate) fn save(&self) -> crate::snapshot::Saved {
        let mut bytes = self.0.get_seed().to_vec();
        bytes.extend(self.0.get_word_pos().to_le_bytes());
        crate::snapshot::Saved::Bytes(bytes)
    }

    /// The stream saved by [`AttackRng::save`], at the same position.
    pub(crate) fn load(saved: &crate::snapshot::Saved) -> crate::error::Result<Self> {
        match saved {
            crate::snapshot::Saved::Bytes(bytes) if bytes.len() == 48 => {
                let seed: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
                let position = u128::from_le_bytes(bytes[32..].try_into().expect("16 bytes"));
                let mut stream = ChaCha8Rng::from_seed(seed);
                stream.set_word_pos(position);
                Ok(Self(stream))
            }
            _ => Err(crate::snapshot::mismatch("a random stream (48 bytes)")),
        }
    }

    /// A uniformly random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.0.random_range(0..=i);
            order.swap(i, j);
        }
        order
    }
}
