//! The scaffolding every attack loop shares: the checks before the first iteration, the
//! per-iteration records and observer calls, and the outcome.

use std::time::Instant;

use burn::tensor::Tensor;

use super::{input, AttackOutcome};
use crate::ensemble::{Combination, Ensemble};
use crate::error::{Error, Result, Stage};
use crate::eval::mean_pairwise_cosine;
use crate::gradient::{EstimatorState, Evaluator, GradientEstimator, InputTransform};
use crate::norm;
use crate::objective::{LossKind, Objective};
use crate::observe::{Control, IterationRecord, Observer, RunInfo, StopReason};
use crate::rng::AttackRng;
use crate::threat::ThreatModel;

/// What an attack tells the loop owner about itself before the run.
pub struct Plan<'s> {
    /// The attack's display name.
    pub name: &'s str,
    /// The attack's settings, recorded in [`RunInfo::config`].
    pub config: serde_json::Value,
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

/// One attack as the loop owners, [`drive`] and the universal loop, see it: a plan, checks
/// of its own settings, a state carried between iterations and one iteration. CWA, SVRE and
/// RAP implement it; the loops themselves (checks, timing, losses, records, observer, stop,
/// outcome) exist only in [`drive`] and `universal::train`. Public in a private module:
/// the crate's attacks are the only implementations (a sealed trait).
pub trait Iterate: Send + Sync {
    /// What the attack carries from one iteration to the next (optimizer and estimator states).
    type State;

    /// The run's plan.
    fn plan(&self) -> Plan<'_>;

    /// The attack's own settings checks (estimators, then optimizers), run after the threat
    /// model, the images and the objective are checked, so an error names its first cause.
    fn validate(&self) -> Result<()>;

    /// The state before the first iteration, at the starting point `x`.
    fn init(&self, run: &Run<'_>, x: &Tensor<4>) -> Self::State;

    /// One iteration from `x`: gradients through [`Run::gradient`], steps through
    /// [`Run::step`]; returns the next iterate.
    fn iterate(&self, run: &mut Run<'_>, state: &mut Self::State, x: Tensor<4>) -> Result<Tensor<4>>;
}

/// The attack loop of every per-image attack: start (every check, the clean evaluation),
/// iterate with timing and records until the iterations are done or the observer stops,
/// finish. The dataset loop of universal variables, [`crate::universal`], drives the same
/// [`Iterate::iterate`] over mini-batches.
pub(crate) fn drive<A: Iterate>(
    attack: &A,
    ensemble: &Ensemble,
    images: Tensor<4>,
    objective: &Objective,
    image_indices: &[usize],
    observer: &mut dyn Observer,
) -> Result<AttackOutcome> {
    let plan = attack.plan();
    plan.threat.validate()?;
    crate::check::at_least_one("iterations", plan.iterations)?;
    input::check_images(&images)?;
    let x_nat = images.inner();
    let batch = x_nat.dims()[0];
    if image_indices.len() != batch {
        return Err(Error::IndexMismatch { images: batch, indices: image_indices.len() });
    }
    objective.validate(batch)?;
    check_random_start(objective, plan.random_start)?;
    attack.validate()?;
    let evaluator = Evaluator::new(ensemble, objective, plan.combination, &x_nat)?;
    let names: Vec<String> = ensemble.names().into_iter().map(String::from).collect();
    let info = RunInfo {
        attack: plan.name.to_string(),
        config: plan.config,
        seed: plan.seed,
        backend: crate::backend::BackendKind::name_of(&x_nat.device()),
        models: names.clone(),
        images: batch,
        image_indices: image_indices.to_vec(),
        iterations: plan.iterations,
    };
    let initial_loss = batch_means(evaluator.clean_losses()?, names.len());
    finite(&initial_loss, &names, 0)?;
    observer.start(&info);

    let variable = Variable::Images { x_nat: x_nat.clone(), threat: plan.threat };
    let mut run = Run::new(evaluator, variable, AttackRng::per_image(plan.seed, image_indices), names);
    let mut x = match plan.random_start {
        true => plan.threat.random_start(&x_nat, &mut run.rng),
        false => x_nat.clone(),
    };
    let mut state = attack.init(&run, &x);
    let mut records = Vec::new();
    let mut stop = StopReason::Completed;
    for iteration in 1..=plan.iterations {
        let started = Instant::now();
        run.begin(iteration, &x);
        x = attack.iterate(&mut run, &mut state, x)?;
        let record = run.record(x.clone() - x_nat.clone(), started)?;
        let control = observer.observe(&record);
        records.push(record);
        if control == Control::Stop {
            stop = StopReason::Observer { iteration };
            break;
        }
    }
    observer.finish(&stop);
    let final_loss = batch_means(run.evaluator.losses(&x)?, run.models());
    finite(&final_loss, &run.names, records.len())?;
    Ok(AttackOutcome { adversarial: Tensor::from_inner(x), records, stop, initial_loss, final_loss, info })
}

/// Feature distortion has a zero gradient at the clean images: refuse a run that would never
/// move.
pub(crate) fn check_random_start(objective: &Objective, random_start: bool) -> Result<()> {
    match objective.loss_kind() == Some(LossKind::FeatureDistortion) && !random_start {
        true => Err(Error::InvalidObjective(
            "feature distortion has a zero gradient at the clean images, so the attack would never move: \
             enable `random_start`",
        )),
        false => Ok(()),
    }
}

/// Which objective a gradient is taken of.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Of {
    /// The combined ensemble objective.
    Ensemble,
    /// One model's objective, by index.
    Model(usize),
}

/// What the engine optimises, and how the models see it.
// A Burn 0.22 tensor is type-erased storage as large as the largest enabled backend's
// (about 600 bytes with LibTorch and wgpu); boxing it would add an indirection per step for
// a handful of values per run.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Variable<'a> {
    /// The images themselves (every per-image attack), kept inside the threat model around
    /// the clean images.
    Images { x_nat: Tensor<4>, threat: ThreatModel },
    /// One variable shared by a batch (a universal perturbation or a patch).
    Shared(Shared<'a>),
}

/// A function of an inner-backend tensor (a projection, a penalty's gradient).
type InnerMap<'a> = Box<dyn Fn(Tensor<4>) -> Tensor<4> + 'a>;

/// A variable shared by a batch: how it becomes the images the models see, its admissible
/// set and an optional penalty on the variable itself.
pub(crate) struct Shared<'a> {
    /// The images the models see at a value of the variable; differentiable in the variable.
    pub apply: Box<dyn Fn(Tensor<4>) -> Tensor<4> + 'a>,
    /// The projection onto the admissible set.
    pub project: InnerMap<'a>,
    /// The shape of the images `apply` returns (what input diversity draws for).
    pub images: [usize; 4],
    /// The scale of sampling estimators (VMI's box is in multiples of it).
    pub scale: f64,
    /// A penalty added to every objective (a patch's total variation), as its gradient.
    pub penalty: Option<InnerMap<'a>>,
    /// A factor on every update (a learning-rate schedule).
    pub step_scale: f64,
}

/// One step of an attack in progress: what [`Iterate::iterate`] sees. It evaluates gradients
/// at values of the variable, projects and checks steps, and keeps the losses and gradients
/// that the iteration's record reports.
pub struct Run<'a> {
    /// Gradients and losses of the ensemble's models.
    evaluator: Evaluator<'a>,
    variable: Variable<'a>,
    /// The run's random stream.
    pub(crate) rng: AttackRng,
    names: Vec<String>,
    /// The iteration in progress (1-based).
    iteration: usize,
    /// Each model's per-sample loss at the first point it was evaluated this iteration.
    losses: Vec<Option<Tensor<1>>>,
    /// Per-model gradients whose mean pairwise cosine this iteration's record reports.
    compared: Vec<Tensor<4>>,
    /// The iterate the iteration started from.
    start: Option<Tensor<4>>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(evaluator: Evaluator<'a>, variable: Variable<'a>, rng: AttackRng, names: Vec<String>) -> Self {
        Self {
            evaluator,
            variable,
            rng,
            losses: vec![None; names.len()],
            names,
            iteration: 0,
            compared: Vec::new(),
            start: None,
        }
    }

    /// Hands the random stream back (a dataset loop carries it from one batch to the next).
    pub(crate) fn into_rng(self) -> AttackRng {
        self.rng
    }

    /// Starts iteration `iteration` at `x`: no losses seen, no gradients to compare yet.
    pub(crate) fn begin(&mut self, iteration: usize, x: &Tensor<4>) {
        self.iteration = iteration;
        self.start = Some(x.clone());
        self.losses = vec![None; self.names.len()];
        self.compared.clear();
    }

    /// The gradient of `of` at `at`, estimated by `estimator` (DI, VMI/SSA sampling, TI or
    /// plain) with its VMI `memory`; the losses it saw are kept for this iteration's record.
    pub(crate) fn gradient(
        &mut self,
        estimator: &GradientEstimator,
        of: Of,
        at: &Tensor<4>,
        memory: &mut EstimatorState,
    ) -> Result<Tensor<4>> {
        let evaluator = &self.evaluator;
        let evaluate = |p: &Tensor<4>, t: InputTransform<'_>| match of {
            Of::Ensemble => evaluator.ensemble(p, t),
            Of::Model(index) => evaluator.model(index, p, t),
        };
        let evaluation = match &self.variable {
            Variable::Images { threat, .. } => {
                estimator.estimate(&evaluate, at, at.dims(), threat.budget, &mut self.rng, memory)?
            }
            Variable::Shared(shared) => {
                let apply: &dyn Fn(Tensor<4>) -> Tensor<4> = shared.apply.as_ref();
                let through = |p: &Tensor<4>, t: InputTransform<'_>| match t {
                    None => evaluate(p, Some(apply)),
                    Some(t) => evaluate(p, Some(&|v| t(apply(v)))),
                };
                let mut evaluation =
                    estimator.estimate(&through, at, shared.images, shared.scale, &mut self.rng, memory)?;
                if let Some(penalty) = &shared.penalty {
                    evaluation.gradient = evaluation.gradient + penalty(at.clone());
                }
                evaluation
            }
        };
        for (index, loss) in evaluation.losses {
            self.losses[index].get_or_insert(loss);
        }
        Ok(evaluation.gradient)
    }

    /// Adds a per-model gradient to those whose mean pairwise cosine this iteration records.
    pub(crate) fn compare(&mut self, gradient: Tensor<4>) {
        self.compared.push(gradient);
    }

    /// Projects `x` onto the admissible set of the variable.
    pub(crate) fn project(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.variable {
            Variable::Images { x_nat, threat } => threat.project(x, x_nat),
            Variable::Shared(shared) => (shared.project)(x),
        }
    }

    /// `project(from + update(gradient))`, through [`checked_update`](Self::checked_update):
    /// every projected step of every attack goes through here.
    pub(crate) fn step(
        &self,
        stage: Stage,
        from: Tensor<4>,
        gradient: Tensor<4>,
        update: impl FnOnce(Tensor<4>) -> Tensor<4>,
    ) -> Result<Tensor<4>> {
        let update = self.checked_update(stage, &from, gradient, update)?;
        let update = match &self.variable {
            Variable::Shared(Shared { step_scale, .. }) if *step_scale != 1.0 => update.mul_scalar(*step_scale),
            _ => update,
        };
        Ok(self.project(from + update))
    }

    /// `update(gradient)`, failing with [`Error::NonFiniteStep`] when the gradient or the
    /// update holds a NaN or an infinity, so that no NaN becomes a step. For a non-finite
    /// ensemble gradient (reverse and outer steps) the error names the first model whose own
    /// gradient at `at` (the point the step starts from) is not finite.
    pub(crate) fn checked_update(
        &self,
        stage: Stage,
        at: &Tensor<4>,
        gradient: Tensor<4>,
        update: impl FnOnce(Tensor<4>) -> Tensor<4>,
    ) -> Result<Tensor<4>> {
        let iteration = self.iteration;
        if !crate::host::is_finite(&gradient) {
            let culprit = if matches!(stage, Stage::Inner { .. }) { None } else { self.culprit(at) };
            return Err(Error::NonFiniteStep { stage, quantity: "gradient", iteration, culprit });
        }
        let update = update(gradient);
        match crate::host::is_finite(&update) {
            true => Ok(update),
            false => Err(Error::NonFiniteStep { stage, quantity: "update", iteration, culprit: None }),
        }
    }

    /// The images the models see at `x`, without a graph.
    fn images(&self, x: &Tensor<4>) -> Tensor<4> {
        match &self.variable {
            Variable::Images { .. } => x.clone(),
            Variable::Shared(shared) => (shared.apply)(Tensor::from_inner(x.clone())).inner(),
        }
    }

    /// The first model whose own gradient at `x` is not finite: where a non-finite ensemble
    /// gradient came from. Runs only after a step has already failed.
    fn culprit(&self, x: &Tensor<4>) -> Option<String> {
        let images = self.images(x);
        (0..self.names.len()).find_map(|index| match self.evaluator.model(index, &images, None) {
            Ok(evaluation) if crate::host::is_finite(&evaluation.gradient) => None,
            _ => Some(self.names[index].clone()),
        })
    }

    /// The iteration in progress (1-based).
    pub(crate) fn iteration(&self) -> usize {
        self.iteration
    }

    /// The ensemble's weights, in model order.
    pub(crate) fn weights(&self) -> &[f64] {
        self.evaluator.weights()
    }

    /// The inner stage of model `index`.
    pub(crate) fn inner_stage(&self, index: usize) -> Stage {
        Stage::Inner { model: self.names[index].clone() }
    }

    /// Number of models.
    pub(crate) fn models(&self) -> usize {
        self.names.len()
    }

    /// The record of the iteration that just ended, `perturbation` the change it measures
    /// (the adversarial images minus the clean ones, or a universal variable).
    pub(crate) fn record(&mut self, perturbation: Tensor<4>, started: Instant) -> Result<IterationRecord> {
        Ok(IterationRecord {
            iteration: self.iteration,
            loss_per_model: self.iteration_losses()?,
            gradient_cosine: mean_pairwise_cosine(&std::mem::take(&mut self.compared))?,
            perturbation_linf: crate::host::to_vec(norm::linf(perturbation.clone()).max())[0] as f64,
            perturbation_l2: crate::host::to_vec(norm::l2(perturbation).mean())[0] as f64,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Each model's objective (batch mean) this iteration, at the first point a step
    /// evaluated it. A model no step evaluated (a random visiting order can skip one) is
    /// evaluated at the point the iteration started from: one forward pass.
    fn iteration_losses(&mut self) -> Result<Vec<f64>> {
        let start = self.start.clone().expect("begin() runs before every iteration");
        let images = self.images(&start);
        let mut seen = Vec::with_capacity(self.names.len());
        for (index, loss) in std::mem::take(&mut self.losses).into_iter().enumerate() {
            seen.push((index, loss.map_or_else(|| self.evaluator.model_loss(index, &images), Ok)?));
        }
        let losses = batch_means(seen, self.names.len());
        finite(&losses, &self.names, self.iteration)?;
        Ok(losses)
    }
}

/// Mean over the batch of each model's per-sample loss, in model order (one loss per model).
pub(crate) fn batch_means(losses: Vec<(usize, Tensor<1>)>, models: usize) -> Vec<f64> {
    debug_assert_eq!(losses.len(), models);
    let stacked = Tensor::stack::<2>(losses.into_iter().map(|(_, l)| l).collect(), 0).mean_dim(1);
    crate::host::to_vec(stacked).into_iter().map(f64::from).collect()
}

/// Fails on a non-finite objective value.
pub(crate) fn finite(values: &[f64], names: &[String], iteration: usize) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::NonFiniteLoss { model: names[i].clone(), iteration }),
        None => Ok(()),
    }
}
