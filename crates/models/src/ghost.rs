//! Ghost networks: residual networks whose skip connections are eroded anew at every draw.

use std::fmt::Debug;

use burn::module::Module;
use burn::tensor::Tensor;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::Surrogate;

use crate::error::Result;

/// A network with residual blocks whose skip connections can be scaled.
pub trait Residual: Module + Debug + Send + Sync {
    /// The residual blocks, in order.
    fn residual_blocks(&self) -> usize;
    /// The outputs as trained.
    fn forward_plain(&self, images: Tensor<4>) -> Tensor<2>;
    /// The outputs with the skip connection of residual block `b` scaled by `skips[b]` (ones
    /// everywhere give [`forward_plain`](Self::forward_plain) exactly).
    fn forward_eroded(&self, images: Tensor<4>, skips: &[f32]) -> Tensor<2>;
}

/// A ghost of a residual network: every draw scales each residual block's skip connection by
/// its own `λ ~ U[1 − range, 1 + range]`, so each iteration of an attack sees another member
/// of a virtual ensemble at the cost of one model.
///
/// - **Paper**: Li et al., *Learning Transferable Adversarial Examples via Ghost Networks*,
///   AAAI 2020 (skip-connection erosion).
/// - **Draws**: one per model and iteration ([`Surrogate::forward_drawn`]; seeded by the run,
///   the same for every image, so shards equal one run). Evaluations ([`Surrogate::forward`])
///   use the network as trained.
/// - **Defaults**: range 0.16 ([`Ghost::RANGE`], TransferAttack's `ghost_random_range`).
/// - **Cost**: the network's own; no memory beyond it.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::Surrogate;
/// use common_weakness_models::ghost::Ghost;
/// use common_weakness_models::zoo::{load_net, ResNet, ZooModel};
///
/// let device = Default::default();
/// let resnet = load_net::<ResNet>(ZooModel::ResNet.weights_path(), &device).unwrap();
/// let ghost = Ghost::new("resnet-ghost", resnet, Ghost::<ResNet>::RANGE).unwrap();
/// let images = Tensor::<4>::full([1, 1, 28, 28], 0.5, &device);
/// let (a, b) = (ghost.forward_drawn(images.clone(), 1), ghost.forward_drawn(images.clone(), 2));
/// assert_eq!(a.clone().into_data(), ghost.forward_drawn(images, 1).into_data());
/// assert_ne!(a.into_data(), b.into_data());
/// ```
#[derive(Debug)]
pub struct Ghost<M> {
    name: String,
    network: M,
    range: f64,
}

impl<M: Residual> Ghost<M> {
    /// TransferAttack's erosion range for residual networks.
    pub const RANGE: f64 = 0.16;

    /// A ghost of `network` named `name`, eroding its skips by up to `range` (in [0, 1)).
    pub fn new(name: impl Into<String>, network: M, range: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&range) {
            return Err(common_weakness::Error::InvalidParameter {
                name: "ghost range",
                value: range,
                requirement: "in [0, 1): each skip scale stays positive",
            }
            .into());
        }
        Ok(Self { name: name.into(), network: network.freeze(), range })
    }

    /// The skip scales of `draw`, one per residual block.
    pub fn skips(&self, draw: u64) -> Vec<f32> {
        let mut rng = AttackRng::new(draw);
        (0..self.network.residual_blocks())
            .map(|_| (1.0 + self.range * (2.0 * rng.unit() as f64 - 1.0)) as f32)
            .collect()
    }
}

impl<M: Residual> Surrogate for Ghost<M> {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.network.forward_plain(images)
    }

    fn forward_drawn(&self, images: Tensor<4>, draw: u64) -> Tensor<2> {
        self.network.forward_eroded(images, &self.skips(draw))
    }

    fn name(&self) -> &str {
        &self.name
    }
}
