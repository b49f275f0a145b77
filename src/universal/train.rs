//! The dataset loop: epochs over mini-batches, one step of the attack's engine per batch.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::variable::UniversalVariable;
use crate::attack::{check_random_start, finite, Engine, Run, Shared, Variable};
use crate::check::at_least_one;
use crate::ensemble::Ensemble;
use crate::error::{Error, Result};
use crate::gradient::Evaluator;
use crate::objective::Objective;
use crate::observe::{Control, IterationRecord, Observer, RunInfo, StopReason};
use crate::rng::AttackRng;
use crate::schedule::Alrs;
use crate::snapshot::{Saved, Snapshot};

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

    /// Trains the variable silently; see [`Universal::train_observed`].
    pub fn train<A: Engine>(
        &self,
        attack: &A,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
    ) -> Result<UniversalOutcome> {
        self.train_observed(attack, ensemble, batches, objective, &mut crate::observe::Silent)
    }

    /// Trains the variable with `attack` on `ensemble` over `batches`, `epochs` times in
    /// order; `objective` gives each batch's objective (e.g. its labels as true classes, or
    /// one target class for all). Every check runs before the first step: the attack's
    /// settings, the variable, every batch (images, labels, boxes, equal image sizes) and
    /// each objective against its batch.
    pub fn train_observed<A: Engine>(
        &self,
        attack: &A,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
        observer: &mut dyn Observer,
    ) -> Result<UniversalOutcome> {
        let setup = self.setup(attack, ensemble, batches, objective)?;
        self.run(attack, ensemble, batches, setup, None, observer, &mut |_| Ok(()))
    }

    /// [`Universal::train_observed`] with checkpoints: after every `checkpoints.every`
    /// epochs and at the end, the variable, every optimizer and estimator state, the random
    /// stream, the schedule and the records so far are written to `checkpoints.path` (JSON,
    /// replaced atomically). If that file exists when the run starts, the run resumes from it
    /// and ends exactly as an uninterrupted run would, bit for bit. A checkpoint of another
    /// run (other attack settings, variable, schedule, dataset shape or models) is an
    /// [`Error::InvalidCheckpoint`]; only `epochs` may differ, so a finished run can be
    /// extended.
    pub fn train_resumable<A>(
        &self,
        attack: &A,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
        observer: &mut dyn Observer,
        checkpoints: &Checkpoints,
    ) -> Result<UniversalOutcome>
    where
        A: Engine,
        A::State: Snapshot,
    {
        at_least_one("checkpoints.every", checkpoints.every)?;
        let setup = self.setup(attack, ensemble, batches, objective)?;
        let fingerprint = fingerprint(&setup.info)?;
        let device = batches[0].images.device();
        let resume = match checkpoints.path.is_file() {
            false => None,
            true => {
                let text = std::fs::read_to_string(&checkpoints.path)?;
                let saved: Checkpoint = serde_json::from_str(&text)
                    .map_err(|e| Error::InvalidCheckpoint(format!("{}: {e}", checkpoints.path.display())))?;
                if saved.fingerprint != fingerprint {
                    return Err(Error::InvalidCheckpoint(format!(
                        "{} was written by a different run (attack, variable, schedule, models or dataset differ)",
                        checkpoints.path.display()
                    )));
                }
                Some(saved.restore::<A::State>(&self.schedule, &device)?)
            }
        };
        let epochs = self.epochs;
        let mut save = |progress: &Progress<A::State>| {
            if progress.epochs_done % checkpoints.every != 0 && progress.epochs_done != epochs {
                return Ok(());
            }
            let checkpoint = Checkpoint::of(progress, fingerprint.clone());
            let partial = checkpoints.path.with_extension("partial");
            std::fs::write(&partial, serde_json::to_string(&checkpoint)?)?;
            std::fs::rename(&partial, &checkpoints.path)?;
            Ok(())
        };
        self.run(attack, ensemble, batches, setup, resume, observer, &mut save)
    }

    /// Every check, each batch's objective and the run's description.
    fn setup<A: Engine>(
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
            config: serde_json::json!({ "universal": self, "attack": plan.config }),
            seed: plan.seed,
            backend: crate::backend::BackendKind::name_of(&first.images.device()),
            models: ensemble.names().into_iter().map(String::from).collect(),
            images: batches.iter().map(Batch::len).sum(),
            image_indices: Vec::new(),
            iterations: self.epochs.saturating_mul(batches.len()),
        };
        Ok(Setup { objectives, info, shape })
    }

    /// The loop, from the start or from `resume`; `save` sees the progress after every epoch.
    #[allow(clippy::too_many_arguments)]
    fn run<A: Engine>(
        &self,
        attack: &A,
        ensemble: &Ensemble,
        batches: &[Batch],
        setup: Setup,
        resume: Option<Progress<A::State>>,
        observer: &mut dyn Observer,
        save: &mut Save<'_, A::State>,
    ) -> Result<UniversalOutcome> {
        let Setup { objectives, info, shape } = setup;
        let plan = attack.plan();
        // Every model on every batch once: output shapes and labels are checked before the
        // first step, and the clean outputs are not recomputed each epoch.
        let evaluators = batches
            .iter()
            .zip(&objectives)
            .map(|(batch, objective)| {
                Evaluator::new(ensemble, objective, plan.combination, &batch.images.clone().inner())
            })
            .collect::<Result<Vec<_>>>()?;
        observer.start(&info);
        let mut progress = match resume {
            Some(progress) => progress,
            None => {
                let mut rng = AttackRng::new(plan.seed);
                let device = batches[0].images.device();
                let v = self.variable.init(shape, &plan.threat, plan.random_start, &mut rng, &device);
                Progress {
                    epochs_done: 0,
                    v,
                    attack_state: None,
                    rng,
                    alrs: self.schedule.start()?,
                    records: Vec::new(),
                    epoch_losses: Vec::new(),
                    step_scales: Vec::new(),
                }
            }
        };
        let mut stop = StopReason::Completed;
        'epochs: while progress.epochs_done < self.epochs {
            let step_scale = progress
                .alrs
                .as_ref()
                .map_or_else(|| self.schedule.factor(progress.epochs_done), |a| a.learning_rate());
            let mut epoch_loss = 0.0;
            for (batch, evaluator) in batches.iter().zip(&evaluators) {
                let step = progress.records.len() + 1;
                let started = Instant::now();
                let draw = self.variable.draw(batch, &mut progress.rng);
                let images = batch.images.clone();
                let variable = &self.variable;
                let threat = plan.threat;
                let shared = Shared {
                    apply: Box::new(move |v| variable.apply(v, images.clone(), &draw)),
                    project: Box::new(move |v| variable.project(v, &threat)),
                    images: batch.images.dims(),
                    scale: threat.budget,
                    penalty: variable.penalty(batch.len()),
                    step_scale,
                };
                let rng = std::mem::replace(&mut progress.rng, AttackRng::new(0));
                let mut run = Run::new(evaluator.clone(), Variable::Shared(shared), rng, info.models.clone());
                let v = progress.v.clone();
                let attack_state = progress.attack_state.get_or_insert_with(|| attack.init(&run, &v));
                run.begin(step, &v);
                progress.v = attack.iterate(&mut run, attack_state, v)?;
                let record = run.record(progress.v.clone(), started)?;
                progress.rng = run.into_rng();
                epoch_loss += record.loss_per_model.iter().sum::<f64>() / record.loss_per_model.len() as f64;
                let control = observer.observe(&record);
                progress.records.push(record);
                if control == Control::Stop {
                    stop = StopReason::Observer { iteration: step };
                    break 'epochs;
                }
            }
            let epoch_loss = epoch_loss / batches.len() as f64;
            finite(&[epoch_loss], &["epoch mean".to_string()], progress.records.len())?;
            progress.epoch_losses.push(epoch_loss);
            if let Some(alrs) = progress.alrs.as_mut() {
                alrs.end_epoch(epoch_loss)?;
            }
            progress.step_scales.push(step_scale);
            progress.epochs_done += 1;
            save(&progress)?;
        }
        observer.finish(&stop);
        Ok(UniversalOutcome {
            variable: Tensor::from_inner(progress.v),
            records: progress.records,
            epoch_losses: progress.epoch_losses,
            step_scales: progress.step_scales,
            stop,
            info,
        })
    }
}

/// What a run calls after every epoch (a checkpoint writer, or nothing).
type Save<'s, S> = dyn FnMut(&Progress<S>) -> Result<()> + 's;

/// What [`Universal::setup`] checked and built.
struct Setup {
    objectives: Vec<Objective>,
    info: RunInfo,
    shape: [usize; 4],
}

/// Where a run stands after a whole number of epochs: everything a resumed run needs.
struct Progress<S> {
    epochs_done: usize,
    v: Tensor<4>,
    /// The attack's state (`None` before the first step).
    attack_state: Option<S>,
    rng: AttackRng,
    alrs: Option<Alrs>,
    records: Vec<IterationRecord>,
    epoch_losses: Vec<f64>,
    step_scales: Vec<f64>,
}

/// Where and how often [`Universal::train_resumable`] saves its checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoints {
    /// The checkpoint file (JSON).
    pub path: PathBuf,
    /// Save after every `every` epochs (and after the last).
    pub every: usize,
}

/// The contents of a checkpoint file.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    /// The run's description without the number of epochs: what must match to resume.
    fingerprint: serde_json::Value,
    epochs_done: usize,
    variable: Saved,
    attack_state: Option<Saved>,
    rng: Saved,
    /// ALRS's factor and last loss.
    schedule: Option<(f64, f64)>,
    records: Vec<IterationRecord>,
    epoch_losses: Vec<f64>,
    step_scales: Vec<f64>,
}

impl Checkpoint {
    fn of<S: Snapshot>(progress: &Progress<S>, fingerprint: serde_json::Value) -> Self {
        Self {
            fingerprint,
            epochs_done: progress.epochs_done,
            variable: progress.v.save(),
            attack_state: progress.attack_state.as_ref().map(Snapshot::save),
            rng: progress.rng.save(),
            schedule: progress.alrs.as_ref().map(Alrs::state),
            records: progress.records.clone(),
            epoch_losses: progress.epoch_losses.clone(),
            step_scales: progress.step_scales.clone(),
        }
    }

    /// The progress saved, for a run with `schedule` (the one the fingerprint holds).
    fn restore<S: Snapshot>(self, schedule: &Schedule, device: &Device) -> Result<Progress<S>> {
        let alrs = match (schedule.start()?, self.schedule) {
            (Some(alrs), Some(state)) => Some(alrs.with_state(state)),
            (None, None) => None,
            _ => return Err(Error::InvalidCheckpoint("the schedule's state does not match its settings".into())),
        };
        Ok(Progress {
            epochs_done: self.epochs_done,
            v: Snapshot::load(&self.variable, device)?,
            attack_state: self.attack_state.map(|s| S::load(&s, device)).transpose()?,
            rng: AttackRng::load(&self.rng)?,
            alrs,
            records: self.records,
            epoch_losses: self.epoch_losses,
            step_scales: self.step_scales,
        })
    }
}

/// The run's description without the number of epochs (which may grow between runs).
fn fingerprint(info: &RunInfo) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(info)?;
    value["config"]["universal"]["epochs"] = serde_json::Value::Null;
    value["iterations"] = serde_json::Value::Null;
    Ok(value)
}
