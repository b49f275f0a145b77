//! The executor: the one loop every run goes through, per-image or over a dataset, with
//! observers, checkpoints and a time limit.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::{Bool, Device, Tensor, TensorData};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Iterate, Run};
use crate::error::{Error, Result};
use crate::observe::{Control, EarlyStop, IterationRecord, Observer, Silent, StopReason};
use crate::rng::AttackRng;
use crate::snapshot::{Saved, Snapshot};

/// Runs attacks: every per-image run ([`Attack::run`](super::Attack::run) and friends,
/// [`Executor::per_image`] over a dataset) and every universal run
/// ([`Executor::universal`]) goes through its one loop, which owns the iteration, the
/// records, the observer, the stop rules and the checkpoints. An attack supplies one
/// iteration ([`Iterate`]).
///
/// - **Observer**: [`Executor::observed`] reports every run's start, every iteration's
///   record and the stop (and may stop the run).
/// - **Checkpoints** ([`Executor::with_checkpoints`]): the run's whole state (iterates,
///   optimizer and estimator states, the random streams, the records) is written after every
///   `every` batches of a per-image run or epochs of a universal run, at the end, and when
///   the run stops early (observer or time limit). A run that finds its checkpoint file
///   resumes from it and ends exactly as an uninterrupted run would, bit for bit.
/// - **Time limit** ([`Executor::with_time_limit`]): the run stops cleanly after the
///   iteration during which the limit passed, with [`StopReason::TimeLimit`], its records,
///   and a checkpoint to resume from.
///
/// ```
/// use std::time::Duration;
/// use burn::tensor::Tensor;
/// use common_weakness::attack::{mi_fgsm, Checkpoints, Executor};
/// use common_weakness::prelude::*;
/// use common_weakness::universal::Batch;
///
/// let device = Default::default();
/// let model = from_fn("mean", |x: Tensor<4>| {
///     let m = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]);
///     Tensor::cat(vec![m.clone(), m.neg()], 1)
/// });
/// let ensemble = Ensemble::new(vec![Box::new(model)])?;
/// // A dataset of three batches of two images; images are numbered 0..6 across batches.
/// let batches: Vec<Batch> =
///     (0..3).map(|i| Batch::labelled(Tensor::full([2, 1, 4, 4], 0.2 * i as f32 + 0.2, &device), vec![0, 0])).collect();
/// let attack = mi_fgsm(ThreatModel::linf(0.1), 5, 1.0);
/// let path = std::env::temp_dir().join(format!("cw-executor-doc-{}.json", std::process::id()));
/// let outcome = Executor::new()
///     .with_checkpoints(Checkpoints { path: path.clone(), every: 1 })
///     .with_time_limit(Duration::from_secs(600))
///     .per_image(&attack, &ensemble, &batches, &|b: &Batch| Objective::untargeted(b.labels.clone().unwrap()))?;
/// assert_eq!(outcome.batches.len(), 3);
/// assert_eq!(outcome.stop, common_weakness::observe::StopReason::Completed);
/// // Run again, it finds the finished checkpoint and returns the same images without attacking.
/// let again = Executor::new()
///     .with_checkpoints(Checkpoints { path: path.clone(), every: 1 })
///     .per_image(&attack, &ensemble, &batches, &|b: &Batch| Objective::untargeted(b.labels.clone().unwrap()))?;
/// assert_eq!(again.adversarial().into_data(), outcome.adversarial().into_data());
/// std::fs::remove_file(&path).unwrap();
/// # Ok::<(), common_weakness::Error>(())
/// ```
pub struct Executor<'o> {
    pub(crate) observer: Box<dyn Observer + 'o>,
    pub(crate) checkpoints: Option<Checkpoints>,
    time_limit: Option<Duration>,
    pub(crate) early_stop: Option<EarlyStop>,
    pub(crate) first_index: usize,
}

impl Default for Executor<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'o> Executor<'o> {
    /// A silent executor without checkpoints or time limit.
    pub fn new() -> Self {
        Self { observer: Box::new(Silent), checkpoints: None, time_limit: None, early_stop: None, first_index: 0 }
    }

    /// An executor that reports to `observer`.
    pub fn observed(observer: &'o mut dyn Observer) -> Self {
        Self { observer: Box::new(observer), ..Self::new() }
    }

    /// Saves checkpoints to `checkpoints.path`, and resumes from it when it exists.
    pub fn with_checkpoints(mut self, checkpoints: Checkpoints) -> Self {
        self.checkpoints = Some(checkpoints);
        self
    }

    /// Stops the run after the iteration during which `limit` (from the call that starts the
    /// run) passed.
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Stops each image of a per-image run once it fools every surrogate by a margin
    /// ([`EarlyStop`]); off by default.
    pub fn with_early_stop(mut self, early_stop: EarlyStop) -> Self {
        self.early_stop = Some(early_stop);
        self
    }

    /// Numbers the images of a per-image run from `first` instead of 0: for a dataset that is
    /// one part of a larger image set (a shard), whose image `j` is image `first + j` of the
    /// whole set. Each image's random stream is keyed by that number, so a shard's images get
    /// exactly the examples a run over the whole set gives them.
    pub fn with_first_index(mut self, first: usize) -> Self {
        self.first_index = first;
        self
    }

    /// The checks of the settings, and the moment the run must stop by.
    pub(crate) fn start(&self) -> Result<Option<Instant>> {
        if let Some(checkpoints) = &self.checkpoints {
            crate::check::at_least_one("checkpoints.every", checkpoints.every)?;
        }
        if let Some(early_stop) = &self.early_stop {
            early_stop.validate()?;
        }
        Ok(self.time_limit.map(|limit| Instant::now() + limit))
    }

    /// The one loop: steps of `attack` from `cursor` until it holds `until` records, each on
    /// the run `prepare` builds for its (0-based) step from the random stream, with a record,
    /// the observer and the stop rules after each. `perturbation` is what the record measures
    /// at an iterate; `done`, if given, which images of the iterate are finished (early
    /// stopping): those keep the iterate at which they finished. Returns why it stopped
    /// early, if it did.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn advance<'r, A: Iterate>(
        &mut self,
        attack: &A,
        cursor: &mut Cursor<A::State>,
        until: usize,
        prepare: &mut dyn FnMut(usize, AttackRng) -> Run<'r>,
        perturbation: &dyn Fn(&Tensor<4>) -> Tensor<4>,
        done: Option<&Finished<'_>>,
        deadline: Option<Instant>,
    ) -> Result<Option<StopReason>> {
        while cursor.records.len() < until {
            let iteration = cursor.records.len() + 1;
            let started = Instant::now();
            let rng = std::mem::replace(&mut cursor.rng, AttackRng::new(0));
            let mut run = prepare(iteration - 1, rng);
            if std::mem::take(&mut cursor.unchecked) {
                if let Some(state) = &cursor.state {
                    let fresh = attack.init(&run, &cursor.v).save();
                    state.save().check_like(&fresh, &cursor.v.dims(), "state")?;
                }
            }
            let state = cursor.state.get_or_insert_with(|| attack.init(&run, &cursor.v));
            run.begin(iteration, &cursor.v, attack.plan().seed);
            let before = cursor.v.clone();
            cursor.v = attack.iterate(&mut run, state, cursor.v.clone())?;
            if let Some(done) = done {
                cursor.v = cursor.stop_finished(before, iteration, done)?;
            }
            let record = run.record(perturbation(&cursor.v), started)?;
            cursor.rng = run.into_rng();
            let control = self.observer.observe(&record);
            cursor.records.push(record);
            if control == Control::Stop {
                return Ok(Some(StopReason::Observer { iteration }));
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(Some(StopReason::TimeLimit { iteration }));
            }
        }
        Ok(None)
    }

    /// The saved progress of the run described by `fingerprint`, if its checkpoint exists.
    pub(crate) fn resume<P: DeserializeOwned>(&self, fingerprint: &serde_json::Value) -> Result<Option<P>> {
        let Some(checkpoints) = self.checkpoints.as_ref().filter(|c| c.path.is_file()) else {
            return Ok(None);
        };
        let path = checkpoints.path.display();
        let text = std::fs::read_to_string(&checkpoints.path)?;
        let saved: Checkpoint<P> =
            serde_json::from_str(&text).map_err(|e| Error::InvalidCheckpoint(format!("{path}: {e}")))?;
        match &saved.fingerprint == fingerprint {
            true => Ok(Some(saved.progress)),
            false => Err(Error::InvalidCheckpoint(format!(
                "{path} was written by a different run (attack, models, images or settings differ)"
            ))),
        }
    }

    /// Writes `progress` to the checkpoint file (replaced atomically) when checkpoints are on
    /// and `due` (after `rounds_done` batches or epochs, or `force`d at a stop or the end).
    pub(crate) fn save<P: Serialize>(
        &self,
        fingerprint: &serde_json::Value,
        rounds_done: usize,
        force: bool,
        progress: impl FnOnce() -> P,
    ) -> Result<()> {
        let Some(checkpoints) = &self.checkpoints else { return Ok(()) };
        if !force && !rounds_done.is_multiple_of(checkpoints.every) {
            return Ok(());
        }
        let checkpoint = Checkpoint { fingerprint: fingerprint.clone(), progress: progress() };
        let partial = checkpoints.path.with_extension("partial");
        std::fs::write(&partial, serde_json::to_string(&checkpoint)?)?;
        std::fs::rename(&partial, &checkpoints.path)?;
        Ok(())
    }
}

/// Which images of an iterate are finished (early stopping), per image.
pub(crate) type Finished<'f> = dyn Fn(&Tensor<4>) -> Result<Vec<bool>> + 'f;

/// Where and how often the [`Executor`] saves its checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoints {
    /// The checkpoint file (JSON).
    pub path: PathBuf,
    /// Save after every `every` batches (per-image runs) or epochs (universal runs), ≥ 1.
    pub every: usize,
}

/// A checkpoint file: the run's description (what must match to resume) and its progress.
#[derive(Serialize, Deserialize)]
struct Checkpoint<P> {
    fingerprint: serde_json::Value,
    progress: P,
}

/// Where one optimisation stands: the iterate, the attack's state, the random stream and the
/// records so far.
pub(crate) struct Cursor<S> {
    pub v: Tensor<4>,
    /// The attack's state (`None` before the first step).
    pub state: Option<S>,
    pub rng: AttackRng,
    pub records: Vec<IterationRecord>,
    /// Per image of a per-image run with early stopping, the iteration after which it
    /// stopped (empty until the first check).
    pub stopped: Vec<Option<usize>>,
    /// A restored state not yet checked against a fresh one (the first step checks it, when
    /// the attack can build a fresh state).
    unchecked: bool,
}

/// What a restored [`Cursor`] must fit: the run's iterate shape, admissible set, length,
/// models and random streams.
pub(crate) struct Expected<'a> {
    /// The iterate's shape.
    pub shape: [usize; 4],
    /// The projection onto the admissible set: a restored iterate must be a fixed point.
    pub project: Box<dyn Fn(Tensor<4>) -> Tensor<4> + 'a>,
    /// The most iterations the run can have.
    pub iterations: usize,
    /// The number of models every record holds a loss for.
    pub models: usize,
    /// The number of random streams of the run (one shared, one per image of a per-image
    /// run).
    pub streams: usize,
}

impl Expected<'_> {
    /// Checks a restored iterate `v` (named `field`): shape, finite, admissible.
    pub fn check_iterate(&self, v: &Tensor<4>, field: &str) -> Result<()> {
        let wrong = |what: String| Err(Error::InvalidCheckpoint(format!("checkpoint field `{field}`: {what}")));
        if v.dims() != self.shape {
            return wrong(format!("shape {:?}, the run needs {:?}", v.dims(), self.shape));
        }
        let values = crate::host::to_vec(v.clone());
        if values.iter().any(|x| !x.is_finite()) {
            return wrong("holds a NaN or an infinity".into());
        }
        let projected = crate::host::to_vec((self.project)(v.clone()));
        let off = values.iter().zip(&projected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        match off <= ADMISSIBLE_TOLERANCE {
            true => Ok(()),
            false => wrong(format!("lies {off} outside the threat model's admissible set")),
        }
    }

    /// Checks restored early-stopping marks (named `field`) after `iterations` iterations: none,
    /// or one per image, each at an iteration that ran (0: before the first).
    pub fn check_stopped(&self, stopped: &[Option<usize>], iterations: usize, field: &str) -> Result<()> {
        let wrong = |what: String| Err(Error::InvalidCheckpoint(format!("checkpoint field `{field}`: {what}")));
        if !stopped.is_empty() && stopped.len() != self.shape[0] {
            return wrong(format!("{} images, the batch has {}", stopped.len(), self.shape[0]));
        }
        match stopped.iter().flatten().find(|&&at| at > iterations) {
            Some(at) => wrong(format!("an image stopped at iteration {at} of {iterations}")),
            None => Ok(()),
        }
    }

    /// Checks restored records (named `field`): at most `iterations`, one loss per model.
    pub fn check_records(&self, records: &[IterationRecord], field: &str) -> Result<()> {
        if records.len() > self.iterations {
            return Err(Error::InvalidCheckpoint(format!(
                "checkpoint field `{field}`: {} iterations, the run has {}",
                records.len(),
                self.iterations
            )));
        }
        match records.iter().find(|r| r.loss_per_model.len() != self.models) {
            Some(r) => Err(Error::InvalidCheckpoint(format!(
                "checkpoint field `{field}`: iteration {} holds {} losses for {} models",
                r.iteration,
                r.loss_per_model.len(),
                self.models
            ))),
            None => Ok(()),
        }
    }
}

/// How far a restored iterate may lie from its projection (rounding of the projection
/// itself).
const ADMISSIBLE_TOLERANCE: f32 = 1e-5;

/// A [`Cursor`] as a checkpoint stores it.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedCursor {
    v: Saved,
    state: Option<Saved>,
    rng: Saved,
    pub records: Vec<IterationRecord>,
    #[serde(default)]
    stopped: Vec<Option<usize>>,
}

impl<S: Snapshot> Cursor<S> {
    /// A fresh cursor at `v`.
    pub fn new(v: Tensor<4>, rng: AttackRng) -> Self {
        Self { v, state: None, rng, records: Vec::new(), stopped: Vec::new(), unchecked: false }
    }

    /// The iterate with the images that stopped before this iteration put back to `before`;
    /// then the images `done` finds finished in it are marked as stopped at `iteration`.
    fn stop_finished(&mut self, before: Tensor<4>, iteration: usize, done: &Finished<'_>) -> Result<Tensor<4>> {
        let shape = before.dims();
        if self.stopped.is_empty() {
            // Images that fool every model before the first step are never moved.
            self.stopped = match iteration {
                1 => done(&before)?.into_iter().map(|finished| finished.then_some(0)).collect(),
                _ => vec![None; shape[0]],
            };
        }
        let kept: Vec<bool> = self.stopped.iter().map(Option::is_some).collect();
        let after = match kept.contains(&true) {
            true => {
                let kept = Tensor::<4, Bool>::from_data(TensorData::new(kept, [shape[0], 1, 1, 1]), &before.device());
                self.v.clone().mask_where(kept.expand(shape), before)
            }
            false => self.v.clone(),
        };
        for (stopped, finished) in self.stopped.iter_mut().zip(done(&after)?) {
            if finished && stopped.is_none() {
                *stopped = Some(iteration);
            }
        }
        Ok(after)
    }

    pub fn save(&self) -> SavedCursor {
        SavedCursor {
            v: self.v.save(),
            state: self.state.as_ref().map(Snapshot::save),
            rng: self.rng.save(),
            records: self.records.clone(),
            stopped: self.stopped.clone(),
        }
    }

    /// The cursor a checkpoint saved, checked against what the run `expected`: the iterate
    /// (shape, finite, admissible), the records and the random streams now, the attack's
    /// state against a fresh one at the first step.
    pub fn restore(saved: SavedCursor, device: &Device, expected: &Expected<'_>) -> Result<Self> {
        let rng = AttackRng::load(&saved.rng)?;
        if rng.streams() != expected.streams {
            return Err(Error::InvalidCheckpoint(format!(
                "checkpoint field `rng`: {} random streams, the run has {} (one shared, one per image)",
                rng.streams(),
                expected.streams
            )));
        }
        let v: Tensor<4> = Snapshot::load(&saved.v, device)?;
        expected.check_iterate(&v, "v")?;
        expected.check_records(&saved.records, "records")?;
        expected.check_stopped(&saved.stopped, saved.records.len(), "stopped")?;
        Ok(Self {
            v,
            state: saved.state.map(|s| S::load(&s, device)).transpose()?,
            rng,
            records: saved.records,
            stopped: saved.stopped,
            unchecked: true,
        })
    }
}
