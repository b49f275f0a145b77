//! Heavy-ball momentum on normalised gradients: MI-FGSM and the CWA inner rule.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Optimizer;
use crate::check::{non_negative, positive};
use crate::error::Result;
use crate::norm::{Direction, Normalization};

/// `m ← μ·m + normalize(g)`, `update = −step_size · direction(m)`.
///
/// * NI-FGSM: [`Momentum::ni`] (mean-|g| normalisation, look-ahead).
///
/// * MI-FGSM (Dong et al. 2018): `normalize = L1`, `direction = Sign`.
/// * CWA inner step (paper Alg. 1): `normalize = L2`, `direction = Raw`, `step_size = β`.
///
/// The buffer starts at zero and is never reset during a run. With `look_ahead` set
/// (NI-FGSM, Lin et al. 2020), the attack evaluates the next gradient at the Nesterov
/// look-ahead point `x − step_size·μ·m` instead of at `x`.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::optim::{Momentum, Optimizer};
///
/// let device = Default::default();
/// let mi = Momentum::mi(0.1, 1.0);
/// let g = Tensor::<4>::from_floats([[[[1.0, -3.0]]]], &device);
/// let mut state = Optimizer::init(&mi, &g);
/// let update = mi.step(g, &mut state); // m = [0.25, -0.75]
/// assert_eq!(update.into_data().try_to_vec::<f32>().unwrap(), vec![-0.1, 0.1]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Momentum {
    /// Step length (α outer, β inner).
    #[serde(with = "crate::json_float")]
    pub step_size: f64,
    /// Decay of the buffer (μ).
    #[doc(alias = "mu")]
    #[serde(with = "crate::json_float")]
    pub momentum: f64,
    /// Normalisation of each gradient before it enters the buffer.
    pub normalize: Normalization,
    /// Direction transform of the buffer when stepping.
    pub direction: Direction,
    /// Take gradients at the Nesterov look-ahead point (NI-FGSM).
    #[serde(default)]
    pub look_ahead: bool,
}

impl Momentum {
    /// MI-FGSM under L∞: per-sample L1 normalisation, sign step.
    pub fn mi(step_size: f64, momentum: f64) -> Self {
        Self { step_size, momentum, normalize: Normalization::L1, direction: Direction::Sign, look_ahead: false }
    }

    /// NI-FGSM under L∞: MI-FGSM whose gradients are taken at the look-ahead point. The
    /// gradients are normalised by their mean absolute value, so the look-ahead moves the
    /// point by about `step_size·μ` per pixel, as in the NI implementations (the sign step is
    /// the same as with L1).
    pub fn ni(step_size: f64, momentum: f64) -> Self {
        Self { look_ahead: true, normalize: Normalization::MeanAbs, ..Self::mi(step_size, momentum) }
    }

    /// The CWA inner rule: per-sample L2 normalisation, raw step of length β.
    pub fn cwa_inner(inner_step_size: f64, momentum: f64) -> Self {
        Self {
            step_size: inner_step_size,
            momentum,
            normalize: Normalization::L2,
            direction: Direction::Raw,
            look_ahead: false,
        }
    }
}

impl Optimizer for Momentum {
    fn config(&self) -> serde_json::Value {
        serde_json::to_value(super::AnyOptimizer::from(*self)).unwrap_or_default()
    }

    type State = Tensor<4>;

    fn init(&self, like: &Tensor<4>) -> Tensor<4> {
        like.zeros_like()
    }

    fn step(&self, gradient: Tensor<4>, buffer: &mut Tensor<4>) -> Tensor<4> {
        *buffer = buffer.clone().mul_scalar(self.momentum as f32) + self.normalize.apply(gradient);
        self.direction.apply(buffer.clone()).mul_scalar(-self.step_size as f32)
    }

    fn validate(&self) -> Result<()> {
        positive("step_size", self.step_size)?;
        non_negative("momentum", self.momentum)
    }

    fn look_ahead(&self, buffer: &Tensor<4>) -> Option<Tensor<4>> {
        self.look_ahead.then(|| buffer.clone().mul_scalar((-self.step_size * self.momentum) as f32))
    }
}
