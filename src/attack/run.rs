//! The scaffolding every attack loop shares: the checks before the first iteration, the
//! per-iteration records and observer calls, and the outcome.

use std::time::Instant;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;

use super::{input, AttackOutcome};
use crate::ensemble::{Combination, Ensemble};
use crate::error::{Error, Result, Stage};
use crate::eval::mean_pairwise_cosine;
use crate::gradient::{Evaluation, Evaluator};
use crate::norm;
use crate::objective::{LossKind, Objective};
use crate::observe::{Control, IterationRecord, Observer, RunInfo, StopReason};
use crate::rng::AttackRng;
use crate::threat::ThreatModel;

/// What an attack loop tells the scaffolding about itself.
pub(crate) struct RunSetup<'s> {
    pub name: &'s str,
    pub config: serde_json::Value,
    pub threat: ThreatModel,
    pub iterations: usize,
    pub seed: u64,
    pub combination: Option<Combination>,
    pub random_start: bool,
    /// The attack's own settings checks (estimators, then optimizers), run after the threat
    /// model, the images and the objective are checked, so an error names its first cause.
    pub checks: &'s dyn Fn() -> Result<()>,
}

/// One attack run in progress.
pub(crate) struct Run<'a, B: AutodiffBackend> {
    /// Gradients and losses of the ensemble's models.
    pub evaluator: Evaluator<'a, B>,
    /// The clean images.
    pub x_nat: Tensor<B::InnerBackend, 4>,
    /// The run's random stream.
    pub rng: AttackRng,
    threat: ThreatModel,
    random_start: bool,
    names: Vec<String>,
    info: RunInfo,
    initial_loss: Vec<f64>,
    records: Vec<IterationRecord>,
    stopped_at: Option<usize>,
}

impl<'a, B: AutodiffBackend> Run<'a, B> {
    /// Checks everything (threat model, iterations, images, objective, then the attack's own
    /// settings), evaluates the clean images and tells the observer the run starts.
    pub fn start(
        setup: RunSetup<'_>,
        ensemble: &'a Ensemble<B>,
        images: Tensor<B, 4>,
        objective: &'a Objective<B>,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        setup.threat.validate()?;
        crate::check::at_least_one("iterations", setup.iterations)?;
        input::check_images(&images)?;
        let x_nat = images.inner();
        let batch = x_nat.dims()[0];
        objective.validate(batch)?;
        if objective.loss_kind() == Some(LossKind::FeatureDistortion) && !setup.random_start {
            return Err(Error::InvalidObjective(
                "feature distortion has a zero gradient at the clean images, so the attack would never move: \
                 enable `random_start`",
            ));
        }
        (setup.checks)()?;
        let combination = setup.combination.unwrap_or(ensemble.combination());
        let evaluator = Evaluator::new(ensemble, objective, combination, &x_nat)?;
        let names: Vec<String> = ensemble.names().into_iter().map(String::from).collect();
        let info = RunInfo {
            attack: setup.name.to_string(),
            config: setup.config,
            seed: setup.seed,
            backend: B::name(&x_nat.device()),
            models: names.clone(),
            images: batch,
            iterations: setup.iterations,
        };
        let initial_loss: Vec<f64> =
            batch_means(evaluator.clean_losses()?, names.len()).into_iter().flatten().collect();
        finite(&initial_loss, &names, 0)?;
        observer.start(&info);
        Ok(Self {
            evaluator,
            x_nat,
            rng: AttackRng::new(setup.seed),
            threat: setup.threat,
            random_start: setup.random_start,
            names,
            info,
            initial_loss,
            records: Vec::new(),
            stopped_at: None,
        })
    }

    /// The first iterate: the clean images, or a random admissible point.
    pub fn starting_point(&mut self) -> Tensor<B::InnerBackend, 4> {
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
        iteration: usize,
        from: Tensor<B::InnerBackend, 4>,
        gradient: Tensor<B::InnerBackend, 4>,
        update: impl FnOnce(Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 4>,
    ) -> Result<Tensor<B::InnerBackend, 4>> {
        let update = self.checked_update(stage, iteration, &from, gradient, update)?;
        Ok(self.project(from + update))
    }

    /// `update(gradient)`, failing with [`Error::NonFiniteStep`] when the gradient or the
    /// update holds a NaN or an infinity, so that no NaN becomes a step. For a non-finite
    /// ensemble gradient (reverse and outer steps) the error names the first model whose own
    /// gradient at `at` (the point the step starts from) is not finite.
    pub fn checked_update(
        &self,
        stage: Stage,
        iteration: usize,
        at: &Tensor<B::InnerBackend, 4>,
        gradient: Tensor<B::InnerBackend, 4>,
        update: impl FnOnce(Tensor<B::InnerBackend, 4>) -> Tensor<B::InnerBackend, 4>,
    ) -> Result<Tensor<B::InnerBackend, 4>> {
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

    /// The inner stage of model `index`.
    pub fn inner_stage(&self, index: usize) -> Stage {
        Stage::Inner { model: self.names[index].clone() }
    }

    /// Number of models.
    pub fn models(&self) -> usize {
        self.names.len()
    }

    /// An empty record of this iteration's per-model losses.
    pub fn losses(&self) -> IterationLosses<B::InnerBackend> {
        IterationLosses(vec![None; self.names.len()])
    }

    /// Records one finished iteration and asks the observer whether to go on.
    pub fn record(
        &mut self,
        iteration: usize,
        losses: IterationLosses<B::InnerBackend>,
        sweep_gradients: &[Tensor<B::InnerBackend, 4>],
        x: &Tensor<B::InnerBackend, 4>,
        started: Instant,
        observer: &mut dyn Observer,
    ) -> Result<Control> {
        let seen = losses.0.into_iter().enumerate().filter_map(|(i, l)| l.map(|l| (i, l))).collect();
        let loss_per_model: Vec<f64> =
            batch_means(seen, self.names.len()).into_iter().map(|l| l.unwrap_or(f64::NAN)).collect();
        finite(&loss_per_model, &self.names, iteration)?;
        let delta = x.clone() - self.x_nat.clone();
        let record = IterationRecord {
            iteration,
            loss_per_model,
            gradient_cosine: mean_pairwise_cosine(sweep_gradients)?,
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
    pub fn finish(self, x: Tensor<B::InnerBackend, 4>, observer: &mut dyn Observer) -> Result<AttackOutcome<B>> {
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

/// Each model's per-sample loss at the first point it was evaluated in an iteration.
pub(crate) struct IterationLosses<B: Backend>(Vec<Option<Tensor<B, 1>>>);

impl<B: Backend> IterationLosses<B> {
    /// Keeps the losses of `evaluation` for models not seen yet this iteration.
    pub fn note(&mut self, evaluation: &mut Evaluation<B>) {
        for (index, loss) in std::mem::take(&mut evaluation.losses) {
            self.0[index].get_or_insert(loss);
        }
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
