//! LGV: weight snapshots collected along a high-learning-rate SGD run, one drawn per iteration.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::Surrogate;

use super::{load_net, ZooModel, ZooNet};
use crate::error::{Error, Result};

/// A zoo model with weight snapshots collected around it: every draw picks one snapshot,
/// uniformly, so each iteration of an attack sees another point of the weights' vicinity.
///
/// - **Paper**: Gubri et al., *LGV: Boosting Adversarial Example Transferability from Large
///   Geometric Vicinity*, ECCV 2022.
/// - **Snapshots**: collected from the trained model by SGD at a high constant learning rate
///   (`crates/bench/examples/collect_lgv.rs`: the paper's 4 per epoch for 10 epochs, momentum
///   0.9, weight decay 10⁻⁴; learning rate 0.01, as the paper's 0.05 diverges on the zoo's
///   ResNet, which has no batch norm), named `{model}-lgv-NN.safetensors`.
/// - **Draws**: one snapshot per model and iteration ([`Surrogate::forward_drawn`]), uniformly
///   with replacement (the paper cycles through a shuffled list; over ten iterations of forty
///   snapshots the two differ little); seeded by the run and the same for every image, so
///   shards equal one run. Evaluations ([`Surrogate::forward`]) use the trained model.
/// - **Cost**: one network's passes; memory for every snapshot (40 × 0.36 MB for the zoo's
///   ResNet).
#[derive(Debug)]
pub struct Lgv<N> {
    name: String,
    base: N,
    snapshots: Vec<N>,
}

impl<N: ZooNet> Lgv<N> {
    /// Snapshots around `base` (at least one).
    pub fn new(name: impl Into<String>, base: N, snapshots: Vec<N>) -> Result<Self> {
        if snapshots.is_empty() {
            return Err(common_weakness::Error::InvalidParameter {
                name: "LGV snapshots",
                value: 0.0,
                requirement: "at least one",
            }
            .into());
        }
        let snapshots = snapshots.into_iter().map(Module::freeze).collect();
        Ok(Self { name: name.into(), base: base.freeze(), snapshots })
    }

    /// The number of snapshots.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// Always false: LGV holds at least one snapshot.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    /// The snapshot `draw` picks.
    pub fn pick(&self, draw: u64) -> usize {
        (AttackRng::new(draw).unit() * self.snapshots.len() as f32) as usize % self.snapshots.len()
    }
}

impl<N: ZooNet + Send + Sync> Surrogate for Lgv<N> {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.base.forward(images)
    }

    fn forward_drawn(&self, images: Tensor<4>, draw: u64) -> Tensor<2> {
        self.snapshots[self.pick(draw)].forward(images)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// The path of snapshot `index` (1-based) of `model` in `folder`.
pub fn lgv_snapshot_path(folder: &Path, model: ZooModel, index: usize) -> PathBuf {
    folder.join(format!("{}-lgv-{index:02}.safetensors", model.name()))
}

/// The snapshots of `model` in `folder` (`{model}-lgv-01.safetensors`, `-02`, …, up to the
/// first missing number).
///
/// Fails with [`Error::MissingAssets`] when `folder` holds none.
pub(super) fn load_snapshots<N: ZooNet>(model: ZooModel, folder: &Path, device: &Device) -> Result<Vec<N>> {
    let snapshots: Vec<N> = (1..)
        .map(|index| lgv_snapshot_path(folder, model, index))
        .take_while(|path| path.is_file())
        .map(|path| load_net::<N>(path, device))
        .collect::<Result<_>>()?;
    if snapshots.is_empty() {
        return Err(Error::MissingAssets {
            path: lgv_snapshot_path(folder, model, 1),
            hint: "collect LGV snapshots with crates/bench/examples/collect_lgv.rs",
        });
    }
    Ok(snapshots)
}

/// The LGV surrogate of `model` from its snapshots in `folder` around the committed model,
/// named `{model}-lgv`.
pub(super) fn load_lgv<N: ZooNet + Send + Sync + 'static>(
    model: ZooModel,
    folder: &Path,
    device: &Device,
) -> Result<Box<dyn Surrogate>> {
    let base = load_net::<N>(model.weights_path(), device)?;
    let snapshots = load_snapshots::<N>(model, folder, device)?;
    Ok(Box::new(Lgv::new(format!("{}-lgv", model.name()), base, snapshots)?))
}

/// The MBA posterior of `model` fitted to its snapshots in `folder`, named `{model}-mba`.
pub(super) fn load_mba<N: ZooNet + Send + Sync + 'static>(
    model: ZooModel,
    folder: &Path,
    device: &Device,
    scale: f64,
) -> Result<Box<dyn Surrogate>> {
    let snapshots = load_snapshots::<N>(model, folder, device)?;
    Ok(Box::new(super::Posterior::fit(format!("{}-mba", model.name()), snapshots, scale)?))
}
