//! The scaffolding every attack loop shares: the checks before the first iteration, the
//! per-iteration records and observer calls, and the outcome.

use std::time::Instant;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;

use super::{input, AttackOutcome};
use crate::ensemble::{Combination, Ensemble};
use crate::error::{Error, Result, Stage};
use crate::eval::mean_pairwise_cosine;
use crate::gradient::{EstimatorState, Evaluator, GradientEstimator};
use crate::norm;
use crate::objective::{LossKind, Objective};
use crate::observe::{Control, IterationRecord, Observer, RunInfo, StopReason};
use crate::rng::AttackRng;
use crate::threat::ThreatModel;

/// What an attack tells the loop owner about itself before the run.
pub(crate) struct Plan<'s> {
    pub name: &'s str,
    /// The attack's settings, recorded in [`RunInfo::config`].
    pub config: serde_json::Value,
    pub threat: ThreatModel,
    pub iterations: usize,
    pub seed: u64,
    /// Where the models are combined for the ensemble gradient.
    pub combination: Combination,
    pub random_start: bool,
}

/// One attack as the loop owner, [`drive`], sees it: a plan, checks of its own settings, a
/// state carried between iterations and one iteration. CWA, SVRE and RAP implement it; the
/// loop itself (checks, timing, losses, records, observer, stop, outcome) exists only in
/// [`drive`].
pub(crate) trait Iterate<B: AutodiffBackend> {
    /// What the attack carries from one iteration to the next (optimizer and estimator states).
    type State;

    /// The run's plan.
    fn plan(&self) -> Plan<'_>;

    /// The attack's own settings checks (estimators, then optimizers), run after the threat
    /// model, the images and the objective are checked, so an error names its first cause.
    fn validate(&self) -> Result<()>;

    /// The state before the first iteration, at the starting point `x`.
    fn init(&self, run: &Run<'_, B>, x: &Tensor<B::InnerBackend, 4>) -> Self::State;

    /// One iteration from `x`: gradients through [`Run::gradient`], steps through
    /// [`Run::step`]; returns the next iterate.
    fn iterate(
        &self,
        run: &mut Run<'_, B>,
        state: &mut Self::State,
        x: Tensor<B::InnerBackend, 4>,
    ) -> Result<Tensor<B::InnerBackend, 4>>;
}

/// The attack loop, for every attack: start (every check, the clean evaluation), iterate
/// with timing and records until the iterations are done or the observer stops, finish.
pub(crate) fn drive<B: AutodiffBackend, A: Iterate<B>>(
    attack: &A,
    ensemble: &Ensemble<B>,
    images: Tensor<B, 4>,
    objective: &Objective<B>,
    observer: &mut dyn Observer,
) -> Result<AttackOutcome<B>> {
    let mut run = Run::start(attack, ensemble, images, objective, observer)?;
    let mut x = run.starting_point();
    let mut state = attack.init(&run, &x);
    for iteration in 1..=run.info.iterations {
        let started = Instant::now();
        run.begin(iteration, &x);
        x = attack.iterate(&mut run, &mut state, x)?;
        if run.record(&x, started, observer)? == Control::Stop {
            break;
        }
    }
    run.finish(x, observer)
}

/// Which objective a gradient is taken of.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Of {
    /// The combined ensemble objective.
    Ensemble,
    /// One model's objective, by index.
    Model(usize),
}

/// One attack run in progress.
pub(crate) struct Run<'a, B: AutodiffBackend> {
    /// Gradients and losses of the ensemble's models.
    evaluator: Evaluator<'a, B>,
    /// The clean images.
    x_nat: Tensor<B::InnerBackend, 4>,
    /// The run's random stream.
    pub rng: AttackRng,
    threat: ThreatModel,
    random_start: bool,
    names: Vec<String>,
    info: RunInfo,
    initial_loss: Vec<f64>,
    records: Vec<IterationRecord>,
    stopped_at: Option<usize>,
    /// The iteration in progress (1-based).
    iteration: usize,
    /// Each model's per-sample loss at the first point it was evaluated this iteration.
    losses: Vec<Option<Tensor<B::InnerBackend, 1>>>,
    /// Per-model gradients whose mean pairwise cosine this iteration's record reports.
    compared: Vec<Tensor<B::InnerBackend, 4>>,
    /// The iterate the iteration started from.
    start: Tensor<B::InnerBackend, 4>,
}

impl<'a, B: AutodiffBackend> Run<'a, B> {
    /// Checks everything (threat model, iterations, images, objective, then the attack's own
    /// settings), evaluates the clean images and tells the observer the run starts.
    fn start<A: Iterate<B>>(
        attack: &A,
        ensemble: &'a Ensemble<B>,
        images: Tensor<B, 4>,
        objective: &'a Objective<B>,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        let plan = attack.plan();
        plan.threat.validate()?;
        crate::check::at_least_one("iterations", plan.iterations)?;
        input::check_images(&images)?;
        let x_nat = images.inner();
        let batch = x_nat.dims()[0];
        objective.validate(batch)?;
        if objective.loss_kind() == Some(LossKind::FeatureDistortion) && !plan.random_start {
            return Err(Error::InvalidObjective(
                "feature distortion has a zero gradient at the clean images, so the attack would never move: \
                 enable `random_start`",
            ));
        }
        attack.validate()?;
        let evaluator = Evaluator::new(ensemble, objective, plan.combination, &x_nat)?;
        let names: Vec<String> = ensemble.names().into_iter().map(String::from).collect();
        let info = RunInfo {
            attack: plan.name.to_string(),
            config: plan.config,
            seed: plan.seed,
            backend: B::name(&x_nat.device()),
            models: names.clone(),
            images: batch,
            iterations: plan.iterations,
        };
        let initial_loss: Vec<f64> =
            batch_means(evaluator.clean_losses()?, names.len()).into_iter().flatten().collect();
        finite(&initial_loss, &names, 0)?;
        observer.start(&info);
        let x_nat_start = x_nat.clone();
        Ok(Self {
            evaluator,
            x_nat,
            rng: AttackRng::new(plan.seed),
            threat: plan.threat,
            random_start: plan.random_start,
            losses: vec![None; names.len()],
            names,
            info,
            initial_loss,
            records: Vec::new(),
            stopped_at: None,
            iteration: 0,
            compared: Vec::new(),
            start: x_nat_start,
        })
    }

    /// Starts iteration `iteration` at `x`: no losses seen, no gradients to compare yet.
    fn begin(&mut self, iteration: usize, x: &Tensor<B::InnerBackend, 4>) {
        self.iteration = iteration;
        self.start = x.clone();
        self.losses = vec![None; self.names.len()];
        self.compared.clear();
    }

    /// The gradient of `of` at `at`, estimated by `estimator` (DI, VMI/SSA sampling, TI or
    /// plain) with its VMI `memory`; the losses it saw are kept for this iteration's record.
    pub fn gradient(
        &mut self,
        estimator: &GradientEstimator,
        of: Of,
        at: &Tensor<B::InnerBackend, 4>,
        memory: &mut EstimatorState<B::InnerBackend>,
    ) -> Result<Tensor<B::InnerBackend, 4>> {
        let evaluator = &self.evaluator;
        let budget = self.threat.budget;
        let evaluation = match of {
            Of::Ensemble => estimator.estimate(&|p, t| evaluator.ensemble(p, t), at, budget, &mut self.rng, memory)?,
            Of::Model(index) => {
                estimator.estimate(&|p, t| evaluator.model(index, p, t), at, budget, &mut self.rng, memory)?
            }
        };
        for (index, loss) in evaluation.losses {
            self.losses[index].get_or_insert(loss);
        }
        Ok(evaluation.gradient)
    }

    /// Adds a per-model gradient to those whose mean pairwise cosine this iteration records.
    pub fn compare(&mut self, gradient: Tensor<B::InnerBackend, 4>) {
        self.compared.push(gradient);
    }

    /// The first iterate: the clean images, or a random admissible point.
    fn starting_point(&mut self) -> Tensor<B::InnerBackend, 4> {
        if self.random_start {
            self.threat.random_start(&self.x_nat, &mut self.rng)
        } else {
            self.x_nat.clone()
        }
    }

    /// Projects `x` onto the threat model around the clean images.
    pub fn project(&self, x: Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 4> {
        self.threat.project(x, &self.x_nat)
    }

    /// `project(from + update(gradient))`, through [`checked_update`](Self::checked_update):
    /// every projected step of every attack goes through here.
    pub fn step(
        &self,
        stage: Stage,
        from: Tensor<B::InnerBackend, 4>,
        gradient: Tensor<B::InnerBackend, 4>,
        update: impl FnOnce(Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 4>,
    ) -> Result<Tensor<B::InnerBackend, 4>> {
        let update = self.checked_update(stage, &from, gradient, update)?;
        Ok(self.project(from + update))
    }

    /// `update(gradient)`, failing with [`Error::NonFiniteStep`] when the gradient or the
    /// update holds a NaN or an infinity, so that no NaN becomes a step. For a non-finite
    /// ensemble gradient (reverse and outer steps) the error names the first model whose own
    /// gradient at `at` (the point the step starts from) is not finite.
    pub fn checked_update(
        &self,
        stage: Stage,
        at: &Tensor<B::InnerBackend, 4>,
        gradient: Tensor<B::InnerBackend, 4>,
        update: impl FnOnce(Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 4>,
    ) -> Result<Tensor<B::InnerBackend, 4>> {
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

    /// The first model whose own gradient at `x` is not finite: where a non-finite ensemble
    /// gradient came from. Runs only after a step has already failed.
    fn culprit(&self, x: &Tensor<B::InnerBackend, 4>) -> Option<String> {
        (0..self.names.len()).find_map(|index| match self.evaluator.model(index, x, None) {
            Ok(evaluation) if crate::host::is_finite(&evaluation.gradient) => None,
            _ => Some(self.names[index].clone()),
        })
    }

    /// The iteration in progress (1-based).
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// The ensemble's weights, in model order.
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

    /// Records one finished iteration and asks the observer whether to go on.
    fn record(
        &mut self,
        x: &Tensor<B::InnerBackend, 4>,
        started: Instant,
        observer: &mut dyn Observer,
    ) -> Result<Control> {
        let iteration = self.iteration;
        // A model no step of this iteration evaluated (a random visiting order can skip one)
        // is recorded at the point the iteration started from: one forward pass.
        for index in 0..self.names.len() {
            if self.losses[index].is_none() {
                self.losses[index] = Some(self.evaluator.model_loss(index, &self.start)?);
            }
        }
        let seen =
            std::mem::take(&mut self.losses).into_iter().enumerate().filter_map(|(i, l)| l.map(|l| (i, l))).collect();
        let loss_per_model: Vec<f64> = batch_means(seen, self.names.len()).into_iter().flatten().collect();
        finite(&loss_per_model, &self.names, iteration)?;
        let delta = x.clone() - self.x_nat.clone();
        let record = IterationRecord {
            iteration,
            loss_per_model,
            gradient_cosine: mean_pairwise_cosine(&std::mem::take(&mut self.compared))?,
            perturbation_linf: crate::host::to_vec(norm::linf(delta.clone()).max())[0] as f64,
            perturbation_l2: crate::host::to_vec(norm::l2(delta).mean())[0] as f64,
            seconds: started.elapsed().as_secs_f64(),
        };
        let control = observer.observe(&record);
        self.records.push(record);
        if control == Control::Stop {
            self.stopped_at = Some(iteration);
        }
        Ok(control)
    }

    /// Evaluates the adversarial images and closes the run.
    fn finish(self, x: Tensor<B::InnerBackend, 4>, observer: &mut dyn Observer) -> Result<AttackOutcome<B>> {
        let stop = self.stopped_at.map_or(StopReason::Completed, |iteration| StopReason::Observer { iteration });
        observer.finish(&stop);
        let final_loss: Vec<f64> =
            batch_means(self.evaluator.losses(&x)?, self.names.len()).into_iter().flatten().collect();
        finite(&final_loss, &self.names, self.records.len())?;
        Ok(AttackOutcome {
            adversarial: Tensor::from_inner(x),
            records: self.records,
            stop,
            initial_loss: self.initial_loss,
            final_loss,
            info: self.info,
        })
    }
}

/// Mean over the batch of each per-sample loss, in model order.
fn batch_means<B: Backend>(losses: Vec<(usize, Tensor<B, 1>)>, models: usize) -> Vec<Option<f64>> {
    let mut means = vec![None; models];
    if losses.is_empty() {
        return means;
    }
    let indices: Vec<usize> = losses.iter().map(|(i, _)| *i).collect();
    let stacked = Tensor::stack::<2>(losses.into_iter().map(|(_, l)| l).collect(), 0).mean_dim(1);
    for (index, value) in indices.into_iter().zip(crate::host::to_vec(stacked)) {
        means[index] = Some(value as f64);
    }
    means
}

/// Fails on a non-finite objective value.
fn finite(values: &[f64], names: &[String], iteration: usize) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::NonFiniteLoss { model: names[i].clone(), iteration }),
        None => Ok(()),
    }
}
