//! The paper's explanation, measured: **closeness** of an adversarial example to every
//! model's nearby optimum and **flatness** of the loss around it (Chen et al. 2024, §3 and
//! Fig. 4; `docs/algorithms.md` describes each measurement).
//!
//! A [`Landscape`] evaluates the attack objective (minimised, as everywhere in the crate) of a
//! set of models, one at a time ([`Scope::Model`]) or combined ([`Scope::Ensemble`]):
//!
//! - closeness: [`gradient_cosine`](Landscape::gradient_cosine) (mean pairwise cosine of the
//!   models' gradients) and [`nearby_optimum`](Landscape::nearby_optimum) (a few BIM steps on
//!   one model alone; the distance to it);
//! - flatness: [`sharpness`](Landscape::sharpness) (worst loss increase within a small ball,
//!   by PGD) and [`top_hessian_eigenvalue`](Landscape::top_hessian_eigenvalue) (power
//!   iteration on finite-difference Hessian-vector products: Burn has no double backward);
//! - [`curve`](Landscape::curve): the loss along a direction, the paper's 1-D landscape.
//!
//! Every quantity is computed per image and returned per image (average them, or compare two
//! methods image by image with an interval on the differences, as the bench crate's
//! `statistics::mean_interval` does), so it does not depend on the batch; loss curves are means over the images.

mod closeness;
mod curve;
mod flatness;

pub use closeness::NearbyOptimum;
pub use curve::offsets;

use burn::tensor::Tensor;

use crate::ensemble::{Combination, Ensemble};
use crate::error::{Error, Result};
use crate::gradient::{Evaluation, Evaluator};
use crate::host;
use crate::objective::Objective;

/// Which loss a measurement uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Model `i` of the landscape's ensemble alone.
    Model(usize),
    /// The models combined at the landscape's [`Combination`].
    Ensemble,
}

/// The objective of a set of models around given images.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::landscape::{Landscape, Scope};
/// use common_weakness::objective::LossInput;
/// use common_weakness::surrogate::from_fn;
/// use common_weakness::ensemble::{Combination, Ensemble};
/// use common_weakness::objective::Objective;
///
/// // L(x) = 3·Σ(x − 0.5)²: Hessian 6·I.
/// let bowl = from_fn("bowl", |x: Tensor<4>| (x - 0.5).square().flatten::<2>(1, 3).sum_dim(1).mul_scalar(3.0));
/// let models = Ensemble::new(vec![Box::new(bowl)]).unwrap();
/// let objective = Objective::custom(None, |input: LossInput| input.outputs.squeeze_dim(1));
/// let x = Tensor::<4>::full([2, 1, 4, 4], 0.5, &Default::default());
/// let landscape = Landscape::new(&models, &objective, Combination::LogitMean, &x).unwrap();
/// let eigenvalues = landscape.top_hessian_eigenvalue(Scope::Model(0), &x, 20, 1e-2, 0).unwrap();
/// assert!(eigenvalues.iter().all(|&l| (l - 6.0).abs() < 1e-2));
/// ```
pub struct Landscape<'a> {
    evaluator: Evaluator<'a>,
    /// The models' names, for errors.
    names: Vec<String>,
    /// The clean batch's shape: every point and direction must have it.
    shape: [usize; 4],
}

impl<'a> Landscape<'a> {
    /// The objective of `models`, combined at `combination` for [`Scope::Ensemble`] (pass the
    /// attack's own setting to measure the objective it attacked). `clean` are the clean images, which define labels' shapes and the clean outputs that
    /// feature-distortion objectives compare against.
    ///
    /// Fails on an empty batch or invalid pixels, and on an objective that does not fit.
    pub fn new(
        models: &'a Ensemble,
        objective: &'a Objective,
        combination: Combination,
        clean: &Tensor<4>,
    ) -> Result<Self> {
        crate::attack::check_images(clean)?;
        objective.validate(clean.dims()[0])?;
        let evaluator = Evaluator::new(models, objective, combination, &clean.clone().inner())?;
        let names = models.names().into_iter().map(str::to_string).collect();
        Ok(Self { evaluator, names, shape: clean.dims() })
    }

    /// Checks a point given to a measurement: the clean batch's shape, finite pixels in
    /// `[0, 1]`.
    pub(crate) fn check_point(&self, x: &Tensor<4>) -> Result<()> {
        self.check_shape("landscape point", x)?;
        crate::attack::check_images(x)
    }

    /// `Ok` when `tensor` is finite, else [`Error::NonFiniteMeasurement`] naming `scope`.
    pub(crate) fn check_finite<const D: usize>(
        &self,
        scope: Scope,
        quantity: &'static str,
        tensor: &Tensor<D>,
    ) -> Result<()> {
        if host::is_finite(tensor) {
            return Ok(());
        }
        let scope = match scope {
            Scope::Model(index) => format!("model `{}`", self.names[index]),
            Scope::Ensemble => "the ensemble".to_string(),
        };
        Err(Error::NonFiniteMeasurement { scope, quantity })
    }

    /// Fails with [`Error::Shape`] unless `tensor` has the clean batch's shape.
    pub(crate) fn check_shape(&self, what: &'static str, tensor: &Tensor<4>) -> Result<()> {
        if tensor.dims() == self.shape {
            Ok(())
        } else {
            Err(Error::Shape {
                what,
                expected: format!("{:?} (the clean batch's)", self.shape),
                actual: tensor.dims().to_vec(),
            })
        }
    }

    /// Fails unless `scope` names one of the models or the ensemble.
    fn check_scope(&self, scope: Scope) -> Result<()> {
        match scope {
            Scope::Model(index) if index >= self.names.len() => Err(Error::InvalidParameter {
                name: "model index",
                value: index as f64,
                requirement: "must be < the number of models",
            }),
            _ => Ok(()),
        }
    }

    /// Per-image objective `[N]` at `x` under `scope`, with its gradient; both finite. `x`
    /// has the clean batch's shape: every public measurement checks its point first
    /// ([`check_point`](Self::check_point)) and derives the others from it.
    pub(crate) fn evaluate(&self, scope: Scope, x: &Tensor<4>) -> Result<Evaluation> {
        self.check_scope(scope)?;
        let evaluation = match scope {
            Scope::Model(index) => self.evaluator.model(index, x, None)?,
            Scope::Ensemble => self.evaluator.ensemble(x, None)?,
        };
        self.check_finite(scope, "objective", &evaluation.loss)?;
        self.check_finite(scope, "gradient", &evaluation.gradient)?;
        Ok(evaluation)
    }

    /// Per-image objective `[N]` at `x` under `scope`, finite; a single model needs only a
    /// forward pass. `x` has the clean batch's shape, as for [`evaluate`](Self::evaluate).
    pub(crate) fn loss(&self, scope: Scope, x: &Tensor<4>) -> Result<Vec<f32>> {
        self.check_scope(scope)?;
        let loss = match scope {
            Scope::Model(index) => self.evaluator.model_loss(index, x)?,
            Scope::Ensemble => self.evaluator.ensemble(x, None)?.loss,
        };
        self.check_finite(scope, "objective", &loss)?;
        Ok(host::to_vec(loss))
    }

    /// Per-image objective values at `x` under `scope`.
    pub fn losses(&self, scope: Scope, x: &Tensor<4>) -> Result<Vec<f32>> {
        self.check_point(x)?;
        self.loss(scope, &x.clone().inner())
    }
}

/// The mean of a per-image vector.
fn mean(values: &[f32]) -> f64 {
    values.iter().map(|&v| v as f64).sum::<f64>() / values.len().max(1) as f64
}

/// A per-image vector read back from the device, in `f64`.
fn widen(values: Vec<f32>) -> Vec<f64> {
    values.into_iter().map(f64::from).collect()
}
