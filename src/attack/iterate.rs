//! The contract between an attack and the [`Executor`](super::Executor): a plan, checks of
//! its own settings, a state carried between iterations and one iteration.

use burn::tensor::Tensor;

use super::Run;
use crate::ensemble::Combination;
use crate::error::Result;
use crate::snapshot::Snapshot;
use crate::threat::ThreatModel;

/// What an attack tells the executor about itself before the run (cheap: no serialisation).
#[derive(Clone, Debug)]
pub struct Plan<'s> {
    /// The attack's display name.
    pub name: &'s str,
    /// The threat model (per-image attacks; a universal perturbation's ball).
    pub threat: ThreatModel,
    /// Iterations of a per-image run.
    pub iterations: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Where the models are combined for the ensemble gradient.
    pub combination: Combination,
    /// Start from a random admissible point.
    pub random_start: bool,
}

/// One attack as the [`Executor`](super::Executor) sees it: a plan, checks of its own
/// settings, a state carried between iterations and one iteration.
///
/// Implement it to write an attack of your own: it then is an [`Attack`](super::Attack)
/// (per-image runs, any batch or shard), runs over a dataset and as a universal perturbation
/// or patch, checkpoints and resumes, and gets everything the crate's attacks get from
/// [`Run`]: gradients through any [`GradientEstimator`](crate::gradient::GradientEstimator)
/// (DI, TI, VMI, SSA), steps that are checked for NaN and projected onto the threat model,
/// per-iteration records, and a random stream seeded per image. The crate's CWA, SVRE, RAP and SMER
/// implement it through the same public items.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::attack::{Attack, Iterate, Of, Plan, Run};
/// use common_weakness::ensemble::{Combination, Ensemble};
/// use common_weakness::Stage;
/// use common_weakness::gradient::{EstimatorState, GradientEstimator};
/// use common_weakness::objective::Objective;
/// use common_weakness::surrogate::from_fn;
/// use common_weakness::threat::ThreatModel;
///
/// /// Signed gradient descent whose step shrinks as 1/t.
/// struct DecayingFgsm {
///     threat: ThreatModel,
///     iterations: usize,
/// }
///
/// impl Iterate for DecayingFgsm {
///     // The VMI memory of the estimator (unused by the plain gradient). Tensors, options,
///     // vectors and tuples of them are states that checkpoints save; so is a struct of
///     // them with `common_weakness::snapshot_fields!`.
///     type State = EstimatorState;
///
///     fn plan(&self) -> Plan<'_> {
///         Plan {
///             name: "decaying FGSM",
///             threat: self.threat,
///             iterations: self.iterations,
///             seed: 0,
///             combination: Combination::LossMean,
///             random_start: false,
///         }
///     }
///
///     fn config(&self) -> serde_json::Value {
///         serde_json::json!({ "decaying_fgsm": { "iterations": self.iterations } })
///     }
///
///     fn validate(&self) -> common_weakness::Result<()> {
///         Ok(())
///     }
///
///     fn init(&self, _run: &Run<'_>, _x: &Tensor<4>) -> EstimatorState {
///         EstimatorState::default()
///     }
///
///     fn iterate(&self, run: &mut Run<'_>, memory: &mut EstimatorState, x: Tensor<4>) -> common_weakness::Result<Tensor<4>> {
///         let gradient = run.gradient(&GradientEstimator::default(), Of::Ensemble, &x, memory)?;
///         let size = self.threat.budget / run.iteration() as f64;
///         run.step(Stage::Outer, x, gradient, |g| g.sign().mul_scalar(-size))
///     }
/// }
///
/// let model = from_fn("sum", |x: Tensor<4>| {
///     let s = x.sum_dims(&[1, 2, 3]).reshape([-1, 1]);
///     Tensor::cat(vec![s.clone(), s.neg()], 1)
/// });
/// let ensemble = Ensemble::new(vec![Box::new(model)])?;
/// let images = Tensor::<4>::full([2, 1, 4, 4], 0.5, &Default::default());
/// let attack = DecayingFgsm { threat: ThreatModel::linf(0.1), iterations: 3 };
/// let outcome = attack.run(&ensemble, images, &Objective::untargeted(vec![0, 0]))?;
/// assert_eq!(outcome.records.len(), 3);
/// assert!(outcome.final_loss[0] < outcome.initial_loss[0]);
/// # Ok::<(), common_weakness::Error>(())
/// ```
pub trait Iterate: Send + Sync {
    /// What the attack carries from one iteration to the next (optimizer and estimator
    /// states); a [`Snapshot`] so that checkpoints can save and restore it exactly (a struct
    /// of snapshots is one with [`snapshot_fields!`](crate::snapshot_fields)).
    type State: Snapshot;

    /// The run's plan.
    fn plan(&self) -> Plan<'_>;

    /// The attack's settings, recorded once per run in
    /// [`RunInfo::config`](crate::observe::RunInfo::config).
    fn config(&self) -> serde_json::Value;

    /// The attack's own settings checks (estimators, then optimizers), run after the threat
    /// model, the images and the objective are checked, so an error names its first cause.
    fn validate(&self) -> Result<()>;

    /// The state before the first iteration, at the starting point `x`.
    fn init(&self, run: &Run<'_>, x: &Tensor<4>) -> Self::State;

    /// One iteration from `x`: gradients through [`Run::gradient`], steps through
    /// [`Run::step`]; returns the next iterate.
    fn iterate(&self, run: &mut Run<'_>, state: &mut Self::State, x: Tensor<4>) -> Result<Tensor<4>>;
}
