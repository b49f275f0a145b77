//! Stateless steps: plain SGD, sign SGD (FGSM/BIM) and normalised SGD.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Optimizer;
use crate::check::positive;
use crate::error::Result;
use crate::norm::{Direction, Normalization};

/// `update = −step_size · direction(normalize(g))`, with no memory.
///
/// `Sgd::sign(α)` is the FGSM / BIM step; `Sgd::plain(α)` is gradient descent.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::optim::{Optimizer, Sgd};
///
/// let device = Default::default();
/// let g = Tensor::<4>::from_floats([[[[0.5, -2.0, 0.0]]]], &device);
/// let update = Optimizer::step(&Sgd::sign(0.1), g, &mut ());
/// assert_eq!(update.into_data().try_to_vec::<f32>().unwrap(), vec![-0.1, 0.1, 0.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sgd {
    /// Step length (α).
    #[doc(alias = "alpha")]
    #[serde(with = "crate::json_float")]
    pub step_size: f64,
    /// Normalisation applied to the gradient first.
    pub normalize: Normalization,
    /// Direction transform applied last.
    pub direction: Direction,
}

impl Sgd {
    /// Plain gradient descent: `−α·g`.
    pub fn plain(step_size: f64) -> Self {
        Self { step_size, normalize: Normalization::None, direction: Direction::Raw }
    }

    /// Sign descent: `−α·sign(g)` (FGSM, BIM, the CWA reverse step under L∞).
    pub fn sign(step_size: f64) -> Self {
        Self { step_size, normalize: Normalization::None, direction: Direction::Sign }
    }

    /// A step of length α along `direction` (use [`crate::threat::ThreatModel::steepest`]).
    pub fn steepest(step_size: f64, direction: Direction) -> Self {
        Self { step_size, normalize: Normalization::None, direction }
    }
}

impl Optimizer for Sgd {
    fn config(&self) -> serde_json::Value {
        serde_json::to_value(super::AnyOptimizer::from(*self)).unwrap_or_default()
    }

    type State = ();

    fn init(&self, _like: &Tensor<4>) {}

    fn step(&self, gradient: Tensor<4>, _state: &mut ()) -> Tensor<4> {
        self.direction.apply(self.normalize.apply(gradient)).mul_scalar(-self.step_size as f32)
    }

    fn validate(&self) -> Result<()> {
        positive("step_size", self.step_size)
    }
}
