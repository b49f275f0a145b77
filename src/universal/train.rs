//! The dataset loop: epochs over mini-batches, one step of the attack's engine per batch.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::variable::UniversalVariable;
use crate::attack::{
    check_random_start, finite, Cursor, Executor, Expected, Iterate, Run, SavedCursor, Shared, Variable,
};
use crate::check::at_least_one;
use crate::ensemble::Ensemble;
use crate::error::{Error, Result};
use crate::gradient::Evaluator;
use crate::objective::Objective;
use crate::observe::{IterationRecord, Observer, RunInfo, StopReason};
use crate::rng::AttackRng;
use crate::schedule::Alrs;

/// How the size of every step changes from one epoch to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Schedule {
    /// Every step at the attack's own step sizes.
    #[default]
    Constant,
    /// Every step size multiplied by `gamma` after every `every` epochs.
    StepDecay {
        /// Epochs between decays (≥ 1).
        every: usize,
        /// The factor (in (0, 1]).
        #[serde(with = "crate::json_float")]
        gamma: f64,
    },
    /// ALRS ([`Alrs`]): after an epoch whose mean loss did not improve enough, every step
    /// size (reverse, inner and outer) is multiplied by `gamma`.
    Alrs {
        /// τ_abs (the authors' classification code: 0.01; T-SEA: 1e-4).
        #[serde(with = "crate::json_float")]
        abs_threshold: f64,
        /// τ_rel (0.01; T-SEA: 1e-4).
        #[serde(with = "crate::json_float")]
        rel_threshold: f64,
        /// γ (0.97).
        #[serde(with = "crate::json_float")]
        gamma: f64,
    },
}

impl Schedule {
    /// ALRS with T-SEA's thresholds (1e-4, 1e-4, 0.97), as the authors train patches.
    pub fn alrs() -> Self {
        Self::Alrs { abs_threshold: 1e-4, rel_threshold: 1e-4, gamma: 0.97 }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::StepDecay { every, gamma } => {
                at_least_one("every", every)?;
                crate::check::positive("gamma", gamma)?;
                crate::check::unit_interval("gamma", gamma)
            }
            _ => self.start().map(|_| ()),
        }
    }

    /// The factor on every step size in epoch `epoch` (0-based) for the rules without state.
    fn factor(&self, epoch: usize) -> f64 {
        match *self {
            Self::StepDecay { every, gamma } => gamma.powi((epoch / every) as i32),
            _ => 1.0,
        }
    }

    /// ALRS's state, for the rule that has one.
    fn start(&self) -> Result<Option<Alrs>> {
        match *self {
            Self::Constant | Self::StepDecay { .. } => Ok(None),
            Self::Alrs { abs_threshold, rel_threshold, gamma } => {
                Alrs::with_thresholds(1.0, abs_threshold, rel_threshold, gamma).map(Some)
            }
        }
    }
}

/// A universal attack: one [`UniversalVariable`] optimised over a dataset by any attack of
/// the crate's engine, one engine iteration per mini-batch.
///
/// Each step draws the batch's random placements and transformations (EOT) once, so every
/// gradient of the step (reverse, each model's inner step, outer) sees the same images. The
/// variable is `[1, C, H, W]` (perturbation) or `[1, C, h, w]` (patch), so every optimizer
/// normalises over the whole variable; losses are summed over a batch's images, so each
/// model's gradient is the sum of the per-image gradients. The attack's `iterations` are not
/// used (the run has `epochs × batches` steps); its threat model bounds a universal
/// perturbation; its seed seeds every draw.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::prelude::*;
/// use common_weakness::universal::{Batch, Universal, UniversalVariable};
///
/// let device = Default::default();
/// let brightness = |name: &'static str, sign: f32| {
///     from_fn(name, move |x: Tensor<4>| {
///         let mean = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]).mul_scalar(sign);
///         Tensor::cat(vec![mean.clone(), mean.neg()], 1)
///     })
/// };
/// let ensemble = Ensemble::new(vec![Box::new(brightness("a", 4.0)), Box::new(brightness("b", 2.0))]).unwrap();
/// let batches: Vec<Batch> = (0..3)
///     .map(|i| Batch::labelled(Tensor::full([2, 1, 4, 4], 0.3 + 0.1 * i as f32, &device), vec![0, 0]))
///     .collect();
/// let attack = Cwa::mi_cwa(CwaConfig::paper(16.0 / 255.0));
/// let universal = Universal::new(UniversalVariable::Perturbation, 2);
/// let outcome = universal
///     .train(&attack, &ensemble, &batches, &|b: &Batch| Objective::untargeted(b.labels.clone().unwrap()))
///     .unwrap();
/// assert_eq!(outcome.records.len(), 6); // 2 epochs of 3 batches
/// assert_eq!(outcome.variable.dims(), [1, 1, 4, 4]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Universal {
    /// What is optimised.
    pub variable: UniversalVariable,
    /// Passes over the dataset.
    pub epochs: usize,
    /// How the step sizes change between epochs.
    #[serde(default)]
    pub schedule: Schedule,
}

/// The result of a universal attack.
#[derive(Clone, Debug)]
pub struct UniversalOutcome {
    /// The trained perturbation or patch (`[1, C, H, W]` / `[1, C, h, w]`), detached.
    pub variable: Tensor<4>,
    /// One record per step (mini-batch): each model's batch-mean objective at the first point
    /// the step evaluated it, the gradient cosine, the variable's norms, the time.
    pub records: Vec<IterationRecord>,
    /// Each finished epoch's mean objective (over batches and models).
    pub epoch_losses: Vec<f64>,
    /// The schedule's factor on every step size, per finished epoch.
    pub step_scales: Vec<f64>,
    /// Why the run stopped.
    pub stop: StopReason,
    /// What was run (`config` holds the universal settings and the attack's).
    pub info: RunInfo,
}

impl Universal {
    /// `epochs` passes of a constant-step attack on `variable`.
    pub fn new(variable: UniversalVariable, epochs: usize) -> Self {
        Self { variable, epochs, schedule: Schedule::Constant }
    }

    /// Changes the step sizes between epochs by `schedule`.
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Trains the variable silently: [`Executor::universal`] on a silent executor.
    pub fn train<A: Iterate>(
        &self,
        attack: &A,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
    ) -> Result<UniversalOutcome> {
        Executor::new().universal(self, attack, ensemble, batches, objective)
    }

    /// Trains the variable, reporting to `observer`: [`Executor::universal`] on
    /// [`Executor::observed`].
    pub fn train_observed<A: Iterate>(
        &self,
        attack: &A,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
        observer: &mut dyn Observer,
    ) -> Result<UniversalOutcome> {
        Executor::observed(observer).universal(self, attack, ensemble, batches, objective)
    }

    /// Every check, each batch's objective and the run's description.
    fn setup<A: Iterate>(
        &self,
        attack: &A,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
    ) -> Result<Setup> {
        let plan = attack.plan();
        plan.threat.validate()?;
        at_least_one("epochs", self.epochs)?;
        self.variable.validate()?;
        self.schedule.validate()?;
        let first = batches
            .first()
            .ok_or_else(|| Error::InvalidDataset { batch: 0, reason: "the dataset has no batch".to_string() })?;
        let shape = first.images.dims();
        let mut objectives = Vec::with_capacity(batches.len());
        for (index, batch) in batches.iter().enumerate() {
            self.variable.check_batch(batch, index, shape)?;
            let objective = objective(batch);
            objective.validate(batch.len())?;
            check_random_start(&objective, plan.random_start)?;
            objectives.push(objective);
        }
        attack.validate()?;
        let info = RunInfo {
            attack: plan.name.to_string(),
            config: serde_json::json!({ "universal": self, "attack": attack.config() }),
            seed: plan.seed,
            backend: crate::backend::BackendKind::name_of(&first.images.device()),
            models: ensemble.names().into_iter().map(String::from).collect(),
            images: batches.iter().map(Batch::len).sum(),
            image_indices: Vec::new(),
            iterations: self.epochs.saturating_mul(batches.len()),
        };
        Ok(Setup { objectives, info, shape })
    }
}

impl Executor<'_> {
    /// Trains `universal`'s variable with `attack` on `ensemble` over `batches`, its epochs
    /// in order, one step of the attack per batch; `objective` gives each batch's objective
    /// (e.g. its labels as true classes, or one target class for all). Every check runs
    /// before the first step: the attack's settings, the variable, every batch (images,
    /// labels, boxes, equal image sizes) and each objective against its batch.
    ///
    /// With checkpoints, a checkpoint of another run (other attack settings, variable,
    /// schedule, dataset shape or models) is an [`Error::InvalidCheckpoint`]; only `epochs`
    /// may differ, so a finished run can be extended.
    pub fn universal<A: Iterate>(
        mut self,
        universal: &Universal,
        attack: &A,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
    ) -> Result<UniversalOutcome> {
        let deadline = self.start()?;
        if let Some(early_stop) = self.early_stop {
            return Err(Error::InvalidParameter {
                name: "early_stop",
                value: early_stop.margin,
                requirement: "applies to per-image runs: a universal variable has no images to stop",
            });
        }
        let Setup { objectives, info, shape } = universal.setup(attack, ensemble, batches, objective)?;
        let plan = attack.plan();
        let fingerprint = fingerprint(&info)?;
        let device = batches[0].images.device();
        let resumed: Option<Progress> = self.resume(&fingerprint)?;
        // Every model on every batch once: output shapes and labels are checked before the
        // first step, and the clean outputs are not recomputed each epoch.
        let evaluators = batches
            .iter()
            .zip(&objectives)
            .map(|(batch, objective)| {
                Evaluator::new(ensemble, objective, plan.combination, &batch.images.clone().inner())
            })
            .collect::<Result<Vec<_>>>()?;
        self.observer.start(&info);
        let (mut cursor, mut epoch_losses, mut step_scales, mut alrs) = match resumed {
            Some(progress) => {
                progress.check(universal.epochs, batches.len())?;
                let expected = Expected {
                    shape: universal.variable.shape(shape),
                    project: Box::new(|v| universal.variable.project(v, &plan.threat)),
                    iterations: universal.epochs.saturating_mul(batches.len()),
                    models: info.models.len(),
                    streams: 1,
                };
                let alrs = match (universal.schedule.start()?, progress.schedule) {
                    (Some(alrs), Some(state)) => Some(alrs.with_state(state)),
                    (None, None) => None,
                    _ => {
                        return Err(Error::InvalidCheckpoint("the schedule's state does not match its settings".into()))
                    }
                };
                (
                    Cursor::restore(progress.cursor, &device, &expected)?,
                    progress.epoch_losses,
                    progress.step_scales,
                    alrs,
                )
            }
            None => {
                let mut rng = AttackRng::new(plan.seed);
                let v = universal.variable.init(shape, &plan.threat, plan.random_start, &mut rng, &device);
                (Cursor::new(v, rng), Vec::new(), Vec::new(), universal.schedule.start()?)
            }
        };
        let variable = &universal.variable;
        let threat = plan.threat;
        let mut stop = StopReason::Completed;
        while epoch_losses.len() < universal.epochs {
            let epoch = epoch_losses.len();
            let step_scale = alrs.as_ref().map_or_else(|| universal.schedule.factor(epoch), Alrs::learning_rate);
            let first = epoch * batches.len();
            let mut prepare = |step: usize, mut rng: AttackRng| {
                let batch = &batches[step - first];
                let draw = variable.draw(batch, &mut rng);
                let images = batch.images.clone();
                let shared = Shared {
                    apply: Box::new(move |v| variable.apply(v, images.clone(), &draw)),
                    project: Box::new(move |v| variable.project(v, &threat)),
                    images: batch.images.dims(),
                    scale: threat.budget,
                    penalty: variable.penalty(batch.len()),
                    step_scale,
                };
                Run::new(evaluators[step - first].clone(), Variable::Shared(shared), rng, info.models.clone())
            };
            let early =
                self.advance(attack, &mut cursor, first + batches.len(), &mut prepare, &|v| v.clone(), None, deadline)?;
            if cursor.records.len() == first + batches.len() {
                let epoch_loss = cursor.records[first..]
                    .iter()
                    .fold(0.0, |sum, r| sum + r.loss_per_model.iter().sum::<f64>() / r.loss_per_model.len() as f64)
                    / batches.len() as f64;
                finite(&[epoch_loss], &["epoch mean".to_string()], cursor.records.len())?;
                epoch_losses.push(epoch_loss);
                if let Some(alrs) = alrs.as_mut() {
                    alrs.end_epoch(epoch_loss)?;
                }
                step_scales.push(step_scale);
            }
            let finished = epoch_losses.len() == universal.epochs;
            self.save(&fingerprint, epoch_losses.len(), early.is_some() || finished, || Progress {
                cursor: cursor.save(),
                epoch_losses: epoch_losses.clone(),
                step_scales: step_scales.clone(),
                schedule: alrs.as_ref().map(Alrs::state),
            })?;
            if let Some(early) = early {
                stop = early;
                break;
            }
        }
        self.observer.finish(&stop);
        Ok(UniversalOutcome {
            variable: Tensor::from_inner(cursor.v),
            records: cursor.records,
            epoch_losses,
            step_scales,
            stop,
            info,
        })
    }
}

/// What [`Universal::setup`] checked and built.
struct Setup {
    objectives: Vec<Objective>,
    info: RunInfo,
    shape: [usize; 4],
}

/// A universal run's progress as its checkpoint stores it.
#[derive(Serialize, Deserialize)]
struct Progress {
    cursor: SavedCursor,
    /// Each finished epoch's mean objective.
    epoch_losses: Vec<f64>,
    /// The factor on every step size, per finished epoch.
    step_scales: Vec<f64>,
    /// ALRS's factor and last loss.
    schedule: Option<(f64, f64)>,
}

impl Progress {
    /// Checks the epoch counters against each other, against the run's `epochs` and against
    /// the number of steps taken (`batches` per epoch); the iterate and state are checked by
    /// [`Cursor::restore`].
    fn check(&self, epochs: usize, batches: usize) -> Result<()> {
        let wrong = |what: String| Err(Error::InvalidCheckpoint(what));
        let done = self.epoch_losses.len();
        if done > epochs {
            return wrong(format!("the checkpoint has {done} finished epochs; the run asks for `epochs` = {epochs}"));
        }
        if self.step_scales.len() != done {
            return wrong(format!(
                "checkpoint field `step_scales`: {} values for {done} epochs",
                self.step_scales.len()
            ));
        }
        let steps = self.cursor.records.len();
        if steps / batches != done {
            return wrong(format!("checkpoint field `records`: {steps} steps of {batches} batches for {done} epochs"));
        }
        if let Some(bad) = self.epoch_losses.iter().find(|l| !l.is_finite()) {
            return wrong(format!("checkpoint field `epoch_losses`: {bad}"));
        }
        if let Some(bad) = self.step_scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return wrong(format!("checkpoint field `step_scales`: {bad} (a positive factor)"));
        }
        match self.schedule {
            Some((factor, loss)) if !(factor.is_finite() && factor > 0.0 && loss.is_finite()) => {
                wrong(format!("checkpoint field `schedule`: ({factor}, {loss})"))
            }
            _ => Ok(()),
        }
    }
}

/// The run's description without the number of epochs (which may grow between runs).
fn fingerprint(info: &RunInfo) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(info)?;
    value["config"]["universal"]["epochs"] = serde_json::Value::Null;
    value["iterations"] = serde_json::Value::Null;
    Ok(value)
}
