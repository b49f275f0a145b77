//! GRA's momentum with a decay indicator: the step shrinks wherever the momentum's sign flips.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Momentum, Optimizer};
use crate::check::{at_most, non_negative, positive};
use crate::error::Result;
use crate::norm::{Direction, Normalization};

/// MI momentum whose step shrinks, pixel by pixel, each time the momentum changes sign there:
/// the decay indicator of GRA (Zhu et al., *Boosting Adversarial Transferability via Gradient
/// Relevance Attack*, ICCV 2023).
///
/// `m ← μ·m + g/mean|g|`; `M ← M ⊙ (1 where sign(m) = sign(m_prev), else η)`;
/// `update = −step_size · M ⊙ direction(m)`. `M` starts at `1/η`, so at the first step, where
/// every sign changes from 0, `M = 1`. With `decay` η = 1 this is MI-FGSM's momentum.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::optim::{DecayIndicator, Optimizer};
///
/// let device = Default::default();
/// let gra = DecayIndicator::gra(0.1, 1.0);
/// let mut state = gra.init(&Tensor::<4>::zeros([1, 1, 1, 2], &device));
/// let first = gra.step(Tensor::from_floats([[[[1.0, -1.0]]]], &device), &mut state);
/// assert_eq!(first.into_data().try_to_vec::<f32>().unwrap(), vec![-0.1, 0.1]);
/// // The second pixel's momentum flips sign (−1 + 3 > 0): its step shrinks to 0.94·α.
/// let second = gra.step(Tensor::from_floats([[[[1.0, 3.0]]]], &device), &mut state);
/// let second = second.into_data().try_to_vec::<f32>().unwrap();
/// assert!((second[0] + 0.1).abs() < 1e-6 && (second[1] + 0.094).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecayIndicator {
    /// Step length α.
    #[serde(with = "crate::json_float")]
    pub step_size: f64,
    /// Decay of the momentum buffer μ.
    #[serde(with = "crate::json_float")]
    pub momentum: f64,
    /// The factor η applied where the momentum's sign flips (the paper: 0.94; in (0, 1]).
    #[serde(with = "crate::json_float")]
    pub decay: f64,
    /// Direction transform of the buffer when stepping (sign under L∞).
    pub direction: Direction,
}

impl DecayIndicator {
    /// GRA's optimizer under L∞: η = 0.94, sign steps.
    pub fn gra(step_size: f64, momentum: f64) -> Self {
        Self { step_size, momentum, decay: 0.94, direction: Direction::Sign }
    }

    /// The momentum rule under the indicator: `m ← μ·m + g/mean|g|`, `−step_size·direction(m)`.
    fn momentum_rule(&self) -> Momentum {
        Momentum {
            step_size: self.step_size,
            momentum: self.momentum,
            normalize: Normalization::MeanAbs,
            direction: self.direction,
            look_ahead: false,
        }
    }
}

/// The state of [`DecayIndicator`]: the momentum buffer and the indicator `M`.
#[derive(Clone, Debug)]
pub struct DecayIndicatorState {
    momentum: Tensor<4>,
    indicator: Tensor<4>,
}

crate::snapshot_fields!(DecayIndicatorState { momentum, indicator });

impl Optimizer for DecayIndicator {
    fn config(&self) -> serde_json::Value {
        serde_json::to_value(super::AnyOptimizer::from(*self)).unwrap_or_default()
    }

    type State = DecayIndicatorState;

    fn init(&self, like: &Tensor<4>) -> DecayIndicatorState {
        DecayIndicatorState { momentum: like.zeros_like(), indicator: like.ones_like().div_scalar(self.decay as f32) }
    }

    fn step(&self, gradient: Tensor<4>, state: &mut DecayIndicatorState) -> Tensor<4> {
        let previous = state.momentum.clone();
        let update = self.momentum_rule().step(gradient, &mut state.momentum);
        let flipped = previous.sign().not_equal(state.momentum.clone().sign());
        let factor = state.indicator.ones_like().mask_fill(flipped, self.decay as f32);
        state.indicator = state.indicator.clone() * factor;
        update * state.indicator.clone()
    }

    fn validate(&self) -> Result<()> {
        positive("step_size", self.step_size)?;
        non_negative("momentum", self.momentum)?;
        positive("decay", self.decay)?;
        at_most("decay", self.decay, 1.0, "must be <= 1")
    }
}
