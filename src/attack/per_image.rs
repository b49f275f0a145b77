//! Per-image runs on the executor: each batch of a dataset attacked image by image, its
//! images keyed by their index in the whole set.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::executor::{Cursor, Expected, Finished, SavedCursor};
use super::run::{batch_means, check_random_start, finite, Variable};
use super::{input, AttackOutcome, Executor, Iterate, Run};
use crate::ensemble::Ensemble;
use crate::error::{Error, Result};
use crate::gradient::Evaluator;
use crate::objective::Objective;
use crate::observe::{IterationRecord, RunInfo, StopReason};
use crate::rng::AttackRng;
use crate::snapshot::{Saved, Snapshot};
use crate::universal::Batch;

/// The result of a per-image run over a dataset ([`Executor::per_image`]).
#[derive(Clone, Debug)]
pub struct PerImageOutcome {
    /// One outcome per batch that ran, in order. A run stopped early (observer or time
    /// limit) ends with the batch it stopped in, whose own `stop` says so.
    pub batches: Vec<AttackOutcome>,
    /// Why the run stopped.
    pub stop: StopReason,
}

impl PerImageOutcome {
    /// The adversarial images of every batch that ran, concatenated in order.
    pub fn adversarial(&self) -> Tensor<4> {
        Tensor::cat(self.batches.iter().map(|b| b.adversarial.clone()).collect(), 0)
    }
}

/// One batch of a per-image run: its images, objective and image indices.
pub(crate) struct Piece {
    pub images: Tensor<4>,
    pub objective: Objective,
    pub indices: Vec<usize>,
}

/// A per-image run's progress as its checkpoint stores it.
#[derive(Serialize, Deserialize)]
struct Progress {
    /// The outcomes of the batches that finished.
    done: Vec<SavedOutcome>,
    /// The batch in progress, if the run stopped inside one.
    current: Option<SavedCursor>,
}

/// An [`AttackOutcome`] as a checkpoint stores it.
#[derive(Serialize, Deserialize)]
struct SavedOutcome {
    adversarial: Saved,
    records: Vec<IterationRecord>,
    stop: StopReason,
    initial_loss: Vec<f64>,
    final_loss: Vec<f64>,
    info: RunInfo,
    #[serde(default)]
    stopped_at: Vec<Option<usize>>,
}

impl<'o> Executor<'o> {
    /// Attacks every batch of a dataset image by image with `attack` on `ensemble`, in order,
    /// image `j` of batch `b` being image `len(batches before b) + j` of the set (which keys
    /// its random stream, so the result does not depend on how the set is batched; a shard
    /// of a larger set starts from [`with_first_index`](Self::with_first_index));
    /// `objective` gives each batch's objective. Every check that needs no model runs for
    /// every batch before the first iteration; each batch's clean evaluation runs when the
    /// batch starts. The observer sees each batch as one run (start, iterations, finish).
    pub fn per_image<A: Iterate>(
        self,
        attack: &A,
        ensemble: &Ensemble,
        batches: &[Batch],
        objective: &dyn Fn(&Batch) -> Objective,
    ) -> Result<PerImageOutcome> {
        let total: usize = batches.iter().map(Batch::len).sum();
        if self.first_index.checked_add(total).is_none() {
            return Err(Error::InvalidParameter {
                name: "first_index",
                value: self.first_index as f64,
                requirement: "plus the number of images must fit in usize",
            });
        }
        let mut first = self.first_index;
        let pieces = batches
            .iter()
            .map(|batch| {
                let indices = (first..first + batch.len()).collect();
                first += batch.len();
                Piece { images: batch.images.clone(), objective: objective(batch), indices }
            })
            .collect();
        self.per_image_pieces(attack, ensemble, pieces)
    }

    /// [`Executor::per_image`] on pieces with their own image indices.
    pub(crate) fn per_image_pieces<A: Iterate>(
        mut self,
        attack: &A,
        ensemble: &Ensemble,
        pieces: Vec<Piece>,
    ) -> Result<PerImageOutcome> {
        let deadline = self.start()?;
        let plan = attack.plan();
        plan.threat.validate()?;
        crate::check::at_least_one("iterations", plan.iterations)?;
        let Some(device) = pieces.first().map(|p| p.images.device()) else {
            return Err(Error::InvalidDataset { batch: 0, reason: "the dataset has no batch".to_string() });
        };
        for piece in &pieces {
            input::check_images(&piece.images)?;
            let batch = piece.images.dims()[0];
            if piece.indices.len() != batch {
                return Err(Error::IndexMismatch { images: batch, indices: piece.indices.len() });
            }
            piece.objective.validate(batch)?;
            check_random_start(&piece.objective, plan.random_start)?;
        }
        attack.validate()?;
        let config = attack.config();
        let models: Vec<String> = ensemble.names().into_iter().map(String::from).collect();
        let infos: Vec<RunInfo> = pieces
            .iter()
            .map(|piece| RunInfo {
                attack: plan.name.to_string(),
                config: config.clone(),
                seed: plan.seed,
                backend: crate::backend::BackendKind::name_of(&device),
                models: models.clone(),
                images: piece.indices.len(),
                image_indices: piece.indices.clone(),
                iterations: plan.iterations,
            })
            .collect();
        // Early stopping changes the images, so a checkpoint resumes only with the same.
        let fingerprint = match self.early_stop {
            None => serde_json::to_value(&infos)?,
            Some(early_stop) => serde_json::json!({ "runs": infos, "early_stop": early_stop }),
        };
        let threat = plan.threat;
        let expected = |piece: &Piece| {
            let x_nat = piece.images.clone().inner();
            Expected {
                shape: piece.images.dims(),
                project: Box::new(move |v| threat.project(v, &x_nat)),
                iterations: plan.iterations,
                models: models.len(),
                streams: 1 + piece.indices.len(),
            }
        };
        let (mut batches, mut current) = match self.resume::<Progress>(&fingerprint)? {
            Some(progress) => {
                if progress.done.len() > pieces.len() {
                    return Err(Error::InvalidCheckpoint(format!(
                        "checkpoint field `done`: {} finished batches, the dataset has {}",
                        progress.done.len(),
                        pieces.len()
                    )));
                }
                let done = progress
                    .done
                    .into_iter()
                    .zip(pieces.iter().zip(&infos))
                    .enumerate()
                    .map(|(i, (outcome, (piece, info)))| {
                        outcome.restore(&device, &expected(piece), info, &format!("done[{i}]"))
                    })
                    .collect::<Result<Vec<_>>>()?;
                (done, progress.current)
            }
            None => (Vec::new(), None),
        };
        if current.is_some() && batches.len() == pieces.len() {
            return Err(Error::InvalidCheckpoint(
                "checkpoint field `current`: a batch after the dataset's last".into(),
            ));
        }
        for (piece, info) in pieces.iter().zip(infos).skip(batches.len()) {
            let x_nat = piece.images.clone().inner();
            let evaluator = Evaluator::new(ensemble, &piece.objective, plan.combination, &x_nat)?;
            let initial_loss = batch_means(evaluator.clean_losses()?, models.len());
            finite(&initial_loss, &models, 0)?;
            self.observer.start(&info);
            let mut cursor = match current.take() {
                Some(saved) => Cursor::restore(saved, &device, &expected(piece))?,
                None => {
                    let mut rng = AttackRng::per_image(plan.seed, &piece.indices);
                    let x = match plan.random_start {
                        true => plan.threat.random_start(&x_nat, &mut rng),
                        false => x_nat.clone(),
                    };
                    Cursor::new(x, rng)
                }
            };
            let mut prepare = |_, rng| {
                let variable = Variable::Images { x_nat: x_nat.clone(), threat };
                Run::new(evaluator.clone(), variable, rng, models.clone())
            };
            let margin = self.early_stop.map(|early_stop| early_stop.margin);
            let fooled = |v: &Tensor<4>| evaluator.fooled(v, margin.unwrap_or_default());
            let early = self.advance(
                attack,
                &mut cursor,
                plan.iterations,
                &mut prepare,
                &|v| v.clone() - x_nat.clone(),
                margin.map(|_| &fooled as &Finished<'_>),
                deadline,
            )?;
            let stop = early.unwrap_or(StopReason::Completed);
            self.observer.finish(&stop);
            let final_loss = batch_means(evaluator.losses(&cursor.v)?, models.len());
            finite(&final_loss, &models, cursor.records.len())?;
            let finished = cursor.records.len() == plan.iterations;
            let in_progress = (!finished).then(|| cursor.save());
            let stopped_at = match cursor.stopped.is_empty() {
                true => vec![None; piece.indices.len()],
                false => cursor.stopped,
            };
            batches.push(AttackOutcome {
                adversarial: Tensor::from_inner(cursor.v),
                records: cursor.records,
                stopped_at,
                stop,
                initial_loss,
                final_loss,
                info,
            });
            let done = match finished {
                true => &batches[..],
                false => &batches[..batches.len() - 1],
            };
            let last = batches.len() == pieces.len();
            self.save(&fingerprint, done.len(), early.is_some() || last, || Progress {
                done: done.iter().map(SavedOutcome::of).collect(),
                current: in_progress,
            })?;
            if early.is_some() {
                return Ok(PerImageOutcome { batches, stop });
            }
        }
        Ok(PerImageOutcome { batches, stop: StopReason::Completed })
    }
}

impl SavedOutcome {
    fn of(outcome: &AttackOutcome) -> Self {
        Self {
            adversarial: outcome.adversarial.save(),
            records: outcome.records.clone(),
            stop: outcome.stop,
            initial_loss: outcome.initial_loss.clone(),
            final_loss: outcome.final_loss.clone(),
            info: outcome.info.clone(),
            stopped_at: outcome.stopped_at.clone(),
        }
    }

    /// The outcome back, checked against the run (`field` names it in errors): its images
    /// like a restored iterate, all its iterations, one loss per model, its batch's `info`.
    fn restore(
        self,
        device: &burn::tensor::Device,
        expected: &Expected<'_>,
        info: &RunInfo,
        field: &str,
    ) -> Result<AttackOutcome> {
        let adversarial: Tensor<4> = Snapshot::load(&self.adversarial, device)?;
        expected.check_iterate(&adversarial.clone().inner(), &format!("{field}.adversarial"))?;
        expected.check_records(&self.records, &format!("{field}.records"))?;
        let wrong = |what: &str| Err(Error::InvalidCheckpoint(format!("checkpoint field `{field}.{what}`")));
        if self.records.len() != expected.iterations {
            return wrong("records: a finished batch holds every iteration");
        }
        if self.initial_loss.len() != expected.models || self.final_loss.len() != expected.models {
            return wrong("initial_loss/final_loss: one loss per model");
        }
        if &self.info != info {
            return wrong("info: not this batch's run");
        }
        expected.check_stopped(&self.stopped_at, expected.iterations, &format!("{field}.stopped_at"))?;
        let stopped_at = match self.stopped_at.is_empty() {
            true => vec![None; expected.shape[0]],
            false => self.stopped_at,
        };
        Ok(AttackOutcome {
            adversarial,
            records: self.records,
            stopped_at,
            stop: self.stop,
            initial_loss: self.initial_loss,
            final_loss: self.final_loss,
            info: self.info,
        })
    }
}
