//! Ghost networks: the zoo's ResNet with randomly eroded skip connections.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::Surrogate;

use super::{load_net, ResNet, ZooModel, ZooNet};
use crate::error::Result;

/// A ghost of the zoo's [`ResNet`]: every draw scales each residual block's skip connection by
/// its own `λ ~ U[1 − range, 1 + range]`, so each iteration of an attack sees another member
/// of a virtual ensemble at the cost of one model.
///
/// - **Paper**: Li et al., *Learning Transferable Adversarial Examples via Ghost Networks*,
///   AAAI 2020 (skip-connection erosion).
/// - **Draws**: one per model and iteration ([`Surrogate::forward_drawn`]; seeded by the run,
///   the same for every image, so shards equal one run). Evaluations ([`Surrogate::forward`])
///   use the network as trained.
/// - **Defaults**: range 0.16 (TransferAttack's `ghost_random_range`; [`GhostResNet::RANGE`]).
/// - **Cost**: the network's own; no memory beyond it.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::Surrogate;
/// use common_weakness_models::zoo::GhostResNet;
///
/// let device = Default::default();
/// let ghost = GhostResNet::load(&device, GhostResNet::RANGE).unwrap();
/// let images = Tensor::<4>::full([1, 1, 28, 28], 0.5, &device);
/// let (a, b) = (ghost.forward_drawn(images.clone(), 1), ghost.forward_drawn(images.clone(), 2));
/// assert_eq!(a.clone().into_data(), ghost.forward_drawn(images, 1).into_data());
/// assert_ne!(a.into_data(), b.into_data());
/// ```
#[derive(Debug)]
pub struct GhostResNet {
    name: String,
    network: ResNet,
    range: f64,
}

impl GhostResNet {
    /// TransferAttack's erosion range for residual networks.
    pub const RANGE: f64 = 0.16;

    /// A ghost of `network` eroding its skips by up to `range` (finite, in [0, 1)).
    pub fn new(network: ResNet, range: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&range) {
            return Err(common_weakness::Error::InvalidParameter {
                name: "ghost range",
                value: range,
                requirement: "in [0, 1): each skip scale stays positive",
            }
            .into());
        }
        let name = format!("{}-ghost", ZooModel::ResNet.name());
        Ok(Self { name, network: network.freeze(), range })
    }

    /// A ghost of the committed zoo ResNet.
    pub fn load(device: &Device, range: f64) -> Result<Self> {
        Self::new(load_net::<ResNet>(ZooModel::ResNet.weights_path(), device)?, range)
    }

    /// The skip scales of `draw`, one per residual block.
    pub fn skips(&self, draw: u64) -> [f32; 3] {
        let mut rng = AttackRng::new(draw);
        [(); 3].map(|_| (1.0 + self.range * (2.0 * rng.unit() as f64 - 1.0)) as f32)
    }
}

impl Surrogate for GhostResNet {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.network.forward(images)
    }

    fn forward_drawn(&self, images: Tensor<4>, draw: u64) -> Tensor<2> {
        self.network.forward_eroded(images, self.skips(draw))
    }

    fn name(&self) -> &str {
        &self.name
    }
}
