//! Learning-rate schedules: ALRS, the adaptive learning-rate scheduler of Chen et al.,
//! "Bootstrap Generalization Ability from Loss Landscape Perspective" (ECCV Workshops 2022),
//! the seed's schedule for reaching flat optima. It trains the model zoo and scales the
//! steps of a universal attack ([`crate::universal`]).

use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::LearningRate;

use crate::check::{positive, unit_interval};
use crate::error::{Error, Result};

/// Decays the learning rate by `gamma` after every epoch whose mean training loss failed to
/// fall by at least `abs_threshold` in absolute terms **and** by at least `rel_threshold`
/// relative to the previous epoch's loss (a loss that went up always triggers a decay). The
/// previous loss starts at 999 and is replaced after every epoch. No warm-up, no patience, no
/// floor: the core rule of the authors' published code.
///
/// It plugs into Burn in two places: as an [`LrScheduler`] (its `step` returns the current
/// rate, so `optimizer.step(scheduler.step(), model, grads)` works per batch), and through
/// [`end_epoch`](Self::end_epoch), which a training loop calls with the epoch's mean loss,
/// because Burn's scheduler trait never sees a loss.
///
/// ```
/// use common_weakness::schedule::Alrs;
///
/// let mut alrs = Alrs::new(0.1).unwrap(); // τ_abs = τ_rel = 0.01, γ = 0.97
/// assert_eq!(alrs.end_epoch(2.0).unwrap(), 0.1); // 999 -> 2.0: a big improvement, no decay
/// assert_eq!(alrs.end_epoch(1.995).unwrap(), 0.1 * 0.97); // improved by only 0.005
/// assert_eq!(alrs.end_epoch(1.5).unwrap(), 0.1 * 0.97);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Alrs {
    learning_rate: LearningRate,
    last_loss: f64,
    /// τ_abs: the absolute improvement an epoch must reach to keep the rate.
    pub abs_threshold: f64,
    /// τ_rel: the relative improvement an epoch must reach to keep the rate.
    pub rel_threshold: f64,
    /// γ: the decay factor.
    pub gamma: f64,
}

impl Alrs {
    /// The previous loss before the first epoch, as in the authors' code.
    pub const INITIAL_LAST_LOSS: f64 = 999.0;

    /// ALRS with the defaults of the authors' attack library: τ_abs = τ_rel = 0.01, γ = 0.97.
    pub fn new(learning_rate: LearningRate) -> Result<Self> {
        Self::with_thresholds(learning_rate, 0.01, 0.01, 0.97)
    }

    /// ALRS with explicit thresholds (T-SEA uses 1e-4, 1e-4, 0.97).
    pub fn with_thresholds(
        learning_rate: LearningRate,
        abs_threshold: f64,
        rel_threshold: f64,
        gamma: f64,
    ) -> Result<Self> {
        positive("learning_rate", learning_rate)?;
        positive("abs_threshold", abs_threshold)?;
        positive("rel_threshold", rel_threshold)?;
        unit_interval("gamma", gamma)?;
        positive("gamma", gamma)?;
        Ok(Self { learning_rate, last_loss: Self::INITIAL_LAST_LOSS, abs_threshold, rel_threshold, gamma })
    }

    /// The current learning rate.
    pub fn learning_rate(&self) -> LearningRate {
        self.learning_rate
    }

    /// Applies the rule to one epoch's mean training loss and returns the rate for the next
    /// epoch. A non-finite loss is an error (training diverged), not a silent decay.
    pub fn end_epoch(&mut self, loss: f64) -> Result<LearningRate> {
        if !loss.is_finite() {
            return Err(Error::InvalidParameter { name: "epoch loss", value: loss, requirement: "must be finite" });
        }
        let improvement = self.last_loss - loss;
        if improvement < self.abs_threshold && improvement / self.last_loss < self.rel_threshold {
            self.learning_rate *= self.gamma;
        }
        self.last_loss = loss;
        Ok(self.learning_rate)
    }
}

impl Alrs {
    /// The state a checkpoint keeps: the learning rate and the last epoch's loss.
    pub fn state(&self) -> (LearningRate, f64) {
        (self.learning_rate, self.last_loss)
    }

    /// This schedule with the state of [`state`](Self::state).
    pub fn with_state(mut self, (learning_rate, last_loss): (LearningRate, f64)) -> Self {
        self.learning_rate = learning_rate;
        self.last_loss = last_loss;
        self
    }
}

impl LrScheduler for Alrs {
    fn step(&mut self) -> LearningRate {
        self.learning_rate
    }

    /// The learning rate and the last epoch loss, as Burn's scalar record.
    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new()
            .with_scalar("learning_rate", self.learning_rate)
            .with_scalar("last_loss", self.last_loss)
    }

    /// Restores [`to_record`](LrScheduler::to_record)'s scalars; a record without them leaves
    /// the state as it is.
    fn load_record(&mut self, record: LrSchedulerRecord) {
        let (learning_rate, last_loss) = self.state();
        *self = self.clone().with_state((
            record.scalar("learning_rate").unwrap_or(learning_rate),
            record.scalar("last_loss").unwrap_or(last_loss),
        ));
    }
}
