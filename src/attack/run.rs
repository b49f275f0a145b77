//! One step of an attack in progress ([`Run`]): gradients through the estimators, checked
//! and projected steps, the iteration's losses and record.

use std::time::Instant;

use burn::tensor::Tensor;

use crate::error::{Error, Result, Stage};
use crate::eval::PairwiseCosine;
use crate::gradient::{EstimatorState, Evaluator, GradientEstimator, InputTransform, Inputs};
use crate::norm;
use crate::objective::{LossKind, Objective};
use crate::observe::IterationRecord;
use crate::rng::AttackRng;
use crate::threat::ThreatModel;

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
pub enum Of {
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

/// One step of an attack in progress: what [`Iterate::iterate`](super::Iterate::iterate)
/// sees. It evaluates gradients at values of the variable (the images of a per-image run, or
/// a universal perturbation or patch, through the images it makes), projects and checks
/// steps, and keeps the losses and gradients that the iteration's record reports. Only the
/// [`Executor`](super::Executor) creates one.
pub struct Run<'a> {
    /// Gradients and losses of the ensemble's models.
    evaluator: Evaluator<'a>,
    variable: Variable<'a>,
    /// The run's random stream.
    rng: AttackRng,
    names: Vec<String>,
    /// The iteration in progress (1-based).
    iteration: usize,
    /// Each model's per-sample loss at the first point it was evaluated this iteration.
    losses: Vec<Option<Tensor<1>>>,
    /// The mean pairwise cosine of the per-model gradients compared this iteration (a
    /// running sum: no per-model memory).
    compared: PairwiseCosine,
    /// The iterate the iteration started from.
    start: Option<Tensor<4>>,
    /// This iteration's per-image model weights `[N, models]`, when a weighting set them.
    weights: Option<Tensor<2>>,
    /// This iteration's filter on the combined gradient (AdaEA's), `[N, 1, H, W]`.
    filter: Option<Tensor<4>>,
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
            compared: PairwiseCosine::default(),
            start: None,
            weights: None,
            filter: None,
        }
    }

    /// The run's seeded random stream: per image for a per-image run (draw per-image noise
    /// with it and an image gets the same draws in any batch or shard), one stream for a
    /// dataset run. Every random choice of an attack should come from here.
    pub fn rng(&mut self) -> &mut AttackRng {
        &mut self.rng
    }

    /// Hands the random stream back (a dataset loop carries it from one batch to the next).
    pub(crate) fn into_rng(self) -> AttackRng {
        self.rng
    }

    /// Starts iteration `iteration` of a run seeded with `seed` at `x`: no losses seen, no
    /// gradients to compare yet, the ensemble's own weights, the iteration's draw of the models.
    pub(crate) fn begin(&mut self, iteration: usize, x: &Tensor<4>, seed: u64) {
        self.iteration = iteration;
        self.evaluator.set_draw(seed, iteration);
        self.start = Some(x.clone());
        self.losses = vec![None; self.names.len()];
        self.compared = PairwiseCosine::default();
        if self.weights.take().is_some() {
            self.evaluator.set_image_weights(None);
        }
        self.filter = None;
    }

    /// Weighs the models of every combined ensemble gradient of this iteration per image:
    /// `weights` is `[N, models]` (N the images of a per-image run; one row for a universal
    /// one), finite, ≥ 0, with a positive sum in every row, and replaces the ensemble's
    /// weights until the iteration ends. The iteration's record carries their mean over the
    /// images, each row normalised to sum 1. This is how a weighting rule of your own enters
    /// an attack ([`Weighting`](super::Weighting) has the crate's).
    ///
    /// Fails with [`Error::Shape`] on a wrong shape and [`Error::InvalidParameter`] on a
    /// negative, non-finite or all-zero row.
    pub fn set_weights(&mut self, weights: Tensor<2>) -> Result<()> {
        let rows = match &self.variable {
            Variable::Images { x_nat, .. } => x_nat.dims()[0],
            Variable::Shared(_) => 1,
        };
        let models = self.names.len();
        if weights.dims() != [rows, models] {
            return Err(Error::Shape {
                what: "model weights",
                expected: format!("[{rows}, {models}] (images, models)"),
                actual: weights.dims().to_vec(),
            });
        }
        let values = crate::host::to_vec(weights.clone());
        if let Some(&bad) = values.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(Error::InvalidParameter {
                name: "model weights",
                value: bad as f64,
                requirement: "finite and ≥ 0",
            });
        }
        if values.chunks(models).any(|row| row.iter().sum::<f32>() <= 0.0) {
            return Err(Error::InvalidParameter {
                name: "model weights",
                value: 0.0,
                requirement: "a positive sum for every image",
            });
        }
        let weights = weights.detach();
        self.evaluator.set_image_weights(Some(weights.clone()));
        self.weights = Some(weights);
        Ok(())
    }

    /// Reports `weights` (`[N, models]`, ≥ 0) as this iteration's model weights in its record,
    /// without weighting any gradient (SMER's, which scale single models' logits).
    pub(crate) fn record_weights(&mut self, weights: Tensor<2>) {
        self.weights = Some(weights);
    }

    /// Multiplies every combined ensemble gradient of this iteration by `filter` (AdaEA's
    /// disparity filter, `[N, 1, H, W]`).
    pub(crate) fn set_gradient_filter(&mut self, filter: Tensor<4>) {
        self.filter = Some(filter);
    }

    /// The evaluator of the models' objectives.
    pub(crate) fn evaluator(&self) -> &Evaluator<'a> {
        &self.evaluator
    }

    /// Whether the variable is the images themselves (a per-image run).
    pub(crate) fn per_image(&self) -> bool {
        matches!(self.variable, Variable::Images { .. })
    }

    /// The gradient of `of` at `at`, estimated by `estimator` (DI, VMI/SSA sampling, SIM or
    /// MaskBlock copies, TI, or plain) with its VMI `memory`; the losses it saw are kept for
    /// this iteration's record.
    pub fn gradient(
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
                let inputs = Inputs { shape: at.dims(), objective: evaluator.objective(), per_image: true };
                estimator.estimate(&evaluate, at, inputs, threat.budget, &mut self.rng, memory)?
            }
            Variable::Shared(shared) => {
                let apply: &dyn Fn(Tensor<4>) -> Tensor<4> = shared.apply.as_ref();
                let through = |p: &Tensor<4>, t: InputTransform<'_>| match t {
                    None => evaluate(p, Some(apply)),
                    Some(t) => evaluate(p, Some(&|v| t(apply(v)))),
                };
                let inputs = Inputs { shape: shared.images, objective: evaluator.objective(), per_image: false };
                let mut evaluation = estimator.estimate(&through, at, inputs, shared.scale, &mut self.rng, memory)?;
                if let Some(penalty) = &shared.penalty {
                    evaluation.gradient = evaluation.gradient + penalty(at.clone());
                }
                evaluation
            }
        };
        for (index, loss) in evaluation.losses {
            self.losses[index].get_or_insert(loss);
        }
        Ok(match (of, &self.filter) {
            (Of::Ensemble, Some(filter)) => evaluation.gradient * filter.clone(),
            _ => evaluation.gradient,
        })
    }

    /// Adds a per-model gradient to those whose mean pairwise cosine this iteration records
    /// (kept as a running sum, so the record costs no memory per model). Fails with
    /// [`Error::Shape`](crate::Error::Shape) when its shape differs from the first one's.
    pub fn compare(&mut self, gradient: Tensor<4>) -> Result<()> {
        self.compared.add(gradient)
    }

    /// Projects `x` onto the admissible set of the variable.
    pub fn project(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.variable {
            Variable::Images { x_nat, threat } => threat.project(x, x_nat),
            Variable::Shared(shared) => (shared.project)(x),
        }
    }

    /// `project(from + update(gradient))`, through [`checked_update`](Self::checked_update):
    /// every projected step of every attack goes through here.
    pub fn step(
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
    pub fn checked_update(
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
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// The ensemble's own weights, in model order (what [`set_weights`](Self::set_weights)
    /// replaces for one iteration).
    pub fn weights(&self) -> &[f64] {
        self.evaluator.weights()
    }

    /// The inner stage of model `index`.
    pub fn inner_stage(&self, index: usize) -> Stage {
        Stage::Inner { model: self.names[index].clone() }
    }

    /// Number of models.
    pub fn models(&self) -> usize {
        self.names.len()
    }

    /// The record of the iteration that just ended, `perturbation` the change it measures
    /// (the adversarial images minus the clean ones, or a universal variable).
    pub(crate) fn record(&mut self, perturbation: Tensor<4>, started: Instant) -> Result<IterationRecord> {
        Ok(IterationRecord {
            iteration: self.iteration,
            loss_per_model: self.iteration_losses()?,
            gradient_cosine: std::mem::take(&mut self.compared).mean(),
            model_weights: self.weights.clone().map(|w| {
                let rows = w.clone() / w.clone().sum_dim(1).clamp_min(1e-12);
                crate::host::to_vec(rows.mean_dim(0)).into_iter().map(f64::from).collect()
            }),
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
