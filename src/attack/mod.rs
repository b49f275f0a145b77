//! Attacks: the generalised Common Weakness loop, its presets and the baselines.
//!
//! Every attack implements [`Attack`]. They all run on one engine, [`Cwa`] (the paper's
//! Algorithm 4), whose degenerate settings give the classic iterative attacks:
//!
//! | attack | reverse step | inner sweep | outer step |
//! |---|---|---|---|
//! | FGSM / BIM / PGD | – | – | sign SGD on the ensemble gradient |
//! | MI-FGSM | – | – | L1-normalised momentum, sign step |
//! | MI-SAM | sign ascent | – | momentum on the gradient at the reversed point |
//! | MI-CSE | – | L2-normalised momentum per model | momentum on the pseudo-gradient |
//! | MI-CWA | sign ascent | L2-normalised momentum per model | momentum on the pseudo-gradient |
//! | Adam-CWA | sign ascent | L2-normalised momentum per model | Adam on the pseudo-gradient |
//! | VMI-CWA / SSA-CWA | as MI-CWA | as MI-CWA, on VMI / SSA gradients | as MI-CWA |
//!
//! Two ensemble attacks have iterations of their own: [`Svre`] (variance-reduced inner
//! steps, outer step on the inner momentum) and [`Rap`] (a persistent reverse perturbation
//! with K ascent steps and a late start).
//!
//! Every attack is an [`Iterate`] (a plan and one iteration on a [`Run`]), and the one
//! [`Executor`] runs them all: per image ([`Attack::run`]), over a dataset
//! ([`Executor::per_image`]) and as a universal perturbation or patch
//! ([`Executor::universal`]), with observers, checkpoints and a time limit. Implement
//! [`Iterate`] to add an attack of your own; it gets everything the crate's attacks get.
//!
//! DI, TI, VMI and SSA are [`GradientEstimator`](crate::gradient::GradientEstimator)s that
//! compose with any of these (`Cwa::with_gradient`, `with_model_gradient`,
//! `with_ensemble_gradient`).

mod baselines;
mod config;
mod cwa;
mod defaults;
mod executor;
mod input;
mod iterate;
mod order;
mod per_image;
mod presets;
mod rap;
mod registry;
mod run;
mod schema;
mod smer;
mod svre;
mod weighting;

pub use baselines::{
    ada_ea, admix, anda, bim, bsr, decowa, di_mi_fgsm, emi_fgsm, fgsm, gi_fgsm, gra, mask_block, mi_fgsm, ni_fgsm, pgd,
    pgn, pi_fgsm, si_mi_fgsm, si_ti_dim, sia, ssa, ti_mi_fgsm, vmi_fgsm, vni_fgsm, Iterative,
};
pub use config::{CwaConfig, Flavor};
pub use cwa::{AnchorPoint, Cwa, LoopSettings, WarmUp};
pub use executor::{Checkpoints, Executor};
pub(crate) use executor::{Cursor, Expected, SavedCursor};
pub use input::{check_images, images_from_data};
pub use iterate::{Iterate, Plan};
pub use order::VisitOrder;
pub use per_image::PerImageOutcome;
pub use rap::{Rap, RapConfig};
pub use registry::{catalogue, catalogue_at, registry, registry_at, AttackSpec, MomentumSettings, RegistryEntry};
pub(crate) use run::{check_random_start, finite, Shared, Variable};
pub use run::{Of, Run};
pub use schema::{AttackConfig, AttackConfigState};
pub use smer::{Smer, SmerConfig};
pub use svre::{Svre, SvreConfig};
pub use weighting::{AdaEa, Weighting};

use burn::tensor::Tensor;

use crate::ensemble::Ensemble;
use crate::error::Result;
use crate::objective::Objective;
use crate::observe::{IterationRecord, Observer, RunInfo, Silent, StopReason};
use per_image::Piece;

use crate::universal::{Batch, Universal, UniversalOutcome};

/// The result of an attack run.
#[derive(Clone, Debug)]
pub struct AttackOutcome {
    /// The adversarial images, admissible under the threat model, detached from any graph.
    pub adversarial: Tensor<4>,
    /// One record per iteration that ran.
    pub records: Vec<IterationRecord>,
    /// Per image, the iteration after which [early stopping](crate::observe::EarlyStop)
    /// froze it (0: before the first; `None`: it ran every iteration; always `None` without
    /// early stopping).
    pub stopped_at: Vec<Option<usize>>,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Each model's objective (batch mean) at the clean images.
    pub initial_loss: Vec<f64>,
    /// Each model's objective (batch mean) at the adversarial images.
    pub final_loss: Vec<f64>,
    /// What was run.
    pub info: RunInfo,
}

/// An attack on an ensemble of surrogates.
///
/// Attacks are `Send + Sync` and keep no state between runs: one attack can run on several
/// threads at once, each run with its own seeded randomness.
///
/// Every random draw of a per-image attack is keyed by the attack's seed and the image's
/// index in the whole image set ([`AttackRng::per_image`](crate::rng::AttackRng::per_image)):
/// attacked in any batch, order or shard, with its index given to
/// [`run_indexed`](Attack::run_indexed), an image gets the same adversarial example (up to
/// the backend's floating-point differences between batch sizes; bit for bit on flex and
/// ndarray for the small models of the sharding test).
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::attack::{di_mi_fgsm, Attack};
/// use common_weakness::ensemble::Ensemble;
/// use common_weakness::objective::Objective;
/// use common_weakness::observe::Silent;
/// use common_weakness::surrogate::from_fn;
/// use common_weakness::threat::ThreatModel;
///
/// let device = Default::default();
/// let model = from_fn("two", |x: Tensor<4>| {
///     let flat = x.flatten::<2>(1, 3);
///     Tensor::cat(vec![flat.clone().sum_dim(1), flat.neg().sum_dim(1)], 1)
/// });
/// let ensemble = Ensemble::new(vec![Box::new(model)]).unwrap();
/// let images = Tensor::<4>::ones([4, 1, 8, 8], &device).mul_scalar(0.5);
/// let labels = vec![0, 1, 0, 1];
/// // DI-MI-FGSM draws a random resize and pad per image and iteration.
/// let attack = di_mi_fgsm(ThreatModel::linf(0.1), 5, 1.0).with_seed(3);
/// let whole = attack.run(&ensemble, images.clone(), &Objective::untargeted(labels.clone())).unwrap();
/// // The last two images as a shard of their own, with their indices in the whole set.
/// let shard = attack
///     .run_indexed(&ensemble, images.narrow(0, 2, 2), &Objective::untargeted(labels[2..].to_vec()), &[2, 3], &mut Silent)
///     .unwrap();
/// assert_eq!(whole.adversarial.narrow(0, 2, 2).into_data(), shard.adversarial.into_data());
/// ```
pub trait Attack: Send + Sync {
    /// The attack's display name.
    fn name(&self) -> &str;

    /// Attacks `images` (`[N, C, H, W]`, pixels in `[0, 1]`), image `i` being image
    /// `image_indices[i]` of the whole image set (one index per image, or
    /// [`Error::IndexMismatch`](crate::error::Error::IndexMismatch)); reports to `observer`.
    fn run_indexed(
        &self,
        ensemble: &Ensemble,
        images: Tensor<4>,
        objective: &Objective,
        image_indices: &[usize],
        observer: &mut dyn Observer,
    ) -> Result<AttackOutcome>;

    /// Attacks `images` (`[N, C, H, W]`, pixels in `[0, 1]`), images `0..N` of their set,
    /// reporting to `observer`.
    fn run_observed(
        &self,
        ensemble: &Ensemble,
        images: Tensor<4>,
        objective: &Objective,
        observer: &mut dyn Observer,
    ) -> Result<AttackOutcome> {
        let indices: Vec<usize> = (0..images.dims()[0]).collect();
        self.run_indexed(ensemble, images, objective, &indices, observer)
    }

    /// Attacks `images` silently.
    fn run(&self, ensemble: &Ensemble, images: Tensor<4>, objective: &Objective) -> Result<AttackOutcome> {
        self.run_observed(ensemble, images, objective, &mut Silent)
    }

    /// Attacks every batch of a dataset image by image on `executor`
    /// ([`Executor::per_image`]): how an attack behind a `Box<dyn Attack>` (a registry
    /// entry's, say) runs over a dataset with checkpoints and a time limit.
    ///
    /// ```
    /// use burn::tensor::Tensor;
    /// use common_weakness::attack::{registry_at, Executor};
    /// use common_weakness::prelude::*;
    /// use common_weakness::universal::{Batch, Universal, UniversalVariable};
    ///
    /// let model = from_fn("mean", |x: Tensor<4>| {
    ///     let m = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]);
    ///     Tensor::cat(vec![m.clone(), m.neg()], 1)
    /// });
    /// let ensemble = Ensemble::new(vec![Box::new(model)])?;
    /// let batches = vec![Batch::labelled(Tensor::full([2, 1, 4, 4], 0.5, &Default::default()), vec![0, 0])];
    /// let labels = |b: &Batch| Objective::untargeted(b.labels.clone().unwrap());
    /// for entry in registry_at(ThreatModel::linf(0.1)) {
    ///     let attack: Box<dyn Attack> = entry.defaults.build();
    ///     let per_image = attack.run_dataset(Executor::new(), &ensemble, &batches, &labels)?;
    ///     assert_eq!(per_image.batches.len(), 1);
    ///     let universal = Universal::new(UniversalVariable::Perturbation, 1);
    ///     let trained = attack.train_universal(Executor::new(), &universal, &ensemble, &batches, &labels)?;
    ///     assert_eq!(trained.variable.dims(), [1, 1, 4, 4]);
    /// }
    /// # Ok::<(), common_weakness::Error>(())
    /// ```
    fn run_dataset(
        &self,
        executor: Executor<'_>,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
    ) -> Result<PerImageOutcome>;

    /// Trains `universal`'s variable over a dataset on `executor`
    /// ([`Executor::universal`]); see [`run_dataset`](Self::run_dataset).
    fn train_universal(
        &self,
        executor: Executor<'_>,
        universal: &Universal,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
    ) -> Result<UniversalOutcome>;
}

/// Every attack of the engine, the crate's and a user's ([`Iterate`]), runs through the
/// [`Executor`].
impl<T: Iterate> Attack for T {
    fn name(&self) -> &str {
        self.plan().name
    }

    fn run_indexed(
        &self,
        ensemble: &Ensemble,
        images: Tensor<4>,
        objective: &Objective,
        image_indices: &[usize],
        observer: &mut dyn Observer,
    ) -> Result<AttackOutcome> {
        let piece = Piece { images, objective: objective.clone(), indices: image_indices.to_vec() };
        let mut outcome = Executor::observed(observer).per_image_pieces(self, ensemble, vec![piece])?;
        Ok(outcome.batches.remove(0))
    }

    fn run_dataset(
        &self,
        executor: Executor<'_>,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
    ) -> Result<PerImageOutcome> {
        executor.per_image(self, ensemble, batches, objective)
    }

    fn train_universal(
        &self,
        executor: Executor<'_>,
        universal: &Universal,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
    ) -> Result<UniversalOutcome> {
        executor.universal(universal, self, ensemble, batches, objective)
    }
}
